import { AssetIdSchema, streamRetention, type SiteConfig } from '@voltimax/contracts';
import { getBatteryEntry } from '@voltimax/devices';
import { DEFAULT_ARBITER_OPTIONS, DEFAULT_STALE_AFTER_POLL_INTERVALS, type ArbiterOptions } from '@voltimax/safety';
import { loadSiteConfig, readUtf8File, siteFileMessages, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';

/** AUDIT keeps decisions at least this long (DESIGN § Data at rest: retention ≥ 72 h). */
export const MIN_AUDIT_MAX_AGE_MS = streamRetention.audit.minAgeMs;

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** `assetId=catalogueId,…`: which battery catalogue entry an asset is, when its profile alone is ambiguous. */
const BatteryModelsSchema = z
  .string()
  .transform((text, ctx): ReadonlyMap<string, string> => {
    const out = new Map<string, string>();
    for (const pair of text
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0)) {
      const [assetId = '', entryId = '', ...rest] = pair.split('=').map((p) => p.trim());
      if (rest.length > 0 || !AssetIdSchema.safeParse(assetId).success || entryId === '') {
        ctx.addIssue({ code: 'custom', message: `'${pair}' is not assetId=catalogueEntryId` });
        continue;
      }
      if (getBatteryEntry(entryId) === undefined) {
        ctx.addIssue({ code: 'custom', message: `'${entryId}' is not in the battery catalogue (libs/devices)` });
        continue;
      }
      out.set(assetId, entryId);
    }
    return out;
  })
  .default(new Map());

/** Reads a file as UTF-8 text; injectable so the schema can be tested without a disk. */
export type { ReadTextFile };

/**
 * The arbiter's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * SITE_FILE is read and validated here, so a missing or invalid assets.json ends the process with exit 78 before
 * anything connects. `z.object`, not strict: process.env has many other keys.
 */
export function arbiterEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .object({
      /** Path of assets.json (the site configuration: assets, their limits, the grid connection). */
      SITE_FILE: z.string().min(1),
      /** Periodic evaluation of every controllable asset, ms (events and deadlines evaluate in between). */
      TICK_MS: int(50, 60_000, 1_000),
      /** Rule option: a reading older than this is stale whatever the asset's poll interval, ms. */
      MAX_TELEMETRY_AGE_MS: int(100, 600_000, DEFAULT_ARBITER_OPTIONS.maxTelemetryAgeMs),
      /** Rule option: a reading is also stale after this many poll intervals of its asset (assets.json). */
      STALE_AFTER_POLL_INTERVALS: z.coerce
        .number()
        .finite()
        .min(1)
        .max(100)
        .default(DEFAULT_STALE_AFTER_POLL_INTERVALS),
      /**
       * The grid meter is taken as frozen (stale) when its values have not changed for this many of its poll
       * intervals; 0 = off. At least 2 when on: two polls between two meter updates are normal. On by default: a live
       * meter's power, voltages and frequency change from one reading to the next, and a frozen one otherwise goes
       * unnoticed while the site runs blind.
       */
      FROZEN_METER_AFTER_POLL_INTERVALS: z.coerce
        .number()
        .finite()
        .max(1_000)
        .refine((n) => n === 0 || n >= 2, 'must be 0 (off) or at least 2')
        .default(30),
      /** Rule option: allowance for other services' clocks running ahead (readings, heartbeats, intents), ms. */
      MAX_CLOCK_SKEW_MS: int(0, 60_000, DEFAULT_ARBITER_OPTIONS.maxClockSkewMs),
      /** Rule option: a driver silent for this many of its heartbeat intervals is lost. */
      MISSED_HEARTBEATS: int(1, 100, DEFAULT_ARBITER_OPTIONS.missedHeartbeats),
      /**
       * Rule option: where the grid connection (import, export, a phase) leaves an EV charger about what it asks for,
       * its last written current is kept while that is inside every limit and less than this many A below the value,
       * A (0 = off): the limit moves with every house-load reading, and the charger would get a new current each
       * time. A cut is always written at once.
       */
      EV_LIMIT_HOLD_A: z.coerce.number().finite().min(0).max(16).default(DEFAULT_ARBITER_OPTIONS.evLimitHoldA),
      /** How long a written setpoint stays valid (DeviceWrite.expiresAtMs − issuedAtMs), ms. */
      SETPOINT_VALIDITY_MS: int(1_000, 3_600_000, 15_000),
      /** Re-assert an unchanged setpoint this long before its validity runs out, ms. */
      REASSERT_MARGIN_MS: int(100, 3_600_000, 5_000),
      /** Per write request, ms. */
      WRITE_TIMEOUT_MS: int(50, 60_000, 1_000),
      /** Attempts per write in total (1 = no retry). */
      WRITE_ATTEMPTS: int(1, 10, 3),
      /** Pause between two attempts of one write, ms. */
      WRITE_RETRY_DELAY_MS: int(0, 60_000, 200),
      /** Smallest gap between two writes to one asset that widen its setpoint, ms (narrowing writes never wait). */
      MIN_WRITE_INTERVAL_MS: int(0, 60_000, 250),
      /** AUDIT retention, ms (at least 72 h). */
      AUDIT_MAX_AGE_MS: int(MIN_AUDIT_MAX_AGE_MS, streamRetention.audit.maxAgeMs, streamRetention.audit.defaultAgeMs),
      /** AUDIT size limit, bytes (the oldest decisions go first). */
      AUDIT_MAX_BYTES: int(streamRetention.audit.minBytes, Number.MAX_SAFE_INTEGER, streamRetention.audit.defaultBytes),
      /** Services whose heartbeats may claim assets (drivers), comma-separated. */
      DRIVER_SERVICES: z
        .string()
        .transform(
          (text) =>
            new Set(
              text
                .split(',')
                .map((s) => s.trim())
                .filter((s) => s.length > 0),
            ) as ReadonlySet<string>,
        )
        .default(new Set(['modbus-poller', 'http-devices', 'ocpp-csms', 'driver-host'])),
      /** `assetId=catalogueEntryId,…` for batteries whose profile maps to several catalogue entries (or none). */
      BATTERY_MODELS: BatteryModelsSchema,
    })
    .superRefine((env, ctx) => {
      if (env.REASSERT_MARGIN_MS >= env.SETPOINT_VALIDITY_MS) {
        ctx.addIssue({
          code: 'custom',
          path: ['REASSERT_MARGIN_MS'],
          message: `must be below SETPOINT_VALIDITY_MS (${env.SETPOINT_VALIDITY_MS})`,
        });
      }
      const worstWriteMs =
        env.WRITE_ATTEMPTS * env.WRITE_TIMEOUT_MS + (env.WRITE_ATTEMPTS - 1) * env.WRITE_RETRY_DELAY_MS;
      if (env.REASSERT_MARGIN_MS <= worstWriteMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['REASSERT_MARGIN_MS'],
          message: `must exceed the longest write with retries (${worstWriteMs} ms), or a setpoint may lapse while it is re-asserted`,
        });
      }
    })
    .transform((env, ctx) => {
      const loaded = loadSiteConfig(env.SITE_FILE, readTextFile);
      if (!loaded.ok) {
        for (const message of siteFileMessages(env.SITE_FILE, loaded)) {
          ctx.addIssue({ code: 'custom', path: ['SITE_FILE'], message });
        }
        return z.NEVER;
      }
      const problem = batteryModelsProblem(loaded.site, env.BATTERY_MODELS, env.SITE_FILE);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['BATTERY_MODELS'], message: problem });
        return z.NEVER;
      }
      return { ...env, site: loaded.site };
    });
}

