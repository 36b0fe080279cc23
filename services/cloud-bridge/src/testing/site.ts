import type { SiteConfig, SiteConfigInput } from '@voltimax/contracts';
import { SiteConfigSchema } from '@voltimax/contracts';

/** A small valid site for the bridge's tests: a CNTE battery and an SDM630 grid meter (both simulated). */
export function testSite(overrides: Partial<SiteConfigInput> = {}): SiteConfigInput {
  return {
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'Cloud bridge test site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 9_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'simulated' },
        pollIntervalMs: 1000,
        battery: { capacityWh: 10_240, maxChargePowerW: 5000, maxDischargePowerW: 5000, minSocPct: 10, maxSocPct: 95 },
      },
      {
        id: 'grid-1',
        name: 'Grid meter',
        kind: 'grid-meter',
        profile: 'eastron.sdm630',
        connection: { protocol: 'simulated' },
        pollIntervalMs: 1000,
      },
    ],
    strategy: { active: ['self-consumption'], tickMs: 1000, config: {} },
    rules: [],
    tariff: { kind: 'dynamic', fixedEurPerMwh: 250, priceZone: 'DE-LU' },
    cloud: { transport: 'none' },
    ...overrides,
  };
}

/** The parsed site (defaults applied). */
export function parsedSite(overrides: Partial<SiteConfigInput> = {}): SiteConfig {
  return SiteConfigSchema.parse(testSite(overrides));
}
