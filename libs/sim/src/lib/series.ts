import { type FillMethod, type SeriesGap, type TimedRow, fillColumn, layOutGrid } from './series-gaps';

export type { FillMethod, SeriesGap } from './series-gaps';
export { LINEAR_FILL_MAX_MS, MAX_FILL_GAP_MS } from './series-gaps';

const MAX_ISSUES = 20;

/** A column of a site series that can carry imputed (filled) values. */
export type SiteColumn = 'loadW' | 'pvW' | 'priceEurPerMwh';

/** One interval of a site series; values are means over [atMs, atMs + stepMs). */
export interface SitePoint {
  /** Start of the interval, epoch ms (UTC). */
  readonly atMs: number;
  /** Non-controllable building load, W, ≥ 0. */
  readonly loadW: number;
  /** PV production (AC), W, ≥ 0. */
  readonly pvW: number;
  /** Day-ahead energy price, EUR/MWh; may be negative. */
  readonly priceEurPerMwh: number;
  /** Columns whose value in this interval was imputed rather than measured (absent = all measured). */
  readonly imputed?: readonly SiteColumn[];
}

/** A strictly regular series: `points[k].atMs === points[0].atMs + k * stepMs`. */
export interface SiteSeries {
  /** Interval length, ms. */
  readonly stepMs: number;
  readonly points: readonly SitePoint[];
  /** What the parser filled (only when asked to: `fillGaps`). */
  readonly repairs?: SeriesRepairs;
}

/** What a parser with `fillGaps` filled: the intervals missing between rows, and every cell it filled. */
export interface SeriesRepairs {
  readonly gaps: readonly SeriesGap[];
  /** Each filled cell (those of missing intervals and empty ones), with how it was filled. */
  readonly cells: readonly FilledCell[];
}

/** How the CSV parsers treat what a file lacks. */
export interface SeriesParseOptions {
  /**
   * Fill intervals missing between rows and empty cells (also `NaN`, `null`, `NA`) instead of refusing them: a run
   * of at most an hour linearly between its neighbours, a longer one with the value 24 h earlier (later where there
   * is none), the rest with the nearest value; each filled cell is marked imputed and listed in `repairs`. A gap over
   * seven days is still refused. Default false: every gap and empty cell is an issue.
   */
  readonly fillGaps?: boolean;
}

/** One interval of a multi-zone price file. */
export interface ZonePricePoint {
  /** Start of the interval, epoch ms (UTC). */
  readonly atMs: number;
  /** Day-ahead price per bidding zone ('DE-LU', 'FR', …), EUR/MWh. */
  readonly pricesEurPerMwh: Readonly<Record<string, number>>;
}

/** A strictly regular multi-zone price series. */
export interface ZonePriceSeries {
  /** Interval length, ms. */
  readonly stepMs: number;
  /** Zone ids in file column order, upper case with '-' (column `price_de_lu_eur_per_mwh` → 'DE-LU'). */
  readonly zones: readonly string[];
  readonly points: readonly ZonePricePoint[];
  /** What the parser filled (only with `fillGaps`): the gaps, and each filled price by zone. */
  readonly repairs?: {
    readonly gaps: readonly SeriesGap[];
    readonly cells: readonly { readonly atMs: number; readonly zone: string; readonly method: FillMethod }[];
  };
}

/** One imputed cell of the main site file. */
export interface FilledCell {
  /** Start of the interval whose value was imputed, epoch ms (UTC). */
  readonly atMs: number;
  readonly column: SiteColumn;
  readonly method: FillMethod;
}

/** One problem found in a CSV text: 1-based line number and the column it concerns. */
export interface CsvIssue {
  readonly line: number;
  /** Column name from the header, or '' when the issue concerns the whole line. */
  readonly column: string;
  readonly message: string;
}

