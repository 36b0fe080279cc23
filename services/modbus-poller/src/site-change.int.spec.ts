/**
 * The poller reads its assets only at start: on `config.updated` with a changed asset list it restarts (exit 75) to
 * poll them, over a real nats-server with the project's permissions (user modbus-poller may subscribe the event).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import { subjects } from '@voltimax/contracts';
import { EX_RESTART, runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { modbusPollerService } from './service';
import { siteWith, tcpAsset } from './testing/site';

describe('modbus-poller and a changed site configuration', () => {
  let server: NatsTestServer;
  let bridge: BusConnection;
  let dir: string;
  let runtime: ServiceRuntime | undefined;
  const lines: CapturedLine[] = [];
  const meter = tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 1);

  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH });
    bridge = await connectBus({
      servers: server.url,
      name: 'test-cloud-bridge',
      user: 'cloud-bridge',
      pass: NATS_DEV_PASSWORDS['cloud-bridge'],
      log: captureLogger('warn').log,
    });
    dir = await mkdtemp(join(tmpdir(), 'poller-site-'));
  });

  afterAll(async () => {
    await runtime?.shutdown('test done');
    await bridge?.nc.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const announce = () =>
    createBus(bridge.nc, captureLogger('warn').log).publish(
      subjects.configUpdated,
      {},
      { v: 1, hash: 'd'.repeat(64), atMs: Date.now(), requiresRestart: true, source: 'cloud', changedSections: ['assets'] },
    );

  it('ignores an announcement that changes nothing it polls (another driver\'s asset included), and restarts (exit 75) for a new Modbus asset', async () => {
    const siteFile = join(dir, 'assets.json');
    await writeFile(siteFile, JSON.stringify(siteWith([meter])));
    runtime = await runService(modbusPollerService(), {
      env: {
        NATS_URL: server.url,
        NATS_USER: 'modbus-poller',
        NATS_PASS: NATS_DEV_PASSWORDS['modbus-poller'],
        HEALTH_PORT: 'off',
        LOG_LEVEL: 'debug',
        SITE_FILE: siteFile,
      },
      exit: () => undefined,
      onSignal: () => () => undefined,
      onFatal: () => () => undefined,
      logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
    });
    if (runtime === undefined) throw new Error('the poller did not start');
    const started = runtime;

    // Another strategy, and a new charger another driver (ocpp-csms) drives: nothing the poller uses.
    const unchangedVerdicts = () =>
      lines.filter(
        (l) =>
          l.msg === 'site configuration: nothing this service uses changed' &&
          String(l['trigger']).startsWith('config.updated'),
      ).length;
    await writeFile(siteFile, JSON.stringify({ ...siteWith([meter]), strategy: { active: ['self-consumption'] } }));
    announce();
    await waitFor(() => unchangedVerdicts() === 1, { message: 'the unchanged verdict on the announcement' });
    const charger = {
      id: 'ev-1',
      name: 'ev-1',
      kind: 'ev-charger',
      profile: 'autel.maxicharger-ac',
      connection: { protocol: 'ocpp', chargePointId: 'cp-1' },
      pollIntervalMs: 1_000,
      evCharger: { maxCurrentA: 16 },
    } as const;
    await writeFile(siteFile, JSON.stringify(siteWith([meter, charger])));
    announce();
    await waitFor(() => unchangedVerdicts() === 2, { message: 'the unchanged verdict for an asset it does not drive' });

    await writeFile(siteFile, JSON.stringify(siteWith([meter, tcpAsset('pv-1', 'pv-inverter', 'growatt.pv-tl-x', 2)])));
    announce();
    await expect(started.exited).resolves.toBe(EX_RESTART);
    expect(lines.find((l) => l.msg === 'site configuration changed: restarting to load it')).toMatchObject({
      sections: ['assets'],
    });
    runtime = undefined;
  }, 20_000);
});
