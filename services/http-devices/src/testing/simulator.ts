// The simulator as its own process (node tools/run-ts.js services/simulator/src/main.ts), as npm start runs it: the
// tests talk to it only over its real sockets and read the endpoints it writes into SIM_ASSETS_FILE.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SiteConfigSchema, type SiteConfig, type SiteConfigInput } from '@voltimax/contracts';
import { NATS_DEV_PASSWORDS, waitFor } from '@voltimax/testing';

const ROOT = join(__dirname, '..', '..', '..', '..');

/** A running simulator process and the site it resolved (every served asset with its real endpoint). */
export interface SimulatorProcess {
  /** The resolved site (SIM_ASSETS_FILE) as parsed. */
  readonly site: SiteConfig;
  /** The resolved site as raw JSON (to extend and hand to http-devices). */
  readonly raw: Record<string, unknown>;
  readonly dir: string;
  tail(): string;
  stop(): Promise<void>;
}

/** Starts the simulator on `site` with the extra environment (MQTT_URL, SIM_PEBLAR_TOKEN, SIM_EV_*…). */
export async function startSimulatorProcess(
  natsUrl: string,
  site: SiteConfigInput,
  env: Readonly<Record<string, string>> = {},
): Promise<SimulatorProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'http-devices-sim-'));
  writeFileSync(join(dir, 'site.json'), JSON.stringify(site));
  const assetsFile = join(dir, 'sim-assets.json');
  const lines: string[] = [];
  const child = spawn(
    process.execPath,
    [join(ROOT, 'tools', 'run-ts.js'), join(ROOT, 'services', 'simulator', 'src', 'main.ts')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/tmp',
        OTEL_SDK_DISABLED: 'true',
        NATS_URL: natsUrl,
        NATS_USER: 'simulator',
        NATS_PASS: NATS_DEV_PASSWORDS.simulator,
        HEALTH_PORT: 'off',
        LOG_LEVEL: 'warn',
        SITE_FILE: join(dir, 'site.json'),
        SIM_ASSETS_FILE: assetsFile,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (chunk: Buffer) => {
    lines.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((l) => l !== ''),
    );
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => exited || existsSync(assetsFile), { timeoutMs: 30_000, message: 'the simulator assets file' });
    if (exited) throw new Error('the simulator exited');
  } catch (err) {
    const tail = lines.join('\n');
    await stop();
    throw new Error(`${(err as Error).message}; simulator output:\n${tail}`);
  }
  const raw = JSON.parse(readFileSync(assetsFile, 'utf8')) as Record<string, unknown>;
  return { site: SiteConfigSchema.parse(raw), raw, dir, tail: () => lines.join('\n'), stop };
}