/** The CSV text does not match the expected format; `issues` lists the first problems (line and column). */
export class SeriesParseError extends Error {
  override readonly name = 'SeriesParseError';
  constructor(readonly issues: readonly CsvIssue[]) {
    super(
      `invalid series CSV:\n${issues
        .map((i) => `  line ${i.line}${i.column ? `, column "${i.column}"` : ''}: ${i.message}`)
        .join('\n')}`,
    );
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** What an export writes for a value it does not have. */
const MISSING_VALUE = /^(|nan|null|na|n\/a)$/i;

/** Whether a CSV cell holds no value: empty, `NaN`, `null`, `NA` or `n/a` (any case), as exports write it. */
export function isMissingValue(raw: string): boolean {
  return MISSING_VALUE.test(raw);
}
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/;
const SITE_COLUMNS: Readonly<Record<string, SiteColumn>> = {
  load_w: 'loadW',
  pv_w: 'pvW',
  price_eur_per_mwh: 'priceEurPerMwh',
};
const ZONE_COLUMN = /^price_([a-z0-9]+(?:_[a-z0-9]+)*)_eur_per_mwh$/;

/** Epoch ms of an ISO-8601 timestamp with an explicit zone ('Z' or ±HH:MM), or null when invalid. */
export function parseIsoTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? '0');
  const ms = Number((frac ?? '0').padEnd(3, '0'));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  const isCalendarValid =
    check.getUTCFullYear() === year &&
    check.getUTCMonth() === month - 1 &&
    check.getUTCDate() === day &&
    check.getUTCHours() === hour &&
    check.getUTCMinutes() === minute &&
    check.getUTCSeconds() === second;
  if (!isCalendarValid) return null;
  if (zone === undefined || zone === 'Z') return utc;
  const sign = zone.startsWith('-') ? -1 : 1;
  const offsetMin = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
  return utc - sign * offsetMin * 60_000;
}

interface Table {
  readonly header: readonly string[];
  /** Data rows with their 1-based line numbers. */
  readonly rows: readonly { readonly line: number; readonly cells: readonly string[] }[];
}

class IssueList {
  readonly items: CsvIssue[] = [];
  add(line: number, column: string, message: string): void {
    if (this.items.length < MAX_ISSUES) this.items.push({ line, column, message });
  }
  get isFull(): boolean {
    return this.items.length >= MAX_ISSUES;
  }
  throwIfAny(): void {
    if (this.items.length > 0) throw new SeriesParseError([...this.items].sort((a, b) => a.line - b.line));
  }
}

function readTable(text: string, issues: IssueList): Table {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  const header = (lines[0] ?? '').split(',').map((c) => c.trim());
  const rows: { line: number; cells: string[] }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const line = i + 1;
    if (raw.trim() === '') {
      issues.add(line, '', 'empty line inside the data');
      continue;
    }
    const cells = raw.split(',').map((c) => c.trim());
    if (cells.length !== header.length) {
      issues.add(line, '', `expected ${header.length} fields (as in the header), got ${cells.length}`);
      continue;
    }
    rows.push({ line, cells });
  }
  return { header, rows };
}

function checkHeaderNames(header: readonly string[], issues: IssueList): void {
  const seen = new Set<string>();
  header.forEach((name, index) => {
    if (seen.has(name)) issues.add(1, name, `duplicate column (position ${index + 1})`);
    seen.add(name);
  });
  if (header[0] !== 'timestamp') issues.add(1, header[0] ?? '', 'the first column must be "timestamp"');
}

function parseTimestampCell(raw: string, line: number, issues: IssueList): number | null {
  const atMs = parseIsoTimestamp(raw);
  if (atMs === null) {
    issues.add(line, 'timestamp', `expected an ISO-8601 instant with zone, e.g. 2024-03-31T22:00:00Z, got "${raw}"`);
  }
  return atMs;
}

/** The cell's number; NaN for a missing value when `allowMissing` (else an issue). */
function parseNumberCell(
  raw: string,
  line: number,
  column: string,
  isNonNegative: boolean,
  issues: IssueList,
  allowMissing = false,
): number {
  if (allowMissing && isMissingValue(raw)) return Number.NaN;
  if (!NUMBER.test(raw)) {
    issues.add(line, column, `expected a number, got "${raw}"`);
    return Number.NaN;
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    issues.add(line, column, `expected a finite number, got "${raw}"`);
  } else if (isNonNegative && value < 0) {
    issues.add(line, column, `expected a power ≥ 0 W, got ${raw}`);
  }
  return value;
}

/**
 * Lays the parsed rows out on their grid (`layOutGrid`) and, with `fillGaps`, fills the missing values of each column
 * (`fillColumn`): returns the step, the rows' times and each column's values per slot, and how each was filled.
 */
