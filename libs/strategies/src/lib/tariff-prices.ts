import type { Tariff } from '@voltimax/contracts';
import { parseTimeOfDay, toLocalTime } from './local-time';
import type { PricePoint } from './site-state';

// Globals looked up once: inside a vm context (Jest) every global lookup in a hot loop is slow.
const { ceil, floor, min, round } = Math;
const INFINITY = Number.POSITIVE_INFINITY;
const isFiniteNumber = Number.isFinite;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * What energy costs and earns at the site's meter in an interval, EUR/MWh, the way the tariff bills it:
 * import = (energy + energy tax + grid fee) × (1 + VAT); export = the feed-in rule (fixed, factor × spot + offset,
 * or 0). Energy is the spot price (`dynamic`), the ToU period price (`time-of-use`) or the fixed price.
 */
export interface MeterPrices {
  readonly importEurPerMwh: number;
  readonly exportEurPerMwh: number;
}

/** The tariff's peak-demand charge including VAT, EUR per kW of the month's highest 15-min mean import. */
export function peakChargeEurPerKw(tariff: Tariff | undefined): number {
  if (!tariff || !(tariff.peakDemandEurPerKw > 0)) return 0;
  return tariff.peakDemandEurPerKw * (1 + tariff.vatPct / 100);
}

/**
 * Meter prices for an interval whose spot price (EUR/MWh, may be undefined) and ToU energy price (undefined unless
 * the tariff has ToU periods) are known. Without a tariff the site trades at the spot price (a market battery).
 * Undefined when the energy price is unknown (a dynamic tariff without spot price or fixed fallback).
 */
export function meterPrices(tariff: Tariff | undefined, spotEurPerMwh: number | undefined, touEurPerMwh: number | undefined): MeterPrices | undefined {
  if (!tariff) return spotEurPerMwh === undefined ? undefined : { importEurPerMwh: spotEurPerMwh, exportEurPerMwh: spotEurPerMwh };
  const energy =
    tariff.kind === 'dynamic'
      ? (spotEurPerMwh ?? tariff.fixedEurPerMwh)
      : tariff.kind === 'time-of-use'
        ? (touEurPerMwh ?? tariff.fixedEurPerMwh)
        : tariff.fixedEurPerMwh;
  if (energy === undefined || !isFiniteNumber(energy)) return undefined;
  const importEurPerMwh = (energy + tariff.energyTaxEurPerMwh + tariff.gridFeeEurPerMwh) * (1 + tariff.vatPct / 100);
  const feedIn = tariff.feedIn;
  // Spot feed-in without a known spot price: the energy price stands in for it.
  const exportEurPerMwh =
    feedIn.rule === 'fixed' ? feedIn.eurPerMwh : feedIn.rule === 'spot' ? feedIn.factor * (spotEurPerMwh ?? energy) + feedIn.offsetEurPerMwh : 0;
  return { importEurPerMwh, exportEurPerMwh };
}

/** Offsets per zone and quarter hour (zones change offset on whole quarter hours); bounded. A cache, not state. */
const offsetCache = new Map<string, number | undefined>();
const QUARTER_MS = 15 * MINUTE_MS;

/** UTC offset of `timezone` at `atMs`, ms (local = UTC + offset); undefined for an unknown zone. */
export function utcOffsetMs(atMs: number, timezone: string): number | undefined {
  const key = `${timezone}|${floor(atMs / QUARTER_MS)}`;
  if (offsetCache.has(key)) return offsetCache.get(key);
  const local = toLocalTime(atMs, timezone);
  const offset = local ? round((Date.UTC(local.year, local.month - 1, local.day) + local.minuteOfDay * MINUTE_MS - atMs) / MINUTE_MS) * MINUTE_MS : undefined;
  if (offsetCache.size > 4_096) offsetCache.clear();
  offsetCache.set(key, offset);
  return offset;
}

/**
 * A fast local clock over [fromMs, toMs] for one time zone: the UTC offset is looked up at the ends and, where it
 * changes (a DST switch), the switch is found by bisection, so per-slot local fields cost no Intl call.
 */
export interface LocalClock {
  /** Minutes since local midnight. */
  minuteOfDay(atMs: number): number;
  /** 0 = Sunday … 6 = Saturday. */
  weekday(atMs: number): number;
  /** 'YYYY-MM' local. */
  monthKey(atMs: number): string;
}

