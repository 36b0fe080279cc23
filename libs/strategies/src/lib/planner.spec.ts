import fc from 'fast-check';
import {
  type PlanBattery,
  type PlanRules,
  type PlanSlot,
  DECISION_TIE_EUR,
  choosePower,
  energyLevels,
  lowestFeasibleCapW,
  peakReserve,
  powerBounds,
  reserveCurveWh,
  reservePenaltyEur,
  slotCostEur,
  solvePlan,
  storedDeltaWh,
  valueAtEnergy,
} from './planner';

const HOUR = 3_600_000;

/** Lossless 10 kWh / 5 kW battery over its whole capacity: hand arithmetic stays exact. */
const ideal: PlanBattery = { minEnergyWh: 0, maxEnergyWh: 10_000, maxChargeW: 5_000, maxDischargeW: 5_000, chargeEfficiency: 1, dischargeEfficiency: 1 };
const lossy: PlanBattery = { ...ideal, minEnergyWh: 1_000, maxEnergyWh: 9_500, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 };
const market: PlanRules = {
  wearEurPerMwh: 0,
  peakEurPerKw: 0,
  maxImportW: 50_000,
  maxExportW: 50_000,
  allowGridCharge: true,
  allowExport: true,
  altScenarioWeight: 0,
};

/** Hourly slots from t = 0 with the given net demand and prices (import = export unless given). */
function slots(rows: readonly { netW?: number; importEur: number; exportEur?: number; capW?: number; altNetW?: number }[]): PlanSlot[] {
  return rows.map((r, i) => ({
    startMs: i * HOUR,
    endMs: (i + 1) * HOUR,
    netW: r.netW ?? 0,
    importEurPerMwh: r.importEur,
    exportEurPerMwh: r.exportEur ?? r.importEur,
    peakCapW: r.capW ?? Number.POSITIVE_INFINITY,
    ...(r.altNetW !== undefined ? { altNetW: r.altNetW } : {}),
  }));
}

function first(plan: PlanSlot[], battery: PlanBattery, rules: PlanRules, energyWh: number, stepWh = 1_000) {
  const levels = energyLevels(battery, stepWh);
  const values = solvePlan(plan, battery, rules, levels);
  const slot = plan[0] as PlanSlot;
  const choice = choosePower({
    energyWh,
    hours: (slot.endMs - slot.startMs) / HOUR,
    netW: slot.netW,
    prices: slot,
    capW: slot.peakCapW,
    nextRow: values[1],
    levels,
    battery,
    rules,
  });
  return { levels, values, choice };
}

describe('slot cost and power bounds', () => {
  it('bills import at the import price, export at the feed-in, wear on |power|, and the peak above the cap', () => {
    // 1 h, demand 3 kW, battery 1 kW: import 2 kW × 300 EUR/MWh = 0.60 EUR; wear 1 kWh × 20 EUR/MWh = 0.02 EUR;
    // 0.5 kW above a 1.5 kW cap at 4.84 EUR/kW = 2.42 EUR.
    const rules = { ...market, wearEurPerMwh: 20, peakEurPerKw: 4.84 };
    expect(slotCostEur(1_000, 3_000, 1, { importEurPerMwh: 300, exportEurPerMwh: 50 }, 1_500, rules)).toBeCloseTo(0.6 + 0.02 + 2.42, 12);
    // Export 2 kW for 0.5 h at 50 EUR/MWh earns 0.05 EUR.
    expect(slotCostEur(0, -2_000, 0.5, { importEurPerMwh: 300, exportEurPerMwh: 50 }, Infinity, market)).toBeCloseTo(-0.05, 12);
  });

  it('keeps the battery from pushing the grid past its limits, and honours no-export / no-grid-charge', () => {
    const rules = { ...market, maxImportW: 4_000, maxExportW: 1_000 };
    expect(powerBounds(1_000, ideal, rules)).toEqual({ lowW: -3_000, highW: 2_000 });
    expect(powerBounds(1_000, ideal, { ...rules, allowExport: false, allowGridCharge: false })).toEqual({ lowW: 0, highW: 1_000 });
    expect(powerBounds(-2_000, ideal, { ...rules, allowGridCharge: false })).toEqual({ lowW: -2_000, highW: 0 });
    // The load alone is beyond the import limit: the battery may idle, not make it worse.
    expect(powerBounds(9_000, ideal, rules).lowW).toBe(0);
  });

  it('stores η·energy when charging and takes energy/η when discharging', () => {
    expect(storedDeltaWh(-1_000, 1, lossy)).toBeCloseTo(950, 9);
    expect(storedDeltaWh(950, 1, lossy)).toBeCloseTo(-1_000, 9);
  });
});

