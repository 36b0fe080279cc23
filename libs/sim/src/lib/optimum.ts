import highsLoader, { type Highs } from 'highs';
import { type DemandBlock, demandBlocks, monthlyPeakImportsW } from './cost';
import { type LpConstraint, type LpModel, type LpTerm, toLpText } from './lp-format';
import { type ScheduleEvaluation, type SimOptions, evaluateSchedule, evProfileW, prepareRun } from './replay';
import type { SiteSeries } from './series';
import { type BatteryModel, selfDischargeFraction } from './site';
import { type SimTariff, type StepPrices, stepPrices } from './tariff';

const MS_PER_HOUR = 3_600_000;
const DAY_MS = 24 * MS_PER_HOUR;
const QUARTER_HOUR_MS = 900_000;
/** Flows below this (kW) count as zero when checking for simultaneous charge/discharge or import/export. */
const SIMULTANEITY_TOLERANCE_KW = 1e-6;
/** Windows up to this many steps solve their MIP without presolve (see solveWindow). */
const SMALL_MIP_STEPS = 400;

/**
 * How the horizon is cut: 'full' solves the whole series in one LP (true perfect foresight); 'rolling' solves
 * windows of windowMs, keeps the first commitMs and carries SoC and monthly peaks over. windowMs = commitMs =
 * one day is "per day with SoC carried over".
 */
export type Horizon =
  | { readonly mode: 'full' }
  | { readonly mode: 'rolling'; readonly windowMs: number; readonly commitMs: number };

/** Default: 48 h windows, 24 h committed (see README for the measured gap to 'full'). */
export const DEFAULT_HORIZON: Horizon = { mode: 'rolling', windowMs: 2 * DAY_MS, commitMs: DAY_MS };

/** Options of solveOptimum. */
export interface OptimumOptions extends SimOptions {
  /** Default DEFAULT_HORIZON. */
  readonly horizon?: Horizon;
  /** Lowest SoC allowed at the end of the series, %; default: the battery's minSocPct (free). */
  readonly finalSocPct?: number;
  /** A loaded HiGHS instance; default: loadHighs(). */
  readonly highs?: Highs;
}

/** One step of the optimal schedule (mean powers over the step). */
export interface OptimumStep {
  /** Step start, epoch ms. */
  readonly atMs: number;
  /** Battery power, W: + = discharge, − = charge (dischargeW − chargeW). */
  readonly batteryPowerW: number;
  /** Charging power at the AC terminal, W, ≥ 0. */
  readonly chargeW: number;
  /** Discharging power at the AC terminal, W, ≥ 0. */
  readonly dischargeW: number;
  /** W, ≥ 0. */
  readonly gridImportW: number;
  /** W, ≥ 0. */
  readonly gridExportW: number;
  /** SoC at the end of the step, %. */
  readonly socPct: number;
  /** Uncontrolled EV charging in the step, W (an input of the LP, not a decision). */
  readonly evW: number;
  /** Import price incl. taxes, fees, VAT, EUR/MWh. */
  readonly importEurPerMwh: number;
  /** Feed-in compensation, EUR/MWh. */
  readonly exportEurPerMwh: number;
}

/** Result of solveOptimum; a failed solve is an outcome, not an exception. */
export type OptimumResult =
  | {
      readonly status: 'optimal';
      readonly steps: readonly OptimumStep[];
      /** Cost of the schedule computed from the LP's own variables and coefficients, EUR. */
      readonly lpCostEur: number;
      /** The schedule replayed through stepSite and the cost model. */
      readonly replay: ScheduleEvaluation;
      /** replay.cost.totalEur − lpCostEur; ~0 when LP and simulator agree (model match). */
      readonly modelMismatchEur: number;
      /** Horizon windows solved (1 for 'full'). */
      readonly windowCount: number;
      /** LPs solved (windows × binary rounds). */
      readonly solves: number;
      /** Steps that got binary variables (simultaneous charge/discharge or import/export would have paid). */
      readonly binarySteps: number;
    }
  | {
      readonly status: 'infeasible' | 'solver-failed';
      /** Start of the window that failed, epoch ms. */
      readonly windowStartAtMs: number;
      /** HiGHS model status. */
      readonly solverStatus: string;
    };

let highsInstance: Promise<Highs> | undefined;

