import { randomUUID } from 'node:crypto';
import { BusReplyRejectedError, BusRequestFailedError, BusValidationError, createBus, type Bus } from '@voltimax/bus';
import {
  AssetIdSchema,
  intentParams,
  subjects,
  type ArbiterDecision,
  type ControlIntent,
  type Setpoint,
} from '@voltimax/contracts';
import type { Command } from 'commander';
import { pino } from 'pino';
import { CliExit, cliUser, type CliIo } from '../io';
import { connectAsCli, defaultArbiterCliDeps, intOption, isPermissionError, type ArbiterCliDeps } from './arbiter-nats';
import { formatChargerDecision, formatChargerList } from './charger-format';

/** Exit codes besides 0 (done), 1 (invalid input) and 2 (no connection / bad option). */
export const CHARGER_EXIT = { noAnswer: 3, refused: 4, heldSafe: 5 } as const;

/** Options shared by `limit`, `start` and `stop`. */
export interface ChargerIntentOptions {
  /** How long the manual intent holds, minutes (text from the command line). */
  readonly ttlMin?: string;
  readonly reason?: string;
  readonly by?: string;
  readonly timeoutMs?: string;
  readonly json?: boolean;
}


function assetOrExit(io: CliIo, command: string, asset: string): string {
  const parsed = AssetIdSchema.safeParse(asset);
  if (parsed.success) return parsed.data;
  io.stderr(`voltimax ${command}: '${asset}' is not an asset id (${parsed.error.issues[0]?.message ?? 'invalid'})\n`);
  throw new CliExit(2);
}

function ampsOrExit(io: CliIo, command: string, text: string, name: string): number {
  const amps = Number(text);
  if (text.trim() === '' || !Number.isFinite(amps) || amps < 0 || amps > 1000) {
    io.stderr(`voltimax ${command}: ${name} must be a current in A between 0 and 1000, got '${text}'\n`);
    throw new CliExit(2);
  }
  return amps;
}

/** Sends one manual intent as a request and returns the arbiter's decision; exits with a reason otherwise. */
async function requestDecision(io: CliIo, command: string, bus: Bus, intent: ControlIntent, timeoutMs: number): Promise<ArbiterDecision> {
  try {
    return await bus.request(subjects.intent, intentParams(intent), intent, { timeoutMs });
  } catch (err) {
    if (err instanceof BusValidationError) {
      io.stderr(`voltimax ${command}: invalid intent: ${err.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}\n`);
      throw new CliExit(1);
    }
    if (isPermissionError(err)) {
      io.stderr(`voltimax ${command}: the NATS server refused to let this user send manual intents (${subjects.intent.format(intentParams(intent))})\n`);
      throw new CliExit(CHARGER_EXIT.refused);
    }
    if (err instanceof BusReplyRejectedError) {
      io.stderr(`voltimax ${command}: the safety-arbiter refused the intent: ${err.message}\n`);
      throw new CliExit(CHARGER_EXIT.refused);
    }
    if (err instanceof BusRequestFailedError) {
      io.stderr(`voltimax ${command}: no decision from the safety-arbiter within ${timeoutMs} ms (${err.reason}) — is it running?\n`);
      throw new CliExit(CHARGER_EXIT.noAnswer);
    }
    throw err;
  }
}

/**
 * `voltimax charger limit|start|stop`: a manual intent for the charger (`control.intent.manual.<asset>`, as a
 * request), never a device write: the safety-arbiter decides what the charger gets and answers with its decision,
 * which is printed. Exit 0 applied (or narrowed), 5 held at the safe setpoint by a fault, 4 rejected, 3 no answer.
 */