export function localClock(fromMs: number, toMs: number, timezone: string): LocalClock | undefined {
  const first = utcOffsetMs(fromMs, timezone);
  const last = utcOffsetMs(toMs, timezone);
  if (first === undefined || last === undefined) return undefined;
  // At most one switch inside a horizon of a few days; zones switch on whole minutes, so bisect over minutes.
  let switchMs = INFINITY;
  if (first !== last) {
    let lo = floor(fromMs / MINUTE_MS);
    let hi = ceil(toMs / MINUTE_MS);
    while (hi - lo > 1) {
      const mid = floor((lo + hi) / 2);
      if (utcOffsetMs(mid * MINUTE_MS, timezone) === first) lo = mid;
      else hi = mid;
    }
    switchMs = hi * MINUTE_MS;
  }
  const offset = (atMs: number): number => (atMs < switchMs ? first : last);
  const months = new Map<number, string>();
  const localMs = (atMs: number): number => atMs + offset(atMs);
  return {
    minuteOfDay: (atMs) => {
      const l = localMs(atMs);
      return (l - floor(l / DAY_MS) * DAY_MS) / MINUTE_MS;
    },
    weekday: (atMs) => {
      const day = floor(localMs(atMs) / DAY_MS);
      return (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
    },
    monthKey: (atMs) => {
      // Cached per local day: the key changes once a month, toISOString is slow.
      const day = floor(localMs(atMs) / DAY_MS);
      let key = months.get(day);
      if (key === undefined) {
        key = new Date(day * DAY_MS).toISOString().slice(0, 7);
        months.set(day, key);
      }
      return key;
    },
  };
}

/** A ToU period with its times parsed (minutes since midnight). */
interface ParsedPeriod {
  readonly fromMin: number;
  readonly toMin: number;
  readonly days: ReadonlySet<number> | undefined;
  readonly eurPerMwh: number;
}

/** Parsed periods per tariff period list (the same semantics as `isInDailyWindow`); parsing once saves string work per slot. */
const parsedPeriods = new WeakMap<object, readonly ParsedPeriod[]>();

function periodsOf(tariff: Tariff): readonly ParsedPeriod[] {
  const periods = tariff.touPeriods ?? [];
  let parsed = parsedPeriods.get(periods);
  if (!parsed) {
    parsed = periods.map((p) => ({ fromMin: parseTimeOfDay(p.from), toMin: parseTimeOfDay(p.to), days: p.days ? new Set(p.days) : undefined, eurPerMwh: p.eurPerMwh }));
    parsedPeriods.set(periods, parsed);
  }
  return parsed;
}

/** The ToU energy price at `atMs` from the tariff's periods (first matching period wins), via a LocalClock. */
export function touEnergyAt(tariff: Tariff | undefined, clock: LocalClock, atMs: number): number | undefined {
  if (!tariff?.touPeriods?.length) return undefined;
  const minute = clock.minuteOfDay(atMs);
  const weekday = clock.weekday(atMs);
  const onDay = (p: ParsedPeriod, day: number): boolean => !p.days || p.days.has(day);
  for (const p of periodsOf(tariff)) {
    // As isInDailyWindow: from = to is the whole day; to < from runs over midnight and belongs to its start day.
    if (p.fromMin === p.toMin ? onDay(p, weekday) : p.fromMin < p.toMin ? minute >= p.fromMin && minute < p.toMin && onDay(p, weekday) : (minute >= p.fromMin && onDay(p, weekday)) || (minute < p.toMin && onDay(p, (weekday + 6) % 7))) {
      return p.eurPerMwh;
    }
  }
  return undefined;
}

/**
 * Known spot prices indexed for interval lookups: valid points sorted by start (the later-starting point wins an
 * overlap, as in `spotPriceAt`).
 */
export interface SpotBook {
  /** Time-weighted mean spot price over [startMs, endMs) if known prices cover it entirely. */
  meanOver(startMs: number, endMs: number): number | undefined;
  /**
   * The spot price over [startMs, endMs), or, where no price is known, the price of the same interval 24 h (48 h …)
   * earlier (price persistence). Undefined when neither covers it.
   */
  estimateOver(startMs: number, endMs: number, maxDaysBack: number): { readonly eurPerMwh: number; readonly isKnown: boolean } | undefined;
  /** End of the contiguous known prices starting at or before `atMs`, epoch ms, or `atMs` if none covers it. */
  knownUntil(atMs: number): number;
}

/** Valid price points sorted by start; the input array itself when it already is (the usual case: no copy). */
export function sortedPrices(prices: readonly PricePoint[] | undefined): readonly PricePoint[] {
  const all = prices ?? [];
  let isClean = true;
  for (let i = 0; i < all.length && isClean; i++) {
    const p = all[i] as PricePoint;
    const before = i > 0 ? (all[i - 1] as PricePoint) : undefined;
    if (!(isFiniteNumber(p.startMs) && isFiniteNumber(p.endMs) && isFiniteNumber(p.eurPerMwh) && p.endMs > p.startMs)) isClean = false;
    else if (before && (before.startMs > p.startMs || (before.startMs === p.startMs && before.endMs > p.endMs))) isClean = false;
  }
  if (isClean) return all;
  return all
    .filter((p) => isFiniteNumber(p.startMs) && isFiniteNumber(p.endMs) && isFiniteNumber(p.eurPerMwh) && p.endMs > p.startMs)
    .sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}

export function spotBook(prices: readonly PricePoint[] | undefined): SpotBook {
  const points = sortedPrices(prices);
  /** Index of the last point with startMs ≤ atMs, or −1. */
  const lastStartingBy = (atMs: number): number => {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((points[mid]?.startMs ?? INFINITY) <= atMs) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  };
  /** The point covering atMs (the one that starts last), or undefined. Overlaps are rare: look back a few points. */
  const covering = (atMs: number): PricePoint | undefined => {
    const last = lastStartingBy(atMs);
    for (let i = last; i >= 0 && i > last - 16; i--) {
      const p = points[i];
      if (p && atMs < p.endMs) return p;
    }
    return undefined;
  };
  const meanOver = (startMs: number, endMs: number): number | undefined => {
    let sum = 0;
    let at = startMs;
    while (at < endMs) {
      const p = covering(at);
      if (!p) return undefined;
      const to = min(endMs, p.endMs);
      sum += p.eurPerMwh * (to - at);
      at = to;
    }
    return endMs > startMs ? sum / (endMs - startMs) : undefined;
  };
  return {
    meanOver,
    estimateOver(startMs, endMs, maxDaysBack) {
      const known = meanOver(startMs, endMs);
      if (known !== undefined) return { eurPerMwh: known, isKnown: true };
      for (let d = 1; d <= maxDaysBack; d++) {
        const past = meanOver(startMs - d * DAY_MS, endMs - d * DAY_MS);
        if (past !== undefined) return { eurPerMwh: past, isKnown: false };
      }
      return undefined;
    },
    knownUntil(atMs) {
      let at = atMs;
      for (;;) {
        const p = covering(at);
        if (!p || p.endMs <= at) return at;
        at = p.endMs;
      }
    },
  };
}
