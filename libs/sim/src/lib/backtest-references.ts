import type { Highs } from 'highs';
import { demandBlocks, monthlyPeakImportsW } from './cost';
import { type LpConstraint, type LpTerm, toLpText } from './lp-format';
import { type Horizon, loadHighs, solveOptimum } from './optimum';
import { type ScheduleEvaluation, type SimOptions, evaluateSchedule } from './replay';
import type { SiteSeries } from './series';
import { type BatteryModel, selfDischargeFraction } from './site';
import { type SimTariff, SimTariffSchema, stepPrices } from './tariff';

const MS_PER_HOUR = 3_600_000;

/** Energy totals of a run (or a reference schedule), Wh. */
export interface EnergyTotals {
  readonly loadWh: number;
  readonly pvWh: number;
  /** Grid import, Wh, ≥ 0. */
  readonly importWh: number;
  /** Grid export, Wh, ≥ 0. */
  readonly exportWh: number;
  /** Energy into the battery at its AC terminal, Wh, ≥ 0. */
  readonly chargedWh: number;
  /** Energy out of the battery at its AC terminal, Wh, ≥ 0. */
  readonly dischargedWh: number;
}

/**
 * Self-consumption, %: the share of PV energy not exported, `(pv − export) / pv` (meter-based, the usual
 * definition; battery losses on stored PV count as consumed). Null without PV.
 */
export function selfConsumptionPct(e: EnergyTotals): number | null {
  return e.pvWh > 0 ? ((e.pvWh - e.exportWh) / e.pvWh) * 100 : null;
}

/** Self-sufficiency, %: the share of the load not imported, `(load − import) / load`. Null without load. */
export function selfSufficiencyPct(e: EnergyTotals): number | null {
  return e.loadWh > 0 ? ((e.loadWh - e.importWh) / e.loadWh) * 100 : null;
}

/** Energy totals of a replayed schedule. */
export function evaluationTotals(series: SiteSeries, evaluation: ScheduleEvaluation): EnergyTotals {
  const hours = series.stepMs / MS_PER_HOUR;
  let loadWh = 0;
  let pvWh = 0;
  let importWh = 0;
  let exportWh = 0;
  let chargedWh = 0;
  let dischargedWh = 0;
  for (const step of evaluation.steps) {
    const f = step.flows;
    loadWh += (f.loadW + f.evW) * hours;
    pvWh += f.pvW * hours;
    importWh += Math.max(0, f.gridPowerW) * hours;
    exportWh += Math.max(0, -f.gridPowerW) * hours;
    chargedWh += Math.max(0, -f.batteryPowerW) * hours;
    dischargedWh += Math.max(0, f.batteryPowerW) * hours;
  }
  return { loadWh, pvWh, importWh, exportWh, chargedWh, dischargedWh };
}

/** Highest 15-min mean import per local month of a replayed schedule, W (month 'YYYY-MM' → W). */
export function evaluationMonthlyPeaksW(series: SiteSeries, evaluation: ScheduleEvaluation, timezone: string): Map<string, number> {
  const first = series.points[0];
  if (!first) return new Map();
  return monthlyPeakImportsW(
    demandBlocks(first.atMs, series.stepMs, series.points.length, timezone),
    evaluation.steps.map((s) => Math.max(0, s.flows.gridPowerW)),
  );
}

/** The perfect-foresight cost optimum (solveOptimum) a backtest is scored against. */
export interface CostOptimumReference {
  /** Horizon used; only 'full' is a strict lower bound of every strategy's cost. */
  readonly horizon: Horizon;
  /** Cost of the optimal schedule replayed through the simulator and the cost model, EUR. */
  readonly costEur: number;
  /** The LP's own objective, EUR. */
  readonly lpCostEur: number;
  /** costEur − lpCostEur (~1e-12 when LP and simulator agree). */
  readonly modelMismatchEur: number;
  /** Battery power per step, W (+ = discharge). */
  readonly batteryPowerW: readonly number[];
  /** SoC at the end of each step, %. */
  readonly socPct: readonly number[];
  readonly totals: EnergyTotals;
  /** Monthly peaks ('YYYY-MM' → W) of the optimal schedule. */
  readonly monthlyPeaksW: Readonly<Record<string, number>>;
}

/** The lowest monthly peaks a battery could reach (peak-only LP). */
export interface PeakReference {
  /** 'YYYY-MM' → lowest reachable highest 15-min mean import, W. */
  readonly monthlyPeaksW: Readonly<Record<string, number>>;
}

/**
 * The best a self-consumption battery can do: one that charges only from PV surplus and discharges only into the
 * site's own demand (battery power within [min(0, demand), max(0, demand)] every step — no grid charging, no export
 * from the battery), solved as an LP with perfect foresight.
 */
export interface SelfConsumptionReference {
  /** Highest reachable self-consumption, % (max PV stored, then max discharge into load). */
  readonly maxSelfConsumptionPct: number | null;
  /** Self-sufficiency of that schedule, %. */
  readonly selfSufficiencyPct: number | null;
  /** Lowest cost reachable under the same restriction (tariff prices, wear, peak charge), EUR. */
  readonly minCostEur: number;
}

