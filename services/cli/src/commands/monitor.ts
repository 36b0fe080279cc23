// The NATS client is used directly (not connectBus) so an unreachable server fails within the timeout instead of
// waiting forever: a command line tool must say "cannot connect" and exit.
import { connect } from '@nats-io/transport-node';
import { createBus, droppedTotal, type Bus } from '@voltimax/bus';
import { inboxPrefixFor, subjects, type ArbiterDecision } from '@voltimax/contracts';
import { pino } from 'pino';
import { CliExit, type CliIo } from '../io';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { isInForce } from './arbiter-format';
import { IN_FORCE_WITHIN, findInForceDecision, type InForceDecision } from './arbiter-why';
import { emptyMonitorState, noteIntent, renderMonitor, type MonitorState } from './monitor-view';
import { renderSiteStatus, siteStatusLine, type SupervisedProcess } from './site-status';

/** A live connection the monitor reads from. */
export interface MonitorConnection {
  readonly bus: Bus;
  close(): Promise<void>;
  /**
   * The arbiter's decision in force for an asset from stream AUDIT, when the decisions seen say nothing in force
   * (superseded, refused) or none came (a steady manual intent publishes none while the strategy's keep being
   * superseded); undefined if none or unreadable.
   */
  inForce?(assetId: string): Promise<ArbiterDecision | undefined>;
}

/** The outside world of `voltimax monitor`, injectable for tests. */
export interface MonitorDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly connect: (opts: {
    servers: string[];
    user?: string;
    pass?: string;
    timeoutMs: number;
  }) => Promise<MonitorConnection>;
  readonly now: () => number;
  readonly delay: (ms: number) => Promise<void>;
  /** Resolves when the user asks to stop (Ctrl-C). */
  readonly interrupted: () => Promise<void>;
  /** Whether stdout is a terminal (the live view then redraws in place). */
  readonly isTty: boolean;
  /** Reads the supervisor's state file of `--supervisor` (undefined when it does not exist yet). */
  readonly readText: (file: string) => string | undefined;
}

export interface MonitorOptions {
  /** Print one snapshot after the collection window and exit. */
  readonly once?: boolean;
  /** Collection window of `--once`, ms. */
  readonly windowMs?: string;
  /** Redraw interval of the live view, ms. */
  readonly intervalMs?: string;
  /** The compact one-screen status of `npm start` instead of the full monitor. */
  readonly status?: boolean;
  /** With --status: one line per interval (for logs) instead of a screen. */
  readonly line?: boolean;
  /** With --status: the supervisor's state file (written by `npm start`) listing its processes. */
  readonly supervisor?: string;
  /** Every input, output and term of each decision, not the first six (`+N` for the rest). */
  readonly allTerms?: boolean;
}

/** The state file `npm start` (tools/start.js) writes for `--supervisor`. */
const SupervisorFileSchema = z.object({
  processes: z.array(
    z.object({
      name: z.string(),
      state: z.enum(['running', 'restarting', 'stopped', 'refused-config']),
      restarts: z.number().int().nonnegative(),
      sinceMs: z.number(),
    }),
  ),
  /** Recent warnings and errors from the services' logs, newest last. */
  recent: z.array(z.string()).default([]),
});
type SupervisorFile = z.infer<typeof SupervisorFileSchema>;

