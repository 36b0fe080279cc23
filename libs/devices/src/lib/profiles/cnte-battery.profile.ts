import type { DeviceProfileInput } from '../profile-schema';

/** Register of the first word of each SunSpec model in the assumed chain (base 40000). */
const COMMON = 40002; // model 1, L = 66
const BATTERY = 40070; // model 802 (battery base), L = 62
const DER_CONTROL = 40134; // model 704 (DER AC controls), L = 65
const LI_BANK = 40201; // model 803 (lithium-ion bank), L = 26 + 32 × strings

/**
 * CNTE (Contemporary Nebula Technology Energy) battery storage cabinet, Modbus TCP.
 *
 * **No public register map exists** (source: libs/devices/docs/devices/cnte-battery.md — nothing found in
 * OpenEMS, evcc, Home Assistant or public pages). This profile therefore follows the **SunSpec storage
 * models**, at the addresses they take in the chain `SunS` @ 40000 → model 1 → 802 battery base → 704 DER AC
 * controls (WSet active-power set-point) → 803 lithium-ion bank, with the point offsets taken from the
 * shipped SunSpec definitions (src/lib/sunspec/models, sunspec/models @ 7abdf89; the profile test checks every
 * offset against them). The `probe` reads the marker and the model ids at those addresses, so a cabinet
 * with a different chain is refused instead of misread: then run SunSpec discovery (`parseModelChain`) and use
 * `sunspec.generic`, or replace this profile once CNTE's EMS protocol is obtained from the vendor.
 *
 * Signs (SunSpec): 802 `W`/`A` are read as + = discharge (the direction evcc reads `802:W` for battery power);
 * 704 `WSet` is + = generation (injection) = discharge, as model 701 defines active power. Both match ours.
 */
