import { z } from 'zod';
import { EpochMsSchema } from './common';

/** Power of a past reading, W (a household or a site: well inside ±10 MW). */
const PastPowerSchema = z.number().finite().min(-10_000_000).max(10_000_000);

/**
 * `gateway.strategy.history.import` (request): commission the strategy engine with the site's past readings (the
 * utility's quarter-hour export, a home energy monitor), so its planners do not start blind — the month's peak, the
 * last days as scenarios, the learned profile. Each reading holds from `atMs` until the next; the engine learns from
 * the last seven days of them (a reading holds at most two hours when the next is later). By default refused when the
 * engine already has a complete day of readings.
 */
export const StrategyHistoryImportRequestSchema = z.strictObject({
  v: z.literal(1),
  /**
   * At least two readings, in any order; at most 10 000, which keeps a request under NATS's 1 MB payload limit (the
   * engine learns from the last seven days: a week of 15-min readings is 672, of one-minute readings 10 080).
   */
  readings: z
    .array(
      z.strictObject({
        atMs: EpochMsSchema,
        /** Net demand (load + EV − PV), W. */
        netW: PastPowerSchema,
        /** Grid power, W (+ import); default netW (no battery then). */
        gridW: PastPowerSchema.optional(),
      }),
    )
    .min(2)
    .max(10_000),
  /** Replace what the engine has learned itself (default: refuse when it holds a day of its own). */
  replace: z.boolean().optional(),
  /** Who asked (e.g. `cli:alice`). */
  requestedBy: z.string().min(1).max(128),
  sentAtMs: EpochMsSchema,
});
export type StrategyHistoryImportRequest = z.infer<typeof StrategyHistoryImportRequestSchema>;

/**
 * `gateway.strategy.history.import` (reply). `imported`: learned and handed to the planners (`saved`: also kept in KV
 * `strategy-history`); `refused`: the engine already has its own history and `replace` was not set, or the readings
 * are for another site's time (`reason`).
 */
export const StrategyHistoryImportReplySchema = z.strictObject({
  v: z.literal(1),
  outcome: z.enum(['imported', 'refused']),
  reason: z.string().max(500).optional(),
  /** Days of readings the engine holds after the request (0–7). */
  days: z.number().int().min(0).max(7),
  /** The highest 15-min import of `monthKey` it holds, W. */
  monthPeakW: z.number().finite().min(0),
  /** The local month ('YYYY-MM') of monthPeakW; null before any reading. */
  monthKey: z
    .string()
    .regex(/^\d{4}-\d{2}$/)
    .nullable()
    .optional(),
  saved: z.boolean(),
  atMs: EpochMsSchema,
});
export type StrategyHistoryImportReply = z.infer<typeof StrategyHistoryImportReplySchema>;
