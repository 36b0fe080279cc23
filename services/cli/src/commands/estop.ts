import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BusValidationError, createBus } from '@voltimax/bus';
import {
  EmergencyStopSchema,
  streams,
  subjects,
  type ArbiterDecision,
  type EmergencyStop,
} from '@voltimax/contracts';
import type { Command } from 'commander';
import { pino } from 'pino';
import { CliExit, cliUser, type CliIo } from '../io';
import { formatEstopLine } from './arbiter-format';
import { connectAsCli, defaultArbiterCliDeps, intOption, type ArbiterCliDeps } from './arbiter-nats';

/** Options of `voltimax estop engage|release`. */
export interface EstopOptions {
  readonly reason: string;
  readonly by?: string;
  /** How long to wait for the arbiter's decisions, ms (text from the command line). */
  readonly waitMs?: string;
  readonly json?: boolean;
}

/** The arbiter's decisions come in one burst; this much silence after the last one ends the wait. */
const QUIET_MS = 400;

/** Exit codes besides 0 (confirmed), 1 (invalid input) and 2 (no connection / bad option). */
export const ESTOP_EXIT = { unconfirmed: 3, refused: 4 } as const;


/** The one JetStream API `estop release` reads with (read-only): `$JS.API.STREAM.MSG.GET.ESTOP`. */
export const ESTOP_READ_PERMISSION = `$JS.API.STREAM.MSG.GET.${streams.estop.name}`;

/**
 * The last message in stream ESTOP — what the safety-arbiter restores its latch from: an engage means the latch is
 * engaged, a release or an empty stream that it is not. `undefined` when the stream cannot be read (no such stream,
 * no permission, no JetStream): the latch is then unknown.
 */
