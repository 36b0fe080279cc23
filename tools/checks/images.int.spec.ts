// What the images contain, run without Docker: docker/build.js bundles every service and copies its external
// packages (as the Dockerfile's bundle and modules stages do), into a folder outside the repository so nothing
// resolves from the workspace's node_modules; then the bundles run against a real nats-server configured with
// docker/nats/nats.conf, each as its own user, with the images' health check and the poller's shard-lease entry.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  waitFor,
  type NatsTestServer,
} from '@voltimax/testing';
import { ROOT, servicesWithMain } from './deploy-helpers';

type Service = 'modbus-poller' | 'safety-arbiter' | 'strategy-engine' | 'simulator';

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  exited: Promise<number | null>;
}

let out: string;
let nats: NatsTestServer;
const running: Running[] = [];

function build(args: string[]): void {
  const result = spawnSync(process.execPath, [join(ROOT, 'docker', 'build.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0)
    throw new Error(`docker/build.js ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
}

async function start(service: Service, env: Record<string, string>, entry = 'main.js'): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--enable-source-maps', entry], {
    cwd: join(out, service),
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      NATS_URL: nats.url,
      NATS_USER: service,
      NATS_PASS: NATS_DEV_PASSWORDS[service],
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: String(port),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { child, port, output: () => text, exited };
  running.push(proc);
  return proc;
}

async function status(port: number, path: string): Promise<number | undefined> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return undefined;
  }
}

const ready = (proc: Running, what: string) =>
  waitFor(async () => (await status(proc.port, '/readyz')) === 200, {
    timeoutMs: 15_000,
    message: `${what} ready (${proc.output()})`,
  });

function healthcheck(port: number, ...args: string[]): number | null {
  return spawnSync(process.execPath, [join(out, 'strategy-engine', 'healthcheck.js'), ...args], {
    env: { PATH: process.env['PATH'] ?? '', HEALTH_PORT: String(port) },
  }).status;
}

async function stop(proc: Running): Promise<number | null> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  return proc.exited;
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'voltimax-images-'));
  build(['--out', out]);
  build(['--modules', ROOT, '--out', out, '--verify']);
  // As the Dockerfile does: the health check in every image, the shard-lease entry in the poller's.
  for (const service of servicesWithMain())
    copyFileSync(join(ROOT, 'docker', 'healthcheck.js'), join(out, service, 'healthcheck.js'));
  copyFileSync(join(ROOT, 'docker', 'poller-entry.js'), join(out, 'modbus-poller', 'poller-entry.js'));
  nats = await startNats({ config: NATS_CONFIG_PATH });
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map(stop));
  await nats?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('the bundles the images run', () => {
  it('exist for every service, with only the external packages next to them', () => {
    for (const service of servicesWithMain()) expect(existsSync(join(out, service, 'main.js'))).toBe(true);
    const manifest = (service: string) =>
      JSON.parse(readFileSync(join(out, service, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest('modbus-poller').dependencies)).toEqual(['serialport']);
    expect(manifest('safety-arbiter').dependencies).toEqual({});
    expect(existsSync(join(out, 'modbus-poller', 'node_modules', '@serialport', 'bindings-cpp', 'package.json'))).toBe(
      true,
    );
  });

  it('bundles the workspace plugins for the driver-host image, each loadable on its own by package name', () => {
    for (const [name, driver] of [
      ['@voltimax/driver-bacnet', 'bacnet'],
      ['@voltimax/driver-example-keba', 'keba-udp'],
    ] as const) {
      const folder = join(out, 'driver-plugins', 'node_modules', ...name.split('/'));
      const loaded = spawnSync(
        process.execPath,
        ['-e', `const m = require(${JSON.stringify(folder)}); process.stdout.write((m.driver ?? m.default).name)`],
        { cwd: tmpdir(), encoding: 'utf8' },
      );
      expect({ name, status: loaded.status, stderr: loaded.stderr, driver: loaded.stdout }).toEqual({
        name,
        status: 0,
        stderr: '',
        driver,
      });
    }
  });

  it.each(['strategy-engine', 'safety-arbiter', 'simulator', 'modbus-poller'] as const)(
    '%s exits 78 (EX_CONFIG) on a missing site file, before connecting',
    async (service) => {
      const proc = await start(service, { SITE_FILE: join(out, 'no-such-assets.json'), HEALTH_PORT: 'off' });
      expect(await proc.exited).toBe(78);
      expect(proc.output()).toContain('no-such-assets.json');
    },
  );

  it('the poller entry refuses a malformed POLLER_SHARD=auto/… with exit 78', async () => {
    const proc = await start('modbus-poller', { POLLER_SHARD: 'auto/zero', SITE_FILE: 'x' }, 'poller-entry.js');
    expect(await proc.exited).toBe(78);
    expect(proc.output()).toContain('expected auto/<count>');
  });

  it('the cli bundle runs', () => {
    const result = spawnSync(
      process.execPath,
      [join(out, 'cli', 'main.js'), 'config', 'validate', join(ROOT, 'docker', 'config', 'assets.sim.json')],
      { encoding: 'utf8' },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('valid');
  });
});

describe('the gateway from the bundles, on a nats-server with docker/nats/nats.conf', () => {
  const simSite = () => join(out, 'sim', 'sim-assets.json');

  it('the simulator serves the simulated site and writes the resolved site file; its health check waits for that file', async () => {
    const sim = await start('simulator', {
      SITE_FILE: join(ROOT, 'docker', 'config', 'assets.sim.json'),
      SIM_ASSETS_FILE: simSite(),
    });
    await ready(sim, 'simulator');
    await waitFor(() => existsSync(simSite()), { timeoutMs: 10_000, message: 'sim-assets.json' });
    expect(healthcheck(sim.port, '--file', simSite())).toBe(0);
    expect(healthcheck(sim.port, '--file', join(out, 'missing.json'))).toBe(1);
  });

  it.each(['safety-arbiter', 'strategy-engine'] as const)(
    '%s becomes ready, passes the image health check and stops cleanly',
    async (service) => {
      const proc = await start(service, { SITE_FILE: simSite() });
      await ready(proc, service);
      expect(healthcheck(proc.port)).toBe(0);
      expect(await stop(proc)).toBe(0);
      expect(healthcheck(proc.port)).toBe(1);
    },
  );

  it('three poller replicas with POLLER_SHARD=auto/2: two take a shard each, the third waits and takes over a stopped one', async () => {
    const leases = join(out, 'shards');
    const replica = (n: number) =>
      start(
        'modbus-poller',
        {
          SITE_FILE: simSite(),
          POLLER_SHARD: 'auto/2',
          SHARD_LEASE_DIR: leases,
          SHARD_LEASE_RENEW_MS: '200',
          SHARD_LEASE_STALE_MS: '1000',
          INSTANCE_ID: `poller-${n}`,
        },
        'poller-entry.js',
      );
    const first = await replica(1);
    await ready(first, 'replica 1');
    const second = await replica(2);
    await ready(second, 'replica 2');
    const third = await replica(3);
    await waitFor(async () => (await status(third.port, '/healthz')) === 200, {
      timeoutMs: 10_000,
      message: 'standby /healthz',
    });
    expect(await status(third.port, '/readyz')).toBe(503);
    expect(first.output()).toContain('"shard":"0/2"');
    expect(second.output()).toContain('"shard":"1/2"');
    expect(third.output()).toContain('every shard is held: waiting as a standby');

    expect(await stop(first)).toBe(0);
    await ready(third, 'the standby, after taking over');
    expect(third.output()).toContain('"shard":"0/2"');
    expect(await stop(second)).toBe(0);
    expect(await stop(third)).toBe(0);
  }, 60_000);
});
