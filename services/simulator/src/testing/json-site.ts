// Test fixture: a simulated site with the opt-in JSON devices — a Peblar charger (HTTP) and a Shelly Pro 3EM grid
// meter (MQTT) — next to a Modbus battery.
import type { SiteConfigInput } from '@voltimax/contracts';

/** Battery (Modbus), Peblar charger `ev-1` (16 A, 3-phase; HTTP) and Shelly grid meter `grid-1` (MQTT). */
export function jsonDevicesSite(overrides: Partial<SiteConfigInput> = {}): SiteConfigInput {
  return {
    v: 1,
    gatewayId: 'gw-sim-json',
    siteName: 'Simulated site with HTTP and MQTT devices',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 6_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'simulated' },
        battery: { capacityWh: 10_240, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
      },
      {
        id: 'ev-1',
        name: 'Peblar wallbox',
        kind: 'ev-charger',
        profile: 'peblar.rest',
        connection: { protocol: 'simulated' },
        evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
      },
      {
        id: 'grid-1',
        name: 'Shelly Pro 3EM at the main fuse',
        kind: 'grid-meter',
        profile: 'shelly.pro-3em',
        connection: { protocol: 'simulated' },
      },
    ],
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    ...overrides,
  };
}