/** Loads the HiGHS wasm solver once per process and returns the shared instance. */
export function loadHighs(): Promise<Highs> {
  highsInstance ??= highsLoader().catch((err: unknown) => {
    highsInstance = undefined;
    throw err;
  });
  return highsInstance;
}

interface StepData {
  readonly netKw: number;
  readonly evW: number;
  readonly prices: StepPrices;
}

interface WindowSpec {
  readonly from: number;
  readonly to: number;
  readonly initialKwh: number;
  readonly finalMinKwh: number;
  readonly peakFloorKw: ReadonlyMap<string, number>;
  readonly batteryBinaries: ReadonlySet<number>;
  readonly gridBinaries: ReadonlySet<number>;
}

interface Context {
  readonly battery: BatteryModel;
  readonly tariff: SimTariff;
  readonly hours: number;
  readonly keep: number;
  readonly data: readonly StepData[];
  readonly blocks: readonly DemandBlock[];
}

interface WindowSolution {
  readonly chargeKw: number[];
  readonly dischargeKw: number[];
  readonly importKw: number[];
  readonly exportKw: number[];
  readonly socKwh: number[];
}

/** The LP of one window; see README "LP formulation" (units: kW, kWh, objective in milli-EUR). */
function buildWindowLp(ctx: Context, w: WindowSpec): LpModel {
  const { battery, tariff, hours, keep, data } = ctx;
  const chargeMaxKw = battery.maxChargePowerW / 1000;
  const dischargeMaxKw = battery.maxDischargePowerW / 1000;
  const minKwh = (battery.minSocPct / 100) * (battery.capacityWh / 1000);
  const maxKwh = (battery.maxSocPct / 100) * (battery.capacityWh / 1000);
  const wearPerKwh = tariff.batteryWearEurPerMwh * hours;
  const objective: LpTerm[] = [];
  const constraints: LpConstraint[] = [];
  const bounds: { name: string; lower?: number; upper?: number }[] = [];
  const binaries: string[] = [];

  for (let t = w.from; t < w.to; t++) {
    const step = data[t];
    if (!step) continue;
    const [bc, bd, gi, gx, s] = [`bc_${t}`, `bd_${t}`, `gi_${t}`, `gx_${t}`, `s_${t}`];
    const importMaxKw = Math.max(0, step.netKw + chargeMaxKw);
    const exportMaxKw = Math.max(0, -step.netKw + dischargeMaxKw);
    // EUR/MWh × kW × h = milli-EUR: keeps objective coefficients well above HiGHS' 1e-7 tolerances.
    objective.push(
      { coef: step.prices.importEurPerMwh * hours, name: gi },
      { coef: -step.prices.exportEurPerMwh * hours, name: gx },
      { coef: wearPerKwh, name: bc },
      { coef: wearPerKwh, name: bd },
    );
    constraints.push({
      name: `bal_${t}`,
      terms: [
        { coef: 1, name: gi },
        { coef: -1, name: gx },
        { coef: -1, name: bc },
        { coef: 1, name: bd },
      ],
      sense: '=',
      rhs: step.netKw,
    });
    const socTerms: LpTerm[] = [
      { coef: 1, name: s },
      { coef: -battery.chargeEfficiency * hours, name: bc },
      { coef: hours / battery.dischargeEfficiency, name: bd },
    ];
    if (t > w.from) socTerms.push({ coef: -keep, name: `s_${t - 1}` });
    constraints.push({ name: `soc_${t}`, terms: socTerms, sense: '=', rhs: t === w.from ? keep * w.initialKwh : 0 });
    const isLast = t === w.to - 1;
    const lowerKwh = isLast ? Math.min(maxKwh, Math.max(minKwh, w.finalMinKwh)) : minKwh;
    bounds.push(
      { name: bc, upper: chargeMaxKw },
      { name: bd, upper: dischargeMaxKw },
      { name: gi, upper: importMaxKw },
      { name: gx, upper: exportMaxKw },
      { name: s, lower: lowerKwh, upper: maxKwh },
    );
    if (w.batteryBinaries.has(t)) {
      const z = `zb_${t}`;
      binaries.push(z);
      constraints.push(
        {
          name: `zbc_${t}`,
          terms: [
            { coef: 1, name: bc },
            { coef: -chargeMaxKw, name: z },
          ],
          sense: '<=',
          rhs: 0,
        },
        {
          name: `zbd_${t}`,
          terms: [
            { coef: 1, name: bd },
            { coef: dischargeMaxKw, name: z },
          ],
          sense: '<=',
          rhs: dischargeMaxKw,
        },
      );
    }
    if (w.gridBinaries.has(t)) {
      const z = `zg_${t}`;
      binaries.push(z);
      constraints.push(
        {
          name: `zgi_${t}`,
          terms: [
            { coef: 1, name: gi },
            { coef: -importMaxKw, name: z },
          ],
          sense: '<=',
          rhs: 0,
        },
        {
          name: `zgx_${t}`,
          terms: [
            { coef: 1, name: gx },
            { coef: exportMaxKw, name: z },
          ],
          sense: '<=',
          rhs: exportMaxKw,
        },
      );
    }
  }

  if (tariff.peakDemandEurPerKw > 0) {
    const months = new Map<string, string>();
    const peakCoef = tariff.peakDemandEurPerKw * (1 + tariff.vatPct / 100) * 1000;
    ctx.blocks.forEach((block, b) => {
      const terms = block.terms.filter((term) => term.index >= w.from && term.index < w.to);
      if (terms.length === 0) return;
      let pk = months.get(block.month);
      if (!pk) {
        pk = `pk_${months.size}`;
        months.set(block.month, pk);
        objective.push({ coef: peakCoef, name: pk });
        bounds.push({ name: pk, lower: w.peakFloorKw.get(block.month) ?? 0 });
      }
      constraints.push({
        name: `peak_${b}`,
        terms: [{ coef: 1, name: pk }, ...terms.map((term) => ({ coef: -term.weight, name: `gi_${term.index}` }))],
        sense: '>=',
        rhs: 0,
      });
    });
  }
  return { objective, constraints, bounds, binaries };
}

