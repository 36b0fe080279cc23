import type { DeviceProfileInput } from '../profile-schema';

/**
 * Eastron SDM630 three-phase meter (Modbus RTU, FC 04, IEEE-754 float32, high word first).
 * Source: libs/devices/docs/devices/eastron-sdm630.md (project reference; facts from volkszaehler/mbmd
 * `meters/rs485/sdm.go` @ fb8f9c2, which cites Eastron's "SDM630_MODBUS_Protocol.pdf", and the evcc
 * template `eastron-sdm72v2_630.yaml` @ b29b49e). Power sign: > 0 = import on the grid side, our convention.
 */
export const eastronSdm630 = {
  id: 'eastron.sdm630',
  vendor: 'Eastron',
  model: 'SDM630 three-phase energy meter (Modbus)',
  source: 'libs/devices/docs/devices/eastron-sdm630.md (mbmd sdm.go @fb8f9c2; evcc eastron-sdm72v2_630.yaml @b29b49e)',
  notes:
    'Serial settings and unit id are set on the meter display and not stated in the sources: configure them per site. ' +
    "The meter's per-request register limit is not stated in the sources either, so blocks merge only documented, " +
    'adjacent registers (maxGapRegisters 0) and stay small. Energies are kWh floats on the wire, Wh here.',
  protocol: 'modbus',
  kind: 'meter',
  modbus: {
    defaultUnitId: 1,
    transports: ['rtu'],
    maxRegistersPerRead: 40,
    maxGapRegisters: 0,
    interFrameGapMs: 50,
    probe: [{ table: 'input', address: 0x0000, count: 2, note: 'L1 voltage, as mbmd and evcc detect the meter' }],
  },
  // prettier-ignore
  points: [
    { key: 'voltageL1V', table: 'input', address: 0x0000, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL2V', table: 'input', address: 0x0002, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL3V', table: 'input', address: 0x0004, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'currentL1A', table: 'input', address: 0x0006, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'currentL2A', table: 'input', address: 0x0008, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'currentL3A', table: 'input', address: 0x000a, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'powerL1W', table: 'input', address: 0x000c, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'powerL2W', table: 'input', address: 0x000e, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'powerL3W', table: 'input', address: 0x0010, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'powerW', table: 'input', address: 0x0034, type: 'f32', unit: 'W', min: -3_000_000, max: 3_000_000 },
    { key: 'apparentPowerVa', table: 'input', address: 0x0038, type: 'f32', unit: 'VA', min: 0, max: 3_000_000 },
    { key: 'reactivePowerVar', table: 'input', address: 0x003c, type: 'f32', unit: 'var', min: -3_000_000, max: 3_000_000 },
    { key: 'powerFactor', table: 'input', address: 0x003e, type: 'f32', min: -1, max: 1 },
    { key: 'frequencyHz', table: 'input', address: 0x0046, type: 'f32', unit: 'Hz', min: 45, max: 65 },
    { key: 'importEnergyWh', table: 'input', address: 0x0048, type: 'f32', scale: 1000, unit: 'Wh', min: 0, note: 'kWh on the wire' },
    { key: 'exportEnergyWh', table: 'input', address: 0x004a, type: 'f32', scale: 1000, unit: 'Wh', min: 0, note: 'kWh on the wire' },
  ],
} satisfies DeviceProfileInput;
