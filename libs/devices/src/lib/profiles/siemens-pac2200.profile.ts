import type { DeviceProfileInput } from '../profile-schema';

/**
 * Siemens SENTRON PAC2200 power meter (Modbus TCP or RTU): float32 values, float64 energy counters in Wh.
 * Source: libs/devices/docs/devices/siemens-pac2200.md (project reference; facts from mbmd `pac2200.go`
 * @ fb8f9c2, OpenEMS `MeterSiemensPac2200Impl.java` @ 64084d8 citing Siemens manual A5E01168664B-04, nymea
 * `pac2200-register.json` @ 5201ad2). Read with FC 03 as OpenEMS and nymea do (mbmd uses FC 04 for the same
 * addresses). Active power is signed, import positive for a grid meter: our convention.
 */
export const siemensPac2200 = {
  id: 'siemens.pac2200',
  vendor: 'Siemens',
  model: 'SENTRON PAC2200 (also the PAC3200/PAC4200 basic block)',
  source:
    'libs/devices/docs/devices/siemens-pac2200.md (mbmd pac2200.go @fb8f9c2; OpenEMS PAC2200 @64084d8; nymea pac2200-register.json @5201ad2)',
  notes:
    'Frequency: mbmd lists address 46, nymea 55; every float here starts on an odd address, so 55 is used (verify on hardware). ' +
    'importEnergyWh is the tariff-1 import counter (801); a site that switches tariffs also counts into tariff 2 (805). ' +
    'OpenEMS reads 1–68 in one request, so gaps inside that range are readable.',
  protocol: 'modbus',
  kind: 'meter',
  modbus: {
    defaultUnitId: 1,
    transports: ['tcp', 'rtu'],
    maxRegistersPerRead: 70,
    maxGapRegisters: 30,
    probe: [{ table: 'holding', address: 1, count: 2, note: 'L1 voltage' }],
  },
  // prettier-ignore
  points: [
    { key: 'voltageL1V', table: 'holding', address: 1, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL2V', table: 'holding', address: 3, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'voltageL3V', table: 'holding', address: 5, type: 'f32', unit: 'V', min: 0, max: 300 },
    { key: 'currentL1A', table: 'holding', address: 13, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'currentL2A', table: 'holding', address: 15, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'currentL3A', table: 'holding', address: 17, type: 'f32', unit: 'A', min: -10_000, max: 10_000 },
    { key: 'powerL1W', table: 'holding', address: 25, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'powerL2W', table: 'holding', address: 27, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'powerL3W', table: 'holding', address: 29, type: 'f32', unit: 'W', min: -1_000_000, max: 1_000_000 },
    { key: 'frequencyHz', table: 'holding', address: 55, type: 'f32', unit: 'Hz', min: 45, max: 65, note: 'sources disagree (46 vs 55)' },
    { key: 'apparentPowerVa', table: 'holding', address: 63, type: 'f32', unit: 'VA', min: 0, max: 3_000_000 },
    { key: 'powerW', table: 'holding', address: 65, type: 'f32', unit: 'W', min: -3_000_000, max: 3_000_000 },
    { key: 'reactivePowerVar', table: 'holding', address: 67, type: 'f32', unit: 'var', min: -3_000_000, max: 3_000_000 },
    { key: 'powerFactor', table: 'holding', address: 69, type: 'f32', min: -1, max: 1 },
    { key: 'importEnergyWh', table: 'holding', address: 801, type: 'f64', unit: 'Wh', min: 0, note: 'tariff 1' },
    { key: 'exportEnergyWh', table: 'holding', address: 809, type: 'f64', unit: 'Wh', min: 0, note: 'tariff 1' },
  ],
} satisfies DeviceProfileInput;
