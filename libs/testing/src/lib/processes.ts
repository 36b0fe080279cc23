// Gateway services (and other commands) as child processes for integration and end-to-end tests, started the way
// `npm start` (tools/start.js) starts them: `node tools/run-ts.js services/<name>/src/main.ts`, each as its own NATS
// user (docker/nats/nats.conf, development password `dev-<name>`). Services never import each other, so tests that
// need several of them talk to them over real sockets, as the gateway does.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { waitFor } from './wait-for';

/** The repository root (libs/testing/src/lib → four levels up). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

/** Lines of output kept per stream for the failure report. */
const KEPT_LINES = 40;

/** A child process with the tail of its output and its pino log lines. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every stdout line that parsed as JSON (pino), in order. */
  readonly lines: readonly Record<string, unknown>[];
  /** Exit code or signal once it ended, `undefined` while it runs. */
  exit(): string | undefined;
  /** The last lines of stderr and stdout, for a failure report. */
  tail(): string;
  /** Waits for a log line with message `msg` (and `match`); fails at once if the process exits. */
  line(msg: string, match?: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Runs `command args` from the repository root with exactly `env` (nothing of the test runner's environment). */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  opts: { readonly stdin?: 'pipe' | 'ignore' } = {},
): ServiceProcess {
  const child = spawn(command, [...args], { cwd: REPO_ROOT, env: { ...env }, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const stdout: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const partial = { out: '', err: '' };
  const keep = (stream: 'out' | 'err', kept: string[]) => (chunk: Buffer) => {
    const parts = (partial[stream] + chunk.toString()).split('\n');
    partial[stream] = parts.pop() ?? '';
    for (const text of parts) {
      if (text.trim() === '') continue;
      kept.push(text);
      if (stream === 'out' && text.startsWith('{')) {
        try {
          lines.push(JSON.parse(text) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    }
    if (kept.length > KEPT_LINES) kept.splice(0, kept.length - KEPT_LINES);
  };
  child.stdout?.on('data', keep('out', stdout));
  child.stderr?.on('data', keep('err', stderr));
  let exit: string | undefined;
  // Should the test runner itself end without its afterAll (a crash, a forced exit), the child must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((done) => {
    child.once('exit', (code, signal) => {
      exit = signal ?? String(code);
      process.off('exit', killOnExit);
      done();
    });
    child.once('error', (err) => {
      exit = `spawn error: ${err.message}`;
      process.off('exit', killOnExit);
      done();
    });
  });
  return {
    name,
    child,
    lines,
    exit: () => exit,
    tail: () =>
      [
        `--- ${name} (pid ${child.pid ?? '?'}, ${exit === undefined ? 'running' : `exited ${exit}`})`,
        `stderr (last ${KEPT_LINES} lines):`,
        ...stderr,
        partial.err,
        `stdout (last ${KEPT_LINES} lines):`,
        ...stdout,
        partial.out,
      ]
        .filter((line) => line !== '')
        .join('\n'),
    line: (msg, match = () => true, timeoutMs = 20_000) =>
      waitFor(
        () => {
          if (exit !== undefined) throw new Error(`${name} exited (${exit}): ${stderr.slice(-5).join('\n')}`);
          return lines.find((l) => l['msg'] === msg && match(l));
        },
        { timeoutMs, message: `${name} to log "${msg}"` },
      ),
    async stop(graceMs = 5_000) {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((done) => {
        timer = setTimeout(() => {
          if (exit === undefined) child.kill('SIGKILL');
          done();
        }, graceMs);
      });
      await Promise.race([exited, forced]);
      clearTimeout(timer);
      await exited;
    },
  };
}

/**
 * Starts `services/<name>/src/main.ts` as NATS user `<name>`. The environment is only PATH/HOME, tracing off, the
 * NATS credentials, an ephemeral health port and log level `warn`, plus `env` (which may override any of them):
 * nothing of the test runner's environment (a stray REDIS_URL, SIM_*) leaks into the service.
 */
export function startServiceProcess(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  return startProcess(name, process.execPath, [join(REPO_ROOT, 'tools', 'run-ts.js'), join(REPO_ROOT, 'services', name, 'src', 'main.ts')], {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    OTEL_SDK_DISABLED: 'true',
    NATS_URL: natsUrl,
    NATS_USER: name,
    NATS_PASS: `dev-${name}`,
    HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    ...env,
  });
}
