import type { Tariff } from '@voltimax/contracts';
import { isInDailyWindow, toLocalTime, type LocalTime } from './local-time';
import type { PricePoint, SiteState } from './site-state';

/** Where a price came from. */
export type PriceSource = 'spot' | 'tariff-tou' | 'tariff-fixed';

/** A price for an instant, with its source. */
export interface PriceAt {
  readonly eurPerMwh: number;
  readonly source: PriceSource;
}

function isValidPoint(p: PricePoint): boolean {
  return Number.isFinite(p.startMs) && Number.isFinite(p.endMs) && Number.isFinite(p.eurPerMwh) && p.endMs > p.startMs;
}

/** The known spot price at `atMs`, or undefined. When points overlap, the one that starts last wins. */
export function spotPriceAt(prices: readonly PricePoint[] | undefined, atMs: number): number | undefined {
  let found: PricePoint | undefined;
  for (const p of prices ?? []) {
    if (!isValidPoint(p) || atMs < p.startMs || atMs >= p.endMs) continue;
    if (!found || p.startMs > found.startMs) found = p;
  }
  return found?.eurPerMwh;
}

/**
 * The known price horizon from `nowMs`: valid points sorted by start, beginning with the one covering `nowMs`
 * and stopping at the first gap. Empty when no price covers `nowMs`.
 */
export function knownHorizon(prices: readonly PricePoint[] | undefined, nowMs: number): PricePoint[] {
  const sorted = (prices ?? []).filter(isValidPoint).sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  const out: PricePoint[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (!last) {
      if (p.startMs <= nowMs && nowMs < p.endMs) out.push(p);
      continue;
    }
    if (p.startMs < last.endMs) continue; // overlap: keep the earlier point
    if (p.startMs > last.endMs) break; // gap: the horizon ends here
    out.push(p);
  }
  return out;
}

/** The ToU price of the period that covers local time `local`, or undefined (first matching period wins). */
export function touPriceAt(tariff: Tariff | undefined, local: LocalTime): number | undefined {
  for (const period of tariff?.touPeriods ?? []) {
    if (isInDailyWindow(local, period.from, period.to, period.days)) return period.eurPerMwh;
  }
  return undefined;
}

/** A stretch of one weekday a ToU schedule does not cover (or covers twice at different prices), minutes. */
export interface TouScheduleStretch {
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  readonly fromMinute: number;
  /** Exclusive, ≤ 1440. */
  readonly toMinute: number;
}

/**
 * Where a tariff's ToU periods leave the week uncovered (`gaps`: time-of-use falls back to its neutral mode there,
 * `no-tou-period`, and the planners' horizon stops at the first one) and where two periods with different prices
 * cover the same minute (`overlaps`: the first listed wins). Minute by minute over one week: periods are whole
 * minutes (HH:MM). Empty lists without periods.
 */
export function touScheduleIssues(tariff: Pick<Tariff, 'touPeriods'>): {
  readonly gaps: readonly TouScheduleStretch[];
  readonly overlaps: readonly TouScheduleStretch[];
} {
  const periods = tariff.touPeriods ?? [];
  const gaps: TouScheduleStretch[] = [];
  const overlaps: TouScheduleStretch[] = [];
  if (periods.length === 0) return { gaps, overlaps };
  const extend = (list: TouScheduleStretch[], weekday: number, minute: number): void => {
    const last = list[list.length - 1];
    if (last !== undefined && last.weekday === weekday && last.toMinute === minute) list[list.length - 1] = { ...last, toMinute: minute + 1 };
    else list.push({ weekday, fromMinute: minute, toMinute: minute + 1 });
  };
  for (let weekday = 0; weekday < 7; weekday++) {
    for (let minute = 0; minute < 1440; minute++) {
      const local: LocalTime = { year: 2024, month: 1, day: 1, weekday, minuteOfDay: minute };
      const prices = new Set(periods.filter((p) => isInDailyWindow(local, p.from, p.to, p.days)).map((p) => p.eurPerMwh));
      if (prices.size === 0) extend(gaps, weekday, minute);
      else if (prices.size > 1) extend(overlaps, weekday, minute);
    }
  }
  return { gaps, overlaps };
}

/**
 * The price now: the spot price if one is known, else the tariff's ToU price (local time), else its fixed price.
 * Undefined when nothing is known.
 */
export function currentPrice(state: SiteState, atMs: number): PriceAt | undefined {
  const spot = spotPriceAt(state.prices, atMs);
  if (spot !== undefined) return { eurPerMwh: spot, source: 'spot' };
  const local = toLocalTime(atMs, state.timezone);
  const tou = local ? touPriceAt(state.tariff, local) : undefined;
  if (tou !== undefined) return { eurPerMwh: tou, source: 'tariff-tou' };
  const fixed = state.tariff?.fixedEurPerMwh;
  if (fixed !== undefined && Number.isFinite(fixed)) return { eurPerMwh: fixed, source: 'tariff-fixed' };
  return undefined;
}

/** FNV-1a (32 bit) over a list of numbers, as 8 hex digits: cheap change detection for memory, not security. */
export function hashNumbers(values: readonly number[]): string {
  let hash = 0x811c9dc5;
  for (const value of values) {
    const text = String(value);
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash ^= 0x2c; // separator
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** Hash of a price horizon (start, end, price of every point). */
export function hashPrices(points: readonly PricePoint[]): string {
  return hashNumbers(points.flatMap((p) => [p.startMs, p.endMs, p.eurPerMwh]));
}