export const cnteBattery = {
  id: 'cnte.ess-cabinet',
  vendor: 'CNTE',
  model: 'Energy storage cabinet (SunSpec 1 / 802 / 704 / 803 layout, assumed)',
  source:
    'libs/devices/docs/devices/cnte-battery.md (no public map) + SunSpec models 1, 802, 704, 803 (src/lib/sunspec/models, sunspec/models @7abdf89)',
  notes:
    'Assumed layout, not a vendor map: verify with the probe and SunSpec discovery at commissioning. The set-point is written through ' +
    'model 704 (WSetMod = watts, WSet, WSetEna) with a 30 s reversion to 0 W (WSetRvrt, WSetRvrtTms, WSetEnaRvrt), so the cabinet ' +
    'falls back on its own if the gateway stops; the driver rewrites every 10 s. Controller heartbeat (802 CtrlHb) is readable and ' +
    'writable but not driven by this profile.',
  protocol: 'modbus',
  kind: 'battery',
  modbus: {
    defaultUnitId: 1,
    transports: ['tcp'],
    maxRegistersPerRead: 100,
    maxGapRegisters: 32,
    probe: [
      { table: 'holding', address: 40000, count: 2, expect: [0x5375, 0x6e53], note: 'SunS marker' },
      { table: 'holding', address: COMMON, count: 2, expect: [1, 66], note: 'common model' },
      { table: 'holding', address: BATTERY, count: 2, expect: [802, 62], note: 'battery base model' },
      { table: 'holding', address: DER_CONTROL, count: 2, expect: [704, 65], note: 'DER AC controls' },
      { table: 'holding', address: LI_BANK, count: 1, expect: [803], note: 'lithium-ion bank' },
    ],
  },
  // prettier-ignore
  scaleFactors: [
    { name: 'WHRtg_SF', table: 'holding', address: BATTERY + 53 },
    { name: 'WChaDisChaMax_SF', table: 'holding', address: BATTERY + 54 },
    { name: 'SoC_SF', table: 'holding', address: BATTERY + 56 },
    { name: 'SoH_SF', table: 'holding', address: BATTERY + 58 },
    { name: 'V_SF', table: 'holding', address: BATTERY + 59 },
    { name: 'A_SF', table: 'holding', address: BATTERY + 61 },
    { name: 'AMax_SF', table: 'holding', address: BATTERY + 62 },
    { name: 'W_SF', table: 'holding', address: BATTERY + 63 },
    { name: 'WSet_SF', table: 'holding', address: DER_CONTROL + 55 },
    { name: 'ModTmp_SF', table: 'holding', address: LI_BANK + 23 },
  ],
  // prettier-ignore
  points: [
    { key: 'manufacturer', table: 'holding', address: COMMON + 2, type: 'string', length: 16, readOn: 'connect', notImplemented: ['zero'], note: '1.Mn' },
    { key: 'modelName', table: 'holding', address: COMMON + 18, type: 'string', length: 16, readOn: 'connect', notImplemented: ['zero'], note: '1.Md' },
    { key: 'firmwareVersion', table: 'holding', address: COMMON + 42, type: 'string', length: 8, readOn: 'connect', notImplemented: ['zero'], note: '1.Vr' },
    { key: 'serialNumber', table: 'holding', address: COMMON + 50, type: 'string', length: 16, readOn: 'connect', notImplemented: ['zero'], note: '1.SN' },
    { key: 'capacityWh', table: 'holding', address: BATTERY + 3, type: 'u16', scaleFrom: 'WHRtg_SF', unit: 'Wh', min: 0, max: 10_000_000, notImplemented: ['all-ones'], note: '802.WHRtg' },
    { key: 'ratedChargePowerW', table: 'holding', address: BATTERY + 4, type: 'u16', scaleFrom: 'WChaDisChaMax_SF', unit: 'W', min: 0, max: 1_000_000, notImplemented: ['all-ones'], note: '802.WChaRteMax' },
    { key: 'ratedDischargePowerW', table: 'holding', address: BATTERY + 5, type: 'u16', scaleFrom: 'WChaDisChaMax_SF', unit: 'W', min: 0, max: 1_000_000, notImplemented: ['all-ones'], note: '802.WDisChaRteMax' },
    { key: 'socPct', table: 'holding', address: BATTERY + 11, type: 'u16', scaleFrom: 'SoC_SF', unit: '%', min: 0, max: 100, notImplemented: ['all-ones'], note: '802.SoC' },
    { key: 'sohPct', table: 'holding', address: BATTERY + 13, type: 'u16', scaleFrom: 'SoH_SF', unit: '%', min: 0, max: 100, notImplemented: ['all-ones'], note: '802.SoH' },
    { key: 'cycleCount', table: 'holding', address: BATTERY + 14, type: 'u32', min: 0, notImplemented: ['all-ones'], note: '802.NCyc' },
    { key: 'chargeStatus', table: 'holding', address: BATTERY + 16, type: 'u16', min: 1, max: 7, notImplemented: ['all-ones'], note: '802.ChaSt: 1 off … 7 testing' },
    { key: 'controlMode', table: 'holding', address: BATTERY + 17, type: 'u16', min: 0, max: 1, notImplemented: ['all-ones'], note: '802.LocRemCtl: 0 remote, 1 local' },
    { key: 'deviceHeartbeat', table: 'holding', address: BATTERY + 18, type: 'u16', notImplemented: ['all-ones'], note: '802.Hb' },
    { key: 'controllerHeartbeat', table: 'holding', address: BATTERY + 19, type: 'u16', access: 'rw', min: 0, max: 0xfffe, notImplemented: ['all-ones'], note: '802.CtrlHb' },
    { key: 'batteryState', table: 'holding', address: BATTERY + 22, type: 'u16', min: 1, max: 99, notImplemented: ['all-ones'], note: '802.State: 3 connected, 99 fault' },
    { key: 'batteryVoltageV', table: 'holding', address: BATTERY + 34, type: 'u16', scaleFrom: 'V_SF', unit: 'V', min: 0, max: 1_500, notImplemented: ['all-ones'], note: '802.V' },
    { key: 'batteryCurrentA', table: 'holding', address: BATTERY + 44, type: 's16', scaleFrom: 'A_SF', unit: 'A', min: -1_000, max: 1_000, notImplemented: ['signed-min'], note: '802.A, + = discharge' },
    { key: 'maxChargeCurrentA', table: 'holding', address: BATTERY + 45, type: 'u16', scaleFrom: 'AMax_SF', unit: 'A', min: 0, max: 1_000, notImplemented: ['all-ones'], note: '802.AChaMax' },
    { key: 'maxDischargeCurrentA', table: 'holding', address: BATTERY + 46, type: 'u16', scaleFrom: 'AMax_SF', unit: 'A', min: 0, max: 1_000, notImplemented: ['all-ones'], note: '802.ADisChaMax' },
    { key: 'powerW', table: 'holding', address: BATTERY + 47, type: 's16', scaleFrom: 'W_SF', unit: 'W', min: -200_000, max: 200_000, notImplemented: ['signed-min'], note: '802.W, + = discharge' },
    { key: 'setpointEnable', table: 'holding', address: DER_CONTROL + 22, type: 'u16', access: 'rw', min: 0, max: 1, notImplemented: ['all-ones'], note: '704.WSetEna' },
    { key: 'setpointMode', table: 'holding', address: DER_CONTROL + 23, type: 'u16', access: 'rw', min: 0, max: 1, notImplemented: ['all-ones'], note: '704.WSetMod: 1 = watts' },
    { key: 'setpointW', table: 'holding', address: DER_CONTROL + 24, type: 's32', scaleFrom: 'WSet_SF', unit: 'W', access: 'rw', min: -200_000, max: 200_000, notImplemented: ['signed-min'], note: '704.WSet, + = discharge' },
    { key: 'setpointRevertW', table: 'holding', address: DER_CONTROL + 26, type: 's32', scaleFrom: 'WSet_SF', unit: 'W', access: 'rw', min: -200_000, max: 200_000, notImplemented: ['signed-min'], note: '704.WSetRvrt' },
    { key: 'setpointRevertEnable', table: 'holding', address: DER_CONTROL + 30, type: 'u16', access: 'rw', min: 0, max: 1, notImplemented: ['all-ones'], note: '704.WSetEnaRvrt' },
    { key: 'setpointRevertTimeS', table: 'holding', address: DER_CONTROL + 31, type: 'u32', access: 'rw', min: 0, max: 86_400, notImplemented: ['all-ones'], note: '704.WSetRvrtTms' },
    { key: 'temperatureMaxC', table: 'holding', address: LI_BANK + 4, type: 's16', scaleFrom: 'ModTmp_SF', unit: '°C', min: -40, max: 100, notImplemented: ['signed-min'], note: '803.ModTmpMax' },
    { key: 'temperatureMinC', table: 'holding', address: LI_BANK + 7, type: 's16', scaleFrom: 'ModTmp_SF', unit: '°C', min: -40, max: 100, notImplemented: ['signed-min'], note: '803.ModTmpMin' },
    { key: 'temperatureC', table: 'holding', address: LI_BANK + 10, type: 's16', scaleFrom: 'ModTmp_SF', unit: '°C', min: -40, max: 100, notImplemented: ['signed-min'], note: '803.ModTmpAvg' },
  ],
  controls: [
    {
      setpoint: 'battery-power',
      range: { min: -125_000, max: 125_000 },
      steps: [
        { key: 'setpointMode', value: 1 },
        { key: 'setpointRevertW', value: 0 },
        { key: 'setpointRevertTimeS', value: 30 },
        { key: 'setpointRevertEnable', value: 1 },
        { key: 'setpointW', value: 'setpoint' },
        { key: 'setpointEnable', value: 1 },
      ],
      safeSteps: [
        { key: 'setpointMode', value: 1 },
        { key: 'setpointW', value: 0 },
        { key: 'setpointEnable', value: 1 },
      ],
      keepAliveMs: 10_000,
      note: 'watts, + = discharge; the cabinet reverts to 0 W 30 s after the last write',
    },
  ],
} satisfies DeviceProfileInput;
