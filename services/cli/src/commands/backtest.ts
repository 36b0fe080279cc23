import { writeFile as fsWriteFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Command } from 'commander';
import { StrategyNameSchema, type StrategyName } from '@voltimax/contracts';
import {
  type BacktestContext,
  type BacktestReferences,
  type BacktestReport,
  type BacktestTraceStep,
  type BatteryModel,
  BatteryModelSchema,
  type ForecastMode,
  type Horizon,
  type PriceKnowledge,
  type FillMethod,
  type SeriesGap,
  type SimTariff,
  SimTariffSchema,
  type SiteSeries,
  type StrategySelection,
  type SubStepInterpolation,
  applyFilledCells,
  loadHighs,
  parseFilledCellsCsv,
  parseSeriesCsv,
  parseZonePricesCsv,
  prepareBacktest,
  runBacktest,
  siteMeterBeforePeriod,
  solveBacktestReferences,
  utcOffsetMs,
  withZonePrice,
} from '@voltimax/sim';
import { parseStrategySelection } from '@voltimax/strategies';
import { CliExit, type CliIo } from '../io';
import {
  AUTO_SUBSTEP_MS,
  DEFAULT_BATTERY,
  DEFAULT_DATA_FILE,
  DEFAULT_GRID_LIMITS,
  DEFAULT_STRATEGY_CONFIGS,
  DEFAULT_TIMEZONE,
  TARIFF_PRESETS,
  type TariffPreset,
} from './backtest-defaults';
import { mpcReference } from './backtest-mpc';
import { renderDaySvg } from './backtest-svg';

const DAY_MS = 86_400_000;
/** Repository root: services/cli/src/commands → four levels up. */
const REPO_ROOT = path.resolve(__dirname, '../../../..');
/** The progress bar appears only for runs longer than this, ms. */
const PROGRESS_AFTER_MS = 1_000;

/** What `voltimax backtest` needs beyond CliIo; every extra has a process default. */
export interface BacktestIo extends CliIo {
  readonly writeFile?: (file: string, text: string) => Promise<void>;
  /** Whether stderr is a terminal (the progress bar is drawn only then); default process.stderr.isTTY. */
  readonly isStderrTty?: boolean;
  /** Monotonic milliseconds, for the progress bar's "longer than a second"; default performance.now(). */
  readonly nowMs?: () => number;
}

/** Options as commander hands them over (strings; `pv`/`load` false with --no-pv/--no-load). */
export interface BacktestCommandOptions {
  readonly data?: string;
  readonly filled?: string;
  /** False with --no-fill-gaps: intervals missing from a CSV and empty cells are refused instead of filled. */
  readonly fillGaps?: boolean;
  readonly zonePrices?: string;
  readonly zone?: string;
  readonly strategy: string;
  readonly config?: string;
  readonly from?: string;
  readonly to?: string;
  readonly step: string;
  readonly substep: string;
  readonly interpolation: string;
  readonly forecast: string;
  readonly prices: string;
  readonly horizon: string;
  readonly tariff: string;
  readonly peakCharge?: string;
  readonly battery?: string;
  readonly initialSoc?: string;
  readonly maxImport?: string;
  readonly maxExport?: string;
  readonly pv: boolean;
  readonly load: boolean;
  readonly json?: string;
  readonly svg?: string;
  readonly trace?: string;
  readonly day?: string;
  readonly mpc?: boolean;
  readonly seedHistory?: boolean;
}