describe('solvePlan + choosePower', () => {
  it('buys at 50 and sells at 300: −1.25 EUR from empty (5 kWh × 0.25 EUR/kWh), charging at full power first', () => {
    const { values, levels, choice } = first(slots([{ importEur: 50 }, { importEur: 300 }]), ideal, market, 0);
    expect(valueAtEnergy(values[0], levels, 0)).toBeCloseTo(-1.25, 9);
    expect(choice.powerW).toBeCloseTo(-5_000, 6);
  });

  it('idles when the spread does not pay the losses: 100 → 110 EUR/MWh at 95 % each way', () => {
    // 1 kWh bought for 0.100 EUR returns 0.9025 kWh worth 0.0993 EUR.
    const { choice } = first(slots([{ importEur: 100 }, { importEur: 110 }]), lossy, market, 1_000, 200);
    expect(choice.powerW).toBe(0);
  });

  it('takes negative prices: charges when paid to even with nowhere to sell', () => {
    const { choice } = first(slots([{ importEur: -50 }, { importEur: -80 }]), lossy, market, 1_000, 200);
    expect(choice.powerW).toBeLessThan(0);
  });

  it('stores PV surplus worth more at the meter tomorrow than exported now, and only the surplus', () => {
    // Import 300, feed-in 50: 2 kWh of surplus stored saves 0.60 EUR later for 0.10 EUR of feed-in given up.
    const plan = slots([
      { netW: -2_000, importEur: 300, exportEur: 50 },
      { netW: 2_000, importEur: 300, exportEur: 50 },
    ]);
    const { choice, values, levels } = first(plan, ideal, market, 0);
    expect(choice.powerW).toBeCloseTo(-2_000, 6);
    // Stored: nothing exported, nothing imported = 0 EUR; idle: −0.10 (feed-in) + 0.60 (import) = 0.50 EUR.
    expect(valueAtEnergy(values[0], levels, 0)).toBeCloseTo(0, 9);
    expect(choice.idleCostEur).toBeCloseTo(0.5, 9);
  });

  it('exports the surplus instead when feed-in pays as much as the import it would save', () => {
    const plan = slots([
      { netW: -2_000, importEur: 100, exportEur: 100 },
      { netW: 2_000, importEur: 100, exportEur: 100 },
    ]);
    expect(first(plan, lossy, { ...market, wearEurPerMwh: 20 }, 1_000, 200).choice.powerW).toBe(0);
  });

  it('holds the peak cap: discharges the excess over it, and keeps the rest for the dearer hour', () => {
    // 5 kWh usable. Hour 1: 4 kW demand, cap 2 kW, import 100; hour 2: 4 kW demand, cap 2 kW, import 400.
    const battery = { ...ideal, maxEnergyWh: 5_000 };
    const rules = { ...market, peakEurPerKw: 5 };
    const plan = slots([
      { netW: 4_000, importEur: 100, capW: 2_000 },
      { netW: 4_000, importEur: 400, capW: 2_000 },
    ]);
    expect(first(plan, battery, rules, 5_000, 500).choice.powerW).toBeCloseTo(2_000, 6);
  });

  it('charges from the grid under the cap ahead of a forecast peak it could not hold otherwise', () => {
    // Flat 200 EUR/MWh: only the peak matters. Empty battery, 3 kW expected in hour 2, cap 2 kW.
    const rules = { ...market, wearEurPerMwh: 20, peakEurPerKw: 5 };
    const plan = slots([
      { netW: 500, importEur: 200, capW: 2_000 },
      { netW: 3_000, importEur: 200, capW: 2_000 },
    ]);
    const { choice } = first(plan, lossy, rules, 1_000, 200);
    expect(choice.powerW).toBeLessThan(0);
    expect(500 - choice.powerW).toBeLessThanOrEqual(2_000 + 1e-6);
  });

  it('values stored energy by both demand scenarios when a second one is given', () => {
    // Hour 2 may need 2 kW (forecast) or nothing (the day before). Import 300, feed-in 0 in hour 1 (surplus).
    const plan = slots([
      { netW: -2_000, importEur: 300, exportEur: 0 },
      { netW: 2_000, importEur: 300, exportEur: 0, altNetW: 0 },
    ]);
    const levels = energyLevels(ideal, 1_000);
    const only = solvePlan(plan, ideal, market, levels);
    const both = solvePlan(plan, ideal, { ...market, altScenarioWeight: 0.5 }, levels);
    // 2 kWh stored is worth 0.60 EUR with the forecast alone, half of it with both scenarios.
    expect(valueAtEnergy(only[1], levels, 2_000) - valueAtEnergy(only[1], levels, 0)).toBeCloseTo(-0.6, 9);
    expect(valueAtEnergy(both[1], levels, 2_000) - valueAtEnergy(both[1], levels, 0)).toBeCloseTo(-0.3, 9);
  });

  it('never chooses beyond the bounds or the energy window, and never worse than idling beyond a near-tie (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ netW: fc.integer({ min: -6_000, max: 6_000 }), importEur: fc.integer({ min: -150, max: 500 }), exportEur: fc.integer({ min: -150, max: 200 }) }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1_000, max: 9_500 }),
        fc.integer({ min: 0, max: 5 }),
        (rows, energyWh, peak) => {
          const plan = slots(rows.map((r) => ({ ...r, capW: peak > 0 ? peak * 1_000 : undefined })));
          const rules = { ...market, wearEurPerMwh: 20, peakEurPerKw: peak > 0 ? 4 : 0, maxImportW: 9_000, maxExportW: 6_000 };
          const { choice } = first(plan, lossy, rules, energyWh, 500);
          const bounds = powerBounds(plan[0]?.netW ?? 0, lossy, rules);
          expect(choice.powerW).toBeGreaterThanOrEqual(bounds.lowW - 1e-6);
          expect(choice.powerW).toBeLessThanOrEqual(bounds.highW + 1e-6);
          const after = energyWh + storedDeltaWh(choice.powerW, 1, lossy);
          expect(after).toBeGreaterThanOrEqual(lossy.minEnergyWh - 1e-6);
          expect(after).toBeLessThanOrEqual(lossy.maxEnergyWh + 1e-6);
          expect(choice.totalCostEur).toBeLessThanOrEqual(choice.idleCostEur + DECISION_TIE_EUR + 1e-9);
          expect(first(plan, lossy, rules, energyWh, 500).choice).toEqual(choice);
        },
      ),
      { numRuns: 150 },
    );
  });

  /** What interpolating between energy levels may cost per slot, EUR (a tenth of a cent: far below any real choice). */
  const LEVEL_INTERPOLATION_EUR = 1e-3;

  it('in closed loop with an exact forecast never pays more than the idle battery (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ netW: fc.integer({ min: -4_000, max: 4_000 }), importEur: fc.integer({ min: 0, max: 400 }) }), { minLength: 2, maxLength: 10 }),
        (rows) => {
          // Retail-like: import = spot + 150, feed-in = spot; wear 20 EUR/MWh.
          const plan = slots(rows.map((r) => ({ netW: r.netW, importEur: r.importEur + 150, exportEur: r.importEur })));
          const rules = { ...market, wearEurPerMwh: 20 };
          const levels = energyLevels(lossy, 250);
          const values = solvePlan(plan, lossy, rules, levels);
          let energyWh = lossy.minEnergyWh;
          let paid = 0;
          let idle = 0;
          plan.forEach((slot, t) => {
            const choice = choosePower({ energyWh, hours: 1, netW: slot.netW, prices: slot, capW: Infinity, nextRow: values[t + 1], levels, battery: lossy, rules });
            paid += slotCostEur(choice.powerW, slot.netW, 1, slot, Infinity, rules);
            idle += slotCostEur(0, slot.netW, 1, slot, Infinity, rules);
            energyWh += storedDeltaWh(choice.powerW, 1, lossy);
          });
          // Per slot: the decision tie, plus the planner's grid of 250 Wh energy levels. Between two levels the value
          // is interpolated, so a near-tie (storing 1 kWh of surplus at 7.7 ct to sell it at 12.7 ct after losses and
          // wear) can come out a few thousandths of a cent the wrong way (CI found 0.005 ct in 2 slots).
          expect(paid).toBeLessThanOrEqual(idle + plan.length * (DECISION_TIE_EUR + LEVEL_INTERPOLATION_EUR));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('lowestFeasibleCapW', () => {
  it('finds the cap a battery can hold: 2 h at 1 kW to charge, 2 h at 4 kW to cover → 2.5 kW', () => {
    // Charging (G − 1000) for 2 h must cover (4000 − G) for 2 h: G = 2500 (lossless, empty start).
    const plan = slots([{ netW: 1_000, importEur: 0 }, { netW: 1_000, importEur: 0 }, { netW: 4_000, importEur: 0 }, { netW: 4_000, importEur: 0 }]);
    expect(lowestFeasibleCapW(plan, 0, ideal, { allowGridCharge: true }, 0)).toBeCloseTo(2_500, -1);
  });

  it('without grid charging only the PV surplus refills, and the floor is respected', () => {
    const plan = slots([{ netW: -1_000, importEur: 0 }, { netW: 3_000, importEur: 0 }]);
    // 1 kWh stored from the surplus covers 1 kW of the 3 kW hour: cap 2 kW.
    expect(lowestFeasibleCapW(plan, 0, ideal, { allowGridCharge: false }, 0)).toBeCloseTo(2_000, -1);
    expect(lowestFeasibleCapW(plan, 0, ideal, { allowGridCharge: false }, 2_600)).toBe(2_600);
  });
});

describe('peak reserve', () => {
  // Hourly slots with a 1 kW cap: 3 kW for two hours, then 0 W, then 2 kW.
  const capped = slots([{ importEur: 100, capW: 1_000 }, { importEur: 100, capW: 1_000 }, { importEur: 100, capW: 1_000 }, { importEur: 100, capW: 1_000 }]);
  const demand = [3_000, 3_000, 0, 2_000];

  it('needs, backwards, the excess over the cap and counts on recharging below it', () => {
    // Lossless: slot 3 needs 1 kWh; slot 2 (0 W) can recharge 1 kWh under the cap → 0 needed from slot 2 on when grid
    // charging is allowed; slots 0–1 need 2 kWh each.
    const grid = reserveCurveWh(capped, (t) => demand[t] ?? 0, ideal, { allowGridCharge: true });
    expect(Array.from(grid)).toEqual([4_000, 2_000, 0, 1_000, 0]);
    // Without grid charging the 0 W hour refills nothing.
    const pvOnly = reserveCurveWh(capped, (t) => demand[t] ?? 0, ideal, { allowGridCharge: false });
    expect(Array.from(pvOnly)).toEqual([5_000, 3_000, 1_000, 1_000, 0]);
  });

  it('clamps the need to the battery and counts losses and the discharge limit', () => {
    const big = slots([{ importEur: 100, capW: 0 }, { importEur: 100, capW: 0 }, { importEur: 100, capW: 0 }]);
    const need = reserveCurveWh(big, () => 8_000, lossy, { allowGridCharge: true });
    // Each hour at most 5 kW from the battery, 5 / 0.95 kWh stored: more than the 9.5 kWh top after two hours.
    expect(need[2]).toBeCloseTo(1_000 + 5_000 / 0.95, 6);
    expect(need[0]).toBe(9_500);
    expect(reserveCurveWh(slots([{ importEur: 100 }]), () => 8_000, lossy, { allowGridCharge: true })[0]).toBe(1_000);
  });

  it('charges a shortfall the peak charge of the cap raise the energy could still hold, the worst scenario deciding', () => {
    const reserve = peakReserve(capped, [demand, [0, 0, 0, 0]], ideal, { allowGridCharge: false, peakEurPerKw: 4 });
    expect(reserve).toBeDefined();
    if (!reserve) return;
    // At or above the need: free. With 4 kWh at the start (need 5 kWh at a 1 kW cap): a cap of 1.2 kW needs
    // 2 × 1.8 + 0.8 = 4.4 kWh, 1.4 kW needs 3.8 kWh: interpolated 1.333 kW → 0.333 kW × 4 EUR/kW.
    expect(reservePenaltyEur(reserve, 0, 5_000)).toBe(0);
    expect(reservePenaltyEur(reserve, 0, 4_000)).toBeCloseTo((4 / 3 - 1) * 4, 2);
    // Empty: the cap has to go up to the highest demand.
    expect(reservePenaltyEur(reserve, 0, 0)).toBeCloseTo(2 * 4, 6);
    // No peak charge, or no scenario above the cap: no reserve.
    expect(peakReserve(capped, [demand], ideal, { allowGridCharge: false, peakEurPerKw: 0 })).toBeUndefined();
    expect(peakReserve(capped, [[0, 0, 0, 0]], ideal, { allowGridCharge: false, peakEurPerKw: 4 })).toBeUndefined();
  });
});
