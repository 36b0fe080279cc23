import type { DeviceProfileInput } from '../profile-schema';

/**
 * ABB B23 / B24 (and A43 / A44) energy meters, Modbus RTU, FC 03, big-endian scaled integers.
 * Source: libs/devices/docs/devices/abb-b23-b24.md (project reference; facts from mbmd `meters/rs485/abb.go`
 * @ fb8f9c2, which cites ABB's B-series manual, and the evcc template `abb-ab.yaml` @ b29b49e).
 * "Not available" is all bytes 0xFF (unsigned) or 0x7FFF… (signed): declared as sentinels, never read as values.
 * Active power is signed, import positive: our convention.
 */
export const abbB23B24 = {
  id: 'abb.b23-b24',
  vendor: 'ABB',
  model: 'B23 / B24 (A43 / A44) energy meter, Modbus RTU',
  source: 'libs/devices/docs/devices/abb-b23-b24.md (mbmd abb.go @fb8f9c2; evcc abb-ab.yaml @b29b49e)',
  notes:
    'Serial settings are configured on the meter; not stated in the sources. mbmd reads each value on its own, so ' +
    'blocks merge only documented adjacent registers (maxGapRegisters 0).',
  protocol: 'modbus',
  kind: 'meter',
  modbus: {
    defaultUnitId: 1,
    transports: ['rtu'],
    maxRegistersPerRead: 32,
    maxGapRegisters: 0,
    interFrameGapMs: 50,
    probe: [{ table: 'holding', address: 0x5b00, count: 2, note: 'L1 voltage, as mbmd detects the meter' }],
  },
  // prettier-ignore
  points: [
    { key: 'importEnergyWh', table: 'holding', address: 0x5000, type: 'u64', scale: 10, unit: 'Wh', min: 0, notImplemented: ['all-ones'], note: '0.01 kWh' },
    { key: 'exportEnergyWh', table: 'holding', address: 0x5004, type: 'u64', scale: 10, unit: 'Wh', min: 0, notImplemented: ['all-ones'], note: '0.01 kWh' },
    { key: 'voltageL1V', table: 'holding', address: 0x5b00, type: 'u32', scale: 0.1, unit: 'V', min: 0, max: 300, notImplemented: ['all-ones'] },
    { key: 'voltageL2V', table: 'holding', address: 0x5b02, type: 'u32', scale: 0.1, unit: 'V', min: 0, max: 300, notImplemented: ['all-ones'] },
    { key: 'voltageL3V', table: 'holding', address: 0x5b04, type: 'u32', scale: 0.1, unit: 'V', min: 0, max: 300, notImplemented: ['all-ones'] },
    { key: 'currentL1A', table: 'holding', address: 0x5b0c, type: 'u32', scale: 0.01, unit: 'A', min: 0, max: 10_000, notImplemented: ['all-ones'] },
    { key: 'currentL2A', table: 'holding', address: 0x5b0e, type: 'u32', scale: 0.01, unit: 'A', min: 0, max: 10_000, notImplemented: ['all-ones'] },
    { key: 'currentL3A', table: 'holding', address: 0x5b10, type: 'u32', scale: 0.01, unit: 'A', min: 0, max: 10_000, notImplemented: ['all-ones'] },
    { key: 'powerW', table: 'holding', address: 0x5b14, type: 's32', scale: 0.01, unit: 'W', min: -3_000_000, max: 3_000_000, notImplemented: ['signed-max'] },
    { key: 'powerL1W', table: 'holding', address: 0x5b16, type: 's32', scale: 0.01, unit: 'W', min: -1_000_000, max: 1_000_000, notImplemented: ['signed-max'] },
    { key: 'powerL2W', table: 'holding', address: 0x5b18, type: 's32', scale: 0.01, unit: 'W', min: -1_000_000, max: 1_000_000, notImplemented: ['signed-max'] },
    { key: 'powerL3W', table: 'holding', address: 0x5b1a, type: 's32', scale: 0.01, unit: 'W', min: -1_000_000, max: 1_000_000, notImplemented: ['signed-max'] },
    { key: 'frequencyHz', table: 'holding', address: 0x5b2c, type: 'u16', scale: 0.01, unit: 'Hz', min: 45, max: 65, notImplemented: ['all-ones'] },
    { key: 'powerFactor', table: 'holding', address: 0x5b3a, type: 's16', scale: 0.001, min: -1, max: 1, notImplemented: ['signed-max'] },
  ],
} satisfies DeviceProfileInput;