function gridColumns(
  times: readonly TimedRow[],
  columns: readonly { readonly name: string; readonly values: readonly number[] }[],
  issues: IssueList,
  fillGaps: boolean,
): { stepMs: number; atMs: number[]; values: number[][]; methods: (FillMethod | undefined)[][]; gaps: SeriesGap[] } {
  const grid = layOutGrid(times, (line, column, message) => issues.add(line, column, message), fillGaps);
  issues.throwIfAny();
  if (!grid) throw new SeriesParseError(issues.items);
  const startMs = times[0]?.atMs ?? 0;
  const atMs = Array.from({ length: grid.length }, (_, k) => startMs + k * grid.stepMs);
  const values = columns.map(({ values: rowValues }) => {
    const slotValues = new Array<number>(grid.length).fill(Number.NaN);
    grid.slots.forEach((slot, row) => (slotValues[slot] = rowValues[row] ?? Number.NaN));
    return slotValues;
  });
  const methods = values.map((slotValues) => fillColumn(slotValues, grid.stepMs));
  values.forEach((slotValues, c) => {
    if (slotValues.some((v) => Number.isNaN(v))) issues.add(1, columns[c]?.name ?? '', 'no value in the whole file');
  });
  issues.throwIfAny();
  return { stepMs: grid.stepMs, atMs, values, methods, gaps: [...grid.gaps] };
}

/**
 * Parses a site series CSV with header `timestamp,load_w,pv_w,price_eur_per_mwh` (columns in any order):
 * timestamps are interval starts (ISO-8601, UTC), powers in W (≥ 0), price in EUR/MWh.
 * Every row is validated; throws SeriesParseError listing the first problems by line and column. Intervals missing
 * between rows and empty cells are refused, or filled with `fillGaps` (SeriesParseOptions).
 */
export function parseSeriesCsv(text: string, options: SeriesParseOptions = {}): SiteSeries {
  const fillGaps = options.fillGaps === true;
  const issues = new IssueList();
  const { header, rows } = readTable(text, issues);
  checkHeaderNames(header, issues);
  header.slice(1).forEach((name) => {
    if (!(name in SITE_COLUMNS))
      issues.add(1, name, `unknown column; expected ${Object.keys(SITE_COLUMNS).join(', ')}`);
  });
  for (const required of Object.keys(SITE_COLUMNS)) {
    if (!header.includes(required)) issues.add(1, required, 'missing column');
  }
  issues.throwIfAny();

  const names = Object.keys(SITE_COLUMNS);
  const times: TimedRow[] = [];
  const columns = names.map((name) => ({ name, values: [] as number[] }));
  for (const { line, cells } of rows) {
    if (issues.isFull) break;
    const atMs = parseTimestampCell(cells[0] ?? '', line, issues);
    const values = columns.map(({ name }) =>
      parseNumberCell(cells[header.indexOf(name)] ?? '', line, name, name !== 'price_eur_per_mwh', issues, fillGaps),
    );
    if (atMs === null) continue;
    times.push({ line, atMs });
    columns.forEach((column, c) => column.values.push(values[c] ?? Number.NaN));
  }
  // A row without a time would show as a gap too: report it alone. Bad values are reported with the grid's issues.
  if (times.length < rows.length) issues.throwIfAny();
  const grid = gridColumns(times, columns, issues, fillGaps);
  const keys = names.map((name) => SITE_COLUMNS[name] as SiteColumn);
  const [load, pv, price] = (['loadW', 'pvW', 'priceEurPerMwh'] as const).map((key) => grid.values[keys.indexOf(key)]);
  const filled: FilledCell[] = [];
  const points = grid.atMs.map((atMs, k): SitePoint => {
    const imputed = keys.filter((column, c) => {
      const method = grid.methods[c]?.[k];
      if (method !== undefined) filled.push({ atMs, column, method });
      return method !== undefined;
    });
    const point = {
      atMs,
      loadW: load?.[k] ?? Number.NaN,
      pvW: pv?.[k] ?? Number.NaN,
      priceEurPerMwh: price?.[k] ?? Number.NaN,
    };
    return imputed.length > 0 ? { ...point, imputed: imputed.sort() } : point;
  });
  return fillGaps
    ? { stepMs: grid.stepMs, points, repairs: { gaps: grid.gaps, cells: filled } }
    : { stepMs: grid.stepMs, points };
}

/** 'de_lu' → 'DE-LU'. */
function zoneId(columnZone: string): string {
  return columnZone.toUpperCase().replace(/_/g, '-');
}

/**
 * Parses a multi-zone price CSV: `timestamp` then one or more `price_<zone>_eur_per_mwh` columns (EUR/MWh).
 * Throws SeriesParseError listing the first problems by line and column; gaps and empty cells as parseSeriesCsv.
 */
