import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';

/** Where `npm ci` (root `prepare`) and the service build the UI: services/dashboard/dist-ui. */
export const DEFAULT_UI_DIR = resolve(__dirname, '..', 'dist-ui');

/** Where `voltimax dashboard set-password` writes the hash when DASHBOARD_PASSWORD_FILE is not set. */
export const DEFAULT_PASSWORD_FILE = '/etc/voltimax/dashboard-password';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(fallback);

/**
 * The dashboard's own environment (service-kit reads NATS_URL, NATS_USER=dashboard, NATS_PASS, LOG_LEVEL, …).
 * `z.object`, not strict: process.env has many other keys.
 */
export function dashboardEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .object({
      /** Address the web server binds. 127.0.0.1 in development; on a gateway its LAN interface's address. */
      DASHBOARD_HOST: z.string().min(1).default('127.0.0.1'),
      /** TCP port of the web server (0 = ephemeral, logged at start). */
      DASHBOARD_PORT: int(0, 65_535, 8080),
      /** The scrypt hash written by `voltimax dashboard set-password`; read again at every login. */
      DASHBOARD_PASSWORD_FILE: z.string().min(1).default(DEFAULT_PASSWORD_FILE),
      /** PEM certificate and key: serve HTTPS (and mark the session cookie Secure). Both or neither. */
      DASHBOARD_TLS_CERT_FILE: z.string().min(1).optional(),
      DASHBOARD_TLS_KEY_FILE: z.string().min(1).optional(),
      /** Secure cookie without TLS here, for a TLS-terminating proxy in front (`auto` = only with TLS). */
      DASHBOARD_COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
      /** Extra origins allowed to POST (a proxy's public URL), comma-separated, e.g. `https://gw.example`. */
      DASHBOARD_ALLOWED_ORIGINS: z
        .string()
        .default('')
        .transform((text) =>
          text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
        )
        .pipe(z.array(z.url({ protocol: /^https?$/ }))),
      /** Client address from X-Forwarded-For (only behind a trusted proxy; it decides who gets locked out). */
      DASHBOARD_TRUST_PROXY: bool(false),
      /** The built UI (index.html and assets). Built on start when missing. */
      DASHBOARD_UI_DIR: z.string().min(1).default(DEFAULT_UI_DIR),
      /** Optional assets.json: asset names, which assets to expect, the configured strategies. KV `config` wins. */
      SITE_FILE: siteFileEnv(readTextFile).optional(),
      /** Key of the site configuration in KV `config` (read on start and on every `config.updated`). */
      CONFIG_KV_KEY: z
        .string()
        .regex(/^[A-Za-z0-9_=.-]+$/)
        .default('site'),
      /** Interval of the pushes to the browser, ms. */
      UPDATE_MS: int(200, 60_000, 1_000),
      /** A session ends after this long without a request, and after SESSION_MAX_MS in any case, ms. */
      SESSION_IDLE_MS: int(60_000, 7 * 24 * 3_600_000, 30 * 60_000),
      SESSION_MAX_MS: int(60_000, 30 * 24 * 3_600_000, 12 * 3_600_000),
      /** Wrong passwords in a row from one client address before it is locked out. */
      LOGIN_MAX_FAILURES: int(1, 100, 5),
      /** How long a locked-out address is refused (even with the right password), ms. */
      LOGIN_LOCKOUT_MS: int(1_000, 7 * 24 * 3_600_000, 15 * 60_000),
      /** Login attempts per minute from all clients together; more are refused without checking. */
      LOGIN_MAX_PER_MINUTE: int(1, 10_000, 30),
      /** A reading is stale after max(this, 3 poll intervals of its asset), ms. */
      STALE_AFTER_MS: int(1_000, 3_600_000, 10_000),
      /** Telemetry backlog alarm thresholds (telemetry-publisher heartbeat counters). */
      BACKLOG_ALARM_MESSAGES: int(1, Number.MAX_SAFE_INTEGER, 1_000),
      BACKLOG_ALARM_AGE_MS: int(1_000, 7 * 24 * 3_600_000, 15 * 60_000),
      /** Chart resolution, ms (24 h / 5 min = 288 points). */
      HISTORY_BUCKET_MS: int(10_000, 3_600_000, 5 * 60_000),
      /** Readings read from stream TELEMETRY per asset for the chart at start. */
      HISTORY_SAMPLES_PER_ASSET: int(10, 100_000, 1_440),
      /** Wait for the arbiter's answer to a manual intent, ms. */
      INTENT_TIMEOUT_MS: int(100, 60_000, 5_000),
      /** Browsers connected to the live stream at once. */
      MAX_EVENT_CLIENTS: int(1, 1_000, 16),
    })
    .superRefine((env, ctx) => {
      if ((env.DASHBOARD_TLS_CERT_FILE === undefined) !== (env.DASHBOARD_TLS_KEY_FILE === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['DASHBOARD_TLS_KEY_FILE'],
          message: 'set DASHBOARD_TLS_CERT_FILE and DASHBOARD_TLS_KEY_FILE together',
        });
      }
      for (const key of ['DASHBOARD_TLS_CERT_FILE', 'DASHBOARD_TLS_KEY_FILE'] as const) {
        const file = env[key];
        if (file !== undefined && !existsSync(file))
          ctx.addIssue({ code: 'custom', path: [key], message: `${file} does not exist` });
      }
      if (env.SESSION_IDLE_MS > env.SESSION_MAX_MS) {
        ctx.addIssue({ code: 'custom', path: ['SESSION_IDLE_MS'], message: 'must not exceed SESSION_MAX_MS' });
      }
    });
}

/** The parsed environment. */
export type DashboardEnv = z.output<ReturnType<typeof dashboardEnvSchema>>;

/** Whether the session cookie gets `Secure`. */
export function isCookieSecure(
  env: Pick<DashboardEnv, 'DASHBOARD_COOKIE_SECURE' | 'DASHBOARD_TLS_CERT_FILE'>,
): boolean {
  return env.DASHBOARD_COOKIE_SECURE === 'auto'
    ? env.DASHBOARD_TLS_CERT_FILE !== undefined
    : env.DASHBOARD_COOKIE_SECURE === 'true';
}
