import { type Fleet, type SiteSlot, scenarioMeanValues } from './plan-core';
import { type PlanBattery, type PlanRules, choosePower, energyLevels, solvePlan, valueAtEnergy } from './planner';

const HOUR = 3_600_000;
/** Lossless 10 kWh / 5 kW battery over its whole capacity: hand arithmetic stays exact. */
const ideal: PlanBattery = { minEnergyWh: 0, maxEnergyWh: 10_000, maxChargeW: 5_000, maxDischargeW: 5_000, chargeEfficiency: 1, dischargeEfficiency: 1 };
const fleet: Fleet = { capacityWh: 10_000, energyWh: 0, battery: ideal };
const rules: PlanRules = { wearEurPerMwh: 0, peakEurPerKw: 0, maxImportW: 50_000, maxExportW: 50_000, allowGridCharge: true, allowExport: true, altScenarioWeight: 0 };

/**
 * A night hour at 100 EUR/MWh, four midday hours, two evening hours at 2.5 kW (5 kWh); import 300 by day, feed-in 0.
 * The expected day (the forecast) is sunny: 2.5 kW surplus each midday hour, 10 kWh, enough for the evening. The other
 * scenario is a cloudy day: no surplus, the evening needs 5 kWh from the grid at 300 or from the night at 100.
 */
const SUNNY = [0, -2_500, -2_500, -2_500, -2_500, 2_500, 2_500];
const CLOUDY = [0, 0, 0, 0, 0, 2_500, 2_500];
const slots: SiteSlot[] = SUNNY.map((netW, t) => ({
  startMs: t * HOUR,
  endMs: (t + 1) * HOUR,
  netW,
  importEurPerMwh: t === 0 ? 100 : 300,
  exportEurPerMwh: 0,
  monthKey: '2025-06',
  demandSource: t === 0 ? 0 : 1,
  isPriceKnown: true,
}));
const levels = energyLevels(ideal, 500);
const nightChoice = (nextRow: ArrayLike<number> | undefined) =>
  choosePower({ energyWh: 0, hours: 1, netW: 0, prices: slots[0] as SiteSlot, capW: Number.POSITIVE_INFINITY, nextRow, levels, battery: ideal, rules });

describe('whole-day scenarios (scenarioMeanValues)', () => {
  const plan = solvePlan(slots.map((s) => ({ ...s, peakCapW: Number.POSITIVE_INFINITY })), ideal, rules, levels);
  const mean = scenarioMeanValues(slots, {}, plan, fleet, rules, levels, { window: slots.length, demandsW: [CLOUDY] });

  it('averages the costs-to-go of the expected day and of each scenario day, each solved as one whole path', () => {
    // After the night with x kWh stored: a sunny day costs nothing (PV covers the evening, x is left over), a cloudy
    // one 0.3 EUR per kWh the evening still needs: mean 0.15 · (5 − x) EUR.
    for (const x of [0, 1_000, 2_500, 5_000, 8_000]) {
      expect(valueAtEnergy(mean[1], levels, x)).toBeCloseTo(0.15 * Math.max(0, 5 - x / 1_000), 9);
    }
    // Beyond the day window the plan's own rows (here: the end of the horizon).
    expect(mean[slots.length]).toBe(plan[slots.length]);
  });

  it('charges at night for the cloudy half of the days, where quarter hours drawn one by one would not', () => {
    // 5 kWh at 100 now (0.50 EUR) against a 50 % chance of 5 kWh at 300 tonight (0.75 EUR).
    const whole = nightChoice(mean[1]);
    expect(whole.powerW).toBeCloseTo(-5_000, 6);
    expect(whole.totalCostEur).toBeCloseTo(0.5, 9);
    // The same two outcomes mixed hour by hour (each midday hour sunny or not, independently): four draws almost
    // always bring some sun, the expected shortfall is 15/16 kWh, and the night charge does not pay.
    const perHour = solvePlan(
      slots.map((s, t) => ({ ...s, peakCapW: Number.POSITIVE_INFINITY, altNetW: CLOUDY[t] as number })),
      ideal,
      { ...rules, altScenarioWeight: 0.5 },
      levels,
    );
    expect(valueAtEnergy(perHour[1], levels, 0)).toBeCloseTo((0.3 * 15) / 16, 9);
    expect(nightChoice(perHour[1]).powerW).toBe(0);
  });

  it('is the plan itself without scenarios or with a window too short to hold a decision', () => {
    expect(scenarioMeanValues(slots, {}, plan, fleet, rules, levels, undefined)).toBe(plan);
    expect(scenarioMeanValues(slots, {}, plan, fleet, rules, levels, { window: 3, demandsW: [] })).toBe(plan);
    expect(scenarioMeanValues(slots, {}, plan, fleet, rules, levels, { window: 1, demandsW: [[0]] })).toBe(plan);
  });

  it('with scenarios equal to the expected day gives the plan’s values', () => {
    const same = scenarioMeanValues(slots, {}, plan, fleet, rules, levels, { window: 4, demandsW: [SUNNY, SUNNY] });
    for (let t = 0; t <= slots.length; t++) for (let k = 0; k < levels.count; k++) expect(same[t]?.[k]).toBeCloseTo(plan[t]?.[k] ?? Number.NaN, 9);
  });
});
