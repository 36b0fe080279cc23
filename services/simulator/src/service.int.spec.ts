// The whole service in this process: service-kit wiring against a real nats-server with the production users
// (docker/nats/nats.conf, user `simulator`), the resolved assets file, and the listeners it opens. The scheduler
// is a manual one: the test takes the steps.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ModbusRTU from 'modbus-serial';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import { SiteConfigSchema, subjects, type Heartbeat } from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { simulatorService } from './service';
import { simSite } from './testing/site';

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

describe('simulator service', () => {
  let nats: NatsTestServer;
  let observer: BusConnection;
  let dir: string;
  let runtime: ServiceRuntime | undefined;
  const heartbeats: Heartbeat[] = [];
  const lines: CapturedLine[] = [];
  let tick: (() => void) | undefined;

  beforeAll(async () => {
    nats = await startNats({ config: NATS_CONFIG_PATH });
    observer = await connectBus({
      servers: nats.url,
      name: 'test-dashboard',
      user: 'dashboard',
      pass: NATS_DEV_PASSWORDS.dashboard,
      log: captureLogger('warn').log,
    });
    createBus(observer.nc, captureLogger('warn').log).subscribe(subjects.health, (beat) => void heartbeats.push(beat));
    await observer.nc.flush();
    dir = mkdtempSync(join(tmpdir(), 'simulator-'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify(simSite()));
    runtime = await runService(
      simulatorService({
        scheduler: (_everyMs, fn) => {
          tick = fn;
          return () => (tick = undefined);
        },
      }),
      {
        env: {
          NATS_URL: nats.url,
          NATS_USER: 'simulator',
          NATS_PASS: NATS_DEV_PASSWORDS.simulator,
          SITE_FILE: join(dir, 'site.json'),
          STATE_DIR: dir,
          SIM_SPEED: '60',
          HEARTBEAT_MS: '100',
          HEALTH_PORT: 'off',
          LOG_LEVEL: 'debug',
        },
        exit: () => undefined,
        onSignal: () => () => undefined,
        onFatal: () => () => undefined,
        logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
      },
    );
  });

  afterAll(async () => {
    await runtime?.shutdown('test done');
    await observer?.nc.drain();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const resolved = () => SiteConfigSchema.parse(JSON.parse(readFileSync(join(dir, 'sim-assets.json'), 'utf8')));

  it('writes <STATE_DIR>/sim-assets.json: the site with a Modbus TCP endpoint and profile per served asset', () => {
    expect(runtime).toBeDefined();
    const site = resolved();
    expect(site.assets.map((a) => [a.id, a.profile, a.connection.protocol])).toEqual([
      ['bat-1', 'cnte.ess-cabinet', 'modbus-tcp'],
      ['inv-1', 'growatt.sph', 'modbus-tcp'],
      ['grid-1', 'eastron.sdm630', 'modbus-tcp'],
      ['ev-1', 'peblar.home', 'simulated'],
    ]);
    expect(lines.find((l) => l.msg === 'simulated site ready')).toMatchObject({ profile: 'synthetic', speed: 60 });
  });

  it('serves the grid meter at the written endpoint and steps on the scheduler', async () => {
    const grid = resolved().assets.find((a) => a.id === 'grid-1')?.connection;
    if (grid?.protocol !== 'modbus-tcp') throw new Error('grid-1 has no endpoint');
    const client = new ModbusRTU();
    await client.connectTCP(grid.host, { port: grid.port });
    client.setID(grid.unitId);
    client.setTimeout(1_000);
    try {
      tick?.();
      const words = (await client.readInputRegisters(0x0046, 2)).data;
      const hz = Buffer.from(words.flatMap((w) => [w >> 8, w & 0xff])).readFloatBE(0);
      expect(Math.abs(hz - 50)).toBeLessThan(0.03);
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()));
    }
    expect(lines.filter((l) => l.msg === 'step')).toHaveLength(1);
  });

  it('publishes its heartbeat on health.simulator with per-asset request counters, claiming no assets (it is no driver)', async () => {
    tick?.();
    const beat = await waitFor(
      () => heartbeats.find((h) => h.service === 'simulator' && (h.counters?.['steps'] ?? 0) >= 2),
      {
        message: 'a heartbeat after two steps',
      },
    );
    expect(beat.assets).toBeUndefined();
    expect(beat.counters).toMatchObject({ 'grid-1.reads': 1, 'bat-1.writes': 0 });
  });

  it('closes every listener on shutdown', async () => {
    const ports = resolved().assets.flatMap((a) => (a.connection.protocol === 'modbus-tcp' ? [a.connection.port] : []));
    expect(await Promise.all(ports.map(portOpen))).toEqual([true, true, true]);
    expect(await runtime?.shutdown('test')).toBe(0);
    runtime = undefined;
    expect(await Promise.all(ports.map(portOpen))).toEqual([false, false, false]);
  });
});
