// The control path through the physics, on the sim profile docker/config/assets.sim-devices.json (simulator process,
// real sockets, real Mosquitto): an ev-current write from the arbiter user → http-devices → PATCH on the simulated
// Peblar → the car draws less → the site's grid power, read from the simulated Shelly meter over MQTT, falls by the
// same amount (grid = load + ev − pv − battery).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AssetReading } from '@voltimax/contracts';
import {
  NATS_CONFIG_PATH,
  startMqtt,
  startNats,
  waitFor,
  type NatsTestServer,
  type TestServer,
} from '@voltimax/testing';
import {
  connectAs,
  newestReading,
  runHttpDevices,
  sendWrite,
  writeSite,
  type BusClient,
  type RunningService,
} from './testing/harness';
import { startSimulatorProcess, type SimulatorProcess } from './testing/simulator';

const SIM_PROFILE = join(__dirname, '../../../docker/config/assets.sim-devices.json');
const TOKEN = 'closed-loop-token-42';

describe('ev-current write closes the loop through the simulated site', () => {
  let nats: NatsTestServer;
  let mqtt: TestServer;
  let sim: SimulatorProcess;
  let service: RunningService;
  let observer: BusClient;
  let arbiter: BusClient;
  let site: { readonly path: string; remove(): void } | undefined;

  beforeAll(async () => {
    [nats, mqtt] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startMqtt()]);
    sim = await startSimulatorProcess(nats.url, JSON.parse(readFileSync(SIM_PROFILE, 'utf8')), {
      MQTT_URL: mqtt.url,
      SIM_PEBLAR_TOKEN: TOKEN,
      SIM_EV_CAR_MAX_CURRENT_A: '16',
      SIM_EV_INITIAL_LIMIT_A: '16',
    });
    // The whole resolved site: the Modbus battery and inverter are modbus-poller's (http-devices leaves them).
    const assets = (sim.raw['assets'] as { connection: { protocol: string } }[]).map((a) =>
      a.connection.protocol === 'http' || a.connection.protocol === 'mqtt' ? { ...a, pollIntervalMs: 250 } : a,
    );
    site = writeSite({ ...sim.raw, assets });
    [observer, arbiter] = await Promise.all([
      connectAs(nats.url, 'dashboard', true),
      connectAs(nats.url, 'safety-arbiter', false),
    ]);
    service = await runHttpDevices({
      natsUrl: nats.url,
      siteFile: site.path,
      env: { PEBLAR_TOKEN: TOKEN },
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await Promise.all([observer?.close(), arbiter?.close()]);
    await sim?.stop();
    site?.remove();
    await Promise.all([nats?.stop(), mqtt?.stop()]);
  });

  const reading = (assetId: string, predicate: (r: AssetReading) => boolean, message: string) =>
    waitFor(() => newestReading(observer.readings, assetId, predicate), { timeoutMs: 10_000, message });

  it('6 A instead of 16 A: the charger draws 6 900 W less and the grid meter sees it', async () => {
    expect(sim.site.assets.map((a) => [a.id, a.connection.protocol])).toEqual([
      ['bat-1', 'modbus-tcp'],
      ['inv-1', 'modbus-tcp'],
      ['grid-1', 'mqtt'],
      ['ev-1', 'http'],
    ]);
    await reading('ev-1', (r) => r.quality === 'good' && r.values.powerW === 11_040, 'the car charging at 16 A');
    // A grid reading measured after the site stepped with the car at 16 A.
    const before = await reading('grid-1', (r) => r.quality === 'good', 'a grid reading while charging at 16 A');

    const result = await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 6 });
    expect(result).toMatchObject({ status: 'applied', readBack: 6 });
    const slower = await reading('ev-1', (r) => r.quality === 'good' && r.values.powerW === 4_140, 'the car at 6 A');
    // The simulator steps once a second: wait for a grid reading measured well after the write.
    const afterWrite = await reading(
      'grid-1',
      (r) => r.quality === 'good' && r.atMs > slower.atMs + 1_500,
      'a grid reading two steps after the write',
    );
    const dropW = (before.values.powerW ?? 0) - (afterWrite.values.powerW ?? 0);
    // 6 900 W from the charger; the synthetic load and PV move a little over those seconds.
    expect(dropW).toBeGreaterThan(6_600);
    expect(dropW).toBeLessThan(7_200);
  });
});
