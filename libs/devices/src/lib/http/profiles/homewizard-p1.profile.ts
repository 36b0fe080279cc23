import type { HttpProfileInput } from '../http-profile';

/**
 * HomeWizard Wi-Fi P1 meter (HWE-P1): the smart meter's P1 port as JSON over the local API v1 (`GET /api/v1/data`).
 * Source: libs/devices/docs/devices/homewizard-p1.md (HomeWizard Energy API documentation, v1 "Recent measurement").
 */
export const homewizardP1 = {
  id: 'homewizard.p1',
  vendor: 'HomeWizard',
  model: 'Wi-Fi P1 meter HWE-P1 (local API v1)',
  source: 'libs/devices/docs/devices/homewizard-p1.md (HomeWizard Energy API v1, /api/v1/data)',
  notes:
    'Enable "Local API" in the HomeWizard Energy app; v1 needs no token. active_power_w is + when drawing from the grid ' +
    'and − when feeding in (our grid sign). Per-phase voltage/current and frequency only come from SMR 5 meters; ' +
    'l2/l3 are absent on 1-phase connections: optional. total_power_import_kwh/export_kwh (all tariffs) exist since ' +
    'firmware 4.x; older firmware reports only the t1/t2 totals and then gets a "missing" error. Do not poll faster than ' +
    '500 ms (HomeWizard advice); SMR 5 meters update every second.',
  protocol: 'http',
  kind: 'meter',
  http: { basePath: '' },
  reads: [
    {
      name: 'data',
      path: '/api/v1/data',
      // prettier-ignore
      fields: [
        { key: 'powerW', path: '$.active_power_w', unit: 'W', min: -100_000, max: 100_000, note: '+ = import' },
        { key: 'powerL1W', path: '$.active_power_l1_w', unit: 'W', min: -50_000, max: 50_000, optional: true },
        { key: 'powerL2W', path: '$.active_power_l2_w', unit: 'W', min: -50_000, max: 50_000, optional: true },
        { key: 'powerL3W', path: '$.active_power_l3_w', unit: 'W', min: -50_000, max: 50_000, optional: true },
        { key: 'voltageL1V', path: '$.active_voltage_l1_v', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'voltageL2V', path: '$.active_voltage_l2_v', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'voltageL3V', path: '$.active_voltage_l3_v', unit: 'V', min: 0, max: 300, optional: true },
        { key: 'currentL1A', path: '$.active_current_l1_a', unit: 'A', min: 0, max: 200, optional: true },
        { key: 'currentL2A', path: '$.active_current_l2_a', unit: 'A', min: 0, max: 200, optional: true },
        { key: 'currentL3A', path: '$.active_current_l3_a', unit: 'A', min: 0, max: 200, optional: true },
        { key: 'frequencyHz', path: '$.active_frequency_hz', unit: 'Hz', min: 45, max: 65, optional: true },
        { key: 'importEnergyWh', path: '$.total_power_import_kwh', scale: 1000, unit: 'Wh', min: 0, note: 'kWh on the wire' },
        { key: 'exportEnergyWh', path: '$.total_power_export_kwh', scale: 1000, unit: 'Wh', min: 0, note: 'kWh on the wire' },
      ],
    },
  ],
} satisfies HttpProfileInput;
