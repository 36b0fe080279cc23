// driver-host as a process, both ways it runs: from its TypeScript sources through tools/run-ts.js (development and
// `npm start`: the driver threads must get the same transpiler), and as the production bundle of docker/build.js
// (the bundle is also the worker script) loading a driver built to JavaScript. Real nats-server, SIGTERM → exit 0.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KebaStationDouble } from '@voltimax/driver-example-keba/testing';
import { REPO_ROOT, startProcess, startServiceProcess, waitFor, type ServiceProcess } from '@voltimax/testing';
import {
  DRIVER_HOST_PASSWORD,
  FIXTURES,
  pluginAsset,
  siteJson,
  startBusStack,
  waitForReading,
  type BusClient,
  type BusStack,
} from './testing/harness';

jest.setTimeout(180_000);

let stack: BusStack;
let observer: BusClient;
let dir: string;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  stack = await startBusStack();
  ({ observer } = stack);
  dir = mkdtempSync(join(tmpdir(), 'driver-host-process-'));
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function run(name: string, command: string, args: string[], env: Record<string, string>): ServiceProcess {
  const child = startProcess(name, command, args, {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    OTEL_SDK_DISABLED: 'true',
    NATS_URL: stack.nats.url,
    NATS_USER: 'driver-host',
    NATS_PASS: DRIVER_HOST_PASSWORD,
    HEALTH_PORT: '0',
    HEARTBEAT_MS: '500',
    LOG_LEVEL: 'info',
    ...env,
  });
  processes.push(child);
  return child;
}

async function stopsCleanly(child: ServiceProcess): Promise<void> {
  await child.stop(15_000);
  expect(child.exit()).toBe('0');
}

describe('driver-host from its TypeScript sources (tools/run-ts.js)', () => {
  it('loads a TypeScript driver in its worker thread and publishes its readings', async () => {
    const siteFile = join(dir, 'ts-assets.json');
    writeFileSync(
      siteFile,
      JSON.stringify(
        siteJson(
          [pluginAsset('ts-bat', 'battery', { maxPowerW: 1_000 })],
          [{ name: 'battery', module: join(FIXTURES, 'battery.ts'), options: { offsetW: 3 } }],
        ),
      ),
    );
    const child = startServiceProcess('driver-host', stack.nats.url, {
      NATS_PASS: DRIVER_HOST_PASSWORD,
      SITE_FILE: siteFile,
      LOG_LEVEL: 'info',
    });
    processes.push(child);
    const planned = await child.line('drivers planned', undefined, 60_000);
    expect(planned['typescriptSources']).toBe(true);
    const reading = await waitForReading(observer, 'ts-bat', (r) => r.quality === 'good', { timeoutMs: 60_000 });
    expect(reading.values).toMatchObject({ powerW: 3, socPct: 50 });
    await stopsCleanly(child);
  });
});

describe('driver-host as the production bundle (docker/build.js)', () => {
  let station: KebaStationDouble;
  beforeAll(async () => {
    station = await KebaStationDouble.start();
  });
  afterAll(async () => {
    await station?.close();
  });

  it('runs a driver built to JavaScript in a worker started from the bundle itself', async () => {
    const out = join(dir, 'dist');
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'docker', 'build.js'), '--out', out, 'driver-host'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    // The example driver as its package builds it (npm run build): one CommonJS file; a package folder with "main".
    const driverDir = join(dir, 'site', 'drivers', 'keba');
    mkdirSync(driverDir, { recursive: true });
    const esbuild = spawnSync(
      join(REPO_ROOT, 'node_modules', '.bin', 'esbuild'),
      [
        'src/index.ts',
        '--bundle',
        '--platform=node',
        '--target=node20',
        '--format=cjs',
        '--tsconfig=tsconfig.json',
        `--outfile=${join(driverDir, 'index.js')}`,
        '--log-level=error',
      ],
      { cwd: join(REPO_ROOT, 'libs', 'driver-example-keba'), encoding: 'utf8' },
    );
    expect(esbuild.status).toBe(0);
    // `source` names TypeScript that is not there: production must use `main`.
    writeFileSync(
      join(driverDir, 'package.json'),
      JSON.stringify({ name: 'keba-built', main: 'index.js', source: 'src/index.ts' }),
    );
    const siteFile = join(dir, 'site', 'assets.json');
    writeFileSync(
      siteFile,
      JSON.stringify(
        siteJson(
          [
            pluginAsset(
              'ev-built',
              'keba',
              { host: '127.0.0.1', port: station.port },
              { kind: 'ev-charger', pollIntervalMs: 500 },
            ),
          ],
          [{ name: 'keba', module: './drivers/keba', options: { bindAddress: '127.0.0.1', localPort: 0 } }],
        ),
      ),
    );
    const child = run('driver-host-bundle', process.execPath, [join(out, 'driver-host', 'main.js')], {
      SITE_FILE: siteFile,
      NODE_ENV: 'production',
    });
    const planned = await child.line('drivers planned', undefined, 30_000);
    expect(planned['typescriptSources']).toBe(false);
    expect(planned['drivers']).toEqual([
      expect.objectContaining({ name: 'keba', resolved: join(driverDir, 'index.js') }),
    ]);
    const reading = await waitForReading(observer, 'ev-built', (r) => r.quality === 'good', { timeoutMs: 30_000 });
    expect(reading).toMatchObject({ kind: 'ev-charger', values: { currentLimitA: 16 } });
    // The host's counters, the driver's own among them, are on /metrics.
    const starting = await child.line('starting');
    const url = `http://127.0.0.1:${String(starting['healthPort'])}/metrics`;
    // The driver's own counters arrive with its first pong (PING_INTERVAL_MS).
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(url)).text();
        return /counter="keba\.datagrams"\} [1-9]/.test(text) ? text : undefined;
      },
      { timeoutMs: 20_000, message: 'keba.datagrams on /metrics' },
    );
    expect(metrics).toContain('voltimax_service_counter{service="driver-host",counter="driver.keba.up"} 1');
    await stopsCleanly(child);
  });
});
