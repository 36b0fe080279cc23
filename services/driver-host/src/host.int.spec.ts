// driver-host end to end: a real nats-server from docker/nats/nats.conf, driver plugins loaded from local paths into
// worker threads, readings on telemetry.<assetId>, writes from the arbiter's user answered with the driver's read-back.
import { join, relative } from 'node:path';
import { connect, RequestError } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@voltimax/contracts';
import { waitFor } from '@voltimax/testing';
import {
  DRIVER_HOST_PASSWORD,
  FIXTURES,
  pluginAsset,
  runDriverHost,
  sendDeviceWrite,
  siteJson,
  startBusStack,
  waitForHeartbeat,
  waitForReading,
  writeSite,
  type BusClient,
  type BusStack,
  type RunningHost,
} from './testing/harness';

jest.setTimeout(120_000);

let stack: BusStack;
let observer: BusClient;
let arbiter: BusClient;
let host: RunningHost;
let site: ReturnType<typeof writeSite>;

beforeAll(async () => {
  stack = await startBusStack();
  ({ observer, arbiter } = stack);
  site = writeSite({});
  const batteryModule = relative(site.dir, join(FIXTURES, 'battery.ts'));
  site.remove();
  site = writeSite(
    siteJson(
      [
        pluginAsset('bat-a', 'battery', { maxPowerW: 5_000, initialSocPct: 40 }),
        pluginAsset('bat-b', 'battery-offset', { maxPowerW: 3_000, stepW: 100 }),
        pluginAsset('meter-1', 'meter', { powerW: 1_234 }, { kind: 'grid-meter' }),
      ],
      [
        // A path relative to the site file's folder, and an absolute one; the same module twice under two names.
        { name: 'battery', module: batteryModule.startsWith('.') ? batteryModule : `./${batteryModule}` },
        { name: 'battery-offset', module: join(FIXTURES, 'battery.ts'), options: { offsetW: 7 } },
        { name: 'meter', module: join(FIXTURES, 'meter-push.ts'), options: { periodMs: 100 } },
      ],
    ),
  );
  host = await runDriverHost({ natsUrl: stack.nats.url, siteFile: site.path });
});

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  site?.remove();
});

