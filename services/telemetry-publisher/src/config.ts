import { CloudConfigError, createGatewayTransport, type SecretEnv } from '@voltimax/cloud';
import { streamRetention } from '@voltimax/contracts';
import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';

/** TELEMETRY keeps readings at least this long (DESIGN § Subjects: retention ≥ 72 h). */
export const MIN_TELEMETRY_MAX_AGE_MS = streamRetention.telemetry.minAgeMs;

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** Reads a file as UTF-8 text; injectable so the schema can be tested without a disk. */
export type { ReadTextFile };

/**
 * The publisher's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * SITE_FILE gives the gateway id and the cloud link (`cloud` block); the secrets it names (e.g. `passwordEnv`) are
 * checked here, so a missing one ends the process with exit 78 before anything connects. Loose object: process.env
 * has many other keys, and the cloud settings name some of them.
 */
export function publisherEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .looseObject({
      /** Path of assets.json: gatewayId and the `cloud` block (transport, broker, platformApiUrl). */
      SITE_FILE: siteFileEnv(readTextFile),
      /** TELEMETRY retention, ms (at least 72 h). */
      TELEMETRY_MAX_AGE_MS: int(
        MIN_TELEMETRY_MAX_AGE_MS,
        streamRetention.telemetry.maxAgeMs,
        streamRetention.telemetry.defaultAgeMs,
      ),
      /** TELEMETRY size cap, bytes; the oldest readings are dropped first (counted and reported as lost). */
      TELEMETRY_MAX_BYTES: int(
        streamRetention.telemetry.minBytes,
        Number.MAX_SAFE_INTEGER,
        streamRetention.telemetry.defaultBytes,
      ),
      /** Frame window in server store time: the live latency is at most this plus FRAME_GRACE_MS, ms. */
      FRAME_INTERVAL_MS: int(100, 600_000, 10_000),
      /** Allowance for clock skew and delivery delay before the current window's frame is closed, ms. */
      FRAME_GRACE_MS: int(0, 60_000, 1_000),
      /** Messages per frame at most. */
      FRAME_MAX_READINGS: int(1, 100_000, 5_000),
      /** Encoded frame (JSON before gzip) at most, bytes; lowered to each transport's own limit. */
      FRAME_MAX_BYTES: int(4 * 1024, 64 * 1024 * 1024, 256 * 1024),
      /** Frames at least this large are sent gzip-compressed, bytes. */
      GZIP_MIN_BYTES: int(0, 64 * 1024 * 1024, 16 * 1024),
      /** Backlog drain rate, readings per second on average (0 = unlimited); live frames always go first. */
      BACKLOG_READINGS_PER_S: int(0, 10_000_000, 5_000),
      /** Backlog burst, readings (token bucket size). */
      BACKLOG_BURST_READINGS: int(1, 10_000_000, 10_000),
      /** Split the backlog off the live lane once it is this many readings behind … */
      BACKLOG_SPLIT_READINGS: int(1, Number.MAX_SAFE_INTEGER, 10_000),
      /** … or its oldest unsent reading is this old, ms. */
      BACKLOG_SPLIT_AGE_MS: int(1_000, 30 * 24 * 3_600_000, 120_000),
      /** Lanes (consumers) at most, the live one included. */
      MAX_LANES: int(1, 32, 4),
      /** Messages per pull request. */
      FETCH_BATCH: int(1, 100_000, 1_000),
      /** Wait between two pulls once a lane has caught up with the stream, ms (adds to the live latency). */
      PULL_INTERVAL_MS: int(10, 60_000, 500),
      /** Messages held in memory per lane at most (must exceed FRAME_MAX_READINGS). */
      LANE_BUFFER_MESSAGES: int(2, 1_000_000, 12_000),
      /** Unacknowledged deliveries per consumer on the server. */
      MAX_ACK_PENDING: int(2, 10_000_000, 50_000),
      /** The server redelivers an unacked message after this long (the publisher ignores such copies), ms. */
      ACK_WAIT_MS: int(1_000, 3_600_000, 60_000),
      /** One send through one transport at most, ms. */
      SEND_TIMEOUT_MS: int(100, 600_000, 30_000),
      /** Backoff after a failed send: first and largest wait, ms. */
      RETRY_MIN_MS: int(10, 600_000, 500),
      RETRY_MAX_MS: int(10, 3_600_000, 30_000),
      /** Confirmed acks and reads by sequence time out after this long, ms. */
      NATS_REQUEST_TIMEOUT_MS: int(100, 60_000, 5_000),
      /** MQTT reconnect backoff of the telemetry link: first and largest wait, ms. */
      MQTT_RECONNECT_MIN_MS: int(10, 600_000, 500),
      MQTT_RECONNECT_MAX_MS: int(10, 3_600_000, 30_000),
      /** Stream info, loss check and backlog metrics, ms. */
      STATS_INTERVAL_MS: int(100, 600_000, 5_000),
      /** A backlog older than this makes the heartbeat `degraded`, ms. */
      DEGRADED_BACKLOG_AGE_MS: int(1_000, 30 * 24 * 3_600_000, 300_000),
    })
    .superRefine((env, ctx) => {
      if (env.LANE_BUFFER_MESSAGES <= env.FRAME_MAX_READINGS) {
        ctx.addIssue({
          code: 'custom',
          path: ['LANE_BUFFER_MESSAGES'],
          message: `must exceed FRAME_MAX_READINGS (${env.FRAME_MAX_READINGS}), or a full buffer could hold no complete frame`,
        });
      }
      if (env.MAX_ACK_PENDING < 2 * env.LANE_BUFFER_MESSAGES) {
        ctx.addIssue({
          code: 'custom',
          path: ['MAX_ACK_PENDING'],
          message: `must be at least 2 × LANE_BUFFER_MESSAGES (${2 * env.LANE_BUFFER_MESSAGES}): after a restart the previous run's unacked messages still count`,
        });
      }
      if (env.RETRY_MAX_MS < env.RETRY_MIN_MS) {
        ctx.addIssue({
          code: 'custom',
          path: ['RETRY_MAX_MS'],
          message: `must be at least RETRY_MIN_MS (${env.RETRY_MIN_MS})`,
        });
      }
      if (env.MQTT_RECONNECT_MAX_MS < env.MQTT_RECONNECT_MIN_MS) {
        ctx.addIssue({
          code: 'custom',
          path: ['MQTT_RECONNECT_MAX_MS'],
          message: `must be at least MQTT_RECONNECT_MIN_MS (${env.MQTT_RECONNECT_MIN_MS})`,
        });
      }
      const site = (env.SITE_FILE as Partial<typeof env.SITE_FILE> | undefined)?.site;
      if (site === undefined) return; // the site file itself was refused (reported on SITE_FILE)
      try {
        // Constructing connects nothing; it checks that the secrets the cloud block names are set.
        createGatewayTransport(site.cloud, secretsOf(env), site.gatewayId);
      } catch (err) {
        if (!(err instanceof CloudConfigError)) throw err;
        for (const problem of err.problems) {
          ctx.addIssue({
            code: 'custom',
            path: ['SITE_FILE'],
            message: `cloud: ${problem.variable} ${problem.message}`,
          });
        }
      }
    })
    .transform((env) => {
      const { SITE_FILE, ...rest } = env;
      return { ...rest, SITE_FILE: SITE_FILE.path, site: SITE_FILE.site, secrets: secretsOf(env) };
    });
}

/** The string variables of the environment: where the cloud block's named secrets are read from. */
function secretsOf(env: Record<string, unknown>): SecretEnv {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (typeof value === 'string') out[key] = value;
  return out;
}

/** The parsed environment plus the validated site configuration. */
export type PublisherEnv = z.output<ReturnType<typeof publisherEnvSchema>>;
