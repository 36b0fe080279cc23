// Typed builders for the dashboard's unit tests: a small site, readings, heartbeats, decisions.
import {
  SiteConfigSchema,
  type ArbiterDecision,
  type AssetReading,
  type DecisionMetrics,
  type Heartbeat,
  type SiteConfig,
} from '@voltimax/contracts';

/** A site with a grid meter, a battery (10 kWh), a hybrid inverter without battery, an EV charger and a PV meter. */
export function testSite(overrides: Partial<Record<string, unknown>> = {}): SiteConfig {
  return SiteConfigSchema.parse({
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'Test site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 6_000 },
    assets: [
      {
        id: 'grid-1',
        name: 'Grid meter',
        kind: 'grid-meter',
        profile: 'eastron.sdm630',
        connection: { protocol: 'simulated' },
      },
      {
        id: 'bat-1',
        name: 'Battery',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'simulated' },
        battery: {
          capacityWh: 10_000,
          maxChargePowerW: 5_000,
          maxDischargePowerW: 5_000,
          minSocPct: 10,
          maxSocPct: 95,
        },
      },
      {
        id: 'inv-1',
        name: 'Hybrid inverter',
        kind: 'hybrid-inverter',
        profile: 'growatt.sph',
        connection: { protocol: 'simulated' },
        pollIntervalMs: 2_000,
        pv: { ratedPowerW: 6_000 },
      },
      {
        id: 'ev-1',
        name: 'Wallbox',
        kind: 'ev-charger',
        profile: 'peblar.home',
        connection: { protocol: 'simulated' },
        evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
      },
    ],
    strategy: { active: ['self-consumption'], tickMs: 1_000, config: {} },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    ...overrides,
  });
}

let sequence = 0;

/** A good reading of `assetId` at `atMs`. */
export function reading(
  assetId: string,
  kind: AssetReading['kind'],
  atMs: number,
  values: AssetReading['values'],
  extra: Partial<AssetReading> = {},
): AssetReading {
  sequence += 1;
  return { v: 1, assetId, kind, atMs, sequence, quality: 'good', values, ...extra };
}

/** A heartbeat of `service` at `atMs`. */
export function heartbeat(service: string, atMs: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    service,
    instanceId: `${service}-1`,
    status: 'ok',
    atMs,
    startedAtMs: atMs - 60_000,
    version: '0.1.0',
    intervalMs: 5_000,
    ...extra,
  };
}

/** An arbiter decision for `assetId`. */
export function decision(assetId: string, atMs: number, extra: Partial<ArbiterDecision> = {}): ArbiterDecision {
  return {
    v: 1,
    assetId,
    intentId: `intent-${atMs}`,
    source: 'optimization',
    outcome: 'applied',
    requested: { kind: 'battery-power', powerW: 1_000 },
    applied: { kind: 'battery-power', powerW: 1_000 },
    violations: [],
    atMs,
    ...extra,
  };
}

/** DecisionMetrics of `strategy`. */
export function metrics(strategy: string, atMs: number, extra: Partial<DecisionMetrics> = {}): DecisionMetrics {
  return {
    v: 1,
    strategy,
    atMs,
    inputs: { gridPowerW: 800 },
    outputs: { batteryPowerW: 800 },
    terms: {},
    reason: 'self-consumption',
    ...extra,
  };
}
