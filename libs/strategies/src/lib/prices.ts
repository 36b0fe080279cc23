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
