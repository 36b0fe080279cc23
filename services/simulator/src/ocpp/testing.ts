// The central system and the safety-arbiter as child processes (`node tools/run-ts.js services/<name>/src/main.ts`),
// as npm start runs them: services never import each other, so the simulator's tests talk to them over the network.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '@voltimax/testing';

const ROOT = join(__dirname, '..', '..', '..', '..');

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Parsed pino lines (stdout), all of them. */
  readonly lines: Record<string, unknown>[];
  /** The last lines of stderr and non-JSON stdout. */
  tail(): string;
  /** Waits for a log line with this message (and optional fields). */
  line(msg: string, match?: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts `services/<name>/src/main.ts` as NATS user `<name>` (development password) with `env`. */
export function startServiceProcess(name: string, natsUrl: string, env: Readonly<Record<string, string>>): ServiceProcess {
  const child = spawn(process.execPath, [join(ROOT, 'tools', 'run-ts.js'), join(ROOT, 'services', name, 'src', 'main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/tmp',
      OTEL_SDK_DISABLED: 'true',
      NATS_URL: natsUrl,
      NATS_USER: name,
      NATS_PASS: `dev-${name}`,
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const other: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        other.push(text);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => other.push(chunk.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    lines,
    tail: () => [...other.slice(-20), ...lines.slice(-20).map((l) => JSON.stringify(l))].join('\n'),
    line: (msg, match = () => true, timeoutMs = 20_000) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${other.slice(-5).join('')}`);
          return lines.find((l) => l['msg'] === msg && match(l));
        },
        { timeoutMs, message: `${name} to log "${msg}"` },
      ),
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 6_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}
