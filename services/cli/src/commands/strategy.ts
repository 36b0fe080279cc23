import { createHash } from 'node:crypto';
import { BusReplyRejectedError, BusRequestFailedError, createBus } from '@voltimax/bus';
import {
  canonicalJson,
  formatIssues,
  kvBuckets,
  SiteConfigSchema,
  StrategyNameSchema,
  subjects,
  type GatewayConfigApplyReply,
  type SiteConfig,
  type StrategyName,
  type ValidationProblem,
} from '@voltimax/contracts';
import { parseSiteStrategies } from '@voltimax/strategies';
import type { Command } from 'commander';
import { pino } from 'pino';
import { CliExit, cliUser, type CliIo } from '../io';
import {
  connectAsCli,
  defaultArbiterCliDeps,
  intOption,
  readRunningConfig,
  type ArbiterCliDeps,
} from './arbiter-nats';
import { siteConfigNotes } from './config-validate';
import { strategyImportHistory, type ImportHistoryOptions } from './strategy-history';

/** Exit codes of `voltimax strategy set`: 0 applied or unchanged, 1 refused, 2 bad input / no connection, 3 no bridge, 4 conflict. */
export const STRATEGY_EXIT = { refused: 1, usage: 2, noBridge: 3, conflict: 4 } as const;

/** Options of `voltimax strategy set`. */
export interface StrategySetOptions {
  /** The strategy's configuration: JSON text, or `@<file>`. */
  readonly config?: string;
  /** Start from this assets.json instead of the running configuration in KV `config`. */
  readonly site?: string;
  readonly reason?: string;
  readonly timeoutMs?: string;
  readonly json?: boolean;
}

/** SHA-256 of the canonical JSON: the hash the cloud-bridge gives the running configuration. */
export function siteHash(site: SiteConfig): string {
  return createHash('sha256').update(canonicalJson(site)).digest('hex');
}

/** Strategies that hold something for the others (a reserve, a peak): dropping one is worth a word. */
const LAYERS: readonly StrategyName[] = ['backup-power', 'peak-shaving'];

/**
 * `<name>` or a combination `a+b+…` (as the backtest takes it) as the active list; a message for a usage error.
 */
export function parseActiveNames(text: string): { readonly names: readonly StrategyName[] } | { readonly error: string } {
  const names: StrategyName[] = [];
  for (const part of text.split('+')) {
    const name = StrategyNameSchema.safeParse(part.trim());
    if (!name.success) return { error: `unknown strategy '${part.trim()}' (known: ${StrategyNameSchema.options.join(', ')}; combine with +)` };
    if (names.includes(name.data)) return { error: `'${name.data}' is named twice` };
    names.push(name.data);
  }
  return { names };
}

/**
 * The configuration with `names` as the active strategies, in that order. With `config`, the block of the one
 * strategy named is replaced by it (with several, `config` maps each strategy to replace to its block); without, the
 * existing blocks (or none: the strategies' defaults) stay. Every strategy block that can run is then checked by its
 * own schema (libs/strategies), as the cloud-bridge will check it.
 */
export function withStrategy(
  base: SiteConfig,
  names: StrategyName | readonly StrategyName[],
  config: Record<string, unknown> | undefined,
):
  | { readonly ok: true; readonly site: SiteConfig }
  | { readonly ok: false; readonly problems: readonly ValidationProblem[] } {
  const active = typeof names === 'string' ? [names] : [...names];
  const blocks = { ...base.strategy.config };
  if (config !== undefined && active.length === 1) blocks[active[0] as StrategyName] = config;
  else if (config !== undefined) {
    const stray = Object.keys(config).filter((key) => !active.includes(key as StrategyName));
    if (stray.length > 0) {
      return {
        ok: false,
        problems: stray.map((key) => ({ path: `--config.${key}`, message: `not one of the strategies named (${active.join(', ')})` })),
      };
    }
    Object.assign(blocks, config);
  }
  const candidate = { ...base, strategy: { ...base.strategy, active, config: blocks } };
  const parsed = SiteConfigSchema.safeParse(candidate);
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
  const { problems } = parseSiteStrategies(parsed.data);
  return problems.length === 0 ? { ok: true, site: parsed.data } : { ok: false, problems };
}


function usage(io: CliIo, message: string): never {
  io.stderr(`voltimax strategy set: ${message}\n`);
  throw new CliExit(STRATEGY_EXIT.usage);
}

