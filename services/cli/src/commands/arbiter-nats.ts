// The NATS client is used directly (not connectBus): a command line tool must fail within a timeout, not wait
// forever for a server that is not there.
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor, kvBuckets } from '@voltimax/contracts';
import { CliExit, type CliIo } from '../io';

/** The outside world of `voltimax estop` and `voltimax arbiter`, injectable for tests. */
export interface ArbiterCliDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly connect: (opts: {
    servers: string[];
    user?: string;
    pass?: string;
    name: string;
    timeoutMs: number;
  }) => Promise<NatsConnection>;
  /** Epoch ms. */
  readonly now: () => number;
  readonly delay: (ms: number) => Promise<void>;
}

/** The real process: env, NATS, timers. */
export function defaultArbiterCliDeps(): ArbiterCliDeps {
  return {
    env: process.env,
    connect: (opts) =>
      connect({
        servers: opts.servers,
        name: opts.name,
        user: opts.user,
        pass: opts.pass,
        ...(inboxPrefixFor(opts.user) === undefined ? {} : { inboxPrefix: inboxPrefixFor(opts.user) }),
        timeout: opts.timeoutMs,
        reconnect: false,
      }),
    now: Date.now,
    delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}

/** A connection as NATS_USER (default `cli` when NATS_PASS is set) to NATS_URL; exit 2 if it cannot be made. */
export async function connectAsCli(
  io: CliIo,
  deps: ArbiterCliDeps,
  command: string,
): Promise<{ readonly nc: NatsConnection; readonly source: string; readonly user: string | undefined }> {
  const url = deps.env['NATS_URL'] || 'nats://127.0.0.1:4222';
  const pass = deps.env['NATS_PASS'] || undefined;
  const user = deps.env['NATS_USER'] || (pass ? 'cli' : undefined);
  const source = `${url}${user ? ` as ${user}` : ''}`;
  try {
    const nc = await deps.connect({
      servers: url.split(',').map((s) => s.trim()),
      ...(user === undefined ? {} : { user }),
      ...(pass === undefined ? {} : { pass }),
      name: `voltimax-${command.replace(/\s+/g, '-')}`,
      timeoutMs: 5_000,
    });
    return { nc, source, user };
  } catch (err) {
    io.stderr(
      `voltimax ${command}: cannot connect to NATS at ${source}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    throw new CliExit(2);
  }
}

/** An integer option within bounds, else exit 2 with the reason. */
export function intOption(
  io: CliIo,
  command: string,
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    io.stderr(`voltimax ${command}: ${name} must be an integer between ${min} and ${max}, got '${text}'\n`);
    throw new CliExit(2);
  }
  return value;
}

/** True if the error (or one of its causes) is the server refusing a subject to this user. */
export function isPermissionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    if (e.name === 'PermissionViolationError' || /permissions violation/i.test(e.message)) return true;
  }
  return false;
}

/**
 * The running site configuration as stored (not validated) in KV `config`, key CONFIG_KV_KEY (default `site`), and
 * where it was read; throws when the bucket or the key is missing or the value is not JSON.
 */
export async function readRunningConfig(
  nc: NatsConnection,
  env: ArbiterCliDeps['env'],
): Promise<{ readonly raw: unknown; readonly key: string }> {
  const key = env['CONFIG_KV_KEY'] || 'site';
  const entry = await (await new Kvm(nc).open(kvBuckets.config)).get(key);
  if (entry === null || entry.operation !== 'PUT') throw new Error('no value');
  return { raw: JSON.parse(entry.string()) as unknown, key };
}
