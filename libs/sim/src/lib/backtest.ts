import type { StrategyName, Tariff } from '@voltimax/contracts';
import {
  type BatteryState,
  type CombinedDecision,
  type Forecast,
  type GridLimits,
  type MeterMemory,
  type PricePoint,
  type SiteState as StrategySiteState,
  type StrategyConfigs,
  type StrategyMemories,
  combine,
  meterFromPastReadings,
  parseStrategySelection,
  seedSiteMeter,
} from '@voltimax/strategies';
import type { Highs } from 'highs';
import {
  DEFAULT_DAY_AHEAD_PUBLICATION,
  type DayAheadPublication,
  type ForecastMode,
  type PriceBook,
  type PriceKnowledge,
  dayAheadPriceBook,
  forecastAt,
  localDayIndex,
} from './backtest-inputs';
import {
  type BacktestReferences,
  type EnergyTotals,
  costOptimumReference,
  peakReference,
  selfConsumptionPct,
  selfConsumptionReference,
  selfSufficiencyPct,
} from './backtest-references';
import { type CostBreakdown, type CostStep, computeCost, demandBlocks, monthlyPeakImportsW } from './cost';
import { assertTimezone } from './local-time';
import { type Horizon } from './optimum';
import { type ScheduleEvaluation, type SimOptions, evaluateSchedule, prepareRun } from './replay';
import { type SiteSeries, resample } from './series';
import { type BatteryModel, type SiteModel, type SiteState as SimSiteState, stepSite } from './site';
import type { SimTariff } from './tariff';

const MS_PER_HOUR = 3_600_000;
const DAY_MS = 24 * MS_PER_HOUR;
/** Default decision step: the metering quarter hour. */
export const DEFAULT_BACKTEST_STEP_MS = 900_000;
/** Powers within this of a limit count as at the limit, W. */
const POWER_TOLERANCE_W = 1e-6;
/** SoC within this of the window edge counts as at the edge, %. */
const SOC_TOLERANCE_PCT = 1e-6;
/** Relative tolerance of the "strategy beats the optimum" check (of the baseline cost, at least 1e-6 EUR). */
const OPTIMUM_TOLERANCE = 1e-6;

/** How load and PV are fed to sub-steps inside one data step. */
export type SubStepInterpolation =
  /** Each sub-step gets the step's mean (exactly the data; the 15-min optimum stays a strict lower bound). */
  | 'hold'
  /**
   * Linear between the centres of neighbouring steps, then shifted (and, where a value would go below 0, clipped
   * and rescaled) so each step keeps its mean exactly. The load then varies inside a step, which the
   * step-resolution optimum does not see: it is then no longer a strict lower bound (`optimum.isLowerBound = false`).
   */
  | 'linear';

/** The site around the simulated battery, as the strategy engine would see it from `assets.json`. */
export interface BacktestSite {
  /** IANA time zone of the site (ToU periods, billing months), e.g. 'Europe/Paris'. */
  readonly timezone: string;
  /** Grid connection limits (site config `grid`). */
  readonly limits: GridLimits;
  /** Asset id of the battery in the strategies' SiteState; default 'bat-1'. */
  readonly batteryAssetId?: string;
  /** Backup reserve of the battery (site config), %; default 0 (strategies then use minSocPct as floor). */
  readonly reserveSocPct?: number;
  /** Setpoint resolution of the battery, W; default none (strategies use 1 W). */
  readonly powerStepW?: number;
  /** Grid frequency the meter reports, Hz; default 50. */
  readonly gridFrequencyHz?: number;
}

/** Run settings; every field has a default. */
export interface BacktestOptions {
  /** Decision and billing step, ms; default 15 min. The data series is resampled to it. */
  readonly stepMs?: number;
  /** Decision interval inside a step, ms (must divide stepMs); default stepMs (no sub-steps). E.g. 60 000 for NetZero. */
  readonly subStepMs?: number;
  /** Load/PV inside sub-steps; default 'hold'. */
  readonly interpolation?: SubStepInterpolation;
  /** SoC at the start, %; default the battery's minSocPct (no free stored energy). */
  readonly initialSocPct?: number;
  /** Load/PV forecast put into the state; default 'persistence'. */
  readonly forecast?: ForecastMode;
  /** Length of the forecast, ms; default 48 h. */
  readonly forecastHorizonMs?: number;
  /** Price foresight; default 'day-ahead' (tomorrow's prices from 13:00 CET). */
  readonly prices?: PriceKnowledge;
  /** Publication rule of day-ahead prices; default 13:00 Europe/Paris. */
  readonly publication?: DayAheadPublication;
  /**
   * The simulated period [fromMs, toMs) inside the series; default the whole series. Data before fromMs is history:
   * persistence forecasts and yesterday's prices use it; the bill and the optimum cover the period only.
   */
  readonly period?: { readonly fromMs: number; readonly toMs: number };
}

