import type { PricePoint } from '@voltimax/strategies';
import type { PriceSeries } from '@voltimax/contracts';

export { PriceSeriesSchema, type PriceSeries } from '@voltimax/contracts';

/** Prices that ended more than this before now are dropped from the state, ms. */
const KEEP_PAST_MS = 24 * 3_600_000;

/**
 * The prices for the site: the points of every series whose zone is the tariff's `priceZone` (every series when the
 * tariff names none), without those that ended more than a day ago, sorted by start.
 */
export function selectPrices(
  series: Iterable<PriceSeries>,
  priceZone: string | undefined,
  nowMs: number,
): PricePoint[] {
  const out: PricePoint[] = [];
  for (const s of series) {
    if (priceZone !== undefined && s.zone !== priceZone) continue;
    for (const p of s.series) if (p.endMs >= nowMs - KEEP_PAST_MS) out.push(p);
  }
  return out.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}
