import {
  SiteConfigSchema,
  type AssetReading,
  type Heartbeat,
  type SiteConfig,
  type SiteConfigInput,
} from '@voltimax/contracts';

/** A small site for tests: battery, grid meter, EV charger, PV inverter, a load meter. */
export const TEST_SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-test',
  siteName: 'Arbiter test site',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 12_000, maxExportW: 6_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'bat-1',
      name: 'Battery',
      kind: 'battery',
      profile: 'acme.battery',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      battery: {
        capacityWh: 10_000,
        maxChargePowerW: 5_000,
        maxDischargePowerW: 5_000,
        minSocPct: 10,
        maxSocPct: 95,
        reserveSocPct: 20,
      },
    },
    {
      id: 'grid-1',
      name: 'Grid meter',
      kind: 'grid-meter',
      profile: 'acme.meter',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
    },
    {
      id: 'ev-1',
      name: 'Wallbox',
      kind: 'ev-charger',
      profile: 'acme.wallbox',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    },
    {
      id: 'pv-1',
      name: 'PV',
      kind: 'pv-inverter',
      profile: 'acme.pv',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      pv: { ratedPowerW: 6_000 },
    },
    {
      id: 'load-1',
      name: 'House',
      kind: 'meter',
      profile: 'acme.meter',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      measures: 'load',
    },
  ],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};

export const testSite = (): SiteConfig => SiteConfigSchema.parse(TEST_SITE);

/** The controllable assets of TEST_SITE. */
export const CONTROLLABLE = ['bat-1', 'ev-1', 'pv-1'] as const;

/** Good readings for every asset of TEST_SITE at `atMs` (battery at 50 % SoC idle, grid importing 1 kW). */
export function freshReadings(atMs: number, sequence = 1): AssetReading[] {
  const base = { v: 1 as const, atMs, sequence, quality: 'good' as const };
  return [
    { ...base, assetId: 'bat-1', kind: 'battery', values: { powerW: 0, socPct: 50, temperatureC: 25 } },
    { ...base, assetId: 'grid-1', kind: 'grid-meter', values: { powerW: 1_000 } },
    { ...base, assetId: 'ev-1', kind: 'ev-charger', values: { powerW: 0, phases: 3 }, chargerState: 'available' },
    { ...base, assetId: 'pv-1', kind: 'pv-inverter', values: { powerW: 2_000 } },
    { ...base, assetId: 'load-1', kind: 'meter', values: { powerW: 3_000 } },
  ];
}

/** A driver heartbeat that owns `assets`. */
export function driverHeartbeat(
  atMs: number,
  assets: readonly string[],
  overrides: Partial<Heartbeat> = {},
): Heartbeat {
  return {
    v: 1,
    service: 'modbus-poller',
    instanceId: 'poller-1',
    status: 'ok',
    atMs,
    startedAtMs: atMs - 60_000,
    version: '0.1.0',
    intervalMs: 1_000,
    assets: [...assets],
    ...overrides,
  };
}
