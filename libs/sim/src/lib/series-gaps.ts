/**
 * The time grid of a series CSV, and the filling of what it lacks: intervals missing between two rows and empty
 * cells. Real meter exports have both (a logger restarted, a sensor that reported nothing at dawn); the development
 * data was filled before it was published, by the two methods used here (../shared/data/README.md).
 */

/** How an imputed cell was filled (the documented methods, or another token from a newer file). */
export type FillMethod =
  | 'linear_interpolation'
  | 'previous_day_same_time'
  | 'next_day_same_time'
  | 'nearest_value'
  | (string & {});

/** Intervals missing between two rows of a series file. */
export interface SeriesGap {
  /** Start of the first missing interval, epoch ms (UTC). */
  readonly fromMs: number;
  /** How many intervals are missing in a row. */
  readonly count: number;
}

/** A run of missing values at most this long is interpolated between its neighbours. */
export const LINEAR_FILL_MAX_MS = 3_600_000;
/** A gap between two rows longer than this is refused, not filled: the file jumps, or a week of it is invented. */
export const MAX_FILL_GAP_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;

/** One data row's timestamp and 1-based line. */
export interface TimedRow {
  readonly line: number;
  readonly atMs: number;
}

/** What the grid check found: the step, each row's slot on the grid, and the gaps between rows. */
export interface GridLayout {
  readonly stepMs: number;
  /** Slot of each row (index into the filled grid), in row order. */
  readonly slots: readonly number[];
  /** Slots in the grid, gaps included. */
  readonly length: number;
  readonly gaps: readonly SeriesGap[];
}

/** Where the grid check reports a problem (the parsers' issue list). */
export type ReportIssue = (line: number, column: string, message: string) => void;

const iso = (ms: number): string => new Date(ms).toISOString();

function describeSpan(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return `${ms / 60_000} min`;
}