type SolveOutcome =
  | { readonly ok: true; readonly solution: WindowSolution }
  | { readonly ok: false; readonly status: string };

function solveWindow(highs: Highs, ctx: Context, w: WindowSpec): SolveOutcome {
  const lp = buildWindowLp(ctx, w);
  // Measured on the development data: MIP presolve costs more than it saves on day-sized windows (~2× slower)
  // and pays off on long horizons (~1.6× faster for 61 days in one model).
  const isSmallMip = w.to - w.from <= SMALL_MIP_STEPS;
  const result = highs.solve(toLpText(lp), {
    output_flag: false,
    ...(lp.binaries.length > 0
      ? { mip_rel_gap: 1e-9, mip_abs_gap: 1e-6, ...(isSmallMip ? { presolve: 'off' as const } : {}) }
      : {}),
  });
  if (result.Status !== 'Optimal') return { ok: false, status: result.Status };
  const columns = result.Columns;
  const value = (name: string): number => {
    const column = columns[name];
    return column && 'Primal' in column ? column.Primal : 0;
  };
  const solution: WindowSolution = { chargeKw: [], dischargeKw: [], importKw: [], exportKw: [], socKwh: [] };
  for (let t = w.from; t < w.to; t++) {
    solution.chargeKw.push(Math.max(0, value(`bc_${t}`)));
    solution.dischargeKw.push(Math.max(0, value(`bd_${t}`)));
    solution.importKw.push(Math.max(0, value(`gi_${t}`)));
    solution.exportKw.push(Math.max(0, value(`gx_${t}`)));
    solution.socKwh.push(value(`s_${t}`));
  }
  return { ok: true, solution };
}

function horizonSteps(horizon: Horizon, stepMs: number, count: number): { window: number; commit: number } {
  if (horizon.mode === 'full') return { window: Math.max(1, count), commit: Math.max(1, count) };
  const window = horizon.windowMs / stepMs;
  const commit = horizon.commitMs / stepMs;
  if (!Number.isInteger(window) || !Number.isInteger(commit) || commit < 1 || commit > window) {
    throw new RangeError(`rolling horizon needs windowMs ≥ commitMs, both multiples of the step (${stepMs} ms)`);
  }
  if (stepMs < QUARTER_HOUR_MS && horizon.commitMs % QUARTER_HOUR_MS !== 0) {
    throw new RangeError('with steps under 15 min, commitMs must be a multiple of 15 min (metering quarter hours)');
  }
  return { window, commit };
}

