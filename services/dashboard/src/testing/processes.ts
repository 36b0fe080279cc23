// Gateway services as child processes for the end-to-end test, started as `npm start` (tools/start.js) starts them:
// `node tools/run-ts.js services/<name>/src/main.ts`, each as its own NATS user (password `dev-<name>`).
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(__dirname, '..', '..', '..', '..');

const KEPT_LINES = 40;

/** A running service and the tail of its output. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Exit code or signal once it ended; undefined while it runs. */
  exit(): string | undefined;
  /** The last lines of stdout and stderr, for a failure report. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Runs a command and keeps the tail of its output (also used for `bin/voltimax`). */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): ServiceProcess {
  const child = spawn(command, [...args], { cwd: ROOT, env: { ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (stream: string) => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(`${stream}| ${line}`);
    if (lines.length > KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  };
  child.stdout?.on('data', keep('out'));
  child.stderr?.on('data', keep('err'));
  let exit: string | undefined;
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
      done();
    });
  });
  return {
    name,
    child,
    exit: () => exit,
    tail: () =>
      [`--- ${name} (pid ${child.pid ?? '?'}, ${exit === undefined ? 'running' : `exited ${exit}`})`, ...lines].join(
        '\n',
      ),
    async stop(graceMs = 5_000) {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `services/<name>/src/main.ts` as NATS user `<name>`; only PATH/HOME of this process's environment pass on. */
export function startService(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  return startProcess(
    name,
    process.execPath,
    [join(ROOT, 'tools', 'run-ts.js'), join(ROOT, 'services', name, 'src', 'main.ts')],
    {
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
  );
}