async function readConfigOption(io: CliIo, text: string): Promise<Record<string, unknown>> {
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = await io.readFile(text.slice(1));
    } catch (err) {
      usage(io, `cannot read ${text.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    usage(io, `--config is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) usage(io, '--config must be a JSON object');
  return value as Record<string, unknown>;
}

function printProblems(io: CliIo, heading: string, problems: readonly ValidationProblem[]): void {
  io.stderr(`${heading}\n`);
  for (const p of problems) io.stderr(`  ${p.path}: ${p.message}\n`);
}

/**
 * `voltimax strategy set <name> [--config <json|@file>] [--site <file>]`: takes the running configuration (KV `config`,
 * as the strategy-engine reads it, or `--site`), makes `<name>` the active strategy, validates the result like the
 * cloud-bridge does, and sends it on `gateway.config.apply` with the running configuration's hash as its base. The
 * cloud-bridge — the only writer of assets.json and KV `config` — persists and announces it; the strategy-engine
 * switches on `config.updated`.
 */
export async function strategySet(
  io: CliIo,
  nameText: string,
  opts: StrategySetOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const parsedNames = parseActiveNames(nameText);
  if ('error' in parsedNames) usage(io, parsedNames.error);
  const names = parsedNames.names;
  const label = names.join('+');
  const timeoutMs = intOption(io, 'strategy set', '--timeout-ms', opts.timeoutMs, 10_000, 100, 600_000);
  const config = opts.config === undefined ? undefined : await readConfigOption(io, opts.config);

  let fromFile: unknown;
  if (opts.site !== undefined) {
    try {
      fromFile = JSON.parse(await io.readFile(opts.site));
    } catch (err) {
      usage(io, `cannot read ${opts.site}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  const { nc, source } = await connectAsCli(io, deps, 'strategy set');
  try {
    let raw = fromFile;
    let where = opts.site ?? '';
    if (raw === undefined) {
      where = `KV ${kvBuckets.config}/${deps.env['CONFIG_KV_KEY'] || 'site'} at ${source}`;
      try {
        raw = (await readRunningConfig(nc, deps.env)).raw;
      } catch (err) {
        usage(
          io,
          `no running configuration in ${where} (${(err as Error).message}): is the cloud-bridge running? Or give --site <assets.json>`,
        );
      }
    }
    const base = SiteConfigSchema.safeParse(raw);
    if (!base.success) {
      printProblems(
        io,
        `voltimax strategy set: the configuration in ${where} is not valid:`,
        formatIssues(base.error.issues),
      );
      throw new CliExit(STRATEGY_EXIT.usage);
    }
    const next = withStrategy(base.data, names, config);
    if (!next.ok) {
      printProblems(io, `voltimax strategy set: '${label}' with this configuration is not valid:`, next.problems);
      throw new CliExit(STRATEGY_EXIT.refused);
    }

    const bus = createBus(nc, pino({ level: 'silent' }));
    let reply: GatewayConfigApplyReply;
    try {
      reply = await bus.request(
        subjects.gatewayConfigApply,
        {},
        {
          v: 1,
          config: next.site,
          // From the running configuration: applied only if it is still the one read (else `conflict`, read again).
          // From --site: the file replaces whatever runs — the installer's own configuration, not an edit of it.
          ...(fromFile === undefined ? { baseHash: siteHash(base.data) } : {}),
          reason: opts.reason ?? `strategy set ${label}`,
          requestedBy: cliUser(),
          sentAtMs: deps.now(),
        },
        { timeoutMs },
      );
    } catch (err) {
      if (err instanceof BusRequestFailedError) {
        io.stderr(
          `voltimax strategy set: ${err.reason === 'no-responders' ? 'no cloud-bridge answers' : `no answer within ${timeoutMs} ms on`} ${subjects.gatewayConfigApply.pattern} at ${source}: is the cloud-bridge running?\n`,
        );
        throw new CliExit(STRATEGY_EXIT.noBridge);
      }
      if (err instanceof BusReplyRejectedError) {
        io.stderr(`voltimax strategy set: the cloud-bridge refused the request: ${err.reason}\n`);
        throw new CliExit(STRATEGY_EXIT.refused);
      }
      throw err;
    }

    if (opts.json) io.stdout(`${JSON.stringify(reply)}\n`);
    switch (reply.outcome) {
      case 'applied':
        if (!opts.json) {
          const before = base.data.strategy.active;
          io.stdout(
            `active now: ${names.join(', ')} (before: ${before.join(', ') || 'none'}; configuration ${reply.hash ?? '?'}; changed: ${(reply.changedSections ?? []).join(', ') || '-'})\n`,
          );
          for (const dropped of before.filter((n) => LAYERS.includes(n) && !names.includes(n))) {
            io.stdout(
              `note: ${dropped} is no longer active; to keep it, name both: voltimax strategy set ${[...names, dropped].join('+')}\n`,
            );
          }
          if (names.includes('time-of-use') && (next.site.tariff.touPeriods?.length ?? 0) === 0) {
            io.stdout(
              `note: time-of-use idles (reason no-tou-schedule): the site's tariff (kind '${next.site.tariff.kind}') has no touPeriods; add them to the tariff in assets.json, or use arbitrage for spot prices\n`,
            );
          }
          // What `config validate` notes of the strategy blocks (a peak threshold never reached), and of the ToU
          // schedule when time-of-use runs on it.
          for (const note of siteConfigNotes(next.site)) {
            const tou = note.path.startsWith('$.tariff.touPeriods') && names.includes('time-of-use') && (next.site.tariff.touPeriods?.length ?? 0) > 0;
            if (note.path.startsWith('$.strategy') || tou) io.stdout(`note: ${note.path}: ${note.message}\n`);
          }
          io.stdout(
            reply.requiresRestart
              ? 'restart the services to use every change\n'
              : 'the strategy-engine switches now; no restart needed\n',
          );
        }
        return;
      case 'unchanged':
        if (!opts.json)
          io.stdout(
            `${label} with this configuration is already running (configuration ${reply.hash ?? '?'})\n`,
          );
        return;
      case 'rejected':
        printProblems(io, `voltimax strategy set: the cloud-bridge rejected the configuration:`, reply.problems);
        throw new CliExit(STRATEGY_EXIT.refused);
      case 'conflict':
        io.stderr(
          `voltimax strategy set: the configuration changed meanwhile (${reply.error ?? 'conflict'}); run the command again\n`,
        );
        throw new CliExit(STRATEGY_EXIT.conflict);
      case 'failed':
        io.stderr(
          `voltimax strategy set: the cloud-bridge could not persist the configuration: ${reply.error ?? 'unknown error'}\n`,
        );
        throw new CliExit(STRATEGY_EXIT.refused);
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Adds `strategy set` to the program. */
export function registerStrategyCommand(program: Command, io: CliIo, deps?: ArbiterCliDeps): void {
  const strategy = program
    .command('strategy')
    .description('the active strategy of the running gateway (NATS_URL, NATS_USER/NATS_PASS)');
  strategy
    .command('set')
    .description(
      'make <name> the active strategy: validated here, then applied by the cloud-bridge (gateway.config.apply)',
    )
    .argument('<name>', `strategy: ${StrategyNameSchema.options.join(', ')}; several active at once as a+b (e.g. self-consumption+backup-power)`)
    .option(
      '--config <json|@file>',
      "the strategy's configuration block (JSON, or @file; with a+b, an object of blocks by strategy); default: keep the current blocks",
    )
    .option(
      '--site <file>',
      'start from this assets.json instead of the running configuration (KV config): the file, with the strategy set, replaces it',
    )
    .option('--reason <text>', 'why (logged by the cloud-bridge)')
    .option('--timeout-ms <ms>', 'how long to wait for the cloud-bridge', '10000')
    .option('--json', 'print the cloud-bridge reply as JSON')
    .action((name: string, opts: StrategySetOptions) => strategySet(io, name, opts, deps));
  strategy
    .command('import-history')
    .description(
      "commission the planners with the site's past readings (a utility or energy-monitor export), so they do not start blind",
    )
    .argument('<csv>', 'timestamp,net_w[,grid_w] (W; grid + import), or the backtest series timestamp,load_w,pv_w,price_eur_per_mwh')
    .option('--replace', 'overwrite the days the engine has already learned itself')
    .option('--timeout-ms <ms>', 'how long to wait for the strategy-engine', '10000')
    .option('--json', 'print the strategy-engine reply as JSON')
    .action((file: string, opts: ImportHistoryOptions) => strategyImportHistory(io, file, opts, deps));
}
