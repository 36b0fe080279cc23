import { batteryPowerOf, buildBattery, buildSiteState } from '../../testing';
import { dischargeStrategy, DischargeConfigSchema } from './discharge';

describe('discharge strategy', () => {
  const config = DischargeConfigSchema.parse({});
  const decide = (state = buildSiteState(), cfg = config) => dischargeStrategy.decide(state, cfg, { nowMs: 0 }, {});

  it.each([
    { name: 'mid SoC: full discharge rate', socPct: 50, expectedW: 5_000, reason: 'discharging' },
    { name: 'full battery: full discharge rate', socPct: 100, expectedW: 5_000, reason: 'discharging' },
    { name: 'empty battery (at minSoc): idle', socPct: 10, expectedW: 0, reason: 'battery-empty' },
    { name: 'below minSoc: idle', socPct: 3, expectedW: 0, reason: 'battery-empty' },
  ])('$name', ({ socPct, expectedW, reason }) => {
    const result = decide(buildSiteState({ batteries: [buildBattery({ socPct })] }));
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('stops at a configured target above minSoc, and says so', () => {
    const cfg = DischargeConfigSchema.parse({ targetSocPct: 50 });
    const atTarget = decide(buildSiteState({ batteries: [buildBattery({ socPct: 50 })] }), cfg);
    expect(batteryPowerOf(atTarget)).toBe(0);
    expect(atTarget.metrics.reason).toBe('discharge-target-reached');
    expect(decide(buildSiteState({ batteries: [buildBattery({ socPct: 10 })] }), cfg).metrics.reason).toBe('battery-empty');
  });

  it('stops at the backup reserve when it is above minSoc', () => {
    expect(batteryPowerOf(decide(buildSiteState({ batteries: [buildBattery({ socPct: 30, reserveSocPct: 30 })] })))).toBe(0);
  });

  it('without export only covers the site demand', () => {
    const result = decide(buildSiteState({ loadPowerW: 1_800 }), DischargeConfigSchema.parse({ allowExport: false }));
    expect(batteryPowerOf(result)).toBe(1_800);
    expect(result.metrics.reason).toBe('no-export');
  });

  it('never pushes export beyond the connection limit', () => {
    const result = decide(buildSiteState({ loadPowerW: 0, pvPowerW: 7_000 }));
    expect(batteryPowerOf(result)).toBe(3_000);
    expect(result.metrics.reason).toBe('grid-export-limit');
  });

  it('holds 0 W when the battery reading is stale', () => {
    const result = decide(buildSiteState({ batteries: [buildBattery({ ageMs: 20_000 })] }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });
});