export function parseZonePricesCsv(text: string, options: SeriesParseOptions = {}): ZonePriceSeries {
  const fillGaps = options.fillGaps === true;
  const issues = new IssueList();
  const { header, rows } = readTable(text, issues);
  checkHeaderNames(header, issues);
  const zoneColumns = header.slice(1);
  if (zoneColumns.length === 0) issues.add(1, '', 'expected at least one price_<zone>_eur_per_mwh column');
  const zones = zoneColumns.map((name) => {
    const m = ZONE_COLUMN.exec(name);
    if (!m?.[1]) {
      issues.add(1, name, 'expected a column named price_<zone>_eur_per_mwh');
      return name;
    }
    return zoneId(m[1]);
  });
  issues.throwIfAny();

  const times: TimedRow[] = [];
  const columns = zoneColumns.map((name) => ({ name, values: [] as number[] }));
  for (const { line, cells } of rows) {
    if (issues.isFull) break;
    const atMs = parseTimestampCell(cells[0] ?? '', line, issues);
    const prices = columns.map(({ name }, z) =>
      parseNumberCell(cells[z + 1] ?? '', line, name, false, issues, fillGaps),
    );
    if (atMs === null) continue;
    times.push({ line, atMs });
    columns.forEach((column, z) => column.values.push(prices[z] ?? Number.NaN));
  }
  if (times.length < rows.length) issues.throwIfAny();
  const grid = gridColumns(times, columns, issues, fillGaps);
  const filled: { atMs: number; zone: string; method: FillMethod }[] = [];
  const points = grid.atMs.map((atMs, k): ZonePricePoint => {
    const pricesEurPerMwh: Record<string, number> = {};
    zones.forEach((zone, z) => {
      pricesEurPerMwh[zone] = grid.values[z]?.[k] ?? Number.NaN;
      const method = grid.methods[z]?.[k];
      if (method !== undefined) filled.push({ atMs, zone, method });
    });
    return { atMs, pricesEurPerMwh };
  });
  return fillGaps
    ? { stepMs: grid.stepMs, zones, points, repairs: { gaps: grid.gaps, cells: filled } }
    : { stepMs: grid.stepMs, zones, points };
}

/**
 * Parses the filled-intervals CSV (`timestamp,column,fill_method`): one row per imputed cell of the main
 * site file, `column` being `load_w`, `pv_w` or `price_eur_per_mwh`. Throws SeriesParseError on bad rows.
 */
export function parseFilledCellsCsv(text: string): FilledCell[] {
  const issues = new IssueList();
  const { header, rows } = readTable(text, issues);
  if (header.join(',') !== 'timestamp,column,fill_method') {
    issues.add(1, '', `expected header "timestamp,column,fill_method", got "${header.join(',')}"`);
  }
  issues.throwIfAny();
  const cells: FilledCell[] = [];
  const seen = new Set<string>();
  for (const { line, cells: row } of rows) {
    if (issues.isFull) break;
    const atMs = parseTimestampCell(row[0] ?? '', line, issues);
    const columnName = row[1] ?? '';
    const column = SITE_COLUMNS[columnName];
    if (!column)
      issues.add(line, 'column', `expected one of ${Object.keys(SITE_COLUMNS).join(', ')}, got "${columnName}"`);
    const method = row[2] ?? '';
    if (!/^[a-z][a-z0-9_]*$/.test(method)) issues.add(line, 'fill_method', `expected a method name, got "${method}"`);
    if (atMs === null || !column) continue;
    const key = `${atMs}/${column}`;
    if (seen.has(key)) issues.add(line, 'column', `cell ${row[0]} ${columnName} is listed twice`);
    seen.add(key);
    cells.push({ atMs, column, method });
  }
  issues.throwIfAny();
  return cells;
}

/** Index of `atMs` in a regular series, or -1 when it is not on the grid or outside the series. */
function gridIndex(series: { stepMs: number; points: readonly { atMs: number }[] }, atMs: number): number {
  const first = series.points[0];
  if (!first) return -1;
  const k = (atMs - first.atMs) / series.stepMs;
  return Number.isInteger(k) && k >= 0 && k < series.points.length ? k : -1;
}

/**
 * Marks the imputed cells (from parseFilledCellsCsv) on a site series; a cell outside the series' grid is
 * an input mismatch and throws a RangeError.
 */
export function applyFilledCells(series: SiteSeries, cells: readonly FilledCell[]): SiteSeries {
  const imputed = new Map<number, Set<SiteColumn>>();
  for (const cell of cells) {
    const k = gridIndex(series, cell.atMs);
    if (k < 0)
      throw new RangeError(
        `filled cell ${new Date(cell.atMs).toISOString()} ${cell.column} is not an interval of the series`,
      );
    const set = imputed.get(k) ?? new Set<SiteColumn>();
    set.add(cell.column);
    imputed.set(k, set);
  }
  return {
    stepMs: series.stepMs,
    points: series.points.map((p, k) => {
      const set = imputed.get(k);
      return set ? { ...p, imputed: [...new Set([...(p.imputed ?? []), ...set])].sort() } : p;
    }),
  };
}