/** The supervisor's file, or what the heartbeats show when there is none (or it is unreadable). */
export function supervisedProcesses(
  state: MonitorState,
  text: string | undefined,
): { processes: SupervisedProcess[]; recent: string[]; problem?: string } {
  if (text !== undefined) {
    try {
      const parsed: SupervisorFile = SupervisorFileSchema.parse(JSON.parse(text));
      return { processes: parsed.processes, recent: parsed.recent };
    } catch (err) {
      const problem = `supervisor file unreadable: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      return { ...supervisedProcesses(state, undefined), problem };
    }
  }
  const processes = [...state.health.values()]
    .sort((a, b) => a.service.localeCompare(b.service))
    .map((h): SupervisedProcess => ({ name: h.service, state: 'running', restarts: 0, sinceMs: h.startedAtMs }));
  return { processes, recent: [] };
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

async function natsConnect(opts: {
  servers: string[];
  user?: string;
  pass?: string;
  timeoutMs: number;
}): Promise<MonitorConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: 'voltimax-monitor',
    user: opts.user,
    pass: opts.pass,
    ...(inboxPrefixFor(opts.user) === undefined ? {} : { inboxPrefix: inboxPrefixFor(opts.user) }),
    timeout: opts.timeoutMs,
    maxReconnectAttempts: -1,
  });
  // The last answer per asset: the next lookup reads only the decisions that came since.
  const known = new Map<string, InForceDecision>();
  return {
    bus: createBus(nc, pino({ level: 'silent' })),
    close: () => nc.close(),
    inForce: async (assetId) => {
      try {
        const before = known.get(assetId);
        const found = await findInForceDecision(nc, assetId, {
          timeoutMs: 2_000,
          within: IN_FORCE_WITHIN,
          ...(before === undefined ? {} : { known: before }),
        });
        if (found === undefined) known.delete(assetId);
        else known.set(assetId, found);
        return found?.decision;
      } catch {
        return undefined;
      }
    },
  };
}

/** Telemetry kinds the arbiter may command: a row of one of them without any decision is looked up in AUDIT. */
const COMMANDED_KINDS: ReadonlySet<string> = new Set(['battery', 'hybrid-inverter', 'ev-charger', 'pv-inverter']);

/**
 * Replaces each held decision that says nothing in force (superseded, refused) by the one in force from AUDIT, when
 * the connection can look it up, and fills it in for a commanded asset with no decision at all (a steady intent, e.g.
 * a charger held by a manual limit, publishes none); at most once per asset every `everyMs`.
 */
async function fillInForce(
  state: MonitorState,
  connection: MonitorConnection,
  looked: Map<string, number>,
  nowMs: number,
  everyMs: number,
): Promise<void> {
  const lookup = connection.inForce;
  if (lookup === undefined) return;
  const lacking = (assetId: string) => {
    const held = state.arbiter.get(assetId);
    return held === undefined || !isInForce(held);
  };
  const candidates = new Set([
    ...[...state.arbiter.values()].filter((d) => !isInForce(d)).map((d) => d.assetId),
    ...[...state.telemetry.values()].filter((r) => COMMANDED_KINDS.has(r.kind)).map((r) => r.assetId),
  ]);
  const due = [...candidates].filter(
    (assetId) => lacking(assetId) && nowMs - (looked.get(assetId) ?? Number.NEGATIVE_INFINITY) >= everyMs,
  );
  await Promise.all(
    due.map(async (assetId) => {
      looked.set(assetId, nowMs);
      const inForce = await lookup(assetId);
      // Only if nothing newer in force came in meanwhile.
      if (inForce !== undefined && lacking(assetId)) state.arbiter.set(assetId, inForce);
    }),
  );
}

function defaultDeps(): MonitorDeps {
  return {
    env: process.env,
    connect: natsConnect,
    now: Date.now,
    delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    interrupted: () => new Promise((resolve) => process.once('SIGINT', () => resolve())),
    isTty: process.stdout.isTTY === true,
    readText: (file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}

function positiveInt(text: string | undefined, fallback: number, name: string, io: CliIo): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 50 || value > 600_000) {
    io.stderr(`voltimax monitor: ${name} must be an integer between 50 and 600000 (ms), got '${text}'\n`);
    throw new CliExit(2);
  }
  return value;
}

/** Subscribe to everything the view shows; returns the state the handlers fill and an unsubscribe. */
export function collect(bus: Bus): { readonly state: MonitorState; stop(): void } {
  const state = emptyMonitorState();
  const offs = [
    bus.subscribe(subjects.telemetry, (r) => void state.telemetry.set(r.assetId, r)),
    // Every source's subject; a payload claiming another source or asset than its subject is not shown (the arbiter
    // refuses it: source-mismatch, asset-mismatch).
    bus.subscribe(subjects.intent, (i, ctx) => {
      if (i.source === ctx.params.source && i.assetId === ctx.params.assetId) noteIntent(state, i);
      else state.sourceMismatches += 1;
    }),
    // What is in force: a lower-priority intent superseded while a manual one holds, or one refused at the door, says
    // nothing about the asset.
    bus.subscribe(subjects.arbiterDecision, (d) => {
      const held = state.arbiter.get(d.assetId);
      if (!isInForce(d) && held !== undefined && isInForce(held)) return;
      state.arbiter.set(d.assetId, d);
    }),
    bus.subscribe(subjects.strategyDecision, (d) => void state.decisions.set(d.strategy, d)),
    bus.subscribe(subjects.health, (h) => void state.health.set(h.service, h)),
  ];
  return {
    state,
    stop: () => offs.forEach((off) => off()),
  };
}

/**
 * `voltimax monitor [--once] [--window-ms N] [--interval-ms N] [--all-terms]`: a live view of the gateway from the bus (user `cli`
 * from NATS_USER/NATS_PASS, server from NATS_URL). `--once` prints one snapshot after the window and exits 0.
 * Exit 2 when NATS cannot be reached or an option is invalid.
 */
export async function monitor(io: CliIo, opts: MonitorOptions, deps: MonitorDeps = defaultDeps()): Promise<void> {
  const windowMs = positiveInt(opts.windowMs, 6_000, '--window-ms', io);
  const intervalMs = positiveInt(opts.intervalMs, 1_000, '--interval-ms', io);
  const url = deps.env['NATS_URL'] || 'nats://127.0.0.1:4222';
  const pass = deps.env['NATS_PASS'] || undefined;
  const user = deps.env['NATS_USER'] || (pass ? 'cli' : undefined);

  let connection: MonitorConnection;
  try {
    connection = await deps.connect({ servers: url.split(',').map((s) => s.trim()), user, pass, timeoutMs: 5_000 });
  } catch (err) {
    io.stderr(
      `voltimax monitor: cannot connect to NATS at ${url}${user ? ` as ${user}` : ''}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    throw new CliExit(2);
  }
  const source = `${url}${user ? ` as ${user}` : ''}`;
  const feed = collect(connection.bus);
  const draw = (extra: { windowMs?: number } = {}): string => {
    feed.state.dropped = droppedTotal(connection.bus.stats().totals);
    if (opts.status) {
      const now = deps.now();
      const supervised = supervisedProcesses(feed.state, opts.supervisor ? deps.readText(opts.supervisor) : undefined);
      if (opts.line) return siteStatusLine(feed.state, supervised.processes, now);
      const recent = supervised.recent.slice(-8);
      return [
        renderSiteStatus(feed.state, supervised.processes, now),
        ...(supervised.problem ? [`(${supervised.problem})\n`] : []),
        ...(recent.length > 0 ? ['\nrecent warnings\n', ...recent.map((l) => `  ${l}\n`)] : []),
        opts.supervisor ? `\nCtrl-C stops the gateway · logs: ${join(dirname(opts.supervisor), 'logs')}/\n` : '',
      ].join('');
    }
    return renderMonitor(feed.state, deps.now(), {
      source,
      ...(opts.allTerms ? { maxTerms: Number.POSITIVE_INFINITY } : {}),
      ...extra,
    });
  };
  const looked = new Map<string, number>();
  try {
    if (opts.once) {
      await deps.delay(windowMs);
      await fillInForce(feed.state, connection, looked, deps.now(), 0);
      io.stdout(draw({ windowMs }));
      return;
    }
    let stopped = false;
    const interrupted = deps.interrupted().then(() => {
      stopped = true;
    });
    while (!stopped) {
      await fillInForce(feed.state, connection, looked, deps.now(), 5_000);
      io.stdout(deps.isTty ? CLEAR_SCREEN + draw() : `${draw()}\n`);
      await Promise.race([deps.delay(intervalMs), interrupted]);
    }
  } finally {
    feed.stop();
    await connection.close().catch(() => undefined);
  }
}
