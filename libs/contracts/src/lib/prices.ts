import { z } from 'zod';
import { EpochMsSchema } from './common';

/**
 * A value in KV `prices` (written by cloud-bridge, read by strategy-engine), one key per price zone (`FR`,
 * `DE-LU`): day-ahead prices for [startMs, endMs) in EUR/MWh (may be negative).
 */
export const PriceSeriesSchema = z.strictObject({
  v: z.literal(1),
  /** Price zone, e.g. 'FR', 'DE-LU' (the tariff's `priceZone`). */
  zone: z.string().min(1).max(16),
  /** When the series was fetched or published, epoch ms. */
  publishedAtMs: EpochMsSchema.optional(),
  series: z
    .array(
      z
        .strictObject({ startMs: EpochMsSchema, endMs: EpochMsSchema, eurPerMwh: z.number().finite() })
        .refine((p) => p.endMs > p.startMs, { message: 'endMs must be after startMs' }),
    )
    .max(10_000),
});
export type PriceSeries = z.infer<typeof PriceSeriesSchema>;
