// The bacnet driver run by the real driver host (services/driver-host as its own process, NATS user driver-host,
// loading `@voltimax/driver-bacnet` by package name into a worker thread) against a simulated BACnet device on
// 127.81.60.x: polled readings and COV pushes on telemetry.<assetId>, the arbiter's writes answered with the
// priority-array read-back, the safe set-point (relinquish) when a write expires, counters in the heartbeat.
import { SiteConfigSchema, type WriteResult } from '@voltimax/contracts';
import { connectAs, sendDeviceWrite, writeSiteFile, type BusClient } from '@voltimax/driver-sdk/testing';
import {
  NATS_CONFIG_PATH,
  startNats,
  startServiceProcess,
  waitFor,
  type NatsTestServer,
  type ServiceProcess,
} from '@voltimax/testing';
import { SimulatedBacnetDevice } from './testing';

jest.setTimeout(120_000);

const WAIT = { timeoutMs: 60_000 };

let nats: NatsTestServer;
let device: SimulatedBacnetDevice;
let site: { readonly path: string; readonly remove: () => void };
let host: ServiceProcess;
let observer: BusClient;
let arbiter: BusClient;

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
  device = await SimulatedBacnetDevice.start({
    host: '127.81.60.2',
    port: 0,
    deviceInstance: 1201,
    name: 'BESS-1',
    objects: [
      { object: 'analog-input:3', presentValue: -2.5 },
      { object: 'analog-value:1', presentValue: 55 },
      { object: 'analog-value:10', presentValue: 0, commandable: true },
    ],
  });
  const siteJson = {
    v: 1,
    gatewayId: 'gw-bacnet',
    siteName: 'bacnet through the driver host',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 17_000 },
    assets: [
      {
        id: 'bess-1',
        name: 'BESS over BACnet',
        kind: 'battery',
        profile: 'bacnet.mapped',
        // a long poll: changes in between can only arrive as COV pushes
        pollIntervalMs: 600_000,
        battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
        connection: {
          protocol: 'plugin',
          driver: 'bacnet',
          options: {
            address: device.address,
            deviceInstance: 1201,
            points: { powerW: { object: 'analog-input:3', scale: 1000, sign: -1 }, socPct: 'analog-value:1' },
            setpoints: { 'battery-power': { object: 'analog-value:10', priority: 8 } },
            cov: { lifetimeS: 300 },
          },
        },
      },
    ],
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    drivers: [
      {
        name: 'bacnet',
        module: '@voltimax/driver-bacnet',
        options: { interface: '127.81.60.1', port: 0, apduTimeoutMs: 1_000 },
      },
    ],
  };
  SiteConfigSchema.parse(siteJson);
  site = writeSiteFile(siteJson, 'driver-bacnet-host-');
  observer = await connectAs(nats.url, 'safety-arbiter', true);
  arbiter = await connectAs(nats.url, 'safety-arbiter', false);
  host = startServiceProcess('driver-host', nats.url, {
    SITE_FILE: site.path,
    HEARTBEAT_MS: '200',
    LOG_LEVEL: 'info',
    START_TIMEOUT_MS: '60000',
    READ_TIMEOUT_MS: '5000',
    WRITE_TIMEOUT_MS: '5000',
  });
});

afterAll(async () => {
  await host?.stop();
  await observer?.close();
  await arbiter?.close();
  await device?.close();
  site?.remove();
  await nats?.stop();
});

const reading = (predicate: (values: Record<string, number | undefined>) => boolean, from = 0) =>
  waitFor(
    () => {
      if (host.exit() !== undefined) throw new Error(host.tail());
      return observer.readings
        .slice(from)
        .find((r) => r.assetId === 'bess-1' && r.quality === 'good' && predicate(r.values));
    },
    { ...WAIT, message: 'a reading of bess-1' },
  );

describe('bacnet driver in the driver host', () => {
  it('publishes readings, and COV pushes between polls', async () => {
    const first = await reading((v) => v['powerW'] === 2500 && v['socPct'] === 55);
    expect(first).toMatchObject({ kind: 'battery', values: { powerW: 2500, socPct: 55 } });
    await waitFor(() => device.subscriptions().length === 2, { ...WAIT, message: 'two COV subscriptions' });

    device.setValue('ai:3', 1.2);

    const pushed = await reading((v) => v['powerW'] === -1200);
    expect(pushed.values).toEqual({ powerW: -1200, socPct: 55 });
    // no poll in between (at most the host's first one): the change came as a push
    expect(device.requestsOf('read-property-multiple').length).toBeLessThanOrEqual(1);
  });

  it("answers the arbiter's write with the read-back: mismatch while an operator holds priority 3, applied after", async () => {
    device.command('av:10', 3, -300);

    const held: WriteResult = await sendDeviceWrite(
      arbiter.bus,
      'bess-1',
      { kind: 'battery-power', powerW: 1500 },
      { timeoutMs: 10_000 },
    );

    expect(held).toMatchObject({ assetId: 'bess-1', status: 'mismatch', readBack: -300 });
    expect(held.error).toContain('priority 3 (higher than our 8) holds -300');
    expect(device.priorityArray('av:10')[7]).toBe(1500);

    device.command('av:10', 3, null);
    const applied = await sendDeviceWrite(
      arbiter.bus,
      'bess-1',
      { kind: 'battery-power', powerW: 1200 },
      { timeoutMs: 10_000 },
    );
    expect(applied).toMatchObject({ status: 'applied', readBack: 1200 });
  });

  it('relinquishes our slot (the safe set-point) when a write expires without a newer one', async () => {
    const result = await sendDeviceWrite(
      arbiter.bus,
      'bess-1',
      { kind: 'battery-power', powerW: 800 },
      { validForMs: 1_000, timeoutMs: 10_000 },
    );
    expect(result).toMatchObject({ status: 'applied', readBack: 800 });

    await waitFor(() => device.priorityArray('av:10')[7] === null, { ...WAIT, message: 'priority 8 relinquished' });
    expect(device.requestsOf('write-property', 'av:10').at(-1)).toMatchObject({ priority: 8, value: null });
    expect(device.presentValue('av:10')).toBe(0);
  });

  it("reports the driver's counters in the host's heartbeat", async () => {
    const beat = await waitFor(
      () =>
        observer.heartbeats
          .filter((b) => b.service === 'driver-host')
          .reverse()
          .find((b) => (b.counters?.['bacnet.writes'] ?? 0) >= 3),
      { ...WAIT, message: 'a heartbeat with the bacnet counters' },
    );
    expect(beat.counters).toMatchObject({
      'bacnet.covActive': 2,
      'bacnet.devicesNotAnswering': 0,
      'bacnet.writesMismatch': 1,
    });
  });
});