export async function chargerIntent(
  io: CliIo,
  command: 'limit' | 'start' | 'stop',
  asset: string,
  setpoint: Extract<Setpoint, { kind: 'ev-current' }>,
  opts: ChargerIntentOptions,
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const name = `charger ${command}`;
  const assetId = assetOrExit(io, name, asset);
  const ttlMin = intOption(io, name, '--ttl-min', opts.ttlMin, 60, 1, 24 * 60);
  const timeoutMs = intOption(io, name, '--timeout-ms', opts.timeoutMs, 5_000, 100, 120_000);
  const { nc } = await connectAsCli(io, deps, name);
  try {
    const bus = createBus(nc, pino({ level: 'silent' }));
    const intent: ControlIntent = {
      v: 1,
      id: `cli-${randomUUID()}`,
      source: 'manual',
      assetId,
      setpoint,
      issuedAtMs: deps.now(),
      ttlMs: ttlMin * 60_000,
      reason: (opts.reason ?? `voltimax charger ${command}`).slice(0, 500),
      issuedBy: (opts.by ?? cliUser()).slice(0, 128),
    };
    const decision = await requestDecision(io, name, bus, intent, timeoutMs);
    if (opts.json) io.stdout(`${JSON.stringify({ intent, decision })}\n`);
    else io.stdout(formatChargerDecision(decision, ttlMin));
    if (decision.outcome === 'rejected') throw new CliExit(CHARGER_EXIT.refused);
    if (decision.outcome === 'safe') throw new CliExit(CHARGER_EXIT.heldSafe);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** `voltimax charger list`: what the central system (ocpp-csms) knows, via `gateway.chargers`. */
export async function chargerList(
  io: CliIo,
  opts: { readonly json?: boolean; readonly timeoutMs?: string },
  deps: ArbiterCliDeps = defaultArbiterCliDeps(),
): Promise<void> {
  const timeoutMs = intOption(io, 'charger list', '--timeout-ms', opts.timeoutMs, 3_000, 100, 120_000);
  const { nc } = await connectAsCli(io, deps, 'charger list');
  try {
    const bus = createBus(nc, pino({ level: 'silent' }));
    let reply;
    try {
      reply = await bus.request(subjects.gatewayChargers, {}, { v: 1, sentAtMs: deps.now() }, { timeoutMs });
    } catch (err) {
      if (err instanceof BusRequestFailedError) {
        io.stderr(`voltimax charger list: no answer on ${subjects.gatewayChargers.pattern} within ${timeoutMs} ms (${err.reason}) — is ocpp-csms running?\n`);
        throw new CliExit(CHARGER_EXIT.noAnswer);
      }
      if (isPermissionError(err)) {
        io.stderr(`voltimax charger list: the NATS server refused ${subjects.gatewayChargers.pattern} to this user\n`);
        throw new CliExit(CHARGER_EXIT.refused);
      }
      throw err;
    }
    io.stdout(opts.json ? `${JSON.stringify(reply)}\n` : formatChargerList(reply));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Adds `charger list|limit|start|stop` to the program. */
export function registerChargerCommand(program: Command, io: CliIo, deps?: ArbiterCliDeps): void {
  const charger = program
    .command('charger')
    .description('EV chargers on OCPP: list them; limit, start or stop charging through a manual intent (NATS_URL, NATS_USER/NATS_PASS)');
  charger
    .command('list')
    .description('chargers with connection, state, power, limit and session (from ocpp-csms)')
    .option('--timeout-ms <ms>', 'how long to wait for ocpp-csms', '3000')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean; timeoutMs?: string }) => chargerList(io, opts, deps));
  const intentOptions = (command: Command) =>
    command
      .option('--ttl-min <minutes>', 'how long the manual intent holds (then strategies take over again)', '60')
      .option('--reason <text>', 'kept in the audit')
      .option('--by <who>', 'who (default: cli:<login name>)')
      .option('--timeout-ms <ms>', 'how long to wait for the safety-arbiter', '5000')
      .option('--json', 'machine-readable output');
  intentOptions(
    charger
      .command('limit')
      .description('limit the charging current (A per phase; 0 pauses); the safety-arbiter clamps it to the site limits')
      .argument('<asset>', 'charger asset id')
      .argument('<amps>', 'current per phase, A'),
  ).action((asset: string, amps: string, opts: ChargerIntentOptions) =>
    chargerIntent(io, 'limit', asset, { kind: 'ev-current', currentA: ampsOrExit(io, 'charger limit', amps, '<amps>') }, opts, deps),
  );
  intentOptions(
    charger
      .command('start')
      .description('start a charging session (RemoteStartTransaction) at a current limit, if an EV is plugged in')
      .argument('<asset>', 'charger asset id')
      .option('--amps <A>', 'current per phase for the session', '16'),
  ).action((asset: string, opts: ChargerIntentOptions & { amps: string }) =>
    chargerIntent(
      io,
      'start',
      asset,
      { kind: 'ev-current', currentA: ampsOrExit(io, 'charger start', opts.amps, '--amps'), session: 'start' },
      opts,
      deps,
    ),
  );
  intentOptions(
    charger
      .command('stop')
      .description('stop the charging session (RemoteStopTransaction) and hold the charger at 0 A')
      .argument('<asset>', 'charger asset id'),
  ).action((asset: string, opts: ChargerIntentOptions) =>
    chargerIntent(io, 'stop', asset, { kind: 'ev-current', currentA: 0, session: 'stop' }, opts, deps),
  );
}