/** Everything a backtest needs. */
export interface BacktestInput {
  /** Load, PV and day-ahead price series at its own resolution (e.g. 30 min), regular. */
  readonly series: SiteSeries;
  readonly battery: BatteryModel;
  readonly tariff: SimTariff;
  readonly site: BacktestSite;
  readonly options?: BacktestOptions;
}

/** Resolved options (defaults applied). */
export interface ResolvedBacktestOptions {
  readonly stepMs: number;
  readonly subStepMs: number;
  readonly interpolation: SubStepInterpolation;
  readonly initialSocPct: number;
  readonly forecast: ForecastMode;
  readonly forecastHorizonMs: number;
  readonly prices: PriceKnowledge;
  readonly publication: DayAheadPublication;
}

/** A prepared backtest: validated inputs, the step series, the price book and the no-battery baseline. */
export interface BacktestContext {
  readonly input: BacktestInput;
  readonly options: ResolvedBacktestOptions;
  readonly model: SiteModel;
  readonly battery: BatteryModel;
  /** The simulated period at the decision step (what is billed and optimized). */
  readonly periodSeries: SiteSeries;
  /** History + period at the decision step (forecasts read it). */
  readonly fullSeries: SiteSeries;
  /** Index of the period's first step in fullSeries. */
  readonly firstIndex: number;
  /** Options for evaluateSchedule / solveOptimum on periodSeries. */
  readonly sim: SimOptions;
  /** The tariff as the strategies see it (contracts' Tariff, without the simulation-only wear cost). */
  readonly stateTariff: Tariff;
  readonly priceBook: PriceBook;
  /** The period with the battery idle, at step resolution. */
  readonly baseline: ScheduleEvaluation;
}

/**
 * Validates the input and prepares a backtest. Throws (RangeError, ZodError) on invalid configuration: a step that
 * is not a whole number of ms or not a multiple of the sub-step, an empty period, a bad battery or time zone.
 */
export function prepareBacktest(input: BacktestInput): BacktestContext {
  const raw = input.options ?? {};
  const stepMs = raw.stepMs ?? DEFAULT_BACKTEST_STEP_MS;
  const subStepMs = raw.subStepMs ?? stepMs;
  if (!Number.isInteger(stepMs) || stepMs <= 0) throw new RangeError(`stepMs must be a positive integer, got ${stepMs}`);
  if (!Number.isInteger(subStepMs) || subStepMs <= 0 || stepMs % subStepMs !== 0) {
    throw new RangeError(`subStepMs (${subStepMs}) must be a positive integer dividing stepMs (${stepMs})`);
  }
  assertTimezone(input.site.timezone);
  const publication = raw.publication ?? DEFAULT_DAY_AHEAD_PUBLICATION;
  assertTimezone(publication.timezone);
  const fullSeries = input.series.stepMs === stepMs ? input.series : resample(input.series, stepMs);
  const startMs = fullSeries.points[0]?.atMs ?? 0;
  const endMs = startMs + fullSeries.points.length * stepMs;
  const fromMs = Math.max(startMs, raw.period?.fromMs ?? startMs);
  const toMs = Math.min(endMs, raw.period?.toMs ?? endMs);
  const firstIndex = Math.ceil((fromMs - startMs) / stepMs);
  const lastIndex = Math.floor((toMs - startMs) / stepMs);
  if (lastIndex <= firstIndex) throw new RangeError('the backtest period holds no complete step of the series');
  const periodSeries: SiteSeries = { stepMs, points: fullSeries.points.slice(firstIndex, lastIndex) };
  const initialSocPct = raw.initialSocPct ?? input.battery.minSocPct;
  const sim: SimOptions = {
    timezone: input.site.timezone,
    initialSocPct,
    ...(input.site.gridFrequencyHz !== undefined ? { gridFrequencyHz: input.site.gridFrequencyHz } : {}),
  };
  const model = prepareRun(input.battery, sim);
  const { batteryWearEurPerMwh: _wear, ...stateTariff } = input.tariff;
  const options: ResolvedBacktestOptions = {
    stepMs,
    subStepMs,
    interpolation: raw.interpolation ?? 'hold',
    initialSocPct,
    forecast: raw.forecast ?? 'persistence',
    forecastHorizonMs: raw.forecastHorizonMs ?? 2 * DAY_MS,
    prices: raw.prices ?? 'day-ahead',
    publication,
  };
  return {
    input,
    options,
    model,
    battery: model.battery,
    periodSeries,
    fullSeries,
    firstIndex,
    sim,
    stateTariff,
    priceBook: dayAheadPriceBook(input.series, options.prices, publication),
    baseline: evaluateSchedule(periodSeries, new Array<number>(periodSeries.points.length).fill(0), model.battery, input.tariff, sim),
  };
}