/** Why BATTERY_MODELS does not fit a site (it names an asset that is not a battery there), or undefined. */
function batteryModelsProblem(
  site: SiteConfig,
  batteryModels: ReadonlyMap<string, string>,
  siteFile: string,
): string | undefined {
  for (const assetId of batteryModels.keys()) {
    const asset = site.assets.find((a) => a.id === assetId);
    if (asset === undefined || (asset.kind !== 'battery' && asset.kind !== 'hybrid-inverter')) {
      return `'${assetId}' is not a battery in ${siteFile}`;
    }
  }
  return undefined;
}

/** The parsed environment plus the validated site configuration. */
export type ArbiterEnv = z.output<ReturnType<typeof arbiterEnvSchema>>;

/**
 * The rule options of `@voltimax/safety` from the environment. The ramp credits at most 1.5 of the longest gap
 * between two widening writes (a tick, or MIN_WRITE_INTERVAL_MS if longer): a ramp keeps its rate through tick
 * jitter, and a setpoint held for seconds earns no step of seconds' worth.
 */
export function ruleOptions(
  env: Pick<
    ArbiterEnv,
    | 'MAX_TELEMETRY_AGE_MS'
    | 'MAX_CLOCK_SKEW_MS'
    | 'MISSED_HEARTBEATS'
    | 'TICK_MS'
    | 'MIN_WRITE_INTERVAL_MS'
    | 'EV_LIMIT_HOLD_A'
  >,
): ArbiterOptions {
  return {
    maxTelemetryAgeMs: env.MAX_TELEMETRY_AGE_MS,
    maxClockSkewMs: env.MAX_CLOCK_SKEW_MS,
    missedHeartbeats: env.MISSED_HEARTBEATS,
    maxRampIntervalMs: Math.ceil(1.5 * Math.max(env.TICK_MS, env.MIN_WRITE_INTERVAL_MS)),
    evLimitHoldA: env.EV_LIMIT_HOLD_A,
  };
}