/** The most common difference between neighbouring rows (the smaller one on a tie); 0 when there is none. */
function commonStep(times: readonly TimedRow[]): number {
  const counts = new Map<number, number>();
  for (let i = 1; i < times.length; i++) {
    const d = (times[i]?.atMs ?? 0) - (times[i - 1]?.atMs ?? 0);
    if (d > 0) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  let best = 0;
  let bestCount = 0;
  for (const [d, n] of counts) {
    if (n > bestCount || (n === bestCount && d < best)) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Checks that the timestamps rise on one regular grid: the step is the most common difference between rows; every
 * row lies on it. A difference of several steps is a gap: refused with one issue naming the intervals missing, or,
 * with `allowGaps`, recorded for filling (up to MAX_FILL_GAP_MS). Returns null after reporting an issue.
 */
export function layOutGrid(times: readonly TimedRow[], report: ReportIssue, allowGaps: boolean): GridLayout | null {
  const first = times[0];
  if (!first || times.length < 2) {
    report(first?.line ?? 2, '', 'need at least two data rows to know the time step');
    return null;
  }
  let ok = true;
  for (let i = 1; i < times.length; i++) {
    const row = times[i];
    const previous = times[i - 1];
    if (row && previous && row.atMs <= previous.atMs) {
      report(
        row.line,
        'timestamp',
        `timestamps must be strictly increasing (line ${previous.line}: ${iso(previous.atMs)})`,
      );
      ok = false;
    }
  }
  if (!ok) return null;
  const stepMs = commonStep(times);
  const stepName = stepMs % 60_000 === 0 ? `${stepMs / 60_000}-min` : `${stepMs / 1000}-s`;
  // The grid's phase is that of most rows, so one row off it is named alone (the first row included).
  const phaseOf = (atMs: number): number => ((atMs % stepMs) + stepMs) % stepMs;
  const phases = new Map<number, number>();
  for (const row of times) phases.set(phaseOf(row.atMs), (phases.get(phaseOf(row.atMs)) ?? 0) + 1);
  const phase = [...phases].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const anchor = times.find((row) => phaseOf(row.atMs) === phase) ?? first;
  const slots: number[] = [];
  const gaps: SeriesGap[] = [];
  for (let i = 0; i < times.length; i++) {
    const row = times[i];
    if (!row) continue;
    const slot = (row.atMs - anchor.atMs) / stepMs;
    if (!Number.isInteger(slot)) {
      report(
        row.line,
        'timestamp',
        `${iso(row.atMs)} is off the file's ${stepName} grid (${iso(anchor.atMs)} plus whole steps)`,
      );
      ok = false;
      continue;
    }
    const previousSlot = slots.at(-1);
    if (previousSlot !== undefined && slot > previousSlot + 1) {
      const gap: SeriesGap = { fromMs: anchor.atMs + (previousSlot + 1) * stepMs, count: slot - previousSlot - 1 };
      const lastMs = gap.fromMs + (gap.count - 1) * stepMs;
      const what = `${gap.count} interval${gap.count === 1 ? '' : 's'} missing before this row (${iso(gap.fromMs)}${gap.count > 1 ? ` to ${iso(lastMs)}` : ''})`;
      if (!allowGaps) {
        report(row.line, 'timestamp', `${what}: the series must be a regular ${stepName} grid`);
        ok = false;
      } else if (gap.count * stepMs > MAX_FILL_GAP_MS) {
        report(
          row.line,
          'timestamp',
          `${what}: ${describeSpan(gap.count * stepMs)} is too long to fill (at most ${describeSpan(MAX_FILL_GAP_MS)}); split the file there`,
        );
        ok = false;
      }
      gaps.push(gap);
    }
    slots.push(slot);
  }
  if (!ok) return null;
  const length = (slots.at(-1) ?? 0) + 1;
  // Filling is for holes in a grid the rows keep, not for making one (rows a second apart then minutes apart would
  // ask for a value every second): at most as many intervals invented as there are rows.
  if (length - slots.length > slots.length) {
    report(
      1,
      'timestamp',
      `${length - slots.length} of ${length} intervals of a ${stepName} grid (the most common step between rows) would be missing: the rows are not on one regular grid`,
    );
    return null;
  }
  return { stepMs, slots, length, gaps };
}

/**
 * Fills the missing values (NaN) of one column on a regular grid, in place, and returns how each slot was filled
 * (undefined: measured). A run of at most LINEAR_FILL_MAX_MS between two values is interpolated linearly; a longer
 * one takes the value 24 h earlier (a value filled so counts: a gap of days repeats the day before it), where
 * there is none the value 24 h later, and what is still left (a series shorter than a day) the nearest value.
 * A column without any value is left as it is (the caller refuses it).
 */
export function fillColumn(values: number[], stepMs: number): (FillMethod | undefined)[] {
  const n = values.length;
  const methods: (FillMethod | undefined)[] = new Array<FillMethod | undefined>(n).fill(undefined);
  if (!values.some((v) => !Number.isNaN(v))) return methods;
  const missing = (k: number): boolean => Number.isNaN(values[k] ?? Number.NaN);
  for (let a = 0; a < n; a++) {
    if (!missing(a)) continue;
    let b = a;
    while (b + 1 < n && missing(b + 1)) b++;
    const before = values[a - 1];
    const after = values[b + 1];
    if (before !== undefined && after !== undefined && (b - a + 1) * stepMs <= LINEAR_FILL_MAX_MS) {
      for (let k = a; k <= b; k++) {
        values[k] = before + ((after - before) * (k - a + 1)) / (b - a + 2);
        methods[k] = 'linear_interpolation';
      }
    }
    a = b;
  }
  const day = DAY_MS / stepMs;
  if (Number.isInteger(day)) {
    for (let k = day; k < n; k++) {
      const earlier = values[k - day];
      if (missing(k) && earlier !== undefined && !Number.isNaN(earlier)) {
        values[k] = earlier;
        methods[k] = 'previous_day_same_time';
      }
    }
    for (let k = n - 1 - day; k >= 0; k--) {
      const later = values[k + day];
      if (missing(k) && later !== undefined && !Number.isNaN(later)) {
        values[k] = later;
        methods[k] = 'next_day_same_time';
      }
    }
  }
  if (values.some((v) => Number.isNaN(v))) {
    const known = values.map((v, k) => (Number.isNaN(v) ? -1 : k)).filter((k) => k >= 0);
    for (let k = 0; k < n; k++) {
      if (!missing(k)) continue;
      const nearest = known.reduce((best, j) => (Math.abs(j - k) < Math.abs(best - k) ? j : best));
      values[k] = values[nearest] ?? Number.NaN;
      methods[k] = 'nearest_value';
    }
  }
  return methods;
}