/**
 * Perfect-foresight optimum of the battery schedule over the series: an LP (HiGHS) with the same site model
 * and costs as stepSite/computeCost — charge, discharge, import, export and SoC per step, a peak variable per
 * month — minimising import cost − export revenue + wear + peak-demand charge. Binary variables are added
 * only in steps where the relaxation would charge and discharge, or import and export, at once (see README). The schedule
 * is replayed through evaluateSchedule and the difference to the LP's own cost is reported as
 * modelMismatchEur. Throws only on invalid configuration.
 */
export async function solveOptimum(
  series: SiteSeries,
  battery: BatteryModel,
  tariff: SimTariff,
  opts: OptimumOptions,
): Promise<OptimumResult> {
  const model = prepareRun(battery, opts);
  const bat = model.battery;
  const highs = opts.highs ?? (await loadHighs());
  const stepMs = series.stepMs;
  const count = series.points.length;
  const hours = stepMs / MS_PER_HOUR;
  const evW = evProfileW(series, model);
  const data: StepData[] = series.points.map((p, t) => {
    const ev = evW[t] ?? 0;
    return {
      netKw: (p.loadW + ev - p.pvW) / 1000,
      evW: ev,
      prices: stepPrices(p.atMs, stepMs, p.priceEurPerMwh, tariff, opts.timezone),
    };
  });
  const startMs = series.points[0]?.atMs ?? 0;
  const ctx: Context = {
    battery: bat,
    tariff,
    hours,
    keep: 1 - selfDischargeFraction(bat, stepMs),
    data,
    blocks: tariff.peakDemandEurPerKw > 0 ? demandBlocks(startMs, stepMs, count, opts.timezone) : [],
  };
  const capacityKwh = bat.capacityWh / 1000;
  const { window, commit } = horizonSteps(opts.horizon ?? DEFAULT_HORIZON, stepMs, count);

  // Feed-in above the import price makes importing and exporting at once pay, so those steps get a binary up
  // front. Burning energy through charge+discharge losses can pay where the marginal price is negative enough
  // to outweigh wear, but the relaxation often does not use it: only once a window's solution burns somewhere
  // do all such steps of the window get binaries (one MIP instead of one round per newly burning step).
  const roundTrip = bat.chargeEfficiency * bat.dischargeEfficiency;
  const burnWearEurPerMwh = tariff.batteryWearEurPerMwh * (1 + roundTrip);
  const mayBurn = data.map((d) => {
    const lowest = Math.min(d.prices.importEurPerMwh, d.prices.exportEurPerMwh);
    return -lowest * (1 - roundTrip) > burnWearEurPerMwh;
  });
  const batteryBinaries = new Set<number>();
  const gridBinaries = new Set<number>();
  data.forEach((d, t) => {
    if (d.prices.exportEurPerMwh > d.prices.importEurPerMwh) gridBinaries.add(t);
  });

  const chargeKw: number[] = [];
  const dischargeKw: number[] = [];
  const importKw: number[] = [];
  const exportKw: number[] = [];
  const socKwh: number[] = [];
  const peakFloorKw = new Map<string, number>();
  let initialKwh = (opts.initialSocPct / 100) * capacityKwh;
  let solves = 0;
  let windowCount = 0;
  let blockCursor = 0;
  const finalMinKwh = ((opts.finalSocPct ?? bat.minSocPct) / 100) * capacityKwh;

  for (let from = 0; from < count; ) {
    const to = Math.min(count, from + window);
    const isLastWindow = to === count;
    windowCount++;
    let outcome: SolveOutcome = { ok: false, status: 'Not Set' };
    // Each round adds at least one binary step, so this ends after at most window + 1 rounds.
    for (;;) {
      outcome = solveWindow(highs, ctx, {
        from,
        to,
        initialKwh,
        finalMinKwh: isLastWindow ? finalMinKwh : 0,
        peakFloorKw,
        batteryBinaries,
        gridBinaries,
      });
      solves++;
      if (!outcome.ok) break;
      const sol = outcome.solution;
      let added = 0;
      for (let j = 0; j < to - from; j++) {
        const isBurning = Math.min(sol.chargeKw[j] ?? 0, sol.dischargeKw[j] ?? 0) > SIMULTANEITY_TOLERANCE_KW;
        if (isBurning && !batteryBinaries.has(from + j)) {
          batteryBinaries.add(from + j);
          added++;
        }
      }
      if (added === 0) break;
      for (let t = from; t < to; t++) if (mayBurn[t]) batteryBinaries.add(t);
    }
    if (!outcome.ok) {
      return {
        status: outcome.status === 'Infeasible' ? 'infeasible' : 'solver-failed',
        windowStartAtMs: series.points[from]?.atMs ?? startMs,
        solverStatus: outcome.status,
      };
    }
    const sol = outcome.solution;
    const end = isLastWindow ? to : Math.min(to, from + commit);
    for (let j = 0; j < end - from; j++) {
      // Where importing costs at least what exporting earns, netting import and export never costs more.
      const inKw = sol.importKw[j] ?? 0;
      const outKw = sol.exportKw[j] ?? 0;
      const both = gridBinaries.has(from + j) ? 0 : Math.min(inKw, outKw);
      chargeKw.push(sol.chargeKw[j] ?? 0);
      dischargeKw.push(sol.dischargeKw[j] ?? 0);
      importKw.push(inKw - both);
      exportKw.push(outKw - both);
      socKwh.push(sol.socKwh[j] ?? 0);
    }
    initialKwh = socKwh[socKwh.length - 1] ?? initialKwh;
    // Blocks are in time order; carry the committed monthly peaks into the next window as floors.
    for (; blockCursor < ctx.blocks.length; blockCursor++) {
      const block = ctx.blocks[blockCursor];
      const lastIndex = block?.terms[block.terms.length - 1]?.index ?? Number.POSITIVE_INFINITY;
      if (!block || lastIndex >= end) break;
      const meanKw = block.terms.reduce((sum, term) => sum + term.weight * (importKw[term.index] ?? 0), 0);
      peakFloorKw.set(block.month, Math.max(peakFloorKw.get(block.month) ?? 0, meanKw));
    }
    from = end;
  }

  const steps: OptimumStep[] = series.points.map((p, t) => {
    const d = data[t];
    const chargeW = (chargeKw[t] ?? 0) * 1000;
    const dischargeW = (dischargeKw[t] ?? 0) * 1000;
    return {
      atMs: p.atMs,
      batteryPowerW: dischargeW - chargeW,
      chargeW,
      dischargeW,
      gridImportW: (importKw[t] ?? 0) * 1000,
      gridExportW: (exportKw[t] ?? 0) * 1000,
      socPct: ((socKwh[t] ?? 0) / capacityKwh) * 100,
      evW: d?.evW ?? 0,
      importEurPerMwh: d?.prices.importEurPerMwh ?? Number.NaN,
      exportEurPerMwh: d?.prices.exportEurPerMwh ?? Number.NaN,
    };
  });
  const lpCostEur = lpCost(ctx, steps);
  const replay = evaluateSchedule(
    series,
    steps.map((s) => s.batteryPowerW),
    bat,
    tariff,
    opts,
  );
  return {
    status: 'optimal',
    steps,
    lpCostEur,
    replay,
    modelMismatchEur: replay.cost.totalEur - lpCostEur,
    windowCount,
    solves,
    binarySteps: new Set([...batteryBinaries, ...gridBinaries]).size,
  };
}

/** The LP objective evaluated on the committed schedule, EUR. */
function lpCost(ctx: Context, steps: readonly OptimumStep[]): number {
  const { tariff, hours } = ctx;
  let milliEur = 0;
  steps.forEach((s, t) => {
    const prices = ctx.data[t]?.prices;
    if (!prices) return;
    milliEur +=
      (prices.importEurPerMwh * s.gridImportW -
        prices.exportEurPerMwh * s.gridExportW +
        tariff.batteryWearEurPerMwh * (s.chargeW + s.dischargeW)) *
      (hours / 1000);
  });
  const peaks = monthlyPeakImportsW(
    ctx.blocks,
    steps.map((s) => s.gridImportW),
  );
  const peakEur = [...peaks.values()].reduce(
    (sum, peakW) => sum + (tariff.peakDemandEurPerKw * (1 + tariff.vatPct / 100) * peakW) / 1000,
    0,
  );
  return milliEur / 1000 + peakEur;
}
