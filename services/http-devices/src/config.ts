import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';
import { planAssets, type AssetPlan } from './assets';

export type { ReadTextFile };

const ms = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const count = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * The service's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …). SITE_FILE
 * is read and validated here, and so are the secrets the site names (API tokens, broker credentials: looked up by
 * variable name), so a missing one ends the process with exit 78 before anything connects. A loose object: the
 * secrets are variables this schema does not list.
 */
export function httpDevicesEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .looseObject({
      /** Path of assets.json (the site configuration). */
      SITE_FILE: siteFileEnv(readTextFile),
      /** One HTTP request (connect, send, whole response), ms. */
      HTTP_TIMEOUT_MS: ms(50, 60_000, 2_000),
      /** Attempts per poll request in total (writes get one: the arbiter waits for the reply). */
      HTTP_RETRY_ATTEMPTS: count(1, 10, 2),
      /** Failed attempts in a row (timeouts, refused connections, HTTP 5xx) that open an asset's circuit breaker. */
      HTTP_BREAKER_FAILURES: count(1, 1_000, 5),
      /** Cool-down of an open breaker before one probe request, ms. */
      HTTP_BREAKER_HALF_OPEN_MS: ms(10, 600_000, 10_000),
      /** Largest response body accepted, bytes (a device answering more is broken). */
      HTTP_MAX_BODY_BYTES: count(1_024, 16 * 1024 * 1024, 256 * 1024),
      /** Default broker for MQTT assets without `brokerUrl`. */
      MQTT_URL: z
        .string()
        .regex(/^(mqtts?|wss?):\/\/\S+$/, 'must start with mqtt://, mqtts://, ws:// or wss://')
        .optional(),
      /** MQTT version spoken with the default broker (assets may name their own). */
      MQTT_VERSION: z.enum(['3.1.1', '5.0']).default('3.1.1'),
      /** Credentials for the default broker (never logged). */
      MQTT_USERNAME: z.string().min(1).optional(),
      MQTT_PASSWORD: z.string().min(1).optional(),
      /** Bound on one broker connection attempt, ms; mqtt.js reconnects every MQTT_RECONNECT_MS after a loss. */
      MQTT_CONNECT_TIMEOUT_MS: ms(100, 120_000, 5_000),
      MQTT_RECONNECT_MS: ms(100, 600_000, 2_000),
      /** How long an MQTT write waits for the device's status to confirm it, ms. */
      MQTT_CONFIRM_TIMEOUT_MS: ms(50, 120_000, 5_000),
      /** A reading whose newest data is older than this many poll intervals is published as `stale`. */
      STALE_AFTER_INTERVALS: count(2, 100, 3),
    })
    .transform((raw, ctx) => {
      const env = raw as Record<string, unknown>;
      const strings: Record<string, string | undefined> = {};
      for (const [key, value] of Object.entries(env)) if (typeof value === 'string') strings[key] = value;
      const plan: AssetPlan = planAssets(raw.SITE_FILE.site, strings, {
        url: raw.MQTT_URL,
        mqttVersion: raw.MQTT_VERSION,
        ...(raw.MQTT_USERNAME === undefined ? {} : { username: raw.MQTT_USERNAME }),
        ...(raw.MQTT_PASSWORD === undefined ? {} : { password: raw.MQTT_PASSWORD }),
      });
      for (const problem of plan.problems)
        ctx.addIssue({ code: 'custom', path: [problem.variable], message: problem.message });
      if (plan.problems.length > 0) return z.NEVER;
      return {
        SITE_FILE: raw.SITE_FILE.path,
        site: raw.SITE_FILE.site,
        plan,
        HTTP_TIMEOUT_MS: raw.HTTP_TIMEOUT_MS,
        HTTP_RETRY_ATTEMPTS: raw.HTTP_RETRY_ATTEMPTS,
        HTTP_BREAKER_FAILURES: raw.HTTP_BREAKER_FAILURES,
        HTTP_BREAKER_HALF_OPEN_MS: raw.HTTP_BREAKER_HALF_OPEN_MS,
        HTTP_MAX_BODY_BYTES: raw.HTTP_MAX_BODY_BYTES,
        MQTT_URL: raw.MQTT_URL,
        MQTT_VERSION: raw.MQTT_VERSION,
        MQTT_CONNECT_TIMEOUT_MS: raw.MQTT_CONNECT_TIMEOUT_MS,
        MQTT_RECONNECT_MS: raw.MQTT_RECONNECT_MS,
        MQTT_CONFIRM_TIMEOUT_MS: raw.MQTT_CONFIRM_TIMEOUT_MS,
        STALE_AFTER_INTERVALS: raw.STALE_AFTER_INTERVALS,
      };
    });
}

/** The parsed environment: settings, the validated site and the asset plan (with secrets resolved). */
export type HttpDevicesEnv = z.output<ReturnType<typeof httpDevicesEnvSchema>>;
