import type { PricePoint } from '@voltimax/strategies';
import { z } from 'zod';

/**
 * A value in KV `prices` (written by cloud-bridge), one key per price zone (`FR`, `DE-LU`): day-ahead prices for
 * [startMs, endMs) in EUR/MWh (may be negative). Defined here until contracts carries a shared schema.
 */
export const PriceSeriesSchema = z.strictObject({
  v: z.literal(1),
  /** Price zone, e.g. 'FR', 'DE-LU' (the tariff's `priceZone`). */
  zone: z.string().min(1).max(16),
  /** When the series was fetched or published, epoch ms. */
  publishedAtMs: z.number().int().nonnegative().optional(),
  series: z
    .array(
      z
        .strictObject({
          startMs: z.number().int().nonnegative(),
          endMs: z.number().int().nonnegative(),
          eurPerMwh: z.number().finite(),
        })
        .refine((p) => p.endMs > p.startMs, { message: 'endMs must be after startMs' }),
    )
    .max(10_000),
});
export type PriceSeries = z.infer<typeof PriceSeriesSchema>;

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