export async function lastEstopRecord(
  nc: NatsConnection,
  timeoutMs = 2_000,
): Promise<EmergencyStop | null | undefined> {
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const last = await jsm.streams.getMessage(streams.estop.name, { last_by_subj: subjects.estop.pattern });
    if (last === null) return null;
    const parsed = EmergencyStopSchema.safeParse(last.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** True if the decision reflects the new latch: the e-stop among its reasons after engage, absent after release. */
export function confirms(action: EmergencyStop['action'], decision: ArbiterDecision): boolean {
  const stopped = decision.violations.some((v) => v.code === 'emergency-stop');
  return action === 'engage' ? stopped && decision.outcome === 'safe' : !stopped;
}

/**
 * `voltimax estop engage|release --reason <text> [--by <who>] [--wait-ms N] [--json]`: publishes `safety.estop` (as
 * the NATS user `cli`), then waits for the safety-arbiter's decisions that follow — on engage every controllable
 * asset at its safe setpoint — and lists them. Exit 0 when the arbiter confirmed, 3 when the message went out but no
 * decision came back in time (is the arbiter running?), 4 when the server refused the publish, 2 when NATS cannot be
 * reached, 1 for an invalid message. A release first reads the last record in stream ESTOP (the arbiter's latch is
 * restored from it): when that is a release, or there is none, it says the e-stop was not engaged, still publishes
 * (harmless: the arbiter ignores it; the audit shows who tried) and exits 0 without waiting for decisions.
 */
export async function estop(
  io: CliIo,
  action: EmergencyStop['action'],
  opts: EstopOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const waitMs = intOption(io, 'estop', '--wait-ms', opts.waitMs, 5_000, 0, 600_000);
  const { nc, source, user } = await connectAsCli(io, deps, 'estop');
  const refused: string[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error' && /permissions violation/i.test(status.error.message))
        refused.push(status.error.message);
    }
  })().catch(() => undefined);
  try {
    const bus = createBus(nc, pino({ level: 'silent' }));
    const seen = new Map<string, ArbiterDecision>();
    let lastAtMs = 0;
    const off = bus.subscribe(subjects.arbiterDecision, (decision) => {
      if (!confirms(action, decision)) return;
      seen.set(decision.assetId, decision);
      lastAtMs = deps.now();
    });
    await nc.flush();
    // Engage never waits for a read; a release first looks whether there is anything to release.
    const before = action === 'release' ? await lastEstopRecord(nc) : undefined;
    const wasEngaged = before === undefined ? undefined : before?.action === 'engage';
    const message: EmergencyStop = { v: 1, action, by: opts.by ?? cliUser(), reason: opts.reason, atMs: deps.now() };
    try {
      bus.publish(subjects.estop, {}, message);
    } catch (err) {
      if (!(err instanceof BusValidationError)) throw err;
      io.stderr(
        `voltimax estop: invalid message: ${err.problems.map((p) => `${p.path.replace(/^\$\./, '--')}: ${p.message}`).join('; ')}\n`,
      );
      throw new CliExit(1);
    }
    await nc.flush();
    const sentAtMs = deps.now();
    // Nothing to release: the arbiter ignores the message, so no decision confirms it and none is waited for (only a
    // moment for the server to refuse the publish).
    if (wasEngaged === false) await deps.delay(QUIET_MS);
    while (wasEngaged !== false && deps.now() - sentAtMs < waitMs && refused.length === 0) {
      if (seen.size > 0 && deps.now() - lastAtMs >= QUIET_MS) break;
      await deps.delay(50);
    }
    off();
    const decisions = [...seen.values()].sort((a, b) => a.assetId.localeCompare(b.assetId));
    if (opts.json) {
      io.stdout(
        `${JSON.stringify({
          published: message,
          refused: refused.length > 0,
          ...(action === 'release' ? { wasEngaged: wasEngaged ?? null, lastRecord: before ?? null } : {}),
          confirmed: decisions,
        })}\n`,
      );
    } else if (refused.length === 0 && wasEngaged === false) {
      io.stdout(
        `e-stop was not engaged (${before ? `last released by ${before.by} at ${new Date(before.atMs).toISOString()}: ${before.reason}` : `stream ${streams.estop.name} holds no e-stop`}): nothing to release; the release by ${message.by} was recorded anyway (published on ${subjects.estop.pattern} to ${source})\n`,
      );
    } else if (refused.length === 0) {
      io.stdout(
        `e-stop ${action === 'engage' ? 'ENGAGED' : 'released'} by ${message.by}: ${message.reason} (published on ${subjects.estop.pattern} to ${source})\n`,
      );
      if (decisions.length > 0) {
        io.stdout(
          `safety-arbiter ${action === 'engage' ? 'put these assets at their safe setpoint' : 'resumed arbitration for these assets'}:\n`,
        );
        for (const decision of decisions) io.stdout(formatEstopLine(decision));
      }
    }
    if (refused.length > 0) {
      io.stderr(
        `voltimax estop: the NATS server refused to let ${user ?? 'this user'} publish ${subjects.estop.pattern}: ${refused[0]}\n`,
      );
      throw new CliExit(ESTOP_EXIT.refused);
    }
    if (decisions.length === 0 && wasEngaged !== false) {
      io.stderr(
        `voltimax estop: published, but no decision from the safety-arbiter within ${waitMs} ms — is it running? Check with 'voltimax monitor'.\n`,
      );
      throw new CliExit(ESTOP_EXIT.unconfirmed);
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Adds `estop engage|release` to the program. */
export function registerEstopCommand(program: Command, io: CliIo, deps?: ArbiterCliDeps): void {
  const command = program
    .command('estop')
    .description(
      'emergency stop: every controllable asset to its safe setpoint until released (NATS_URL, NATS_USER/NATS_PASS)',
    );
  for (const action of ['engage', 'release'] as const) {
    command
      .command(action)
      .description(
        action === 'engage'
          ? 'engage the latched e-stop and wait for the arbiter to confirm the safe setpoints'
          : 'release the e-stop and wait for the arbiter to resume',
      )
      .requiredOption('--reason <text>', 'why (kept in the audit)')
      .option('--by <who>', 'who (default: cli:<login name>)')
      .option('--wait-ms <ms>', 'how long to wait for the arbiter to confirm', '5000')
      .option('--json', 'machine-readable output')
      .action((opts: EstopOptions) => estop(io, action, opts, deps));
  }
}
