import { batteryPowerOf, buildBattery, buildSiteState } from '../../testing';
import { chargeStrategy, ChargeConfigSchema } from './charge';

describe('charge strategy', () => {
  const config = ChargeConfigSchema.parse({});
  const decide = (state = buildSiteState(), cfg = config) => chargeStrategy.decide(state, cfg, { nowMs: 0 }, {});

  it.each([
    { name: 'mid SoC: full charge rate', socPct: 50, expectedW: -5_000, reason: 'charging' },
    { name: 'empty battery: full charge rate', socPct: 0, expectedW: -5_000, reason: 'charging' },
    { name: 'full battery (at maxSoc): idle', socPct: 95, expectedW: 0, reason: 'battery-full' },
    { name: 'above maxSoc: idle', socPct: 99, expectedW: 0, reason: 'battery-full' },
  ])('$name', ({ socPct, expectedW, reason }) => {
    const result = decide(buildSiteState({ batteries: [buildBattery({ socPct })] }));
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('stops at a configured target below maxSoc', () => {
    const cfg = ChargeConfigSchema.parse({ targetSocPct: 80 });
    const atTarget = decide(buildSiteState({ batteries: [buildBattery({ socPct: 80 })] }), cfg);
    expect(batteryPowerOf(atTarget)).toBe(0);
    expect(atTarget.metrics.reason).toBe('charge-target-reached');
    expect(batteryPowerOf(decide(buildSiteState({ batteries: [buildBattery({ socPct: 79 })] }), cfg))).toBe(-5_000);
  });

  it('respects a power cap', () => {
    expect(batteryPowerOf(decide(buildSiteState(), ChargeConfigSchema.parse({ maxPowerW: 1_200 })))).toBe(-1_200);
  });

  it('never pushes grid import beyond the connection limit', () => {
    const state = buildSiteState({ loadPowerW: 14_000 });
    const result = decide(state);
    expect(batteryPowerOf(result)).toBe(-3_000);
    expect(result.metrics.reason).toBe('grid-import-limit');
  });

  it('holds 0 W on a stale grid reading', () => {
    const result = decide(buildSiteState({ gridAgeMs: 60_000 }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  it('holds a stale battery at 0 W and charges the fresh one', () => {
    const state = buildSiteState({
      batteries: [buildBattery({ assetId: 'a', quality: 'error' }), buildBattery({ assetId: 'b' })],
    });
    const result = decide(state);
    expect(batteryPowerOf(result, 'a')).toBe(0);
    expect(batteryPowerOf(result, 'b')).toBe(-5_000);
  });

  it('reports no-battery without setpoints', () => {
    expect(decide(buildSiteState({ batteries: [] }))).toMatchObject({ setpoints: {}, metrics: { reason: 'no-battery' } });
  });
});
