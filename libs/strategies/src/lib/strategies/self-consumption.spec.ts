import { batteryPowerOf, buildBattery, buildSiteState, runScenario } from '../../testing';
import { selfConsumptionStrategy, SelfConsumptionConfigSchema, type SelfConsumptionMemory } from './self-consumption';

describe('self-consumption strategy', () => {
  const config = SelfConsumptionConfigSchema.parse({});
  const fresh: SelfConsumptionMemory = selfConsumptionStrategy.initialMemory(config);
  const battery = buildBattery();

  it.each([
    {
      name: 'import 1 kW -> discharge 1 kW',
      gridPowerW: 1_000,
      socPct: 50,
      expectedW: 1_000,
      reason: 'self-consumption',
    },
    {
      name: 'export 2 kW -> charge 2 kW',
      gridPowerW: -2_000,
      socPct: 50,
      expectedW: -2_000,
      reason: 'self-consumption',
    },
    {
      name: 'at min SoC (empty) -> no discharge',
      gridPowerW: 1_000,
      socPct: 10,
      expectedW: 0,
      reason: 'battery-empty',
    },
    { name: 'at max SoC (full) -> no charge', gridPowerW: -2_000, socPct: 95, expectedW: 0, reason: 'battery-full' },
    {
      name: 'beyond inverter limit -> clamp',
      gridPowerW: 9_000,
      socPct: 50,
      expectedW: 5_000,
      reason: 'self-consumption',
    },
  ])('$name', ({ gridPowerW, socPct, expectedW, reason }) => {
    const result = selfConsumptionStrategy.decide(
      buildSiteState({ gridPowerW, batteries: [{ ...battery, socPct }] }),
      config,
      { nowMs: 0 },
      fresh,
    );
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('never charges from the grid, even with an import target', () => {
    const cfg = SelfConsumptionConfigSchema.parse({ targetGridW: 300 });
    const result = selfConsumptionStrategy.decide(buildSiteState({ gridPowerW: 200 }), cfg, { nowMs: 0 }, fresh);
    expect(batteryPowerOf(result)).toBe(0);
  });

  it('never discharges into export, even with an export target', () => {
    const cfg = SelfConsumptionConfigSchema.parse({ targetGridW: -500 });
    const result = selfConsumptionStrategy.decide(buildSiteState({ gridPowerW: 200 }), cfg, { nowMs: 0 }, fresh);
    expect(batteryPowerOf(result)).toBe(200);
  });

  it('holds a new setpoint for minHoldMs before changing again', () => {
    runScenario(selfConsumptionStrategy, config, fresh, [
      {
        atMs: 0,
        state: buildSiteState({ gridPowerW: 1_000, batteries: [battery] }),
        expect: (r) => expect(batteryPowerOf(r)).toBe(1_000),
      },
      {
        atMs: 5_000,
        state: buildSiteState({ gridPowerW: 800, batteries: [{ ...battery, powerW: 1_000 }] }),
        expect: (r) => {
          expect(batteryPowerOf(r)).toBe(1_000);
          expect(r.metrics.reason).toBe('min-hold');
        },
      },
      {
        atMs: 12_000,
        state: buildSiteState({ gridPowerW: 800, batteries: [{ ...battery, powerW: 1_000 }] }),
        expect: (r) => expect(batteryPowerOf(r)).toBe(1_800),
      },
    ]);
  });

  it('ignores changes smaller than the deadband', () => {
    runScenario(selfConsumptionStrategy, config, fresh, [
      { atMs: 0, state: buildSiteState({ gridPowerW: 1_000 }) },
      {
        atMs: 20_000,
        state: buildSiteState({ gridPowerW: 30, batteries: [{ ...battery, powerW: 1_000 }] }),
        expect: (r) => {
          expect(batteryPowerOf(r)).toBe(1_000);
          expect(r.metrics.reason).toBe('deadband');
        },
      },
    ]);
  });

  it('lets limits override the hold: a load drop during min-hold never turns the held discharge into export', () => {
    runScenario(selfConsumptionStrategy, config, fresh, [
      { atMs: 0, state: buildSiteState({ gridPowerW: 3_000 }) },
      {
        atMs: 2_000,
        // The battery delivers 3 kW, the load fell: 2 kW is exported now. Demand is only 1 kW.
        state: buildSiteState({ gridPowerW: -2_000, batteries: [{ ...battery, powerW: 3_000 }] }),
        expect: (r) => {
          expect(batteryPowerOf(r)).toBe(1_000);
          expect(r.metrics.reason).toBe('hold-limited');
        },
      },
    ]);
  });

  it('lets the SoC window override the hold', () => {
    runScenario(selfConsumptionStrategy, config, fresh, [
      { atMs: 0, state: buildSiteState({ gridPowerW: 2_000 }) },
      {
        atMs: 1_000,
        state: buildSiteState({ gridPowerW: 0, batteries: [{ ...battery, powerW: 2_000, socPct: 10 }] }),
        expect: (r) => expect(batteryPowerOf(r)).toBe(0),
      },
    ]);
  });

  it('holds 0 W on stale data', () => {
    const result = selfConsumptionStrategy.decide(
      buildSiteState({ gridPowerW: 1_000, gridAgeMs: 30_000 }),
      config,
      { nowMs: 0 },
      fresh,
    );
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  it('covers the house again as soon as the data is back: the forced 0 W of stale data starts no hold', () => {
    // Seen live: a battery back on the network sat at 0 W for 10 s (min-hold) while the house imported 735 W.
    runScenario(selfConsumptionStrategy, config, fresh, [
      {
        atMs: 0,
        state: buildSiteState({ gridPowerW: 750, batteries: [battery] }),
        expect: (r) => expect(batteryPowerOf(r)).toBe(750),
      },
      {
        atMs: 20_000,
        state: buildSiteState({ gridPowerW: 750, gridAgeMs: 30_000, batteries: [battery] }),
        expect: (r) => expect(r.metrics.reason).toBe('stale-data'),
      },
      {
        atMs: 21_000,
        state: buildSiteState({ gridPowerW: 735, batteries: [battery] }),
        expect: (r) => {
          expect(batteryPowerOf(r)).toBe(735);
          expect(r.metrics.reason).toBe('self-consumption');
        },
      },
    ]);
  });
});