/** Reference optima a backtest compares its runs with (each one optional). */
export interface BacktestReferences {
  readonly cost?: CostOptimumReference;
  readonly peak?: PeakReference;
  readonly selfConsumption?: SelfConsumptionReference;
}

/** Outcome of a reference solve that did not reach optimality. */
export class ReferenceSolveError extends Error {
  override readonly name = 'ReferenceSolveError';
  constructor(
    readonly reference: 'cost' | 'peak' | 'self-consumption',
    readonly solverStatus: string,
  ) {
    super(`the ${reference} reference LP did not solve: ${solverStatus}`);
  }
}

interface ReferenceInput {
  readonly series: SiteSeries;
  readonly battery: BatteryModel;
  readonly tariff: SimTariff;
  readonly sim: SimOptions;
  readonly highs?: Highs;
}

/** The cost optimum of the series (solveOptimum with the given horizon). Throws ReferenceSolveError if HiGHS fails. */
export async function costOptimumReference(input: ReferenceInput, horizon: Horizon): Promise<CostOptimumReference> {
  const result = await solveOptimum(input.series, input.battery, input.tariff, {
    ...input.sim,
    horizon,
    ...(input.highs ? { highs: input.highs } : {}),
  });
  if (result.status !== 'optimal') throw new ReferenceSolveError('cost', result.solverStatus);
  return {
    horizon,
    costEur: result.replay.cost.totalEur,
    lpCostEur: result.lpCostEur,
    modelMismatchEur: result.modelMismatchEur,
    batteryPowerW: result.replay.steps.map((s) => s.flows.batteryPowerW),
    socPct: result.replay.steps.map((s) => s.socPct),
    totals: evaluationTotals(input.series, result.replay),
    monthlyPeaksW: Object.fromEntries(evaluationMonthlyPeaksW(input.series, result.replay, input.sim.timezone)),
  };
}

/**
 * The lowest monthly peaks: solveOptimum with a tariff whose only real cost is the peak-demand charge (energy at
 * 1 EUR/MWh as a tie-break so nothing is imported for nothing, no feed-in, no wear). Always the full horizon.
 */
export async function peakReference(input: ReferenceInput): Promise<PeakReference> {
  const peakOnly = SimTariffSchema.parse({
    kind: 'fixed',
    fixedEurPerMwh: 1,
    feedIn: { rule: 'none' },
    peakDemandEurPerKw: 1_000,
    batteryWearEurPerMwh: 0,
  });
  const result = await solveOptimum(input.series, input.battery, peakOnly, {
    ...input.sim,
    horizon: { mode: 'full' },
    ...(input.highs ? { highs: input.highs } : {}),
  });
  if (result.status !== 'optimal') throw new ReferenceSolveError('peak', result.solverStatus);
  return { monthlyPeaksW: Object.fromEntries(evaluationMonthlyPeaksW(input.series, result.replay, input.sim.timezone)) };
}

type RestrictedObjective = 'max-self-consumption' | 'min-cost';

/**
 * LP of the self-consumption-restricted battery (units kW, kWh). Per step t with net demand n_t = load − pv:
 * surplus steps (n_t < 0) allow only charging c_t ≤ min(Cmax, −n_t); demand steps only discharging
 * d_t ≤ min(Dmax, n_t). SoC as in stepSite: s_t = k·s_{t−1} + ηc·Δ·c_t − Δ/ηd·d_t, E_min ≤ s_t ≤ E_max.
 * Import is then n_t − d_t (demand steps), export −n_t − c_t (surplus steps), never both.
 * 'max-self-consumption': maximise Σ 1000·c_t + d_t (PV stored first, discharge into load second).
 * 'min-cost': minimise import cost − feed-in + wear + monthly peak charge, as solveOptimum.
 * With self-discharge a battery at its floor would sink below it on a night without surplus: the simulator's BMS
 * then holds the floor with a small grid charge (`soc-floor-hold`), and so may the LP (h_t ≤ the decay at the
 * floor, priced far above anything it could gain, so it is used only to stay feasible; the replayed schedule
 * leaves it to the simulator).
 */
