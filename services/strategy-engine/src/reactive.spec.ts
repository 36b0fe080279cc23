import { SiteConfigSchema, StrategyNameSchema, type ControlIntent } from '@voltimax/contracts';
import { IntentGate, REACTIVE_INPUTS, triggerAssetIds } from './reactive';
import { buildSite } from './testing';

const hybrid = {
  id: 'hyb-1',
  name: 'Hybrid',
  kind: 'hybrid-inverter' as const,
  profile: 'growatt.sph',
  connection: { protocol: 'simulated' as const },
  battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000, minSocPct: 10, maxSocPct: 95, reserveSocPct: 0 },
};

describe('triggerAssetIds', () => {
  const site = SiteConfigSchema.parse(buildSite());

  it('is the grid meter for a strategy that reacts to the grid', () => {
    expect([...triggerAssetIds(site, ['net-zero'])]).toEqual(['grid-1']);
    expect([...triggerAssetIds(site, ['arbitrage', 'ev-charging', 'backup-power'])]).toEqual(['grid-1']);
  });

  it('is empty when no active strategy is reactive', () => {
    expect([...triggerAssetIds(site, ['arbitrage', 'backup-power'])]).toEqual([]);
    expect([...triggerAssetIds(site, ['charge'])]).toEqual([]);
  });

  it('is the hybrid inverter (its gridPowerW) when the site has no enabled grid meter', () => {
    const withoutMeter = SiteConfigSchema.parse(
      buildSite({ assets: [...buildSite().assets.map((a) => (a.id === 'grid-1' ? { ...a, enabled: false } : a)), hybrid] }),
    );
    expect([...triggerAssetIds(withoutMeter, ['self-consumption'])]).toEqual(['hyb-1']);
  });

  it('prefers the grid meter over a hybrid inverter', () => {
    const both = SiteConfigSchema.parse(buildSite({ assets: [...buildSite().assets, hybrid] }));
    expect([...triggerAssetIds(both, ['net-zero'])]).toEqual(['grid-1']);
  });
});

describe('REACTIVE_INPUTS', () => {
  it('decides for every strategy: the grid followers react, fixed-power, SoC and planner strategies keep the cadence', () => {
    const reactive = StrategyNameSchema.options.filter((name) => REACTIVE_INPUTS[name].length > 0);
    expect(reactive.sort()).toEqual(['ev-charging', 'grid-services', 'net-zero', 'peak-shaving', 'self-consumption']);
  });
});

describe('IntentGate', () => {
  const intent = (powerW: number, extra: Partial<ControlIntent> = {}): ControlIntent => ({
    v: 1,
    id: `i-${powerW}`,
    source: 'optimization',
    assetId: 'bat-1',
    setpoint: { kind: 'battery-power', powerW },
    issuedAtMs: 0,
    ttlMs: 3_000,
    reason: 'net-zero:net-zero',
    issuedBy: 'strategy-engine',
    ...extra,
  });

  it('wants the first intent of a subject, then only a change or a refresh', () => {
    const gate = new IntentGate();
    expect(gate.wants(intent(100), 0, 1_000)).toBe(true);
    gate.published(intent(100), 0);

    expect(gate.wants(intent(100), 999, 1_000)).toBe(false);
    expect(gate.wants(intent(110), 999, 1_000)).toBe(true);
    expect(gate.wants(intent(100, { reason: 'net-zero:deadband' }), 999, 1_000)).toBe(true);
    expect(gate.wants(intent(100), 1_000, 1_000)).toBe(true);
  });

  it('keeps subjects apart (source and asset) and forgets everything on clear', () => {
    const gate = new IntentGate();
    gate.published(intent(100), 0);
    expect(gate.wants(intent(100, { source: 'scheduled' }), 10, 1_000)).toBe(true);
    expect(gate.wants(intent(100, { assetId: 'bat-2' }), 10, 1_000)).toBe(true);
    gate.clear();
    expect(gate.wants(intent(100), 10, 1_000)).toBe(true);
  });

  it('wants everything with a refresh of 0 (cadence and requested ticks)', () => {
    const gate = new IntentGate();
    gate.published(intent(100), 0);
    expect(gate.wants(intent(100), 0, 0)).toBe(true);
  });
});
