import { createHash } from 'node:crypto';
import {
  formatIssues,
  SiteConfigSchema,
  type SiteConfig,
  type StrategyName,
  type ValidationProblem,
} from '@voltimax/contracts';
import { loadSiteConfig, readUtf8File, type ReadTextFile } from '@voltimax/service-kit';
import {
  AutomationOptionsSchema,
  parseSiteStrategies,
  type AutomationOptions,
  type StrategyConfigs,
} from '@voltimax/strategies';
import { z } from 'zod';

/** Reads a file as UTF-8 text; injectable so the schema can be tested without a disk. */
export type { ReadTextFile };

/** Default staleness budget of a telemetry reading, ms (the strategies' own default, DEFAULT_MAX_READING_AGE_MS). */
export const DEFAULT_MAX_TELEMETRY_AGE_MS = 15_000;

/**
 * The engine's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * SITE_FILE is read and validated here, strategy blocks included, so a missing or invalid assets.json ends the
 * process with exit 78 (through service-kit) before anything connects. `z.object`, not strict: process.env has many
 * other keys.
 */
export function engineEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .object({
      /** Path of assets.json: the configuration until (and unless) KV `config` holds a valid one. */
      SITE_FILE: z.string().min(1),
      /** Redis for strategy memories and last setpoints (5-minute TTL). Without it the engine starts fresh. */
      REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
      /** Lifetime of the engine's intents, ms. Default: 3 × the configured tick. */
      INTENT_TTL_MS: z.coerce.number().int().min(200).max(3_600_000).optional(),
      /** A reading older than this is stale for the strategies (they hold 0 W), ms. */
      MAX_TELEMETRY_AGE_MS: z.coerce.number().int().min(100).max(3_600_000).default(DEFAULT_MAX_TELEMETRY_AGE_MS),
      /** Key of the site configuration in KV `config`. */
      CONFIG_KV_KEY: z
        .string()
        .regex(/^[A-Za-z0-9_=.-]+$/)
        .default('site'),
    })
    .transform((env, ctx) => {
      const loaded = loadSiteFile(env.SITE_FILE, readTextFile);
      if (!loaded.ok) {
        for (const problem of loaded.problems) {
          ctx.addIssue({ code: 'custom', path: ['SITE_FILE'], message: `${problem.path}: ${problem.message}` });
        }
        return z.NEVER;
      }
      return { ...env, engineConfig: loaded.config };
    });
}

/** The parsed environment plus the validated configuration from SITE_FILE. */
export type EngineEnv = z.output<ReturnType<typeof engineEnvSchema>>;

/** Everything the tick needs from the site configuration, validated once at the edge. */
export interface EngineConfig {
  readonly site: SiteConfig;
  /** Parsed configs of every strategy that is active, may be activated by a rule, or has a block. */
  readonly configs: StrategyConfigs;
  /** Per-rule options (source, hold time, intent lifetime), taken from each rule of the site config. */
  readonly automation: AutomationOptions;
  /** SHA-256 of the parsed configuration, lower-case hex: a switch to an identical configuration is a no-op. */
  readonly hash: string;
  /** Per strategy, a hash of its parsed config: a memory is kept across a switch only when it is unchanged. */
  readonly configHashes: Readonly<Partial<Record<StrategyName, string>>>;
}

/** Either a usable configuration or every problem with its JSON path. */
export type ConfigOutcome =
  | { readonly ok: true; readonly config: EngineConfig }
  | { readonly ok: false; readonly problems: readonly ValidationProblem[] };

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Validates a site configuration for the engine: the contracts' SiteConfigSchema, then the block of every strategy
 * that can run (active, activated by a rule, or configured). A typo in a strategy block is an error, not a silent
 * default (STYLE §6.1).
 */
export function parseEngineConfig(raw: unknown): ConfigOutcome {
  const parsed = SiteConfigSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
  return engineConfigOf(parsed.data);
}

/** The engine's configuration from a site that already passed SiteConfigSchema: strategy blocks, rules, hashes. */
function engineConfigOf(site: SiteConfig): ConfigOutcome {
  const { configs, problems } = parseSiteStrategies(site);
  const configHashes: Partial<Record<StrategyName, string>> = {};
  for (const [name, config] of Object.entries(configs) as [StrategyName, unknown][]) configHashes[name] = sha256(JSON.stringify(config));
  if (problems.length > 0) return { ok: false, problems };

  // Per-rule options travel with each rule in the site config.
  const automation = AutomationOptionsSchema.parse({
    rules: Object.fromEntries(site.rules.map((rule) => [rule.id, { source: rule.source, forMs: rule.forMs, ttlMs: rule.ttlMs }])),
  });
  return {
    ok: true,
    config: {
      site,
      configs,
      automation,
      hash: sha256(JSON.stringify({ site, automation })),
      configHashes,
    },
  };
}

/** Reads and validates assets.json (service-kit), then the engine's strategy blocks; never throws. */
export function loadSiteFile(path: string, readTextFile: ReadTextFile): ConfigOutcome {
  const loaded = loadSiteConfig(path, readTextFile);
  return loaded.ok ? engineConfigOf(loaded.site) : { ok: false, problems: loaded.problems };
}

/**
 * Intent lifetime: INTENT_TTL_MS when set, else three ticks (so one lost tick does not expire the intent) — and never
 * under two ticks: an INTENT_TTL_MS of 300 ms with 1-s ticks let every intent lapse between ticks (the arbiter then
 * fell back to its safe set-point in the gaps), and a switch to a longer tick could do the same to a valid value.
 */
export function intentTtlMs(env: Pick<EngineEnv, 'INTENT_TTL_MS'>, tickMs: number): number {
  return Math.max(env.INTENT_TTL_MS ?? 3 * tickMs, 2 * tickMs);
}