/** The help text after the option list: defaults, definitions, exit codes. */
export const BACKTEST_HELP = `
Runs strategies step by step through the strategy engine's interface over a load/PV/price series and scores them
against the exact perfect-foresight optimum (HiGHS LP, full horizon).

Defaults:
  data      ${DEFAULT_DATA_FILE} (from the repository root), with its
            *_filled_intervals.csv and *_prices_multizone_30min.csv siblings (see ../shared/data/README.md);
            any CSV with the same header on a regular grid (the most common step between rows). Intervals
            missing between rows and empty cells are filled and noted: up to 1 h linearly, longer with the
            value 24 h earlier (later where there is none); a gap over 7 days is refused (--no-fill-gaps:
            every gap is)
  battery   10 kWh, 5 kW charge/discharge, 95 % efficient each way, SoC window 10-95 %, starts at 10 %
  tariff    dynamic: day-ahead spot + 100 energy tax + 50 grid fee (EUR/MWh), 21 % VAT, feed-in at spot,
            4 EUR/kW monthly peak charge, battery wear 20 EUR/MWh of throughput
            (tou: 22:00-06:00 60 / 06:00-22:00 140 EUR/MWh instead of spot; market: spot in and out, no taxes)
  site      Europe/Paris, grid limits 9 kW import / 6 kW export
  configs   strategy defaults, plus peak-shaving {mode: forecast} and
            grid-services {frequencyResponse: {reservedPowerW: 2500}}; --config merges over them per strategy
  forecast  load/PV persistence (yesterday same time); prices day-ahead (tomorrow's known from 13:00 Paris time)
  substep   auto: net-zero decides every 2 s inside each step (its PI gains are tuned for 1-s ticks), the others
            once per step; load and PV are held at the step's mean

--strategy: comma-separated runs; '+' combines strategies in one run through the combination rule
  (e.g. self-consumption+peak-shaving); 'all' runs each of the 11 strategies on its own.

Columns: savings % of the idle-battery bill; % of optimum = savings / optimal savings; peak = highest monthly
15-min import; peak cut % = peak reduction / lowest reachable (peak-only LP); SC = self-consumption
(1 - export/PV); SC % of max = SC / highest SC of a battery that only stores PV surplus and only covers load (LP);
cycles = throughput / (2 x usable capacity); violations = steps where a battery or grid limit was broken.

--seed-history: the planners (arbitrage, time-of-use, peak-shaving) start with a site meter learned from the data
  before --from (the net demand and grid import of those days, at most the last 7), as a gateway commissioned with the
  utility's history would (\`voltimax strategy import-history\`); without it they start blind on the first day.

--mpc: also runs an exact LP planner re-solved every step with the information the strategies get (the measured
  demand now, the --forecast net demand after it, the prices known at that instant; the optimum's cost model) and
  applies its first step: what that information allows at best, against which the strategies can be judged. One LP
  per step: minutes for 61 days. Exact for 15-min steps (a step is its own metering quarter hour).

Exit codes: 0 ok; 1 a strategy broke a limit or beat the exact optimum (a model mismatch, i.e. a bug);
2 bad options or unreadable/invalid input.
`;

function fail(io: CliIo, message: string): never {
  io.stderr(`voltimax backtest: ${message}\n`);
  throw new CliExit(2);
}

/** '15m', '2s', '1h', '500ms' → ms. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|min|h)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'min' | 'h'];
  const ms = Number(m[1]) * unit;
  return Number.isInteger(ms) && ms > 0 ? ms : undefined;
}

/** Epoch ms of local midnight starting 'YYYY-MM-DD' in `timezone`. */
export function localMidnightMs(date: string, timezone: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  const wallMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (new Date(wallMs).toISOString().slice(0, 10) !== date) return undefined;
  let guess = wallMs - utcOffsetMs(wallMs, timezone);
  guess = wallMs - utcOffsetMs(guess, timezone);
  return guess;
}

function parseNumber(io: CliIo, name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) fail(io, `${name} must be a number, got '${text}'`);
  return value;
}

function oneOf<T extends string>(io: CliIo, name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text))
    fail(io, `${name} must be one of ${allowed.join(', ')}, got '${text}'`);
  return text as T;
}

