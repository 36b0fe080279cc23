import type { DeviceProfileInput } from '../profile-schema';

/**
 * Any SunSpec-compliant inverter, meter or battery: found by the `SunS` marker at one of the base
 * addresses, decoded through the model chain with the shipped SunSpec model definitions
 * (src/lib/sunspec/models, Apache-2.0) and mapped to measurements by `sunSpecMeasurements`.
 * Source: libs/devices/src/lib/sunspec/models/README.md (SunSpec Alliance `sunspec/models` @ 7abdf89) and the
 * project's ../shared/reference/sunspec/README.md.
 */
export const sunspecGeneric = {
  id: 'sunspec.generic',
  vendor: 'SunSpec',
  model:
    'Generic SunSpec device (common model 1 + inverter 101–103/111–113/701, meter 201–204/211–214, storage 124/713/802/803)',
  source: 'libs/devices/src/lib/sunspec/models/README.md (sunspec/models json @7abdf89, Apache-2.0)',
  notes:
    'Meter real power is read as import-positive (the SunSpec meter convention); set meterSign to export-positive in a copy of ' +
    'this profile for devices known to report the opposite. Writes are not generic: a device that needs control gets its own ' +
    'profile (see cnte.ess-cabinet for model 704 WSet).',
  protocol: 'sunspec',
  kinds: ['meter', 'battery', 'pv-inverter', 'hybrid-inverter'],
  sunspec: {
    defaultUnitId: 1,
    transports: ['tcp', 'rtu'],
    baseAddresses: [40000, 50000, 0],
    requiredModels: [1],
    meterSign: 'import-positive',
    maxRegistersPerRead: 100,
  },
} satisfies DeviceProfileInput;
