// The worked example end to end: driver-host loads @voltimax/driver-example-keba by its package name (from its
// TypeScript sources through the workspace's path alias, as in development), drives a KEBA station double over real
// UDP on the loopback, and answers the arbiter's writes with the station's read-back.
import { KebaStationDouble } from '@voltimax/driver-example-keba/testing';
import { waitFor } from '@voltimax/testing';
import {
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
let station: KebaStationDouble;
let observer: BusClient;
let arbiter: BusClient;
let host: RunningHost;
let site: ReturnType<typeof writeSite>;

beforeAll(async () => {
  stack = await startBusStack();
  ({ observer, arbiter } = stack);
  station = await KebaStationDouble.start();
  site = writeSite(
    siteJson(
      [
        pluginAsset(
          'ev-keba',
          'keba',
          // 2 s: a stalled main thread must not count a timeout (the heartbeat below expects none).
          { host: '127.0.0.1', port: station.port, replyTimeoutMs: 2_000 },
          { kind: 'ev-charger', pollIntervalMs: 500 },
        ),
      ],
      [{ name: 'keba', module: '@voltimax/driver-example-keba', options: { bindAddress: '127.0.0.1', localPort: 0 } }],
    ),
  );
  // A disabling command makes the station pause 2 s before the read-back: the write timeout must allow it.
  host = await runDriverHost({ natsUrl: stack.nats.url, siteFile: site.path, env: { WRITE_TIMEOUT_MS: '5000' } });
});

afterAll(async () => {
  await host?.stop();
  await station?.close();
  site?.remove();
  await stack?.stop();
});

describe('driver-host with the KEBA example driver', () => {
  it('publishes the station readings with the connector state', async () => {
    const reading = await waitForReading(observer, 'ev-keba', (r) => r.quality === 'good');
    expect(reading).toMatchObject({
      kind: 'ev-charger',
      chargerState: 'suspended',
      values: { currentLimitA: 16, powerW: 0, sessionEnergyWh: 1_234.5, importEnergyWh: 9_876_543.2 },
    });
  });

  it('executes an ev-current write of the arbiter with the station read-back, and the change arrives pushed', async () => {
    const result = await sendDeviceWrite(
      arbiter.bus,
      'ev-keba',
      { kind: 'ev-current', currentA: 10 },
      { validForMs: 8_000 },
    );
    expect(result).toMatchObject({ assetId: 'ev-keba', status: 'applied', readBack: 10 });
    expect(station.commands.map((c) => c.text)).toContain('currtime 10000 1');
    // The station's status messages ("State", "Max curr") are pushed at once; power and currents come with the next
    // report 3 (fetched at most every 5 s).
    const from = observer.readings.length;
    await waitForReading(observer, 'ev-keba', (r) => r.chargerState === 'charging' && r.values.currentLimitA === 10, {
      from,
    });
    const measured = await waitForReading(observer, 'ev-keba', (r) => r.values.powerW === 6_900, { from });
    expect(measured.values).toMatchObject({ currentLimitA: 10, currentL1A: 10, currentL2A: 10, currentL3A: 10 });
  });

  it('stops the charger through the driver when the write expires (watchdog safe set-point)', async () => {
    await waitFor(() => station.commands.find((c) => c.text === 'currtime 0 1'), {
      timeoutMs: 20_000,
      message: 'currtime 0 1',
    });
    const beat = await waitForHeartbeat(observer, (b) => (b.counters?.['watchdogSafe'] ?? 0) >= 1);
    expect(beat.counters).toMatchObject({ 'keba.timeouts': 0, 'driver.keba.up': 1 });
    expect(station.fields['Curr timer'] === 0 || station.fields['Curr user'] === 0).toBe(true);
  });

  it('refuses currents the station cannot take with the driver reason', async () => {
    const result = await sendDeviceWrite(arbiter.bus, 'ev-keba', { kind: 'ev-current', currentA: 3 });
    expect(result).toMatchObject({ status: 'rejected', error: 'KEBA takes 0 A or 6–63 A, not 3 A' });
  });
});
