import fc from 'fast-check';
import { batteryPowerOf, buildBattery, buildPriceSeries, buildSiteState, buildTariff, localTimeMs, runScenario } from '../../testing';
import type { SiteState } from '../site-state';
import {
  arbitrageStrategy,
  ArbitrageConfigSchema,
  planArbitrage,
  type ArbitrageConfig,
  type ArbitrageMemory,
  type ArbitragePlanInput,
} from './arbitrage';

const HOUR = 3_600_000;
const config = ArbitrageConfigSchema.parse({});

/** A 10 kWh battery between 10 % and 95 %, 5 kW both ways, at 50 %. */
function planInput(prices: readonly number[], overrides: Partial<ArbitragePlanInput> = {}): ArbitragePlanInput {
  return {
    slots: buildPriceSeries(0, HOUR, prices),
    nowMs: 0,
    energyWh: 5_000,
    minEnergyWh: 1_000,
    maxEnergyWh: 9_500,
    capacityWh: 10_000,
    maxChargeW: 5_000,
    maxDischargeW: 5_000,
    config,
    ...overrides,
  };
}

describe('planArbitrage', () => {
  it('idles on flat prices', () => {
    const plan = planArbitrage(planInput([100, 100, 100, 100], { energyWh: 1_000 }));
    expect(plan.slots.map((s) => s.action)).toEqual(['idle', 'idle', 'idle', 'idle']);
    expect(plan.expectedProfitEur).toBe(0);
  });

  it('does not cycle when the spread does not beat losses and wear', () => {
    // Buy 1 kWh stored for 100/0.95 = 105.3 EUR/MWh, sell it for 0.95 × 110 − 20 = 84.5 EUR/MWh: a loss.
    const plan = planArbitrage(planInput([100, 110], { energyWh: 1_000 }));
    expect(plan.slots.map((s) => s.action)).toEqual(['idle', 'idle']);
    expect(plan.expectedProfitEur).toBe(0);
  });

  it('cycles when the spread beats losses and wear', () => {
    const plan = planArbitrage(planInput([50, 300], { energyWh: 1_000 }));
    expect(plan.slots.map((s) => s.action)).toEqual(['charge', 'discharge']);
    expect(plan.expectedProfitEur).toBeGreaterThan(0);
  });

  it('charges when paid to (negative prices) without anywhere to sell', () => {
    const plan = planArbitrage(planInput([-50, -80], { energyWh: 1_000 }));
    expect(plan.slots.map((s) => s.action)).toEqual(['charge', 'charge']);
    expect(plan.expectedProfitEur).toBeGreaterThan(0);
  });

  it('sells at a slightly negative price only to make room for a much more negative one', () => {
    const plan = planArbitrage(planInput([-5, -200], { energyWh: 9_500 }));
    expect(plan.slots.map((s) => s.action)).toEqual(['discharge', 'charge']);
    const flat = planArbitrage(planInput([-5, -6], { energyWh: 9_500 }));
    expect(flat.slots.map((s) => s.action)).toEqual(['idle', 'idle']);
  });

  it('respects the power limits in every slot', () => {
    const input = planInput([10, 20, 500, 600, 5, 400], { maxChargeW: 2_000, maxDischargeW: 3_000 });
    for (const slot of planArbitrage(input).slots) {
      const hours = (slot.endMs - slot.startMs) / HOUR;
      const deltaWh = slot.endEnergyWh - slot.startEnergyWh;
      if (deltaWh > 0) expect(deltaWh / config.chargeEfficiency / hours).toBeLessThanOrEqual(2_000 + 1e-6);
      if (deltaWh < 0) expect((-deltaWh * config.dischargeEfficiency) / hours).toBeLessThanOrEqual(3_000 + 1e-6);
    }
  });

  it('stays inside the SoC window', () => {
    for (const slot of planArbitrage(planInput([1, 900, 1, 900])).slots) {
      expect(slot.endEnergyWh).toBeGreaterThanOrEqual(1_000 - 1e-6);
      expect(slot.endEnergyWh).toBeLessThanOrEqual(9_500 + 1e-6);
    }
  });

  it('starts the first slot at now when it began earlier', () => {
    const plan = planArbitrage(planInput([50, 300], { nowMs: HOUR / 2, energyWh: 1_000 }));
    expect(plan.slots[0]?.startMs).toBe(HOUR / 2);
  });

  it('never plans a loss and is deterministic (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -300, max: 800 }), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 1_000, max: 9_500 }),
        (prices, energyWh) => {
          const input = planInput(prices, { energyWh });
          const plan = planArbitrage(input);
          expect(plan.expectedProfitEur).toBeGreaterThanOrEqual(0);
          expect(planArbitrage(input)).toEqual(plan);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('arbitrage strategy', () => {
  const fresh: ArbitrageMemory = arbitrageStrategy.initialMemory(config);
  const prices = buildPriceSeries(0, HOUR, [50, 50, 300, 200]);
  const state = (overrides: Partial<SiteState> = {}): SiteState => buildSiteState({ prices, batteries: [buildBattery({ socPct: 10 })], ...overrides });

  it('follows the plan: charges in the cheap slot at the power that reaches the planned energy', () => {
    const result = arbitrageStrategy.decide(state(), config, { nowMs: 0 }, fresh);
    expect(result.metrics.reason).toBe('arbitrage-charging');
    expect(result.metrics.terms['replanned']).toBe(1);
    expect(batteryPowerOf(result)).toBeLessThan(0);
    expect(batteryPowerOf(result)).toBeGreaterThanOrEqual(-5_000);
  });

  it('keeps the plan while the prices and the SoC stay on track, re-plans when the prices change', () => {
    const results = runScenario(arbitrageStrategy, config, fresh, [
      { atMs: 0, state: state() },
      { atMs: 60_000, state: state({ batteries: [buildBattery({ socPct: 10.8 })] }) },
      { atMs: 120_000, state: state({ prices: buildPriceSeries(0, HOUR, [50, 50, 300, 210]), batteries: [buildBattery({ socPct: 11.6 })] }) },
    ]);
    expect(results.map((r) => r.metrics.terms['replanned'])).toEqual([1, 0, 1]);
    expect(results[2]?.memory.pricesHash).not.toBe(results[0]?.memory.pricesHash);
  });

  it('re-plans when the SoC leaves the plan', () => {
    const results = runScenario(arbitrageStrategy, config, fresh, [
      { atMs: 0, state: state() },
      { atMs: 60_000, state: state({ batteries: [buildBattery({ socPct: 40 })] }) },
    ]);
    expect(results[1]?.metrics.terms['replanned']).toBe(1);
  });

  it('discharges in the expensive slot', () => {
    const result = arbitrageStrategy.decide(state({ batteries: [buildBattery({ socPct: 90 })] }), config, { nowMs: 2 * HOUR }, fresh);
    expect(result.metrics.reason).toBe('arbitrage-discharging');
    // Close to the 5 kW limit; the 2 % SoC grid rounds the planned energy down to a level.
    expect(batteryPowerOf(result)).toBeGreaterThan(4_800);
    expect(batteryPowerOf(result)).toBeLessThanOrEqual(5_000);
  });

  it('does not discharge an empty battery nor charge a full one', () => {
    expect(batteryPowerOf(arbitrageStrategy.decide(state({ batteries: [buildBattery({ socPct: 10 })] }), config, { nowMs: 2 * HOUR }, fresh))).toBe(0);
    expect(batteryPowerOf(arbitrageStrategy.decide(state({ batteries: [buildBattery({ socPct: 95 })] }), config, { nowMs: 0 }, fresh))).toBe(0);
  });

  it('without prices idles and says why', () => {
    const result = arbitrageStrategy.decide(state({ prices: [] }), config, { nowMs: 0 }, fresh);
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('no-prices');
    expect(arbitrageStrategy.decide(buildSiteState(), config, { nowMs: 0 }, fresh).metrics.reason).toBe('no-prices');
  });

  it('ignores prices that ended before now', () => {
    const result = arbitrageStrategy.decide(state(), config, { nowMs: 5 * HOUR }, fresh);
    expect(result.metrics.reason).toBe('no-prices');
  });

  it('without spot prices falls back to the ToU schedule and says so', () => {
    const tariff = buildTariff({
      kind: 'time-of-use',
      touPeriods: [
        { from: '00:00', to: '06:00', eurPerMwh: 50 },
        { from: '06:00', to: '00:00', eurPerMwh: 300 },
      ],
    });
    const nowMs = localTimeMs('2025-01-15T02:00', 'Europe/Paris');
    const result = arbitrageStrategy.decide(buildSiteState({ tariff, batteries: [buildBattery({ socPct: 10 })] }), config, { nowMs }, fresh);
    expect(result.metrics.reason).toBe('no-prices-tou-fallback');
    expect(batteryPowerOf(result)).toBeLessThan(0);
  });

  it('holds 0 W on stale data', () => {
    const result = arbitrageStrategy.decide(state({ gridQuality: 'stale' }), config, { nowMs: 0 }, fresh);
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  it('without export discharges only to cover the site demand', () => {
    const cfg = ArbitrageConfigSchema.parse({ allowExport: false });
    const result = arbitrageStrategy.decide(state({ loadPowerW: 1_200, batteries: [buildBattery({ socPct: 90 })] }), cfg, { nowMs: 2 * HOUR }, fresh);
    expect(batteryPowerOf(result)).toBe(1_200);
    expect(result.metrics.reason).toBe('no-export');
  });

  it('does not lose money in closed loop on random prices (ideal battery follows the setpoints)', () => {
    const tickMs = 5 * 60_000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -100, max: 400 }), { minLength: 2, maxLength: 8 }), (hourly) => {
        const cfg: ArbitrageConfig = config;
        const series = buildPriceSeries(0, HOUR, hourly);
        let socPct = 50;
        let memory = fresh;
        let cashEur = 0;
        let expected = 0;
        for (let t = 0; t < hourly.length * HOUR; t += tickMs) {
          const s = buildSiteState({ prices: series, batteries: [buildBattery({ socPct })] });
          const result = arbitrageStrategy.decide(s, cfg, { nowMs: t }, memory);
          if (t === 0) expected = result.memory.expectedProfitEur;
          memory = result.memory;
          const powerW = batteryPowerOf(result) ?? 0;
          const hours = tickMs / HOUR;
          const price = hourly[Math.floor(t / HOUR)] ?? 0;
          const gridWh = -powerW * hours; // + = bought
          const storedWh = powerW < 0 ? -powerW * hours * cfg.chargeEfficiency : (-powerW * hours) / cfg.dischargeEfficiency;
          cashEur -= (gridWh / 1e6) * price;
          if (powerW > 0) cashEur -= (cfg.wearCostEurPerKwh * -storedWh) / 1000;
          socPct += (storedWh / 10_000) * 100;
        }
        expect(cashEur).toBeGreaterThanOrEqual(-1e-3);
        expect(cashEur).toBeGreaterThanOrEqual(expected - 0.01 - 1e-3 * Math.abs(expected));
      }),
      { numRuns: 40 },
    );
  });
});
