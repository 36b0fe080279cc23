import type { DeviceProfileInput } from '../profile-schema';

type Derived = NonNullable<Extract<DeviceProfileInput, { protocol: 'modbus' }>['derived']>;

/**
 * Growatt hybrids (SPH, TL-XH) report charge/discharge and grid import/export as separate magnitudes;
 * these combine them into the project's signs: `powerW` (battery port, + = discharge) and `gridPowerW` (+ = import).
 */
export const GROWATT_HYBRID_DERIVED = [
  {
    key: 'powerW',
    terms: [
      { key: 'batteryDischargePowerW', sign: 1 },
      { key: 'batteryChargePowerW', sign: -1 },
    ],
    min: -50_000,
    max: 50_000,
    note: 'battery port, + = discharge',
  },
  {
    key: 'gridPowerW',
    terms: [
      { key: 'gridImportPowerW', sign: 1 },
      { key: 'gridExportPowerW', sign: -1 },
    ],
    note: '+ = import',
  },
] as const satisfies Derived;
