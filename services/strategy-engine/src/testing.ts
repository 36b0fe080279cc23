/** Builders for the engine's tests: a small valid site and telemetry readings. */
import type { AssetReading, SiteConfigInput } from '@voltimax/contracts';

/** 2026-01-01T00:00:00Z: noon in Europe/Paris is 11:00Z. */
export const T0 = 1_767_225_600_000;

/** A site with a grid meter, a 10 kWh / 5 kW battery (window 10–95 %), a PV inverter and an EV charger; self-consumption. */
export function buildSite(overrides: Partial<SiteConfigInput> = {}): SiteConfigInput {
  return {
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'Test site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      { id: 'grid-1', name: 'Grid meter', kind: 'grid-meter', profile: 'eastron.sdm630', connection: { protocol: 'simulated' } },
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.storage',
        connection: { protocol: 'simulated' },
        battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000, minSocPct: 10, maxSocPct: 95, reserveSocPct: 0 },
      },
      { id: 'pv-1', name: 'PV', kind: 'pv-inverter', profile: 'growatt.pv-tl-x', connection: { protocol: 'simulated' }, pv: { ratedPowerW: 6_000 } },
      {
        id: 'ev-1',
        name: 'Wallbox',
        kind: 'ev-charger',
        profile: 'peblar.business',
        connection: { protocol: 'simulated' },
        evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
      },
    ],
    strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { minHoldMs: 0, deadbandW: 0 } } },
    rules: [],
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    ...overrides,
  };
}

/** A good reading of `assetId` measured at `atMs`. */
export function reading(
  assetId: string,
  kind: AssetReading['kind'],
  atMs: number,
  values: AssetReading['values'],
  extra: Partial<AssetReading> = {},
): AssetReading {
  return { v: 1, assetId, kind, atMs, sequence: 1, quality: 'good', values, ...extra };
}

/** The readings of the test site: grid import, battery, PV and an idle charger, all at `atMs`. */
export function siteReadings(
  atMs: number,
  v: { gridW?: number; batteryW?: number; socPct?: number; pvW?: number; evW?: number } = {},
): AssetReading[] {
  return [
    reading('grid-1', 'grid-meter', atMs, { powerW: v.gridW ?? 1_000, frequencyHz: 50 }),
    reading('bat-1', 'battery', atMs, { powerW: v.batteryW ?? 0, socPct: v.socPct ?? 50 }),
    reading('pv-1', 'pv-inverter', atMs, { powerW: v.pvW ?? 0 }),
    reading('ev-1', 'ev-charger', atMs, { powerW: v.evW ?? 0 }, { chargerState: v.evW ? 'charging' : 'available' }),
  ];
}
