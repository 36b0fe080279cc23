import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';

/** Which slice of the assets this instance drives: `index` of `count` instances (POLLER_SHARD=index/count). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

const ShardSchema = z
  .string()
  .regex(/^\d{1,3}\/\d{1,3}$/, 'must be index/count, e.g. 0/2')
  .transform((text, ctx): Shard => {
    const [index = 0, count = 1] = text.split('/').map(Number);
    if (count < 1 || index >= count) {
      ctx.addIssue({ code: 'custom', message: `index must be below count (0 ≤ index < count), got ${text}` });
      return z.NEVER;
    }
    return { index, count };
  });

const ms = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** Reads a file as UTF-8 text; injectable so the schema can be tested without a disk. */
export type { ReadTextFile };

/**
 * The poller's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * SITE_FILE is read and validated here, so a missing or invalid assets.json ends the process with exit 78
 * (through service-kit) before anything connects, listed with every other bad variable. `z.object`, not strict: process.env has many other keys.
 */
export function pollerEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .object({
      /** Path of assets.json (the site configuration), read and validated here. */
      SITE_FILE: siteFileEnv(readTextFile),
      /** `index/count`: this instance drives the assets whose shard key hashes to `index` (see assets.ts). */
      POLLER_SHARD: ShardSchema.default({ index: 0, count: 1 }),
      /** Per Modbus request on the wire, ms. */
      MODBUS_TIMEOUT_MS: ms(50, 60_000, 1_000),
      /** Attempts per poll read in total (writes always get one attempt: the arbiter waits for the reply). */
      MODBUS_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(2),
      /** Failed attempts in a row that open a unit's circuit breaker. */
      MODBUS_BREAKER_FAILURES: z.coerce.number().int().min(1).max(1_000).default(5),
      /** Cool-down of an open breaker before one probe request, ms. */
      MODBUS_BREAKER_HALF_OPEN_MS: ms(10, 600_000, 10_000),
      /** Upper bound of the reconnect backoff per endpoint, ms. */
      MODBUS_RECONNECT_MAX_MS: ms(10, 600_000, 10_000),
      /** A reading whose last good value is older than this many poll intervals is published as `stale`. */
      STALE_AFTER_INTERVALS: z.coerce.number().int().min(2).max(100).default(3),
    })
    .transform(({ SITE_FILE, ...env }) => ({ ...env, SITE_FILE: SITE_FILE.path, site: SITE_FILE.site }));
}

/** The parsed environment plus the validated site configuration. */
export type PollerEnv = z.output<ReturnType<typeof pollerEnvSchema>>;
