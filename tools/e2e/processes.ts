// Services as child processes, started the way `npm start` (tools/start.js) starts them:
// `node tools/run-ts.js services/<name>/src/main.ts` with the service's NATS user and its own environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The repository root. */
export const ROOT = join(__dirname, '..', '..');

/** Lines of output kept per child for the failure report. */
const KEPT_LINES = 40;

/** A service running as a child process, with the tail of what it printed. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Exit code or signal once it ended, `undefined` while it runs. */
  exit(): string | undefined;
  /** The last lines of stderr and of stdout (pino logs there), for a failure report. */
  tail(): string;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

function keepTail(lines: string[], chunk: Buffer, partial: { text: string }): void {
  partial.text += chunk.toString();
  const parts = partial.text.split('\n');
  partial.text = parts.pop() ?? '';
  lines.push(...parts);
  if (lines.length > KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
}

/**
 * Starts `services/<name>/src/main.ts` as NATS user `<name>` (password `dev-<name>`, docker/nats/nats.conf).
 * The environment is only PATH/HOME plus `env`: nothing of the test runner's environment (a stray REDIS_URL, SIM_*)
 * leaks into the service.
 */
export function startService(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'tools', 'run-ts.js'), join(ROOT, 'services', name, 'src', 'main.ts')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/tmp',
        OTEL_SDK_DISABLED: 'true',
        NATS_URL: natsUrl,
        NATS_USER: name,
        NATS_PASS: `dev-${name}`,
        HEALTH_PORT: '0',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stderr: string[] = [];
  const stdout: string[] = [];
  const errPartial = { text: '' };
  const outPartial = { text: '' };
  child.stderr?.on('data', (chunk: Buffer) => keepTail(stderr, chunk, errPartial));
  child.stdout?.on('data', (chunk: Buffer) => keepTail(stdout, chunk, outPartial));
  let exit: string | undefined;
  // Should the test runner itself end without afterAll (a crash, a forced exit), the service must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ?? String(code);
      process.off('exit', killOnExit);
      resolve();
    });
    child.once('error', (err) => {
      exit = `spawn error: ${err.message}`;
      resolve();
    });
  });

  return {
    name,
    child,
    exit: () => exit,
    tail: () =>
      [
        `--- ${name} (pid ${child.pid ?? '?'}, ${exit === undefined ? 'running' : `exited ${exit}`})`,
        `stderr (last ${KEPT_LINES} lines):`,
        ...stderr,
        errPartial.text,
        `stdout (last ${KEPT_LINES} lines):`,
        ...stdout,
        outPartial.text,
      ]
        .filter((line) => line !== '')
        .join('\n'),
    async stop(graceMs = 5_000) {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (exit === undefined) child.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([exited, forced]);
      clearTimeout(timer);
      await exited;
    },
  };
}