/** Which reference optima to solve. */
export interface ReferenceOptions {
  /** The cost optimum's horizon; default { mode: 'full' } (exact). Rolling is faster for long or hard runs. */
  readonly horizon?: Horizon;
  /** Also solve the peak-only LP (PeakShaving's yardstick); default true. */
  readonly peak?: boolean;
  /** Also solve the self-consumption-restricted LP (SelfConsumption's yardstick); default true. */
  readonly selfConsumption?: boolean;
  readonly highs?: Highs;
}

/** Solves the reference optima of a prepared backtest on its period (step resolution, held load/PV). */
export async function solveBacktestReferences(ctx: BacktestContext, opts: ReferenceOptions = {}): Promise<BacktestReferences> {
  const refInput = {
    series: ctx.periodSeries,
    battery: ctx.battery,
    tariff: ctx.input.tariff,
    sim: ctx.sim,
    ...(opts.highs ? { highs: opts.highs } : {}),
  };
  const cost = await costOptimumReference(refInput, opts.horizon ?? { mode: 'full' });
  const peak = opts.peak === false ? undefined : await peakReference(refInput);
  const selfConsumption = opts.selfConsumption === false ? undefined : await selfConsumptionReference(refInput);
  return { cost, ...(peak ? { peak } : {}), ...(selfConsumption ? { selfConsumption } : {}) };
}

/** What to run: one strategy, or an active list combined by `combine` (highest precedence first). */
export interface StrategySelection {
  /** Name in reports; default the active list joined with '+'. */
  readonly label?: string;
  readonly active: readonly StrategyName[];
  /** Raw config blocks per strategy (as in assets.json `strategy.config`), validated here; missing = defaults. */
  readonly configs?: Readonly<Partial<Record<StrategyName, unknown>>>;
}

/** Counts of steps (data steps) in which a limit was broken; `steps` counts each step once. */
export interface ViolationCounts {
  readonly steps: number;
  /** A battery setpoint beyond the battery's charge or discharge power limit. */
  readonly batteryPower: number;
  /** Discharge asked at or below the SoC floor, charge at or above maxSoc, or the SoC left the window. */
  readonly socWindow: number;
  /** Grid import beyond maxImportW while the battery was charging (the battery made it worse). */
  readonly gridImport: number;
  /** Grid export beyond maxExportW while the battery was discharging. */
  readonly gridExport: number;
}

/** Comparison of a run with the cost optimum. */
export interface OptimumComparison {
  readonly costEur: number;
  /** Baseline − optimum, EUR (in the run's own baseline accounting). */
  readonly savingsEur: number;
  /** Share of the optimal savings the run captured, %; null when the optimum saves nothing. */
  readonly capturedPct: number | null;
  /** Run cost − optimum cost, EUR (≥ 0 unless the model is broken). */
  readonly gapEur: number;
  /** True when the optimum is a strict lower bound (full horizon, held load/PV). */
  readonly isLowerBound: boolean;
  /** The run is cheaper than a strict lower bound: a model mismatch, i.e. a bug. */
  readonly beatsOptimum: boolean;
}

/** One step of the run's trace (means over the step's sub-steps). */
export interface BacktestTraceStep {
  readonly atMs: number;
  /** W, ≥ 0. */
  readonly loadW: number;
  /** W, ≥ 0. */
  readonly pvW: number;
  /** W, + = import. */
  readonly gridW: number;
  /** What the battery did, W, + = discharge. */
  readonly batteryW: number;
  /** What the strategies asked, W, + = discharge. */
  readonly setpointW: number;
  /** SoC at the end of the step, %. */
  readonly socPct: number;
  /** Day-ahead price, EUR/MWh. */
  readonly spotEurPerMwh: number;
  /** The primary strategy's reason at the step's first decision. */
  readonly reason: string;
}

