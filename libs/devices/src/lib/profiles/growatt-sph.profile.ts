import type { DeviceProfileInput } from '../profile-schema';
import { GROWATT_HYBRID_DERIVED } from './growatt-hybrid';

/** 23:59 as Growatt encodes times: hours × 256 + minutes = 0x173B. */
const END_OF_DAY = 23 * 256 + 59;

/**
 * Growatt SPH / SPA storage hybrids (SPH 3000–6000 single phase, SPH 4000–10000 TL3 BH three phase):
 * PV block input 0–124, storage block input 1000–1124 (FC 04), control holding 1000–1124 (FC 03/06/16).
 * Source: libs/devices/docs/devices/growatt-inverter.md (project reference; facts from evcc `growatt-hybrid.yaml`
 * @ b29b49e and solax-modbus `plugin_growatt.py` @ 27875b3).
 *
 * Signs: the device reports battery charge and discharge, and grid import and export, as separate
 * magnitudes; `derived` turns them into `powerW` (battery port, + = discharge, as evcc: 1009 − 1011) and
 * `gridPowerW` (+ = import: 1021 − 1029). For this hybrid, `powerW`, `importEnergyWh` and `exportEnergyWh`
 * describe the battery port (charge energy in, discharge energy out); PV and grid flows are extra keys.
 */
export const growattSph = {
  id: 'growatt.sph',
  vendor: 'Growatt',
  model: 'SPH / SPA storage hybrid inverter',
  source:
    'libs/devices/docs/devices/growatt-inverter.md (evcc growatt-hybrid.yaml @b29b49e; solax-modbus plugin_growatt.py @27875b3)',
  notes:
    'No watt set-point exists in this family: battery-power is executed with the evcc recipe (battery-first slot 1 over the ' +
    'whole day; AC charge on = force charge at a rate in % of rated battery power; AC charge off = hold; slot off = normal ' +
    'load-first operation, which discharges only to cover the house load). The device cannot follow a positive set-point ' +
    'exactly (exact: false). Battery voltage (input 1013) comes from a single third-party map: verify. Holding registers ' +
    'are stored persistently: write on change, and write the safe steps when commands expire.',
  protocol: 'modbus',
  kind: 'hybrid-inverter',
  modbus: {
    defaultUnitId: 1,
    transports: ['rtu'],
    maxRegistersPerRead: 100,
    maxGapRegisters: 32,
    interFrameGapMs: 50,
    serialDefaults: { baudRate: 9600, parity: 'none', stopBits: 1 },
    refusedRanges: [
      { table: 'input', start: 125, end: 999, note: 'outside the ranges this family answers (0–124, 1000–1124)' },
    ],
    probe: [{ table: 'input', address: 1000, count: 1, note: 'system work mode: answers only on storage models' }],
  },
  // prettier-ignore
  points: [
    { key: 'statusCode', table: 'input', address: 0, type: 'u16', min: 0, max: 255 },
    { key: 'pvPowerW', table: 'input', address: 1, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'frequencyHz', table: 'input', address: 37, type: 'u16', scale: 0.01, unit: 'Hz', min: 45, max: 65 },
    { key: 'voltageL1V', table: 'input', address: 38, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL1A', table: 'input', address: 39, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'voltageL2V', table: 'input', address: 42, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL2A', table: 'input', address: 43, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'voltageL3V', table: 'input', address: 46, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL3A', table: 'input', address: 47, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'pvEnergyWh', table: 'input', address: 91, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'workMode', table: 'input', address: 1000, type: 'u16', min: 0, max: 255, note: '5 PV+battery online, 6 battery online (single third-party map)' },
    { key: 'batteryDischargePowerW', table: 'input', address: 1009, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 50_000 },
    { key: 'batteryChargePowerW', table: 'input', address: 1011, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 50_000 },
    { key: 'batteryVoltageV', table: 'input', address: 1013, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 1_000, note: 'single third-party source' },
    { key: 'socPct', table: 'input', address: 1014, type: 'u16', unit: '%', min: 0, max: 100 },
    { key: 'gridImportPowerW', table: 'input', address: 1021, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'gridExportPowerW', table: 'input', address: 1029, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'loadPowerW', table: 'input', address: 1037, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 100_000 },
    { key: 'temperatureC', table: 'input', address: 1040, type: 's16', scale: 0.1, unit: '°C', min: -40, max: 100, note: 'battery' },
    { key: 'gridImportEnergyWh', table: 'input', address: 1046, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'gridExportEnergyWh', table: 'input', address: 1050, type: 'u32', scale: 100, unit: 'Wh', min: 0 },
    { key: 'exportEnergyWh', table: 'input', address: 1054, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: 'battery discharge energy total' },
    { key: 'importEnergyWh', table: 'input', address: 1058, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: 'battery charge energy total' },
    { key: 'powerLimitPct', table: 'holding', address: 3, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'priorityMode', table: 'holding', address: 1044, type: 'u16', access: 'rw', min: 0, max: 2, note: '0 load first, 1 battery first, 2 grid first' },
    { key: 'dischargeRatePct', table: 'holding', address: 1070, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'dischargeStopSocPct', table: 'holding', address: 1071, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'chargeRatePct', table: 'holding', address: 1090, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'chargeStopSocPct', table: 'holding', address: 1091, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
    { key: 'acChargeEnable', table: 'holding', address: 1092, type: 'u16', access: 'rw', min: 0, max: 1 },
    { key: 'batteryFirstSlot1Start', table: 'holding', address: 1100, type: 'u16', access: 'rw', min: 0, max: END_OF_DAY, note: 'hours × 256 + minutes' },
    { key: 'batteryFirstSlot1End', table: 'holding', address: 1101, type: 'u16', access: 'rw', min: 0, max: END_OF_DAY, note: 'hours × 256 + minutes' },
    { key: 'batteryFirstSlot1Enable', table: 'holding', address: 1102, type: 'u16', access: 'rw', min: 0, max: 1 },
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
          { key: 'batteryFirstSlot1Start', value: 0 },
          { key: 'batteryFirstSlot1End', value: END_OF_DAY },
          { key: 'chargeRatePct', value: 'setpoint' },
          { key: 'acChargeEnable', value: 1 },
          { key: 'batteryFirstSlot1Enable', value: 1 },
        ],
        zero: [
          { key: 'batteryFirstSlot1Start', value: 0 },
          { key: 'batteryFirstSlot1End', value: END_OF_DAY },
          { key: 'acChargeEnable', value: 0 },
          { key: 'batteryFirstSlot1Enable', value: 1 },
        ],
        positive: [
          { key: 'batteryFirstSlot1Enable', value: 0 },
          { key: 'acChargeEnable', value: 0 },
        ],
      },
      safeSteps: [
        { key: 'batteryFirstSlot1Enable', value: 0 },
        { key: 'acChargeEnable', value: 0 },
      ],
      exact: false,
      note: 'charge: force charge from grid at |powerW| in % of rated battery power; 0: hold; discharge: normal load-first',
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