/** Whether the value of `column` in `point` was measured (not imputed). */
export function isMeasured(point: SitePoint, column: SiteColumn): boolean {
  return !(point.imputed ?? []).includes(column);
}

/**
 * Replaces the price of a site series by the day-ahead price of one bidding zone (e.g. 'FR' for a same-zone
 * run). Both series must share the same grid; a mismatch throws a RangeError.
 */
export function withZonePrice(series: SiteSeries, prices: ZonePriceSeries, zone: string): SiteSeries {
  if (!prices.zones.includes(zone))
    throw new RangeError(`zone "${zone}" not in price file (has ${prices.zones.join(', ')})`);
  const filledAt = new Set((prices.repairs?.cells ?? []).filter((c) => c.zone === zone).map((c) => c.atMs));
  return {
    stepMs: series.stepMs,
    points: series.points.map((p) => {
      const k = prices.stepMs === series.stepMs ? gridIndex(prices, p.atMs) : -1;
      const price = k >= 0 ? prices.points[k]?.pricesEurPerMwh[zone] : undefined;
      if (price === undefined) throw new RangeError(`no ${zone} price for ${new Date(p.atMs).toISOString()}`);
      // The price is the zone file's now: imputed as that file's cell was, not as the replaced one.
      const imputed: SiteColumn[] = (p.imputed ?? []).filter((c) => c !== 'priceEurPerMwh');
      if (filledAt.has(p.atMs)) imputed.push('priceEurPerMwh');
      const { imputed: _replaced, ...rest } = p;
      return imputed.length > 0
        ? { ...rest, priceEurPerMwh: price, imputed: imputed.sort() }
        : { ...rest, priceEurPerMwh: price };
    }),
  };
}

/**
 * Resamples a site series to `stepMs`, starting at the first interval. Power columns (load, PV) become the
 * time-weighted mean over each new interval, so energy is preserved; prices are step functions held over
 * their interval (upsampling repeats them, an interval spanning several prices gets their time-weighted mean).
 * A trailing partial interval is dropped. Imputed flags carry over to every interval they touch.
 */
export function resample(series: SiteSeries, stepMs: number): SiteSeries {
  if (!Number.isInteger(stepMs) || stepMs <= 0)
    throw new RangeError(`stepMs must be a positive integer, got ${stepMs}`);
  const first = series.points[0];
  if (!first) return { stepMs, points: [] };
  const srcStepMs = series.stepMs;
  const startMs = first.atMs;
  const endMs = startMs + series.points.length * srcStepMs;
  const count = Math.floor((endMs - startMs) / stepMs);
  const points: SitePoint[] = [];
  let src = 0;
  for (let k = 0; k < count; k++) {
    const fromMs = startMs + k * stepMs;
    const toMs = fromMs + stepMs;
    while (src < series.points.length && startMs + (src + 1) * srcStepMs <= fromMs) src++;
    let loadWms = 0;
    let pvWms = 0;
    let priceMs = 0;
    let segments = 0;
    const imputed = new Set<SiteColumn>();
    for (let j = src; j < series.points.length; j++) {
      const p = series.points[j];
      if (!p) break;
      const segFromMs = startMs + j * srcStepMs;
      if (segFromMs >= toMs) break;
      const overlapMs = Math.min(toMs, segFromMs + srcStepMs) - Math.max(fromMs, segFromMs);
      loadWms += p.loadW * overlapMs;
      pvWms += p.pvW * overlapMs;
      priceMs += p.priceEurPerMwh * overlapMs;
      segments++;
      for (const column of p.imputed ?? []) imputed.add(column);
    }
    const only = segments === 1 ? series.points[src] : undefined;
    // One source interval covering the whole new one: copy its values exactly (step-hold, no rounding).
    const point: SitePoint = only
      ? { atMs: fromMs, loadW: only.loadW, pvW: only.pvW, priceEurPerMwh: only.priceEurPerMwh }
      : { atMs: fromMs, loadW: loadWms / stepMs, pvW: pvWms / stepMs, priceEurPerMwh: priceMs / stepMs };
    points.push(imputed.size > 0 ? { ...point, imputed: [...imputed].sort() } : point);
  }
  return { stepMs, points };
}
