import type { Forecast, PricePoint } from '@voltimax/strategies';
import { utcOffsetMs } from './local-time';
import type { SiteSeries } from './series';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** How much of the price future a backtest lets the strategies see. */
export type PriceKnowledge =
  /** As the engine gets them: day-ahead prices of day D+1 become known at the publication time of day D. */
  | 'day-ahead'
  /** Every price of the series from yesterday on (an upper bound on what price foresight could give). */
  | 'perfect';

/** When the day-ahead auction results for the next delivery day become known. */
export interface DayAheadPublication {
  /** IANA zone of the market's delivery days and publication time, e.g. 'Europe/Paris' (CET/CEST). */
  readonly timezone: string;
  /** Local minute of the day from which the next day's prices are known, 0..1439 (780 = 13:00). */
  readonly minuteOfDay: number;
}

/** EPEX SPOT / SDAC day-ahead results, known from 13:00 CET for the next day. */
export const DEFAULT_DAY_AHEAD_PUBLICATION: DayAheadPublication = { timezone: 'Europe/Paris', minuteOfDay: 13 * 60 };

/** The day-ahead prices known at an instant, as the strategy engine holds them in KV `prices`. */
export interface PriceBook {
  /**
   * Prices known at `atMs`: every interval of yesterday and today (delivery days in the publication zone), plus
   * tomorrow once published (or everything from yesterday on with 'perfect'). Sorted by start. The same array
   * instance is returned while the known set does not change, so a strategy that hashes its prices re-plans only
   * when new prices arrive (twice a day: at midnight and at publication).
   */
  knownAt(atMs: number): readonly PricePoint[];
}

/** Local calendar day number (days since 1970-01-01 local) of `atMs` in `timezone`. */
export function localDayIndex(atMs: number, timezone: string): number {
  return Math.floor((atMs + utcOffsetMs(atMs, timezone)) / DAY_MS);
}

/** Local minute of the day of `atMs` in `timezone`, 0 ≤ value < 1440. */
export function localMinuteOfDay(atMs: number, timezone: string): number {
  const localMs = atMs + utcOffsetMs(atMs, timezone);
  return (localMs - Math.floor(localMs / DAY_MS) * DAY_MS) / MINUTE_MS;
}

/**
 * A price book over the series' own intervals (the published resolution, e.g. hourly prices as 30-min points).
 * Each interval belongs to the delivery day (publication zone) its start falls in.
 */
export function dayAheadPriceBook(
  series: SiteSeries,
  knowledge: PriceKnowledge,
  publication: DayAheadPublication = DEFAULT_DAY_AHEAD_PUBLICATION,
): PriceBook {
  const points: PricePoint[] = series.points.map((p) => ({
    startMs: p.atMs,
    endMs: p.atMs + series.stepMs,
    eurPerMwh: p.priceEurPerMwh,
  }));
  const days = points.map((p) => localDayIndex(p.startMs, publication.timezone));
  const cache = new Map<string, readonly PricePoint[]>();
  /** Index of the first point whose day is ≥ day (days are non-decreasing). */
  const firstAtOrAfter = (day: number): number => {
    let lo = 0;
    let hi = days.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((days[mid] ?? Number.POSITIVE_INFINITY) < day) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    knownAt(atMs) {
      const today = localDayIndex(atMs, publication.timezone);
      const isPublished = localMinuteOfDay(atMs, publication.timezone) >= publication.minuteOfDay;
      const lastDay = knowledge === 'perfect' ? Number.POSITIVE_INFINITY : isPublished ? today + 1 : today;
      const key = `${today - 1}:${lastDay}`;
      const cached = cache.get(key);
      if (cached) return cached;
      const known = points.slice(firstAtOrAfter(today - 1), firstAtOrAfter(lastDay + 1));
      if (cache.size > 8) cache.clear();
      cache.set(key, known);
      return known;
    },
  };
}

/** How load and PV forecasts are made for the strategies. */
export type ForecastMode =
  /** The actual future values (perfect foresight of load and PV). */
  | 'perfect'
  /** Yesterday at the same time: the value one day (or whole days) earlier than the instant forecast. */
  | 'persistence';

/**
 * The load/PV forecast the engine would hold at step `index` of a regular series (`loadW`, `pvW` per step):
 * `horizonSteps` values from the start of that step.
 *
 * - 'perfect': the actual values (cut at the end of the series).
 * - 'persistence': for an instant τ the value at τ − n·24 h with the smallest n ≥ 1 that lies before `index`
 *   (already measured), so a 48 h forecast repeats yesterday's profile twice. Undefined until one day of history
 *   exists (the first day has nothing to persist).
 */
export function forecastAt(
  series: { readonly stepMs: number; readonly startMs: number; readonly loadW: readonly number[]; readonly pvW: readonly number[] },
  index: number,
  mode: ForecastMode,
  horizonSteps: number,
): Forecast | undefined {
  const { stepMs, loadW, pvW } = series;
  const count = loadW.length;
  const startMs = series.startMs + index * stepMs;
  if (mode === 'perfect') {
    const end = Math.min(count, index + horizonSteps);
    if (end <= index) return undefined;
    return { startMs, stepMs, loadW: loadW.slice(index, end), pvW: pvW.slice(index, end) };
  }
  const stepsPerDay = DAY_MS / stepMs;
  if (!Number.isInteger(stepsPerDay) || index < stepsPerDay) return undefined;
  const load: number[] = new Array<number>(horizonSteps);
  const pv: number[] = new Array<number>(horizonSteps);
  for (let i = 0; i < horizonSteps; i++) {
    const source = index + i - (Math.floor(i / stepsPerDay) + 1) * stepsPerDay;
    load[i] = loadW[source] ?? 0;
    pv[i] = pvW[source] ?? 0;
  }
  return { startMs, stepMs, loadW: load, pvW: pv };
}