describe('driver-host with well-behaved plugins', () => {
  it('publishes the readings a polled driver returns, each driver with its own host options', async () => {
    const a = await waitForReading(observer, 'bat-a', (r) => r.quality === 'good');
    expect(a).toMatchObject({ kind: 'battery', values: { powerW: 0, setpointW: 0, socPct: 40 } });
    const b = await waitForReading(observer, 'bat-b', (r) => r.quality === 'good');
    expect(b.values).toMatchObject({ powerW: 7, socPct: 50 });
  });

  it('publishes the samples a pushing driver sends, with sequences counting up', async () => {
    await waitFor(() => observer.readings.filter((r) => r.assetId === 'meter-1' && r.quality === 'good').length >= 3, {
      timeoutMs: 30_000,
      message: 'three pushed readings of meter-1',
    });
    const pushed = observer.readings.filter((r) => r.assetId === 'meter-1');
    expect(pushed[0]).toMatchObject({ kind: 'grid-meter', values: { powerW: 1_234 } });
    expect(pushed.map((r) => r.sequence)).toEqual(pushed.map((_r, i) => i));
  });

  it('executes a write of the arbiter through the driver and answers with its read-back', async () => {
    const result = await sendDeviceWrite(arbiter.bus, 'bat-a', { kind: 'battery-power', powerW: -2_500 });
    expect(result).toMatchObject({ assetId: 'bat-a', status: 'applied', readBack: -2_500 });
    const from = observer.readings.length;
    const reading = await waitForReading(observer, 'bat-a', (r) => r.values.powerW === -2_500, { from });
    expect(reading.values.setpointW).toBe(-2_500);
    const again = await sendDeviceWrite(arbiter.bus, 'bat-a', { kind: 'battery-power', powerW: -2_500 });
    expect(again).toMatchObject({ status: 'unchanged', readBack: -2_500 });
  });

  it('hands the driver the arbiter’s bounds: a device with 100 W steps takes the step inside them', async () => {
    const plain = await sendDeviceWrite(arbiter.bus, 'bat-b', { kind: 'battery-power', powerW: 2_450 });
    expect(plain).toMatchObject({ status: 'applied', readBack: 2_400 });
    // A lower bound (a discharge that holds the import under the fuse) excludes 2 400 W: the step above.
    const bounded = await sendDeviceWrite(
      arbiter.bus,
      'bat-b',
      { kind: 'battery-power', powerW: 2_450 },
      { bounds: { min: 2_420, max: 3_000 } },
    );
    expect(bounded).toMatchObject({ status: 'applied', readBack: 2_500 });
    // The safe set-point the watchdog writes has no bounds; back to 0 for the tests after this one.
    expect(await sendDeviceWrite(arbiter.bus, 'bat-b', { kind: 'safe' })).toMatchObject({ readBack: 0 });
  });

  it('passes the driver its refusal (beyond the asset options) and refuses set-point kinds the driver does not list', async () => {
    const tooMuch = await sendDeviceWrite(arbiter.bus, 'bat-b', { kind: 'battery-power', powerW: 4_000 });
    expect(tooMuch).toMatchObject({ status: 'rejected', error: '|4000| W exceeds maxPowerW 3000' });
    const wrongKind = await sendDeviceWrite(arbiter.bus, 'bat-b', { kind: 'ev-current', currentA: 6 });
    expect(wrongKind).toMatchObject({
      status: 'rejected',
      error: "driver 'battery-offset' cannot write 'ev-current' (it writes: battery-power)",
    });
    const readOnly = await sendDeviceWrite(arbiter.bus, 'meter-1', { kind: 'safe' });
    expect(readOnly).toMatchObject({ status: 'rejected', error: "driver 'meter' is read-only" });
  });

  it('writes the safe set-point through the driver when a write expires without a newer one', async () => {
    const result = await sendDeviceWrite(
      arbiter.bus,
      'bat-b',
      { kind: 'battery-power', powerW: 1_500 },
      { validForMs: 3_000 },
    );
    expect(result).toMatchObject({ status: 'applied', readBack: 1_500 });
    const from = observer.readings.length;
    // offsetW 7 is added to every reading of this driver: 0 W set-point → 7 W.
    await waitForReading(observer, 'bat-b', (r) => r.values.setpointW === 0 && r.values.powerW === 7, { from });
    await waitFor(() => host.lines.find((l) => l.msg === 'write expired without a newer one; safe set-point applied'), {
      timeoutMs: 10_000,
      message: 'the watchdog log line',
    });
  });

  it('reports every asset, the drivers and their own counters in its heartbeat', async () => {
    const beat = await waitForHeartbeat(observer, (b) => (b.counters?.['battery.writes'] ?? 0) >= 2);
    expect(beat.status).toBe('ok');
    expect([...(beat.assets ?? [])].sort()).toEqual(['bat-a', 'bat-b', 'meter-1']);
    expect(beat.counters).toMatchObject({
      drivers: 3,
      driversRunning: 3,
      'driver.battery.up': 1,
      'driver.meter.up': 1,
      driverCrashes: 0,
      samplesRejected: 0,
    });
    expect(beat.counters?.['meter.pushed']).toBeGreaterThan(0);
    // The driver threads do not see the host's NATS credentials.
    expect(beat.counters?.['meter.natsEnv']).toBe(0);
  });

  it('cannot publish device writes itself: its NATS user is refused by the server', async () => {
    const nc = await connect({
      servers: stack.nats.url,
      user: 'driver-host',
      pass: DRIVER_HOST_PASSWORD,
      inboxPrefix: inboxPrefixFor('driver-host'),
      reconnect: false,
    });
    try {
      const refused = await nc.request('device.bat-a.write', '{}', { timeout: 2_000 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(RequestError);
      expect(String((refused as RequestError).cause)).toContain(
        'Permissions Violation for Publish to "device.bat-a.write"',
      );
    } finally {
      await nc.close();
    }
  });
});
