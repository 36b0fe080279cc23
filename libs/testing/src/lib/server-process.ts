import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { connect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { waitFor, WaitForTimeoutError } from './wait-for';

/**
 * Runs the server under a small shell that watches the pipe on its stdin. The kernel closes our end
 * of that pipe whenever this Node process ends, however it ends (a normal exit, an uncaught error,
 * even SIGKILL, where no 'exit' handler would run); `stop()` closes it too. On EOF the shell sends the
 * server SIGTERM, SIGKILL after 5 s, and removes the server's temp dir (its first argument, may be
 * empty). So a crashed test run leaves no servers behind. The server's own stdin is /dev/null; fd 3
 * carries the pipe to the watcher only.
 */
const WATCHDOG_SCRIPT = `
dir=$1
shift
exec 3<&0
"$@" </dev/null 3<&- &
server=$!
(
  cat <&3 >/dev/null 2>&1
  [ -n "$dir" ] && : >"$dir/.stop-requested"
  kill -TERM "$server" 2>/dev/null
  i=0
  while kill -0 "$server" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$server" 2>/dev/null
) >/dev/null 2>&1 &
watchdog=$!
exec 3<&-
wait "$server" 2>/dev/null # no "Terminated" notice from the shell
status=$?
kill "$watchdog" 2>/dev/null
[ -n "$dir" ] && [ -e "$dir/.stop-requested" ] && rm -rf -- "$dir"
exit "$status"
`;

const DEFAULT_START_TIMEOUT_MS = 10_000;
/** The watchdog escalates to SIGKILL after 5 s; this is the last resort after that. */
const STOP_TIMEOUT_MS = 8_000;
const OUTPUT_LIMIT_CHARS = 16_000;
const TAIL_LINES = 25;

/** Options of {@link startServerProcess}. */
export interface ServerProcessOptions {
  /** Absolute path of the executable. */
  readonly binaryPath: string;
  readonly args: readonly string[];
  /** The loopback port the server was told to listen on; readiness is a TCP connect to it. */
  readonly port: number;
  readonly host?: string;
  /** Output that the server prints once it serves (e.g. /Server is ready/), checked with the connect. */
  readonly readyPattern?: RegExp;
  /** The server's temp dir: its working dir, removed by the watchdog once the server was stopped. */
  readonly dir?: string;
  /** Bounded wait for readiness; default 10 000 ms. */
  readonly startTimeoutMs?: number;
}

/** A running server process. */
export interface ServerProcess {
  /** The last lines of the server's stdout and stderr. */
  outputTail(): string;
  /** Stops the server and waits for it to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

/** The server exited or did not get ready in time; the message ends with its output. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  /** Another process took the port first: starting again on a new port may help. */
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly outputTail: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n--- server output (last ${TAIL_LINES} lines) ---\n${outputTail || '(none)'}`, options);
    this.retryable = /address already in use|EADDRINUSE/i.test(outputTail);
  }
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

function killGroup(child: Child, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts `binaryPath args…` and resolves once it accepts TCP connections on `host:port` (and has
 * printed `readyPattern`, if given). Rejects with {@link ServerStartError} when it exits first or is
 * not ready within `startTimeoutMs`.
 */
export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  const host = opts.host ?? '127.0.0.1';
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const child: Child = spawn(
    '/bin/sh',
    ['-c', WATCHDOG_SCRIPT, 'test-server', opts.dir ?? '', opts.binaryPath, ...opts.args],
    {
      cwd: opts.dir,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );

  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT_CHARS);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  // EPIPE when the shell is already gone; 'close' below covers that case.
  child.stdin.on('error', () => undefined);

  let spawnError: Error | undefined;
  // 'close' comes after 'exit' once stdout and stderr are drained, so the output is complete.
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (err) => {
      spawnError = err;
      resolve();
    });
  });
  const hasExited = (): boolean => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;
  const outputTail = (): string => output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      child.stdin.end(); // also ends the watchdog's `cat` when the server already exited on its own
      if (hasExited()) return;
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
      await closed;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const name = `${opts.binaryPath} ${opts.args.join(' ')}`;
  try {
    const state = await waitFor(
      async () => {
        if (hasExited()) return 'exited';
        if (opts.readyPattern && !opts.readyPattern.test(output)) return false;
        return (await acceptsConnections(host, opts.port)) && 'ready';
      },
      { timeoutMs: startTimeoutMs, intervalMs: 25, message: `${name} to accept connections on ${host}:${opts.port}` },
    );
    if (state === 'exited') {
      await closed;
      const how = spawnError
        ? `could not be started (${spawnError.message})`
        : `exited with ${child.exitCode ?? child.signalCode} before it accepted connections`;
      throw new ServerStartError(`${name} ${how}`, outputTail(), spawnError ? { cause: spawnError } : undefined);
    }
  } catch (err: unknown) {
    await stop();
    if (err instanceof WaitForTimeoutError) {
      throw new ServerStartError(`${name} did not accept connections within ${startTimeoutMs} ms`, outputTail(), {
        cause: err,
      });
    }
    throw err;
  }

  return { outputTail, stop };
}

/** Whether a TCP connection to `host:port` is accepted (and closed again) within 1 s. */
export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