/** The outcome of one strategy over the period. */
export interface BacktestReport {
  readonly label: string;
  readonly active: readonly StrategyName[];
  readonly fromMs: number;
  readonly toMs: number;
  readonly stepMs: number;
  readonly subStepMs: number;
  /** Data steps simulated. */
  readonly steps: number;
  /** Strategy decisions made (steps × sub-steps). */
  readonly decisions: number;
  readonly cost: CostBreakdown;
  /** The same period with the battery idle, in the same (sub-step) accounting. */
  readonly baselineCost: CostBreakdown;
  /** baseline − cost, EUR. */
  readonly savingsEur: number;
  /** savings / baseline, %; null when the baseline is 0. */
  readonly savingsPct: number | null;
  readonly optimum: OptimumComparison | null;
  readonly energy: EnergyTotals;
  readonly baselineEnergy: EnergyTotals;
  /** %, see selfConsumptionPct. */
  readonly selfConsumptionPct: number | null;
  readonly selfSufficiencyPct: number | null;
  readonly baselineSelfConsumptionPct: number | null;
  readonly baselineSelfSufficiencyPct: number | null;
  /** Per local month: highest 15-min mean import of the run, of the baseline and (if solved) the lowest reachable. */
  readonly monthlyPeaks: readonly {
    readonly month: string;
    readonly peakImportW: number;
    readonly baselinePeakImportW: number;
    readonly lowestPeakImportW: number | null;
  }[];
  /** Σ months (baseline − run) / Σ months (baseline − lowest) peaks, %; null without the peak reference or room. */
  readonly peakReductionOfOptimalPct: number | null;
  /** Run self-consumption / highest reachable self-consumption (restricted LP), %; null without the reference. */
  readonly selfConsumptionOfOptimumPct: number | null;
  /** Run savings / savings of the cheapest self-consumption-restricted schedule, %; null without the reference. */
  readonly savingsOfSelfConsumptionOptimumPct: number | null;
  /** Charged + discharged energy at the AC terminal, Wh. */
  readonly throughputWh: number;
  /** Equivalent full cycles: throughput / (2 × usable capacity between minSoc and maxSoc). */
  readonly fullCycles: number;
  readonly violations: ViolationCounts;
  /** Steps where the grid was beyond a site limit with the battery idle or helping (the load's doing). */
  readonly gridOverLimitByLoadSteps: number;
  /** Decisions where the battery could not follow the setpoint (SoC window, power): the BMS clamped. */
  readonly clampedDecisions: number;
  /** How often each reason of the primary strategy was given (per decision). */
  readonly reasons: Readonly<Record<string, number>>;
  /** Strategies skipped for an invalid config (should be empty). */
  readonly skipped: readonly StrategyName[];
  readonly finalSocPct: number;
  /** Per step, when asked for. */
  readonly trace?: readonly BacktestTraceStep[];
}

/** Hooks and extras of a run. */
export interface RunOptions {
  readonly references?: BacktestReferences;
  /** Record a per-step trace (for plots and JSON). */
  readonly trace?: boolean;
  /** Called every few hundred steps with (steps done, total steps), for progress display. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Called after every decision with what the strategies saw and decided (tests, debugging). */
  readonly observe?: (state: StrategySiteState, nowMs: number, decision: CombinedDecision) => void;
  /**
   * Start the strategies that learn from the meter (the planners) from this site meter instead of blind — a gateway
   * commissioned with imported history (`siteMeterBeforePeriod`).
   */
  readonly siteMeter?: MeterMemory;
}

/**
 * The site meter learned from the series before the backtest's period (`--seed-history`): what a gateway commissioned
 * with the utility's history of those days would know — the net demand (load − PV) and, with no battery then, the
 * same grid import. Without their month's peak: the backtest bills the period alone. Undefined when the period starts
 * at the beginning of the series.
 */
export function siteMeterBeforePeriod(ctx: BacktestContext): MeterMemory | undefined {
  const before = ctx.fullSeries.points.slice(0, ctx.firstIndex);
  if (before.length === 0) return undefined;
  const meter = meterFromPastReadings(
    before.map((p) => ({ atMs: p.atMs, netW: p.loadW - p.pvW })),
    ctx.input.site.timezone,
  );
  // The backtest bills the period alone: a peak of the days before it is not this bill's (a real site's would be).
  return { ...meter, monthKey: null, monthPeakW: 0 };
}

/** Arrays of load and PV per (sub-)step of data step k. */
function subStepInputs(
  series: SiteSeries,
  k: number,
  count: number,
  interpolation: SubStepInterpolation,
): { loadW: number[]; pvW: number[] } {
  const point = series.points[k];
  const loadMean = point?.loadW ?? 0;
  const pvMean = point?.pvW ?? 0;
  if (count === 1 || interpolation === 'hold') {
    return { loadW: new Array<number>(count).fill(loadMean), pvW: new Array<number>(count).fill(pvMean) };
  }
  const prev = series.points[k - 1] ?? point;
  const next = series.points[k + 1] ?? point;
  const shape = (before: number, mean: number, after: number): number[] => {
    const values: number[] = [];
    for (let j = 0; j < count; j++) {
      // Position of the sub-step centre relative to the step centre, in steps (−0.5 … 0.5).
      const x = (j + 0.5) / count - 0.5;
      values.push(x < 0 ? mean + (mean - before) * x : mean + (after - mean) * x);
    }
    const avg = values.reduce((a, b) => a + b, 0) / count;
    const shifted = values.map((v) => Math.max(0, v + mean - avg));
    // Clamping at 0 raised the mean: scale back down (keeps values ≥ 0 and the mean exact).
    const clampedAvg = shifted.reduce((a, b) => a + b, 0) / count;
    return clampedAvg > 0 ? shifted.map((v) => (v * mean) / clampedAvg) : shifted.map(() => mean);
  };
  return {
    loadW: shape(prev?.loadW ?? loadMean, loadMean, next?.loadW ?? loadMean),
    pvW: shape(prev?.pvW ?? pvMean, pvMean, next?.pvW ?? pvMean),
  };
}

