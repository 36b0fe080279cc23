// Cloud down, 24 h of 1 Hz telemetry from 10 assets (864,000 readings) stored in TELEMETRY, cloud back: every reading
// reaches the cloud exactly once after de-duplication by frameId, in order per asset, and the publisher's memory
// stays bounded while it drains. Real nats-server (project nats.conf), real Mosquitto, the publisher as its own
// process (main.ts), the gateway's internet link a real TCP proxy that the test cuts and restores.
import { startLinkProxy, type LinkProxy } from '@voltimax/cloud/testing';
import {
  NATS_CONFIG_PATH,
  startMqtt,
  startNats,
  waitFor,
  type NatsTestServer,
  type TestServer,
} from '@voltimax/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  CloudRecorder,
  connectAs,
  HeartbeatWatch,
  publisherEnv,
  readingsAt1Hz,
  startPublisherProcess,
  streamState,
  TelemetryDriver,
  writeSite,
  type PublisherProcess,
} from './testing/harness';

const ASSETS = Array.from({ length: 10 }, (_, i) => `meter-${i}`);
const SECONDS = 24 * 3600;
const READINGS = SECONDS * ASSETS.length;
const BASE_MS = Date.UTC(2026, 0, 1);
/**
 * The publisher's V8 heap is capped at this (`--max-old-space-size`): a publisher that held the backlog in memory
 * (~864,000 readings, > 500 MB as objects) would die of it, and the test would fail.
 */
const HEAP_CAP_MB = 160;
/** Generous bound of the publisher's whole resident set (node, swc, libraries, buffers, heap) while draining. */
const RSS_BOUND_MIB = 400;

jest.setTimeout(420_000);

describe('telemetry-publisher after a 24 h cloud outage', () => {
  let nats: NatsTestServer;
  let mqtt: TestServer;
  let link: LinkProxy;
  let admin: NatsConnection;
  let driver: TelemetryDriver;
  let heartbeats: HeartbeatWatch;
  let cloud: CloudRecorder;
  let publisher: PublisherProcess | undefined;
  let site: ReturnType<typeof writeSite>;
  const gatewayId = 'gw-outage';

  beforeAll(async () => {
    nats = await startNats({ config: NATS_CONFIG_PATH });
    mqtt = await startMqtt();
    const broker = new URL(mqtt.url);
    link = await startLinkProxy({ host: broker.hostname, port: Number(broker.port) });
    admin = await connectAs(nats.url, 'telemetry-publisher', 'test-admin');
    driver = await TelemetryDriver.connect(nats.url);
    heartbeats = await HeartbeatWatch.start(nats.url);
    cloud = new CloudRecorder(gatewayId);
    await cloud.subscribe(mqtt.url);
    site = writeSite(gatewayId, { transport: 'mqtt', brokerUrl: `mqtt://${link.host}:${link.port}` });
  });

  afterAll(async () => {
    await publisher?.stop();
    await Promise.allSettled([driver?.close(), admin?.close(), heartbeats?.close(), cloud?.close()]);
    await link?.close();
    await mqtt?.stop();
    await nats?.stop();
    site?.remove();
  });

  it('delivers all 864,000 readings exactly once, in order per asset, with bounded memory', async () => {
    await link.cut();
    publisher = startPublisherProcess({
      ...publisherEnv({ natsUrl: nats.url, siteFile: site.path, extra: { BACKLOG_READINGS_PER_S: '0' } }),
      NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}`,
    });
    await waitFor(() => heartbeats.started(), {
      timeoutMs: 30_000,
      message: `the publisher started\n${publisher.tail()}`,
    });

    // As the driver: async JetStream publishes, 20,000 in flight, each confirmed by its PubAck.
    expect(await driver.publish(readingsAt1Hz(ASSETS, 0, SECONDS, BASE_MS), { msgId: false })).toBe(READINGS);
    expect((await streamState(admin)).messages).toBe(READINGS);

    // While the cloud is away the backlog is visible on the heartbeat: every reading, and how old the oldest is.
    // (Degraded once a send to the cloud has failed, which may come a heartbeat after the backlog is counted.)
    const offline = await waitFor(
      () =>
        heartbeats.counter('backlogReadings') === READINGS && heartbeats.latest?.status === 'degraded' ? heartbeats.latest : undefined,
      {
        timeoutMs: 30_000,
        message: 'the whole backlog on a degraded heartbeat',
      },
    );
    expect(offline.counters?.['backlogOldestAgeMs']).toBeGreaterThan(0);
    expect(offline.status).toBe('degraded');
    expect(offline.detail).toMatch(/cloud not reachable/);
    expect(cloud.unique).toBe(0);

    let maxRssMib = 0;
    const sampler = setInterval(() => {
      const rss = publisher?.rssMib() ?? Number.NaN;
      if (Number.isFinite(rss)) maxRssMib = Math.max(maxRssMib, rss);
    }, 100);
    try {
      await link.restore();
      await waitFor(() => cloud.unique >= READINGS, {
        timeoutMs: 300_000,
        intervalMs: 250,
        message: `every reading in the cloud (${cloud.unique} so far)\n${publisher.tail()}`,
      });
    } finally {
      clearInterval(sampler);
    }

    expect(cloud.check(ASSETS, SECONDS)).toEqual({ missing: 0, duplicated: 0, outOfOrder: 0 });
    expect(cloud.invalid).toBe(0);
    expect(cloud.frames.some((f) => f.gzip)).toBe(true);
    expect(maxRssMib).toBeGreaterThan(0);
    expect(maxRssMib).toBeLessThan(RSS_BOUND_MIB);

    const drained = await waitFor(() => (heartbeats.counter('backlogReadings') === 0 ? heartbeats.latest : undefined), {
      timeoutMs: 30_000,
      message: 'backlog 0 on the heartbeat',
    });
    expect(drained.counters).toMatchObject({
      readingsSent: READINGS,
      readingsLost: 0,
      readingsInvalid: 0,
      backlogOldestAgeMs: 0,
      laneSplits: 1,
      lanes: 1,
    });
    expect(drained.status).toBe('ok');
    // The backlog lane (the original consumer, split off when the link came back) was deleted once drained; the
    // live lane starts right after the backlog.
    const state = await streamState(admin);
    expect(state.consumers.map((c) => c.name)).toEqual([`telemetry-publisher-${READINGS + 1}`]);
    process.stdout.write(
      `telemetry-publisher 24 h backlog: ${cloud.frames.length} frames, publisher peak RSS ${maxRssMib.toFixed(0)} MiB\n`,
    );
  });
});
