import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';

export type { ReadTextFile };

const ms = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * The service's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …). SITE_FILE
 * is read and validated here (exit 78 on a bad file); the drivers' modules and options are checked later, per driver,
 * so one bad driver does not stop the others.
 */
export function driverHostEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z.object({
    /** Path of assets.json; relative driver module paths start in its folder. */
    SITE_FILE: siteFileEnv(readTextFile),
    /** One `read` of an asset, ms; longer: an `error` reading, the driver's signal aborted. */
    READ_TIMEOUT_MS: ms(50, 600_000, 5_000),
    /** One `write`, ms; longer: WriteResult `timeout`. */
    WRITE_TIMEOUT_MS: ms(50, 600_000, 5_000),
    /** Loading a driver module and its `start`, ms. */
    START_TIMEOUT_MS: ms(100, 600_000, 20_000),
    /** A driver's `close` on shutdown or restart, ms; then its thread is terminated anyway. */
    CLOSE_TIMEOUT_MS: ms(50, 60_000, 2_000),
    /** How often each driver thread is pinged, ms. */
    PING_INTERVAL_MS: ms(50, 60_000, 1_000),
    /** A driver thread silent this long (a blocked event loop) is terminated and restarted, ms. */
    HANG_TIMEOUT_MS: ms(100, 600_000, 10_000),
    /** This many calls in a row without an answer (promises that never settle) restart the driver. */
    HUNG_AFTER_TIMEOUTS: z.coerce.number().int().min(1).max(1_000).default(3),
    /** Restart backoff of a failed driver: first delay, doubled per failure up to the max, ms. */
    RESTART_MIN_MS: ms(10, 600_000, 1_000),
    RESTART_MAX_MS: ms(10, 3_600_000, 60_000),
    /** Old-generation heap limit of each driver thread, MiB: a leaking driver is restarted, the host lives on. */
    DRIVER_MAX_HEAP_MB: z.coerce.number().int().min(8).max(4_096).default(128),
    /** A pushing asset silent for this many poll intervals gets `stale` (then `error`) readings. */
    STALE_AFTER_INTERVALS: z.coerce.number().int().min(2).max(100).default(3),
  });
}

/** The parsed environment. */
export type DriverHostEnv = z.output<ReturnType<typeof driverHostEnvSchema>>;