async function readText(io: CliIo, file: string): Promise<string> {
  try {
    return await io.readFile(file);
  } catch (err) {
    return fail(io, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function readOptional(io: CliIo, file: string): Promise<string | undefined> {
  try {
    return await io.readFile(file);
  } catch {
    return undefined;
  }
}

function parseJson(io: CliIo, what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(io, `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function siblingFile(dataFile: string, suffix: string): string | undefined {
  return /_30min\.csv$/.test(dataFile) ? dataFile.replace(/_30min\.csv$/, suffix) : undefined;
}

/**
 * How the parser filled a file's gaps and empty cells, for the report's notes (`columns`: the value columns counted
 * in `cells`); undefined when it filled nothing.
 */
export function repairsNote(
  file: string,
  gaps: readonly SeriesGap[],
  cells: readonly { readonly method: FillMethod }[],
  columns: number,
): string | undefined {
  if (cells.length === 0) return undefined;
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const byMethod = new Map<FillMethod, number>();
  for (const { method } of cells) byMethod.set(method, (byMethod.get(method) ?? 0) + 1);
  const methods = [...byMethod].map(([method, n]) => `${n} ${method.replace(/_/g, ' ')}`).join(', ');
  const missing = gaps.reduce((n, g) => n + g.count, 0);
  const longest = gaps.reduce<SeriesGap | undefined>((a, g) => (a && a.count >= g.count ? a : g), undefined);
  const empty = cells.length - missing * columns;
  const parts = [
    ...(longest
      ? [
          `${plural(missing, 'missing interval')} in ${plural(gaps.length, 'gap')}, the longest ${longest.count} from ${new Date(longest.fromMs).toISOString()}`,
        ]
      : []),
    ...(empty > 0 ? [plural(empty, 'empty cell')] : []),
  ];
  return `${file}: filled ${plural(cells.length, 'value')} of ${parts.join(' and ')}; by ${methods}; used as measured (--no-fill-gaps refuses them)`;
}

async function loadSeries(
  io: CliIo,
  opts: BacktestCommandOptions,
): Promise<{ series: SiteSeries; dataFile: string; notes: string[] }> {
  const dataFile = opts.data ?? path.resolve(REPO_ROOT, DEFAULT_DATA_FILE);
  const notes: string[] = [];
  const fillGaps = opts.fillGaps !== false;
  const gapHint = fillGaps ? '' : '\n(--no-fill-gaps was given: drop it to fill the missing values)';
  let series: SiteSeries;
  try {
    series = parseSeriesCsv(await readText(io, dataFile), { fillGaps });
  } catch (err) {
    if (err instanceof CliExit) throw err;
    return fail(io, `${dataFile}: ${(err as Error).message}${gapHint}`);
  }
  const filledNote = repairsNote(
    path.basename(dataFile),
    series.repairs?.gaps ?? [],
    series.repairs?.cells ?? [],
    3,
  );
  if (filledNote) notes.push(filledNote);
  const filledFile = opts.filled ?? siblingFile(dataFile, '_filled_intervals.csv');
  const filledText = filledFile
    ? opts.filled
      ? await readText(io, filledFile)
      : await readOptional(io, filledFile)
    : undefined;
  if (filledFile && filledText !== undefined) {
    try {
      const cells = parseFilledCellsCsv(filledText);
      series = applyFilledCells(series, cells);
      const imputed = new Set(cells.map((c) => c.atMs)).size;
      notes.push(`${imputed} intervals carry imputed cells (${path.basename(filledFile)}); used as they are`);
    } catch (err) {
      return fail(io, `${filledFile}: ${(err as Error).message}`);
    }
  }
  if (opts.zone) {
    const zoneFile = opts.zonePrices ?? siblingFile(dataFile, '_prices_multizone_30min.csv');
    if (!zoneFile) fail(io, '--zone needs --zone-prices <csv>');
    try {
      const prices = parseZonePricesCsv(await readText(io, zoneFile), { fillGaps });
      series = withZonePrice(series, prices, opts.zone);
      notes.push(`prices: zone ${opts.zone} from ${path.basename(zoneFile)}`);
      const zoneCells = (prices.repairs?.cells ?? []).filter((c) => c.zone === opts.zone);
      const zoneNote = repairsNote(path.basename(zoneFile), prices.repairs?.gaps ?? [], zoneCells, 1);
      if (zoneNote) notes.push(zoneNote);
    } catch (err) {
      if (err instanceof CliExit) throw err;
      return fail(io, `${zoneFile}: ${(err as Error).message}${gapHint}`);
    }
  }
  if (!opts.pv || !opts.load) {
    series = {
      stepMs: series.stepMs,
      points: series.points.map((p) => ({ ...p, ...(opts.pv ? {} : { pvW: 0 }), ...(opts.load ? {} : { loadW: 0 }) })),
    };
    notes.push(
      `${[opts.pv ? '' : 'PV set to 0', opts.load ? '' : 'load set to 0'].filter(Boolean).join(', ')} (diagnostic run)`,
    );
  }
  return { series, dataFile, notes };
}

async function loadTariff(io: CliIo, opts: BacktestCommandOptions): Promise<{ tariff: SimTariff; name: string }> {
  const raw: unknown =
    opts.tariff in TARIFF_PRESETS
      ? TARIFF_PRESETS[opts.tariff as TariffPreset]
      : parseJson(io, opts.tariff, await readText(io, opts.tariff));
  const peak = parseNumber(io, '--peak-charge', opts.peakCharge);
  const parsed = SimTariffSchema.safeParse(peak === undefined ? raw : { ...(raw as object), peakDemandEurPerKw: peak });
  if (!parsed.success)
    fail(
      io,
      `invalid tariff ${opts.tariff}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return { tariff: parsed.data, name: `${opts.tariff}${peak === undefined ? '' : ` (peak charge ${peak} EUR/kW)`}` };
}

async function loadBattery(io: CliIo, opts: BacktestCommandOptions): Promise<BatteryModel> {
  const raw = opts.battery ? parseJson(io, opts.battery, await readText(io, opts.battery)) : {};
  const parsed = BatteryModelSchema.safeParse({ ...DEFAULT_BATTERY, ...(raw as object) });
  if (!parsed.success)
    fail(io, `invalid battery: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

async function loadConfigs(
  io: CliIo,
  opts: BacktestCommandOptions,
): Promise<Partial<Record<StrategyName, Record<string, unknown>>>> {
  const merged: Partial<Record<StrategyName, Record<string, unknown>>> = { ...DEFAULT_STRATEGY_CONFIGS };
  if (!opts.config) return merged;
  const text = opts.config.trim().startsWith('{') ? opts.config : await readText(io, opts.config);
  const raw = parseJson(io, '--config', text);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    fail(io, '--config must be an object { "<strategy>": { ... } }');
  for (const [name, block] of Object.entries(raw as Record<string, unknown>)) {
    const parsedName = StrategyNameSchema.safeParse(name);
    if (!parsedName.success) fail(io, `--config: unknown strategy '${name}'`);
    if (typeof block !== 'object' || block === null || Array.isArray(block))
      fail(io, `--config: '${name}' must be an object`);
    merged[parsedName.data] = { ...(merged[parsedName.data] ?? {}), ...(block as Record<string, unknown>) };
  }
  return merged;
}

function parseSelections(
  io: CliIo,
  text: string,
  configs: Partial<Record<StrategyName, Record<string, unknown>>>,
): StrategySelection[] {
  const all = StrategyNameSchema.options;
  const runs =
    text.trim() === 'all' ? all.map((n) => [n]) : text.split(',').map((run) => run.split('+').map((s) => s.trim()));
  return runs.map((names) => {
    const active = names.map((name) => {
      const parsed = StrategyNameSchema.safeParse(name);
      if (!parsed.success) fail(io, `unknown strategy '${name}' (one of ${all.join(', ')}, or all)`);
      return parsed.data;
    });
    const selectionConfigs = Object.fromEntries(active.filter((n) => configs[n]).map((n) => [n, configs[n]]));
    const check = parseStrategySelection({ active, config: selectionConfigs });
    if (check.errors.length > 0) fail(io, check.errors.join('\n'));
    return { label: active.join('+'), active, configs: selectionConfigs };
  });
}

/** The decision interval `--substep auto` picks for a run: the smallest AUTO_SUBSTEP_MS of its strategies, else the step. */
export function autoSubStepMs(active: readonly StrategyName[], stepMs: number): number {
  const wanted = active
    .map((n) => AUTO_SUBSTEP_MS[n])
    .filter((ms): ms is number => ms !== undefined && stepMs % ms === 0);
  return wanted.length > 0 ? Math.min(...wanted) : stepMs;
}

function subStepFor(io: CliIo, substep: string, selection: StrategySelection, stepMs: number): number {
  if (substep === 'auto') return autoSubStepMs(selection.active, stepMs);
  const ms = parseDurationMs(substep);
  if (ms === undefined || stepMs % ms !== 0)
    fail(io, `--substep must be 'auto' or a duration dividing the step, got '${substep}'`);
  return ms;
}

/** A figure with `digits` decimals; '—' when there is none; a value that rounds to zero prints without a sign. */
export const num = (value: number | null | undefined, digits: number): string => {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const text = value.toFixed(digits);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
};

/** The results table (fixed-width text). */
export function formatResultsTable(reports: readonly BacktestReport[]): string {
  const header = [
    'strategy',
    'cost EUR',
    'savings %',
    '% of optimum',
    'peak kW',
    'peak cut %',
    'SC %',
    'SC % of max',
    'cycles',
    'violations',
  ];
  const rows = reports.map((r) => [
    r.label,
    num(r.cost.totalEur, 2),
    num(r.savingsPct, 1),
    num(r.optimum?.capturedPct, 1),
    num(Math.max(0, ...r.monthlyPeaks.map((m) => m.peakImportW)) / 1000, 2),
    num(r.peakReductionOfOptimalPct, 1),
    num(r.selfConsumptionPct, 1),
    num(r.selfConsumptionOfOptimumPct, 1),
    num(r.fullCycles, 1),
    String(r.violations.steps),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function isoDay(atMs: number, timezone: string): string {
  return new Date(atMs + utcOffsetMs(atMs, timezone)).toISOString().slice(0, 10);
}

/** The file of one strategy's output: `file` itself for a single run, else `<name>-<label><ext>`. */
function perRunPath(file: string, label: string, count: number): string {
  if (count === 1) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-${label.replace(/[^a-z0-9-]+/gi, '_')}${ext}`;
}

/** The header of `--trace`: one row per step of the run. */
export const TRACE_CSV_HEADER =
  'timestamp,local_time,load_w,pv_w,grid_w,battery_w,setpoint_w,soc_pct,optimum_soc_pct,price_eur_per_mwh,reason';

/**
 * One strategy's run step by step as CSV (`--trace`): the step's start (UTC, and local time in the site's zone),
 * load, PV, grid (+ import), battery (+ discharge) and the set-point asked (W, means over the step), the SoC at the
 * step's end with the optimum's beside it (empty without the cost reference), the day-ahead price and the primary
 * strategy's reason.
 */
export function traceCsv(
  steps: readonly BacktestTraceStep[],
  timezone: string,
  optimumSocPct: readonly number[] | undefined,
): string {
  const w = (x: number) => (Object.is(Math.round(x), -0) ? '0' : Math.round(x).toFixed(0));
  const rows = steps.map((s, i) => {
    const local = new Date(s.atMs + utcOffsetMs(s.atMs, timezone)).toISOString();
    const optimum = optimumSocPct?.[i];
    return [
      new Date(s.atMs).toISOString(),
      `${local.slice(0, 10)} ${local.slice(11, 16)}`,
      w(s.loadW),
      w(s.pvW),
      w(s.gridW),
      w(s.batteryW),
      w(s.setpointW),
      s.socPct.toFixed(2),
      optimum === undefined ? '' : optimum.toFixed(2),
      String(s.spotEurPerMwh),
      s.reason,
    ].join(',');
  });
  return `${[TRACE_CSV_HEADER, ...rows].join('\n')}\n`;
}

function referencesJson(refs: BacktestReferences): unknown {
  return {
    ...(refs.cost
      ? {
          cost: {
            horizon: refs.cost.horizon,
            costEur: refs.cost.costEur,
            lpCostEur: refs.cost.lpCostEur,
            modelMismatchEur: refs.cost.modelMismatchEur,
            monthlyPeaksW: refs.cost.monthlyPeaksW,
            energy: refs.cost.totals,
          },
        }
      : {}),
    ...(refs.peak ? { peak: refs.peak } : {}),
    ...(refs.selfConsumption ? { selfConsumption: refs.selfConsumption } : {}),
  };
}

/** `voltimax backtest`: see BACKTEST_HELP. */
export async function backtestCommand(io: BacktestIo, opts: BacktestCommandOptions): Promise<void> {
  const clock = io.nowMs ?? (() => performance.now());
  const isTty = io.isStderrTty ?? process.stderr.isTTY === true;
  const writeFile = io.writeFile ?? ((file: string, text: string) => fsWriteFile(file, text, 'utf8'));
  const startedMs = clock();

  const stepMs = parseDurationMs(opts.step) ?? fail(io, `--step must be a duration such as 15m, got '${opts.step}'`);
  const interpolation = oneOf<SubStepInterpolation>(io, '--interpolation', opts.interpolation, ['hold', 'linear']);
  const forecast = oneOf<ForecastMode>(io, '--forecast', opts.forecast, ['perfect', 'persistence']);
  const prices = oneOf<PriceKnowledge>(io, '--prices', opts.prices, ['day-ahead', 'perfect']);
  const horizonName = oneOf(io, '--horizon', opts.horizon, ['full', 'rolling'] as const);
  const horizon: Horizon =
    horizonName === 'full' ? { mode: 'full' } : { mode: 'rolling', windowMs: 2 * DAY_MS, commitMs: DAY_MS };
  if (opts.svg && !opts.svg.endsWith('.svg')) fail(io, '--svg must name a .svg file');
  if (opts.trace && !opts.trace.endsWith('.csv')) fail(io, '--trace must name a .csv file');

  const { series, dataFile, notes } = await loadSeries(io, opts);
  const { tariff, name: tariffName } = await loadTariff(io, opts);
  const battery = await loadBattery(io, opts);
  const configs = await loadConfigs(io, opts);
  const selections = parseSelections(io, opts.strategy, configs);
  const timezone = DEFAULT_TIMEZONE;
  const fromMs = opts.from
    ? (localMidnightMs(opts.from, timezone) ?? fail(io, `--from must be YYYY-MM-DD, got '${opts.from}'`))
    : undefined;
  const toDay = opts.to
    ? (localMidnightMs(opts.to, timezone) ?? fail(io, `--to must be YYYY-MM-DD, got '${opts.to}'`))
    : undefined;
  const toMs =
    toDay === undefined
      ? undefined
      : (localMidnightMs(isoDay(toDay + 36 * 3_600_000, timezone), timezone) ?? toDay + DAY_MS);
  const dataFromMs = series.points[0]?.atMs ?? 0;
  const dataToMs = (series.points.at(-1)?.atMs ?? 0) + series.stepMs;
  const dataDays = `${dataFile} covers ${isoDay(dataFromMs, timezone)} – ${isoDay(dataToMs - 1, timezone)}`;
  if (fromMs !== undefined && toDay !== undefined && toDay < fromMs)
    fail(io, `--to ${opts.to} is before --from ${opts.from}`);
  if (fromMs !== undefined && fromMs >= dataToMs) fail(io, `--from ${opts.from} is after the data: ${dataDays}`);
  if (toMs !== undefined && toMs <= dataFromMs) fail(io, `--to ${opts.to} is before the data: ${dataDays}`);
  const maxImportW = parseNumber(io, '--max-import', opts.maxImport) ?? DEFAULT_GRID_LIMITS.maxImportW;
  const maxExportW = parseNumber(io, '--max-export', opts.maxExport) ?? DEFAULT_GRID_LIMITS.maxExportW;
  const initialSocPct = parseNumber(io, '--initial-soc', opts.initialSoc);
  const subSteps = selections.map((s) => subStepFor(io, opts.substep, s, stepMs));

  const contexts = new Map<number, BacktestContext>();
  const contextFor = (subStepMs: number): BacktestContext => {
    const known = contexts.get(subStepMs);
    if (known) return known;
    let ctx: BacktestContext;
    try {
      ctx = prepareBacktest({
        series,
        battery,
        tariff,
        site: { timezone, limits: { ...DEFAULT_GRID_LIMITS, maxImportW, maxExportW } },
        options: {
          stepMs,
          subStepMs,
          interpolation,
          forecast,
          prices,
          ...(initialSocPct !== undefined ? { initialSocPct } : {}),
          ...(fromMs !== undefined || toMs !== undefined
            ? { period: { fromMs: fromMs ?? Number.NEGATIVE_INFINITY, toMs: toMs ?? Number.POSITIVE_INFINITY } }
            : {}),
        },
      });
    } catch (err) {
      return fail(io, (err as Error).message);
    }
    contexts.set(subStepMs, ctx);
    return ctx;
  };
  const base = contextFor(stepMs);

  // Progress on stderr: only on a terminal, only once the run has taken longer than a second.
  let drawn = false;
  const progress = (text: string, fraction: number): void => {
    if (!isTty || clock() - startedMs < PROGRESS_AFTER_MS) return;
    const width = 30;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    io.stderr(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}% ${text}`.padEnd(
        100,
      ),
    );
    drawn = true;
  };
  const work = selections.map(
    (_, i) => (stepMs / (subSteps[i] ?? stepMs)) * base.periodSeries.points.length + base.periodSeries.points.length,
  );
  const totalWork = work.reduce((a, b) => a + b, 0) + 4 * base.periodSeries.points.length;
  let doneWork = 0;

  const siteMeter = opts.seedHistory ? siteMeterBeforePeriod(base) : undefined;
  if (opts.seedHistory && !siteMeter) return fail(io, '--seed-history needs data before the period: give --from a later day than the data starts');

  progress('solving the optimum', 0);
  const references = await solveBacktestReferences(base, { horizon, highs: await loadHighs() });
  doneWork += 4 * base.periodSeries.points.length;
  const reports: BacktestReport[] = [];
  selections.forEach((selection, i) => {
    const ctx = contextFor(subSteps[i] ?? stepMs);
    const unit = work[i] ?? 0;
    reports.push(
      runBacktest(ctx, selection, {
        references,
        trace: opts.svg !== undefined || opts.trace !== undefined,
        ...(siteMeter ? { siteMeter } : {}),
        onProgress: (done, total) =>
          progress(
            `${selection.label ?? ''} (${i + 1}/${selections.length})`,
            (doneWork + (done / total) * unit) / totalWork,
          ),
      }),
    );
    doneWork += unit;
  });
  const mpc = opts.mpc ? mpcReference(base, await loadHighs(), (done, total) => progress('lp planner (--mpc)', done / total)) : undefined;
  if (drawn) io.stderr(`\r${' '.repeat(100)}\r`);

  const period = base.periodSeries;
  const firstMs = period.points[0]?.atMs ?? 0;
  const endMs = firstMs + period.points.length * stepMs;
  const days = Math.round((endMs - firstMs) / DAY_MS);
  const cost = references.cost;
  const out: string[] = [
    `backtest ${isoDay(firstMs, timezone)} … ${isoDay(endMs - 1, timezone)} (${days} day${days === 1 ? '' : 's'}, ${period.points.length} steps of ${stepMs / 60_000} min), ${path.basename(dataFile)}`,
    `tariff ${tariffName}; battery ${battery.capacityWh / 1000} kWh / ${battery.maxChargePowerW / 1000} kW, starts at ${base.options.initialSocPct} %; forecast ${forecast}; prices ${prices}` +
      (siteMeter ? `; planners seeded with the ${siteMeter.historyDay.filter((d) => d >= 0).length} (UTC) days before the period` : ''),
    ...notes.map((n) => `note: ${n}`),
    `baseline (battery idle): ${base.baseline.cost.totalEur.toFixed(2)} EUR; optimum (${horizonName === 'full' ? 'full horizon, exact' : 'rolling 48 h / 24 h, not a strict bound'}): ${cost ? cost.costEur.toFixed(2) : '—'} EUR`,
    '',
    formatResultsTable(reports),
    '',
  ];
  if (mpc) {
    const mpcCost = mpc.evaluation.cost;
    const optimalSavings = base.baseline.cost.totalEur - (cost?.costEur ?? Number.NaN);
    const captured = ((base.baseline.cost.totalEur - mpcCost.totalEur) / optimalSavings) * 100;
    out.push(
      `lp planner with the strategies' information (--mpc: exact LP re-solved every step, forecast ${forecast}, prices ${prices}): ` +
        `${mpcCost.totalEur.toFixed(2)} EUR, ${num(captured, 1)} % of the optimum, monthly peaks ` +
        `${mpcCost.monthlyPeaks.map((m) => (m.peakImportW / 1000).toFixed(2)).join(' / ') || '—'} kW` +
        (mpc.failedSolves > 0 ? ` (${mpc.failedSolves} steps without a solution idled)` : ''),
    );
  }
  const subStepNotes = selections
    .map((s, i) => (subSteps[i] !== stepMs ? `${s.label} every ${(subSteps[i] ?? 0) / 1000} s` : undefined))
    .filter((t): t is string => t !== undefined);
  if (subStepNotes.length > 0)
    out.push(`sub-steps: ${subStepNotes.join(', ')} (load/PV ${interpolation} inside each step)`);
  if (reports.some((r) => r.optimum && !r.optimum.isLowerBound) && horizonName === 'full') {
    out.push(
      'note: with load/PV varying inside a step (linear) the step-resolution optimum is not a strict lower bound',
    );
  }
  const beaten = reports.filter((r) => r.optimum?.beatsOptimum);
  const broken = reports.filter((r) => r.violations.steps > 0);
  for (const r of beaten)
    out.push(
      `MODEL MISMATCH: ${r.label} beats the exact optimum by ${(-(r.optimum?.gapEur ?? 0)).toFixed(6)} EUR (a bug)`,
    );
  for (const r of broken)
    out.push(
      `LIMIT VIOLATION: ${r.label} broke a limit in ${r.violations.steps} steps ${JSON.stringify(r.violations)}`,
    );
  io.stdout(`${out.join('\n')}\n`);

  if (opts.json) {
    const json = {
      v: 1,
      data: dataFile,
      tariff: tariffName,
      tariffDetail: tariff,
      battery,
      gridLimits: { ...DEFAULT_GRID_LIMITS, maxImportW, maxExportW },
      options: base.options,
      seedHistory: siteMeter !== undefined,
      fromMs: firstMs,
      toMs: endMs,
      baselineCostEur: base.baseline.cost.totalEur,
      references: referencesJson(references),
      reports: reports.map(({ trace: _trace, ...r }, i) => ({ ...r, subStepMs: subSteps[i] ?? stepMs })),
      ...(mpc ? { mpcReference: { cost: mpc.evaluation.cost, solves: mpc.solves, failedSolves: mpc.failedSolves } } : {}),
    };
    await writeFile(opts.json, `${JSON.stringify(json, null, 2)}\n`);
    io.stdout(`wrote ${opts.json}\n`);
  }

  if (opts.svg) {
    const day = opts.day ?? isoDay(firstMs, timezone);
    const dayFromMs = localMidnightMs(day, timezone) ?? fail(io, `--day must be YYYY-MM-DD, got '${day}'`);
    const dayToMs = localMidnightMs(isoDay(dayFromMs + 36 * 3_600_000, timezone), timezone) ?? dayFromMs + DAY_MS;
    const first = Math.round((dayFromMs - firstMs) / stepMs);
    const last = Math.round((dayToMs - firstMs) / stepMs);
    if (first < 0 || last > period.points.length) {
      const lastDay = isoDay(firstMs + period.points.length * stepMs - 1, timezone);
      fail(io, `--day ${day} is outside the simulated period, ${isoDay(firstMs, timezone)} – ${lastDay}`);
    }
    for (const r of reports) {
      const steps = (r.trace ?? []).slice(first, last);
      const file = perRunPath(opts.svg, r.label, reports.length);
      const startSoc =
        first > 0 ? (r.trace?.[first - 1]?.socPct ?? base.options.initialSocPct) : base.options.initialSocPct;
      await writeFile(
        file,
        renderDaySvg({
          title: `${r.label} — ${day}`,
          subtitle: `whole run ${isoDay(firstMs, timezone)} … ${isoDay(endMs - 1, timezone)}: cost ${r.cost.totalEur.toFixed(2)} EUR (idle battery ${r.baselineCost.totalEur.toFixed(2)}), ${num(r.optimum?.capturedPct, 1)} % of the optimal savings · tariff ${tariffName} · forecast ${forecast}`,
          timezone,
          fromMs: dayFromMs,
          toMs: dayToMs,
          stepMs,
          steps,
          startSocPct: startSoc,
          ...(cost
            ? {
                optimumSocPct: cost.socPct.slice(first, last),
                optimumStartSocPct:
                  first > 0 ? (cost.socPct[first - 1] ?? base.options.initialSocPct) : base.options.initialSocPct,
              }
            : {}),
        }),
      );
      io.stdout(`wrote ${file}\n`);
    }
  }
  if (opts.trace) {
    for (const r of reports) {
      const file = perRunPath(opts.trace, r.label, reports.length);
      await writeFile(file, traceCsv(r.trace ?? [], timezone, cost?.socPct));
      io.stdout(`wrote ${file}\n`);
    }
  }
  if (beaten.length > 0 || broken.length > 0) throw new CliExit(1);
}

/** Adds `voltimax backtest` to the program. */
export function registerBacktestCommand(program: Command, io: BacktestIo): void {
  program
    .command('backtest')
    .description('run strategies over a load/PV/price series and score them against the exact optimum')
    .option('--data <csv>', `series timestamp,load_w,pv_w,price_eur_per_mwh (default ${DEFAULT_DATA_FILE})`)
    .option('--filled <csv>', "filled-intervals file (default: the data file's *_filled_intervals.csv sibling, if any)")
    .option('--no-fill-gaps', 'refuse intervals missing from a CSV and empty cells (default: fill them, with a note)')
    .option('--zone-prices <csv>', 'multizone price file (default: the *_prices_multizone_30min.csv sibling)')
    .option(
      '--zone <zone>',
      "take prices of this bidding zone from the multizone file (e.g. FR; default: the data file's price)",
    )
    .option('--strategy <list>', "strategies: name, 'a,b' (separate runs), 'a+b' (combined), or all", 'all')
    .option('--config <file|json>', 'strategy configs { "<strategy>": {...} }, a file or inline JSON')
    .option('--from <YYYY-MM-DD>', 'first local day (default: start of the data)')
    .option('--to <YYYY-MM-DD>', 'last local day, inclusive (default: end of the data)')
    .option('--step <duration>', 'decision and billing step', '15m')
    .option('--substep <duration|auto>', 'decision interval inside a step', 'auto')
    .option('--interpolation <hold|linear>', 'load/PV inside sub-steps', 'hold')
    .option('--forecast <perfect|persistence>', 'load/PV forecast given to the strategies', 'persistence')
    .option('--prices <day-ahead|perfect>', 'price foresight (day-ahead: tomorrow from 13:00 Paris time)', 'day-ahead')
    .option(
      '--horizon <full|rolling>',
      'optimum: full (exact) or rolling 48 h / 24 h (faster, not a strict bound)',
      'full',
    )
    .option('--tariff <dynamic|tou|market|file.json>', 'tariff preset or SimTariff JSON file', 'dynamic')
    .option('--peak-charge <EUR/kW>', "override the tariff's monthly peak-demand charge")
    .option('--battery <file.json>', 'battery model JSON, merged over the default battery')
    .option('--initial-soc <pct>', "SoC at the start (default: the battery's minimum)")
    .option('--max-import <W>', 'grid import limit', String(DEFAULT_GRID_LIMITS.maxImportW))
    .option('--max-export <W>', 'grid export limit', String(DEFAULT_GRID_LIMITS.maxExportW))
    .option('--no-pv', 'diagnostic: PV set to 0')
    .option('--no-load', 'diagnostic: load set to 0')
    .option('--json <out.json>', 'write every figure as JSON')
    .option('--svg <out.svg>', 'plot one day (load, PV, grid, battery, SoC, price) per strategy')
    .option('--day <YYYY-MM-DD>', 'the day to plot (default: the first day)')
    .option('--trace <out.csv>', 'every step of the run as CSV (load, PV, grid, battery, set-point, SoC, price, reason) per strategy')
    .option('--mpc', 'also run an exact LP planner with the strategies\' information (minutes; see below)')
    .option('--seed-history', 'the planners start knowing the data before --from (a gateway commissioned with imported history)')
    .addHelpText('after', BACKTEST_HELP)
    .action((opts: BacktestCommandOptions) => backtestCommand(io, opts));
}
