import type { DeviceProfileInput } from '../profile-schema';

/**
 * Growatt PV string inverters (MIC, MIN TL-X(E), MOD TL3-X): Growatt "Inverter Modbus RTU Protocol" V1.2x,
 * live values in input registers 0–124 (FC 04), settings in holding registers (FC 03/06/16).
 * Source: libs/devices/docs/devices/growatt-inverter.md (project reference; facts from evcc `growatt-min-tlxe.yaml`
 * @ b29b49e, solax-modbus `plugin_growatt.py` @ 27875b3 and a public "growatt_input_0.py" summary of V1.24).
 */
export const growattPv = {
  id: 'growatt.pv-tl-x',
  vendor: 'Growatt',
  model: 'PV string inverter (MIC / MIN TL-X(E) / MOD TL3-X)',
  source:
    'libs/devices/docs/devices/growatt-inverter.md (evcc growatt-min-tlxe.yaml @b29b49e; solax-modbus plugin_growatt.py @27875b3)',
  notes:
    'powerW is the AC output (input 35), read as int32 as evcc does for MIN TL-XE; a negative standby value is reported as implausible ' +
    '(PV ≥ 0), not clamped. Single-phase models leave L2/L3 at 0. The export limit (holding 3) is a percentage of rated power, ' +
    'so pv-limit needs ratedPowerW. Growatt stores holding registers persistently: write on change, not on every cycle.',
  protocol: 'modbus',
  kind: 'pv-inverter',
  modbus: {
    defaultUnitId: 1,
    transports: ['rtu'],
    maxRegistersPerRead: 100,
    maxGapRegisters: 32,
    interFrameGapMs: 50,
    serialDefaults: { baudRate: 9600, parity: 'none', stopBits: 1 },
    probe: [{ table: 'input', address: 0, count: 1, note: 'inverter status' }],
  },
  // prettier-ignore
  points: [
    { key: 'statusCode', table: 'input', address: 0, type: 'u16', min: 0, max: 255, note: '0 waiting, 1 normal, 3 fault' },
    { key: 'pvPowerW', table: 'input', address: 1, type: 'u32', scale: 0.1, unit: 'W', min: 0, max: 250_000 },
    { key: 'powerW', table: 'input', address: 35, type: 's32', scale: 0.1, unit: 'W', min: 0, max: 250_000, note: 'Pac' },
    { key: 'frequencyHz', table: 'input', address: 37, type: 'u16', scale: 0.01, unit: 'Hz', min: 45, max: 65 },
    { key: 'voltageL1V', table: 'input', address: 38, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL1A', table: 'input', address: 39, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'voltageL2V', table: 'input', address: 42, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL2A', table: 'input', address: 43, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'voltageL3V', table: 'input', address: 46, type: 'u16', scale: 0.1, unit: 'V', min: 0, max: 300 },
    { key: 'currentL3A', table: 'input', address: 47, type: 'u16', scale: 0.1, unit: 'A', min: 0, max: 1_000 },
    { key: 'exportEnergyWh', table: 'input', address: 55, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: 'AC energy total, 0.1 kWh' },
    { key: 'pvEnergyWh', table: 'input', address: 91, type: 'u32', scale: 100, unit: 'Wh', min: 0, note: '0.1 kWh' },
    { key: 'temperatureC', table: 'input', address: 93, type: 's16', scale: 0.1, unit: '°C', min: -40, max: 120, note: 'inverter' },
    { key: 'faultCode', table: 'input', address: 105, type: 'u16', min: 0, max: 0xffff },
    { key: 'inverterOn', table: 'holding', address: 0, type: 'u16', access: 'rw', min: 0, max: 1 },
    { key: 'powerLimitPct', table: 'holding', address: 3, type: 'u16', unit: '%', access: 'rw', min: 0, max: 100 },
  ],
  controls: [
    {
      setpoint: 'pv-limit',
      scaling: 'percent-of-rated',
      range: { min: 0, max: 100 },
      clampToRange: true,
      steps: [{ key: 'powerLimitPct', value: 'setpoint' }],
      safeSteps: [{ key: 'powerLimitPct', value: 100 }],
      exact: false,
      note: 'whole percent of rated power; a limit above rated power is clamped to 100 % and reported',
    },
  ],
} satisfies DeviceProfileInput;
