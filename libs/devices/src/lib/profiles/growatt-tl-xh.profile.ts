import type { DeviceProfileInput } from '../profile-schema';
import { GROWATT_HYBRID_DERIVED } from './growatt-hybrid';

/** Time slot word: bit 31 = enabled, bits 29–30 = mode (01 = battery first), start 00:00, end 23:59 (0x173B). */
const SLOT_BATTERY_FIRST_ALL_DAY = 0xa000173b;
/** The same slot, disabled (evcc's "normal"). */
const SLOT_DISABLED_ALL_DAY = 0x2000173b;

/**
 * Growatt TL-XH storage hybrids (MIN TL-XH, MOD TL3-XH): live values input 3000–3249 (FC 04), control
 * holding 3000–3124 (FC 03/06/16).
 * Source: libs/devices/docs/devices/growatt-inverter.md (project reference; facts from evcc `growatt-hybrid-tlxh.yaml`
 * @ b29b49e and solax-modbus `plugin_growatt.py` @ 27875b3).
 *
 * Signs as in `growatt.sph`: charge/discharge and import/export are separate magnitudes, combined by
 * `derived` into `powerW` (battery port, + = discharge) and `gridPowerW` (+ = import).
 */
export const growattTlXh = {
  id: 'growatt.tl-xh',
  vendor: 'Growatt',
  model: 'MIN TL-XH / MOD TL3-XH storage hybrid inverter',
  source:
    'libs/devices/docs/devices/growatt-inverter.md (evcc growatt-hybrid-tlxh.yaml @b29b49e; solax-modbus plugin_growatt.py @27875b3)',
  notes:
    'Battery control follows evcc: time slot 1 (holding 3038–3039, one uint32 (start << 16) | end, start bit 15 = enabled, bits ' +
    '13–14 = mode) set to battery-first all day with AC charge on (force charge, rate in % at 3047), AC charge off (hold), or the ' +
    'slot disabled (normal). No watt set-point: exact is false. Battery current (input 3170) is not mapped: its sign is not ' +
    'stated in the sources. The export limit at holding 3 is assumed shared with the MIN TL-X map: verify.',
  protocol: 'modbus',
  kind: 'hybrid-inverter',
  modbus: {
    defaultUnitId: 1,
    transports: ['rtu'],
    maxRegistersPerRead: 100,
    maxGapRegisters: 32,
    interFrameGapMs: 50,
    serialDefaults: { baudRate: 9600, parity: 'none', stopBits: 1 },
    probe: [{ table: 'input', address: 3171, count: 1, note: 'battery SoC: answers only on TL-XH models' }],
  },
  // prettier-ignore
  points: [
    { key: 'pvPowerW', table: 'input', address: 3001, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'acPowerW', table: 'input', address: 3023, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'frequencyHz', table: 'input', address: 3025, type: 'u16', scale: 0.01, unit: 'Hz', min: 45, max: 65 },
    { key: 'gridImportPowerW', table: 'input', address: 3041, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'gridExportPowerW', table: 'input', address: 3043, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'loadPowerW', table: 'input', address: 3045, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'pvEnergyWh', table: 'input', address: 3053, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'gridImportEnergyWh', table: 'input', address: 3069, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'gridExportEnergyWh', table: 'input', address: 3073, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'exportEnergyWh', table: 'input', address: 3127, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: 'battery discharge energy total' },
    { key: 'importEnergyWh', table: 'input', address: 3131, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: 'battery charge energy total' },
    { key: 'workMode', table: 'input', address: 3144, type: 'u16', min: 0, max: 255 },
    { key: 'socPct', table: 'input', address: 3171, type: 'u16', unit: '%', min: 0, max: 100 },
    { key: 'batteryDischargePowerW', table: 'input', address: 3178, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 50_000 },
    { key: 'batteryChargePowerW', table: 'input', address: 3180, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 50_000 },
    { key: 'powerLimitPct', table: 'holding', address: 3, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'dischargeRatePct', table: 'holding', address: 3036, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'dischargeStopSocPct', table: 'holding', address: 3037, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'timeSlot1', table: 'holding', address: 3038, type: 'u32', access: 'rw', min: 0, max: 0xffffffff, note: '(start << 16) | end' },
    { key: 'chargeRatePct', table: 'holding', address: 3047, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'chargeStopSocPct', table: 'holding', address: 3048, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'acChargeEnable', table: 'holding', address: 3049, type: 'u16', access: 'rw', min: 0, max: 1 },
  ],
  derived: GROWATT_HYBRID_DERIVED,
  controls: [
    {
      setpoint: 'battery-power',
      scaling: 'abs-percent-of-rated',
      range: { min: 0, max: 100 },
      clampToRange: true,
      idleBand: 50,
      bySign: {
        negative: [
          { key: 'chargeRatePct', value: 'setpoint' },
          { key: 'acChargeEnable', value: 1 },
          { key: 'timeSlot1', value: SLOT_BATTERY_FIRST_ALL_DAY },
        ],
        zero: [
          { key: 'acChargeEnable', value: 0 },
          { key: 'timeSlot1', value: SLOT_BATTERY_FIRST_ALL_DAY },
        ],
        positive: [
          { key: 'acChargeEnable', value: 0 },
          { key: 'timeSlot1', value: SLOT_DISABLED_ALL_DAY },
        ],
      },
      safeSteps: [
        { key: 'acChargeEnable', value: 0 },
        { key: 'timeSlot1', value: SLOT_DISABLED_ALL_DAY },
      ],
      exact: false,
      note: 'charge: force charge at |powerW| in % of rated battery power; 0: hold; discharge: normal operation',
    },
    {
      setpoint: 'pv-limit',
      scaling: 'percent-of-rated',
      range: { min: 0, max: 100 },
      clampToRange: true,
      steps: [{ key: 'powerLimitPct', value: 'setpoint' }],
      safeSteps: [{ key: 'powerLimitPct', value: 100 }],
      exact: false,
    },
  ],
} satisfies DeviceProfileInput;
