import { z } from 'zod';
import { StrategyNameSchema, formatIssues, jsonPath, type SiteConfig, type StrategyName, type ValidationProblem } from '@voltimax/contracts';
import type { Strategy } from './strategy';
import { arbitrageStrategy } from './strategies/arbitrage';
import { backupPowerStrategy } from './strategies/backup-power';
import { chargeStrategy } from './strategies/charge';
import { dischargeStrategy } from './strategies/discharge';
import { evChargingStrategy } from './strategies/ev-charging';
import { gridServicesStrategy } from './strategies/grid-services';
import { netZeroStrategy } from './strategies/net-zero';
import { nullStrategy } from './strategies/null';
import { peakShavingStrategy } from './strategies/peak-shaving';
import { selfConsumptionStrategy } from './strategies/self-consumption';
import { timeOfUseStrategy } from './strategies/time-of-use';

/** Every strategy by its name (StrategyNameSchema in contracts). */
export const strategies = {
  null: nullStrategy,
  charge: chargeStrategy,
  discharge: dischargeStrategy,
  'net-zero': netZeroStrategy,
  'peak-shaving': peakShavingStrategy,
  'time-of-use': timeOfUseStrategy,
  'self-consumption': selfConsumptionStrategy,
  'grid-services': gridServicesStrategy,
  arbitrage: arbitrageStrategy,
  'backup-power': backupPowerStrategy,
  'ev-charging': evChargingStrategy,
} as const;

export type StrategyRegistry = typeof strategies;
/** The parsed config type of strategy K. */
export type ConfigOf<K extends StrategyName> = StrategyRegistry[K] extends Strategy<infer C, infer _M> ? C : never;
/** The memory type of strategy K. */
export type MemoryOf<K extends StrategyName> = StrategyRegistry[K] extends Strategy<infer _C, infer M> ? M : never;
/** Parsed configs by strategy name. */
export type StrategyConfigs = { readonly [K in StrategyName]?: ConfigOf<K> };
/** Memories by strategy name. */
export type StrategyMemories = { readonly [K in StrategyName]?: MemoryOf<K> };

/** The registry entry with its types erased, for code that handles any strategy by name (configs parsed by its schema). */
export function strategyByName(name: StrategyName): Strategy<unknown, unknown> {
  return strategies[name];
}

/** The outcome of parsing one strategy's config block. */
export type ConfigParseResult<C> =
  | { readonly success: true; readonly config: C }
  | { readonly success: false; readonly error: string };

/** Parses a strategy's config block (`strategy.config[name]` of the site config); a missing block takes the defaults. */
export function parseStrategyConfig<K extends StrategyName>(name: K, raw: unknown): ConfigParseResult<ConfigOf<K>> {
  const schema: z.ZodType<ConfigOf<K>> = strategies[name].configSchema as z.ZodType<ConfigOf<K>>;
  const result = schema.safeParse(raw ?? {});
  if (result.success) return { success: true, config: result.data };
  return { success: false, error: `strategy '${name}': invalid configuration\n${z.prettifyError(result.error)}` };
}

/** The site config's `strategy` block, as far as strategies need it. */
export interface StrategySelectionInput {
  readonly active: readonly StrategyName[];
  readonly config?: Readonly<Partial<Record<StrategyName, unknown>>>;
}

/** Parses the config of every active strategy. `errors` lists one message per invalid block (empty when all parse). */
export function parseStrategySelection(selection: StrategySelectionInput): {
  readonly configs: StrategyConfigs;
  readonly errors: readonly string[];
} {
  const configs: Partial<Record<StrategyName, unknown>> = {};
  const errors: string[] = [];
  for (const name of selection.active) {
    const result = parseStrategyConfig(name, selection.config?.[name]);
    if (result.success) configs[name] = result.config;
    else errors.push(result.error);
  }
  return { configs: configs as StrategyConfigs, errors };
}

/**
 * Validates the strategy blocks of a parsed site configuration: every strategy that can run (active, activated
 * by a rule, or configured). A typo in a block is an error with its JSON path, not a silent default (STYLE §6.1).
 */
export function parseSiteStrategies(site: Pick<SiteConfig, 'strategy' | 'rules'> & Partial<Pick<SiteConfig, 'assets'>>): {
  readonly configs: StrategyConfigs;
  readonly problems: readonly ValidationProblem[];
} {
  const names = new Set<StrategyName>(site.strategy.active);
  for (const rule of site.rules) if (rule.then.type === 'activate-strategy') names.add(rule.then.strategy);
  for (const key of Object.keys(site.strategy.config)) {
    const name = StrategyNameSchema.safeParse(key);
    if (name.success) names.add(name.data);
  }
  const configs: Partial<Record<StrategyName, unknown>> = {};
  const problems: ValidationProblem[] = [];
  for (const name of [...names].sort()) {
    const result = strategyByName(name).configSchema.safeParse(site.strategy.config[name] ?? {});
    if (result.success) configs[name] = result.data;
    else problems.push(...formatIssues(result.error.issues.map((issue) => ({ ...issue, path: ['strategy', 'config', name, ...issue.path] }))));
  }
  // Per-charger keys name the site's chargers: a typo would leave a car silently on the default mode.
  const ev = configs['ev-charging'] as { modeByCharger?: Record<string, unknown>; departures?: Record<string, unknown> } | undefined;
  if (ev !== undefined && site.assets !== undefined) {
    const chargers = site.assets.filter((a) => a.kind === 'ev-charger').map((a) => a.id);
    for (const key of ['modeByCharger', 'departures'] as const) {
      for (const assetId of Object.keys(ev[key] ?? {})) {
        if (chargers.includes(assetId)) continue;
        problems.push({
          path: jsonPath(['strategy', 'config', 'ev-charging', key, assetId]),
          message: `'${assetId}' is not an ev-charger of the site (${chargers.length === 0 ? 'it has none' : chargers.join(', ')})`,
        });
      }
    }
  }
  // A reserve above a battery's max SoC can never be reached: the battery would never discharge again (and with
  // restoreFrom 'grid' charge from the grid until full). Before, it was accepted without a word.
  const backup = configs['backup-power'] as { reserveSocPct?: number } | undefined;
  if (backup?.reserveSocPct !== undefined && site.assets !== undefined) {
    const over = site.assets.flatMap((a) =>
      (a.kind === 'battery' || a.kind === 'hybrid-inverter') && a.battery !== undefined && a.battery.maxSocPct < (backup.reserveSocPct ?? 0)
        ? [`${a.id} (${a.battery.maxSocPct} %)`]
        : [],
    );
    if (over.length > 0) {
      problems.push({
        path: jsonPath(['strategy', 'config', 'backup-power', 'reserveSocPct']),
        message: `${backup.reserveSocPct} % is above the maxSocPct of ${over.join(', ')}: it could never be reached, and the battery would never discharge`,
      });
    }
  }
  return { configs: configs as StrategyConfigs, problems };
}
