import { batteryPowerOf, buildBattery, buildEvCharger, buildSiteState } from '../../testing';
import { nullStrategy, NullConfigSchema } from './null';

describe('null strategy', () => {
  const config = NullConfigSchema.parse({});

  it('idles every battery at 0 W and leaves chargers alone', () => {
    const state = buildSiteState({
      batteries: [buildBattery({ assetId: 'a', powerW: 2_000 }), buildBattery({ assetId: 'b' })],
      evChargers: [buildEvCharger()],
    });
    const result = nullStrategy.decide(state, config, { nowMs: 0 }, {});
    expect(result.setpoints).toEqual({ a: { kind: 'battery-power', powerW: 0 }, b: { kind: 'battery-power', powerW: 0 } });
    expect(result.metrics.reason).toBe('idle');
  });

  it('refuses unknown config keys', () => {
    expect(NullConfigSchema.safeParse({ powerW: 1 }).success).toBe(false);
  });

  it('idles even on stale data', () => {
    const state = buildSiteState({ gridQuality: 'stale', batteries: [buildBattery({ quality: 'error' })] });
    expect(batteryPowerOf(nullStrategy.decide(state, config, { nowMs: 0 }, {}))).toBe(0);
  });
});