function restrictedLp(input: ReferenceInput, objectiveKind: RestrictedObjective): { text: string; count: number } {
  const { series, battery, tariff } = input;
  const hours = series.stepMs / MS_PER_HOUR;
  const keep = 1 - selfDischargeFraction(battery, series.stepMs);
  const capacityKwh = battery.capacityWh / 1000;
  const minKwh = (battery.minSocPct / 100) * capacityKwh;
  const maxKwh = (battery.maxSocPct / 100) * capacityKwh;
  const initialKwh = (input.sim.initialSocPct / 100) * capacityKwh;
  const objective: LpTerm[] = [];
  const constraints: LpConstraint[] = [];
  const bounds: { name: string; lower?: number; upper?: number }[] = [];
  const wearPerKwh = tariff.batteryWearEurPerMwh * hours;
  const holdMaxKw = ((1 - keep) * minKwh) / (battery.chargeEfficiency * hours);
  series.points.forEach((p, t) => {
    const netKw = (p.loadW - p.pvW) / 1000;
    const [bc, bd, s, bh] = [`bc_${t}`, `bd_${t}`, `s_${t}`, `bh_${t}`];
    const chargeMaxKw = netKw < 0 ? Math.min(battery.maxChargePowerW / 1000, -netKw) : 0;
    const dischargeMaxKw = netKw > 0 ? Math.min(battery.maxDischargePowerW / 1000, netKw) : 0;
    if (objectiveKind === 'max-self-consumption') {
      objective.push({ coef: -1000 * hours, name: bc }, { coef: -hours, name: bd });
    } else {
      const prices = stepPrices(p.atMs, series.stepMs, p.priceEurPerMwh, tariff, input.sim.timezone);
      // Import saved by discharging (−a·Δ·d), feed-in lost by charging from surplus (+b·Δ·c), wear on both.
      objective.push(
        { coef: prices.exportEurPerMwh * hours + wearPerKwh, name: bc },
        { coef: -prices.importEurPerMwh * hours + wearPerKwh, name: bd },
      );
    }
    const socTerms: LpTerm[] = [
      { coef: 1, name: s },
      { coef: -battery.chargeEfficiency * hours, name: bc },
      { coef: hours / battery.dischargeEfficiency, name: bd },
    ];
    if (holdMaxKw > 0) {
      socTerms.push({ coef: -battery.chargeEfficiency * hours, name: bh });
      objective.push({ coef: 1e6 * hours, name: bh });
      bounds.push({ name: bh, upper: holdMaxKw });
    }
    if (t > 0) socTerms.push({ coef: -keep, name: `s_${t - 1}` });
    constraints.push({ name: `soc_${t}`, terms: socTerms, sense: '=', rhs: t === 0 ? keep * initialKwh : 0 });
    bounds.push(
      { name: bc, upper: chargeMaxKw },
      { name: bd, upper: dischargeMaxKw },
      { name: s, lower: minKwh, upper: maxKwh },
    );
  });
  const first = series.points[0];
  if (objectiveKind === 'min-cost' && tariff.peakDemandEurPerKw > 0 && first) {
    const months = new Map<string, string>();
    const peakCoef = tariff.peakDemandEurPerKw * (1 + tariff.vatPct / 100) * 1000;
    demandBlocks(first.atMs, series.stepMs, series.points.length, input.sim.timezone).forEach((block, b) => {
      let pk = months.get(block.month);
      if (!pk) {
        pk = `pk_${months.size}`;
        months.set(block.month, pk);
        objective.push({ coef: peakCoef, name: pk });
      }
      // pk ≥ Σ w·import = Σ w·(n⁺ − d)  ⇔  pk + Σ w·d ≥ Σ w·n⁺ (only demand steps import).
      let rhs = 0;
      const terms: LpTerm[] = [{ coef: 1, name: pk }];
      for (const term of block.terms) {
        const point = series.points[term.index];
        const netKw = point ? (point.loadW - point.pvW) / 1000 : 0;
        if (netKw <= 0) continue;
        rhs += term.weight * netKw;
        terms.push({ coef: term.weight, name: `bd_${term.index}` });
      }
      constraints.push({ name: `peak_${b}`, terms, sense: '>=', rhs });
    });
  }
  return { text: toLpText({ objective, constraints, bounds, binaries: [] }), count: series.points.length };
}

async function solveRestricted(input: ReferenceInput, objectiveKind: RestrictedObjective): Promise<ScheduleEvaluation> {
  const highs = input.highs ?? (await loadHighs());
  const { text, count } = restrictedLp(input, objectiveKind);
  const result = highs.solve(text, { output_flag: false });
  if (result.Status !== 'Optimal') throw new ReferenceSolveError('self-consumption', result.Status);
  const value = (name: string): number => {
    const column = result.Columns[name];
    return column && 'Primal' in column ? Math.max(0, column.Primal) : 0;
  };
  const schedule: number[] = [];
  for (let t = 0; t < count; t++) schedule.push((value(`bd_${t}`) - value(`bc_${t}`)) * 1000);
  return evaluateSchedule(input.series, schedule, input.battery, input.tariff, input.sim);
}

/** The self-consumption reference: both objectives of the restricted LP, replayed through the simulator. */
export async function selfConsumptionReference(input: ReferenceInput): Promise<SelfConsumptionReference> {
  const best = await solveRestricted(input, 'max-self-consumption');
  const cheapest = await solveRestricted(input, 'min-cost');
  const totals = evaluationTotals(input.series, best);
  return {
    maxSelfConsumptionPct: selfConsumptionPct(totals),
    selfSufficiencyPct: selfSufficiencyPct(totals),
    minCostEur: cheapest.cost.totalEur,
  };
}
