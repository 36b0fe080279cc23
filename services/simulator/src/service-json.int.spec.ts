// The service with the HTTP/MQTT sim profile (docker/config/assets.sim-devices.json) on a real nats-server (users of
// docker/nats/nats.conf) and a real Mosquitto: the assets file names the Peblar REST API and the Shelly MQTT meter,
// both answer, and the heartbeat counts their requests. Steps are taken by the test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { SiteConfigSchema, subjects, type Heartbeat } from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import {
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startMqtt,
  startNats,
  waitFor,
  type NatsTestServer,
  type TestServer,
} from '@voltimax/testing';
import { simulatorService } from './service';

const SITE_FILE = join(__dirname, '../../../docker/config/assets.sim-devices.json');
const TOKEN = 'sim-token-0123456789';

describe('simulator service with HTTP and MQTT devices', () => {
  let nats: NatsTestServer;
  let mqtt: TestServer;
  let observer: BusConnection;
  let dir: string;
  let runtime: ServiceRuntime | undefined;
  let tick: (() => void) | undefined;
  const heartbeats: Heartbeat[] = [];

  beforeAll(async () => {
    [nats, mqtt] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startMqtt()]);
    observer = await connectBus({
      servers: nats.url,
      name: 'test-dashboard',
      user: 'dashboard',
      pass: NATS_DEV_PASSWORDS.dashboard,
      log: captureLogger('warn').log,
    });
    createBus(observer.nc, captureLogger('warn').log).subscribe(subjects.health, (beat) => void heartbeats.push(beat));
    dir = mkdtempSync(join(tmpdir(), 'simulator-json-'));
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
          SITE_FILE,
          STATE_DIR: dir,
          MQTT_URL: mqtt.url,
          SIM_PEBLAR_TOKEN: TOKEN,
          SIM_EV_INITIAL_LIMIT_A: '10',
          HEARTBEAT_MS: '100',
          HEALTH_PORT: 'off',
          LOG_LEVEL: 'warn',
        },
        exit: () => undefined,
        onSignal: () => () => undefined,
        onFatal: () => () => undefined,
        logDestination: { write: () => undefined },
      },
    );
  });

  afterAll(async () => {
    await runtime?.shutdown('test done');
    await observer?.nc.drain();
    await Promise.all([nats?.stop(), mqtt?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the JSON devices into the assets file, serves them, and counts them in the heartbeat', async () => {
    expect(runtime).toBeDefined();
    const site = SiteConfigSchema.parse(JSON.parse(readFileSync(join(dir, 'sim-assets.json'), 'utf8')));
    const byId = new Map(site.assets.map((a) => [a.id, a]));
    expect(byId.get('bat-1')?.connection.protocol).toBe('modbus-tcp');
    expect(byId.get('inv-1')?.connection.protocol).toBe('modbus-tcp');
    const ev = byId.get('ev-1');
    const grid = byId.get('grid-1');
    expect(ev?.profile).toBe('peblar.rest');
    expect(grid?.profile).toBe('shelly.pro-3em');
    expect(grid?.connection).toEqual({ protocol: 'mqtt', topicPrefix: 'shellypro3em-grid-1', brokerUrl: mqtt.url });
    if (ev?.connection.protocol !== 'http') throw new Error('ev-1 is not on http');
    expect(ev.connection.tokenEnv).toBe('PEBLAR_TOKEN');

    // The car is plugged and the limit starts at 10 A: 3 × 230 V × 10 A once a step has run.
    tick?.();
    const meter = await fetch(`${ev.connection.baseUrl}/api/wlac/v1/meter`, { headers: { Authorization: TOKEN } });
    expect(((await meter.json()) as Record<string, unknown>)['PowerTotal']).toBe(6_900);

    const client = connect(mqtt.url, { clientId: 'service-json-test' });
    const seen: string[] = [];
    client.on('message', (topic) => void seen.push(topic));
    await client.subscribeAsync('shellypro3em-grid-1/status/#');
    try {
      await waitFor(
        () => {
          tick?.();
          return seen.includes('shellypro3em-grid-1/status/em:0');
        },
        { message: 'a Shelly status on the broker', intervalMs: 100 },
      );
    } finally {
      await client.endAsync(true);
    }
    const beat = await waitFor(
      () =>
        heartbeats.find(
          (h) =>
            h.service === 'simulator' &&
            (h.counters?.['ev-1.reads'] ?? 0) >= 1 &&
            (h.counters?.['grid-1.reads'] ?? 0) >= 2,
        ),
      { message: 'a heartbeat counting the JSON devices' },
    );
    expect(beat.assets).toBeUndefined();
  });
});