/** Running energy totals, Wh. */
class EnergyAccumulator {
  loadWh = 0;
  pvWh = 0;
  importWh = 0;
  exportWh = 0;
  chargedWh = 0;
  dischargedWh = 0;
  add(loadW: number, pvW: number, gridW: number, batteryW: number, hours: number): void {
    this.loadWh += loadW * hours;
    this.pvWh += pvW * hours;
    if (gridW > 0) this.importWh += gridW * hours;
    else this.exportWh -= gridW * hours;
    if (batteryW < 0) this.chargedWh -= batteryW * hours;
    else this.dischargedWh += batteryW * hours;
  }
  totals(): EnergyTotals {
    const { loadWh, pvWh, importWh, exportWh, chargedWh, dischargedWh } = this;
    return { loadWh, pvWh, importWh, exportWh, chargedWh, dischargedWh };
  }
}

/**
 * Bills a long run in chunks (one local day of sub-steps at a time, so a run at 1-s decisions does not hold millions
 * of steps): each chunk goes through computeCost and monthlyPeakImportsW; the additive parts are summed, the monthly
 * peaks merged by maximum, and the peak charge and VAT then follow computeCost's formula on the merged peaks.
 */
class ChunkedBill {
  private readonly parts: CostBreakdown[] = [];
  private readonly peaks = new Map<string, number>();
  private steps: CostStep[] = [];
  private chunkKey: number | undefined;

  constructor(
    private readonly stepMs: number,
    private readonly tariff: SimTariff,
    private readonly timezone: string,
  ) {}

  add(step: CostStep, chunkKey: number): void {
    if (this.chunkKey !== undefined && chunkKey !== this.chunkKey) this.flush();
    this.chunkKey = chunkKey;
    this.steps.push(step);
  }

  private flush(): void {
    const first = this.steps[0];
    if (!first) return;
    this.parts.push(computeCost(this.steps, this.stepMs, this.tariff, this.timezone));
    const blocks = demandBlocks(first.atMs, this.stepMs, this.steps.length, this.timezone);
    const chunkPeaks = monthlyPeakImportsW(blocks, this.steps.map((s) => Math.max(0, s.gridPowerW)));
    for (const [month, w] of chunkPeaks) this.peaks.set(month, Math.max(this.peaks.get(month) ?? 0, w));
    this.steps = [];
  }

  /** The bill of everything added, and the highest 15-min mean import per local month (W). */
  finish(): { readonly cost: CostBreakdown; readonly peaksW: ReadonlyMap<string, number> } {
    this.flush();
    const sum = (f: (c: CostBreakdown) => number): number => this.parts.reduce((s, c) => s + f(c), 0);
    const tariff = this.tariff;
    const monthlyPeaks =
      tariff.peakDemandEurPerKw > 0
        ? [...this.peaks.entries()].map(([month, peakImportW]) => ({
            month,
            peakImportW,
            chargeEur: (tariff.peakDemandEurPerKw * peakImportW) / 1000,
          }))
        : [];
    const energyEur = sum((c) => c.energyEur);
    const energyTaxEur = sum((c) => c.energyTaxEur);
    const gridFeeEur = sum((c) => c.gridFeeEur);
    const feedInEur = sum((c) => c.feedInEur);
    const wearEur = sum((c) => c.wearEur);
    const peakDemandEur = monthlyPeaks.reduce((s, p) => s + p.chargeEur, 0);
    const vatEur = (tariff.vatPct / 100) * (energyEur + energyTaxEur + gridFeeEur + peakDemandEur);
    return {
      cost: {
        energyEur,
        energyTaxEur,
        gridFeeEur,
        peakDemandEur,
        vatEur,
        feedInEur,
        wearEur,
        totalEur: energyEur + energyTaxEur + gridFeeEur + peakDemandEur + vatEur - feedInEur + wearEur,
        importWh: sum((c) => c.importWh),
        exportWh: sum((c) => c.exportWh),
        batteryThroughputWh: sum((c) => c.batteryThroughputWh),
        monthlyPeaks,
      },
      peaksW: this.peaks,
    };
  }
}

const pct = (part: number, whole: number): number | null => (whole !== 0 && Number.isFinite(whole) ? (part / whole) * 100 : null);

