import type { ValidationProblem } from '@voltimax/contracts';
import { DEFAULT_ARBITER_OPTIONS } from '@voltimax/safety';
import { loadSiteConfig, readUtf8File, siteFileMessages, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';
import { configHash } from './config-hash';
import { missingCloudSecrets, validateSite, type ValidSite } from './site-validation';

export type { ReadTextFile };

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** Where day-ahead prices may come from, in order of preference. */
export const PriceSourceNameSchema = z.enum(['platform', 'energy-charts']);
export type PriceSourceName = z.infer<typeof PriceSourceNameSchema>;

const PriceSourcesSchema = z
  .string()
  .transform((text, ctx): PriceSourceName[] => {
    const names = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length === 1 && names[0] === 'none') return [];
    const out: PriceSourceName[] = [];
    for (const name of names) {
      const parsed = PriceSourceNameSchema.safeParse(name);
      if (!parsed.success)
        ctx.addIssue({
          code: 'custom',
          message: `'${name}' is not a price source (platform, energy-charts, or none alone)`,
        });
      else if (!out.includes(parsed.data)) out.push(parsed.data);
    }
    return out;
  })
  .default(['platform', 'energy-charts']);

const TimeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)')
  .transform((text) => ({ hour: Number(text.slice(0, 2)), minute: Number(text.slice(3, 5)) }));

/**
 * The bridge's own environment (service-kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * SITE_FILE is read and fully validated here (schema, device profiles, strategy blocks), and the secrets its cloud
 * block names must be set, so a bad configuration ends the process with exit 78 before anything connects. Loose:
 * the secrets' variable names come from the site file.
 */
export function bridgeEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .looseObject({
      /** assets.json: loaded into KV `config` when that is empty or older; rewritten on every accepted change. */
      SITE_FILE: z.string().min(1),
      /** Key of the site configuration in KV `config` (the strategy-engine reads the same key). */
      CONFIG_KV_KEY: z
        .string()
        .regex(/^[A-Za-z0-9_=.-]+$/)
        .default('site'),
      /** Base URL of the Platform API; overrides the site's `cloud.platformApiUrl`. */
      PLATFORM_API_URL: z.url({ protocol: /^https?$/ }).optional(),
      /** Bearer token for the Platform API (never logged). */
      PLATFORM_API_TOKEN: z.string().min(1).optional(),
      /** Per request to the Platform API or a price provider, ms. */
      PLATFORM_API_TIMEOUT_MS: int(100, 120_000, 10_000),
      /** Configuration poll interval, ms; overrides the site's `cloud.configPollMs` (default 300 000). */
      CONFIG_POLL_MS: z.coerce.number().int().min(1_000).max(86_400_000).optional(),
      /** Price providers in order of preference: `platform`, `energy-charts`, or `none`. */
      PRICE_SOURCES: PriceSourcesSchema,
      /** Base URL of the Energy-Charts API. */
      ENERGY_CHARTS_URL: z.url({ protocol: /^https?$/ }).default('https://api.energy-charts.info'),
      /** Local time (Europe/Berlin) after which tomorrow's day-ahead prices are expected. */
      PRICE_PUBLICATION_TIME: TimeOfDaySchema.default({ hour: 13, minute: 15 }),
      /** First retry delay when prices are missing, ms (doubles per attempt). */
      PRICE_RETRY_MIN_MS: int(1_000, 3_600_000, 60_000),
      /** Longest retry delay when prices are missing, ms. */
      PRICE_RETRY_MAX_MS: int(1_000, 24 * 3_600_000, 1_800_000),
      /** How long SetBatterySetpoint waits for the safety-arbiter's decision, ms. */
      INTENT_TIMEOUT_MS: int(100, 60_000, 5_000),
      /**
       * How far a SetBatterySetpoint's `sentAtMs` may lie ahead of the gateway clock, ms (further: refused); the
       * safety-arbiter's variable of the same name, and its default.
       */
      MAX_CLOCK_SKEW_MS: int(0, 60_000, DEFAULT_ARBITER_OPTIONS.maxClockSkewMs),
    })
    .transform((env, ctx) => {
      const loaded = loadSiteConfig(env.SITE_FILE, readTextFile);
      if (!loaded.ok) {
        for (const message of siteFileMessages(env.SITE_FILE, loaded))
          ctx.addIssue({ code: 'custom', path: ['SITE_FILE'], message });
        return z.NEVER;
      }
      // The schema holds (loadSiteConfig). A file that fails only the other checks (a device profile, a strategy
      // block; a check added by an upgrade) does not stop the bridge: it is how a corrected configuration arrives.
      // The service reports the problems until one is applied.
      const checked = validateSite(loaded.raw, loaded.site.gatewayId);
      const initial: ValidSite = checked.ok
        ? { site: checked.site, hash: checked.hash }
        : { site: loaded.site, hash: configHash(loaded.site) };
      const initialProblems: readonly ValidationProblem[] = checked.ok ? [] : checked.problems;
      const raw = env as Record<string, unknown>;
      for (const { variable } of missingCloudSecrets(initial.site.cloud, raw)) {
        ctx.addIssue({
          code: 'custom',
          path: [variable],
          message: `is not set (named by the cloud block of ${env.SITE_FILE})`,
        });
      }
      if (env.PRICE_RETRY_MIN_MS > env.PRICE_RETRY_MAX_MS) {
        ctx.addIssue({
          code: 'custom',
          path: ['PRICE_RETRY_MAX_MS'],
          message: `must be at least PRICE_RETRY_MIN_MS (${env.PRICE_RETRY_MIN_MS})`,
        });
      }
      const cloud = initial.site.cloud;
      const platformApiUrl = env.PLATFORM_API_URL ?? (cloud.transport === 'none' ? undefined : cloud.platformApiUrl);
      const configPollMs = env.CONFIG_POLL_MS ?? (cloud.transport === 'none' ? 300_000 : cloud.configPollMs);
      return {
        ...env,
        initial,
        initialProblems,
        platformApiUrl,
        configPollMs,
        secrets: raw as Readonly<Record<string, string | undefined>>,
      };
    });
}

export type BridgeEnv = z.output<ReturnType<typeof bridgeEnvSchema>>;