/**
 * Runs one strategy selection over the backtest period, step by step through the strategy engine's interface:
 * every (sub-)step builds a SiteState from the simulated site — grid, PV, load and battery readings with fresh
 * quality (age 0), the day-ahead prices known at that instant, the load/PV forecast, the tariff and the grid
 * limits — calls `combine` with the memories of the previous decision, sends the battery setpoint to `stepSite`
 * and bills the flows with `computeCost`. Readings at a decision: load and PV of the (sub-)step about to run (the
 * meter's present value; the data's mean stands for it), battery power of the previous (sub-)step, SoC now, and
 * grid = load − PV − battery (the balance). Throws a RangeError for an invalid strategy configuration.
 */
export function runBacktest(ctx: BacktestContext, selection: StrategySelection, opts: RunOptions = {}): BacktestReport {
  const parsed = parseStrategySelection({ active: selection.active, ...(selection.configs ? { config: selection.configs } : {}) });
  if (parsed.errors.length > 0) throw new RangeError(parsed.errors.join('\n'));
  const configs: StrategyConfigs = parsed.configs;
  const { options, battery, model, periodSeries, fullSeries, firstIndex, priceBook, stateTariff } = ctx;
  const { site, tariff } = ctx.input;
  const assetId = site.batteryAssetId ?? 'bat-1';
  const reserveSocPct = site.reserveSocPct ?? 0;
  const floorSocPct = Math.max(battery.minSocPct, reserveSocPct);
  const frequencyHz = site.gridFrequencyHz ?? 50;
  const stepMs = options.stepMs;
  const subStepMs = options.subStepMs;
  const perStep = stepMs / subStepMs;
  const subHours = subStepMs / MS_PER_HOUR;
  const count = periodSeries.points.length;
  const forecastSource = {
    stepMs,
    startMs: fullSeries.points[0]?.atMs ?? 0,
    loadW: fullSeries.points.map((p) => p.loadW),
    pvW: fullSeries.points.map((p) => p.pvW),
  };
  const forecastSteps = Math.max(1, Math.round(options.forecastHorizonMs / stepMs));
  const limits = site.limits;

  let memories: StrategyMemories = opts.siteMeter ? seedSiteMeter(selection.active, configs, {}, opts.siteMeter).memories : {};
  let simState: SimSiteState = { atMs: periodSeries.points[0]?.atMs ?? 0, socPct: options.initialSocPct, evDeliveredWh: {} };
  let lastBatteryW = 0;
  const timezone = site.timezone;
  const bill = new ChunkedBill(subStepMs, tariff, timezone);
  const baselineBill = new ChunkedBill(subStepMs, tariff, timezone);
  const energyAcc = new EnergyAccumulator();
  const baselineAcc = new EnergyAccumulator();
  const reasons: Record<string, number> = {};
  const skipped = new Set<StrategyName>();
  const trace: BacktestTraceStep[] = [];
  let violationSteps = 0;
  const violationKinds = { batteryPower: 0, socWindow: 0, gridImport: 0, gridExport: 0 };
  let gridOverLimitByLoadSteps = 0;
  let clampedDecisions = 0;
  const progressEvery = Math.max(1, Math.floor(count / 100));

  for (let k = 0; k < count; k++) {
    const point = periodSeries.points[k];
    if (!point) break;
    const prices: readonly PricePoint[] = priceBook.knownAt(point.atMs);
    const forecast: Forecast | undefined = forecastAt(forecastSource, firstIndex + k, options.forecast, forecastSteps);
    const inputs = subStepInputs(periodSeries, k, perStep, options.interpolation);
    const chunkKey = localDayIndex(point.atMs, timezone);
    const stepKinds = { batteryPower: false, socWindow: false, gridImport: false, gridExport: false };
    let overLimitByLoad = false;
    const sums = { loadW: 0, pvW: 0, gridW: 0, batteryW: 0, setpointW: 0 };
    let firstReason = '';
    for (let j = 0; j < perStep; j++) {
      const nowMs = point.atMs + j * subStepMs;
      const loadW = inputs.loadW[j] ?? 0;
      const pvW = inputs.pvW[j] ?? 0;
      const batteryState: BatteryState = {
        assetId,
        socPct: simState.socPct,
        powerW: lastBatteryW,
        capacityWh: battery.capacityWh,
        maxChargePowerW: battery.maxChargePowerW,
        maxDischargePowerW: battery.maxDischargePowerW,
        minSocPct: battery.minSocPct,
        maxSocPct: battery.maxSocPct,
        reserveSocPct,
        ...(site.powerStepW !== undefined ? { powerStepW: site.powerStepW } : {}),
        quality: 'good',
        ageMs: 0,
      };
      const state: StrategySiteState = {
        gridPowerW: loadW - pvW - lastBatteryW,
        gridQuality: 'good',
        gridAgeMs: 0,
        pvPowerW: pvW,
        loadPowerW: loadW,
        loadSource: 'measured',
        batteries: [batteryState],
        evChargers: [],
        frequencyHz,
        prices,
        ...(forecast ? { forecast } : {}),
        tariff: stateTariff,
        timezone,
        limits,
      };
      const decision = combine(state, { nowMs }, { active: selection.active, configs, memories });
      memories = decision.memories;
      opts.observe?.(state, nowMs, decision);
      let primaryReason = 'none';
      for (const d of decision.decisions) {
        if (d.stage === 'primary') primaryReason = d.metrics.reason;
        else if (d.stage === 'skipped') skipped.add(d.name);
      }
      reasons[primaryReason] = (reasons[primaryReason] ?? 0) + 1;
      if (j === 0) firstReason = primaryReason;
      const sp = decision.setpoints[assetId];
      const setpointW = sp?.kind === 'battery-power' && Number.isFinite(sp.powerW) ? sp.powerW : 0;

      // Limits as the strategies were told them: power, and the direction allowed by the SoC window.
      if (setpointW > battery.maxDischargePowerW + POWER_TOLERANCE_W || setpointW < -battery.maxChargePowerW - POWER_TOLERANCE_W) {
        stepKinds.batteryPower = true;
      }
      if (
        (setpointW > POWER_TOLERANCE_W && simState.socPct <= floorSocPct + SOC_TOLERANCE_PCT) ||
        (setpointW < -POWER_TOLERANCE_W && simState.socPct >= battery.maxSocPct - SOC_TOLERANCE_PCT)
      ) {
        stepKinds.socWindow = true;
      }

      const next = stepSite({ ...simState, atMs: nowMs }, { batteryPowerW: setpointW }, subStepMs, {
        model,
        loadW,
        pvW,
        gridFrequencyHz: frequencyHz,
      });
      const flows = next.flows;
      if (flows.batteryLimit !== 'none') clampedDecisions++;
      // What physically happened: SoC inside the window; grid inside the site limits unless the load alone did it.
      if (next.state.socPct < battery.minSocPct - SOC_TOLERANCE_PCT || next.state.socPct > battery.maxSocPct + SOC_TOLERANCE_PCT) {
        stepKinds.socWindow = true;
      }
      if (flows.gridPowerW > limits.maxImportW + POWER_TOLERANCE_W) {
        if (flows.batteryPowerW < -POWER_TOLERANCE_W) stepKinds.gridImport = true;
        else overLimitByLoad = true;
      }
      if (-flows.gridPowerW > limits.maxExportW + POWER_TOLERANCE_W) {
        if (flows.batteryPowerW > POWER_TOLERANCE_W) stepKinds.gridExport = true;
        else overLimitByLoad = true;
      }

      bill.add({ atMs: nowMs, gridPowerW: flows.gridPowerW, batteryPowerW: flows.batteryPowerW, spotEurPerMwh: point.priceEurPerMwh }, chunkKey);
      baselineBill.add({ atMs: nowMs, gridPowerW: loadW - pvW, batteryPowerW: 0, spotEurPerMwh: point.priceEurPerMwh }, chunkKey);
      energyAcc.add(loadW, pvW, flows.gridPowerW, flows.batteryPowerW, subHours);
      baselineAcc.add(loadW, pvW, loadW - pvW, 0, subHours);
      sums.loadW += loadW;
      sums.pvW += pvW;
      sums.gridW += flows.gridPowerW;
      sums.batteryW += flows.batteryPowerW;
      sums.setpointW += setpointW;
      lastBatteryW = flows.batteryPowerW;
      simState = next.state;
    }
    if (stepKinds.batteryPower) violationKinds.batteryPower++;
    if (stepKinds.socWindow) violationKinds.socWindow++;
    if (stepKinds.gridImport) violationKinds.gridImport++;
    if (stepKinds.gridExport) violationKinds.gridExport++;
    if (stepKinds.batteryPower || stepKinds.socWindow || stepKinds.gridImport || stepKinds.gridExport) violationSteps++;
    if (overLimitByLoad) gridOverLimitByLoadSteps++;
    if (opts.trace) {
      trace.push({
        atMs: point.atMs,
        loadW: sums.loadW / perStep,
        pvW: sums.pvW / perStep,
        gridW: sums.gridW / perStep,
        batteryW: sums.batteryW / perStep,
        setpointW: sums.setpointW / perStep,
        socPct: simState.socPct,
        spotEurPerMwh: point.priceEurPerMwh,
        reason: firstReason,
      });
    }
    if (opts.onProgress && ((k + 1) % progressEvery === 0 || k + 1 === count)) opts.onProgress(k + 1, count);
  }

  const { cost, peaksW: peaks } = bill.finish();
  const { cost: baselineCost, peaksW: baselinePeaks } = baselineBill.finish();
  const energy = energyAcc.totals();
  const baselineEnergy = baselineAcc.totals();
  const startMs = periodSeries.points[0]?.atMs ?? 0;
  const refs = opts.references ?? {};
  const lowest = refs.peak?.monthlyPeaksW;
  const monthlyPeaks = [...baselinePeaks.keys()].map((month) => ({
    month,
    peakImportW: peaks.get(month) ?? 0,
    baselinePeakImportW: baselinePeaks.get(month) ?? 0,
    lowestPeakImportW: lowest?.[month] ?? null,
  }));
  let peakReductionOfOptimalPct: number | null = null;
  if (lowest) {
    const sum = (f: (m: (typeof monthlyPeaks)[number]) => number): number => monthlyPeaks.reduce((s, m) => s + f(m), 0);
    const achievable = sum((m) => m.baselinePeakImportW - (m.lowestPeakImportW ?? m.baselinePeakImportW));
    peakReductionOfOptimalPct = achievable > POWER_TOLERANCE_W ? pct(sum((m) => m.baselinePeakImportW - m.peakImportW), achievable) : null;
  }

  const savingsEur = baselineCost.totalEur - cost.totalEur;
  let optimum: OptimumComparison | null = null;
  if (refs.cost) {
    const optimalSavingsEur = baselineCost.totalEur - refs.cost.costEur;
    const isLowerBound = refs.cost.horizon.mode === 'full' && (perStep === 1 || options.interpolation === 'hold');
    const gapEur = cost.totalEur - refs.cost.costEur;
    const toleranceEur = OPTIMUM_TOLERANCE * Math.max(1, Math.abs(baselineCost.totalEur));
    optimum = {
      costEur: refs.cost.costEur,
      savingsEur: optimalSavingsEur,
      capturedPct: optimalSavingsEur > toleranceEur ? pct(savingsEur, optimalSavingsEur) : null,
      gapEur,
      isLowerBound,
      beatsOptimum: isLowerBound && gapEur < -toleranceEur,
    };
  }
  const selfConsumption = selfConsumptionPct(energy);
  const scRef = refs.selfConsumption;
  const usableWh = ((battery.maxSocPct - battery.minSocPct) / 100) * battery.capacityWh;
  return {
    label: selection.label ?? selection.active.join('+'),
    active: [...selection.active],
    fromMs: startMs,
    toMs: startMs + count * stepMs,
    stepMs,
    subStepMs,
    steps: count,
    decisions: count * perStep,
    cost,
    baselineCost,
    savingsEur,
    savingsPct: pct(savingsEur, baselineCost.totalEur),
    optimum,
    energy,
    baselineEnergy,
    selfConsumptionPct: selfConsumption,
    selfSufficiencyPct: selfSufficiencyPct(energy),
    baselineSelfConsumptionPct: selfConsumptionPct(baselineEnergy),
    baselineSelfSufficiencyPct: selfSufficiencyPct(baselineEnergy),
    monthlyPeaks,
    peakReductionOfOptimalPct,
    selfConsumptionOfOptimumPct:
      scRef?.maxSelfConsumptionPct != null && selfConsumption !== null ? pct(selfConsumption, scRef.maxSelfConsumptionPct) : null,
    savingsOfSelfConsumptionOptimumPct: scRef ? pct(savingsEur, baselineCost.totalEur - scRef.minCostEur) : null,
    throughputWh: energy.chargedWh + energy.dischargedWh,
    fullCycles: usableWh > 0 ? (energy.chargedWh + energy.dischargedWh) / (2 * usableWh) : 0,
    violations: { steps: violationSteps, ...violationKinds },
    gridOverLimitByLoadSteps,
    clampedDecisions,
    reasons,
    skipped: [...skipped],
    finalSocPct: simState.socPct,
    ...(opts.trace ? { trace } : {}),
  };
}

/** Everything `backtest` returns. */
export interface BacktestResult {
  readonly options: ResolvedBacktestOptions;
  readonly fromMs: number;
  readonly toMs: number;
  /** The idle battery at step resolution. */
  readonly baselineCostEur: number;
  readonly references: BacktestReferences;
  readonly reports: readonly BacktestReport[];
}

/** Prepares, solves the references once and runs every selection. Convenience over the three steps. */
export async function backtest(
  input: BacktestInput,
  selections: readonly StrategySelection[],
  opts: ReferenceOptions & Omit<RunOptions, 'references'> = {},
): Promise<BacktestResult> {
  const ctx = prepareBacktest(input);
  const references = await solveBacktestReferences(ctx, opts);
  const { horizon: _h, peak: _p, selfConsumption: _s, highs: _x, ...runOpts } = opts;
  const reports = selections.map((selection) => runBacktest(ctx, selection, { ...runOpts, references }));
  const first = ctx.periodSeries.points[0]?.atMs ?? 0;
  return {
    options: ctx.options,
    fromMs: first,
    toMs: first + ctx.periodSeries.points.length * ctx.options.stepMs,
    baselineCostEur: ctx.baseline.cost.totalEur,
    references,
    reports,
  };
}
