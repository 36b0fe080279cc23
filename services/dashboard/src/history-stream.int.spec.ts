// The chart's past from stream TELEMETRY, against a real nats-server from docker/nats/nats.conf: the stream is made
// by the provisioner user (as `voltimax bus init`), readings are published by the modbus-poller user, and the backfill
// reads as the dashboard user — which proves its read-only grant is enough, and no more.
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { captureLogger } from '@voltimax/bus/testing';
import type { AssetReading } from '@voltimax/contracts';
import { connectNatsAs, NATS_CONFIG_PATH, type NatsTestServer, type NatsUser, startNats } from '@voltimax/testing';
import { HistoryBuckets } from './history';
import { backfillFromStream } from './history-stream';

const BUCKET = 300_000;
const DAY = 86_400_000;

let server: NatsTestServer;
const connections: NatsConnection[] = [];

async function as(user: NatsUser): Promise<NatsConnection> {
  const nc = await connectNatsAs(server.url, user);
  connections.push(nc);
  return nc;
}

function grid(atMs: number, powerW: number, sequence: number): AssetReading {
  return { v: 1, assetId: 'grid-1', kind: 'grid-meter', atMs, sequence, quality: 'good', values: { powerW } };
}

beforeAll(async () => {
  // Not provisioned: the first test needs TELEMETRY missing.
  server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await server.stop();
});

describe('backfillFromStream (as the dashboard user)', () => {
  it('says why when stream TELEMETRY does not exist yet', async () => {
    const dashboard = await as('dashboard');
    const buckets = new HistoryBuckets(BUCKET, DAY);
    await expect(
      backfillFromStream({
        nc: dashboard,
        buckets,
        nowMs: Date.now(),
        maxSamplesPerAsset: 100,
        concurrency: 8,
        timeoutMs: 2_000,
        log: captureLogger().log,
      }),
    ).rejects.toThrow(/stream not found/i);
  });

  it('reads every reading of the window when there are few, and samples evenly when there are many', async () => {
    const provisioner = await as('provisioner');
    const jsm = await jetstreamManager(provisioner);
    await jsm.streams.add({ name: 'TELEMETRY', subjects: ['telemetry.*'], max_age: nanos(72 * 3_600_000) });

    const poller = await as('modbus-poller');
    const nowMs = Date.now();
    const start = Math.floor((nowMs - 3 * 3_600_000) / BUCKET) * BUCKET;
    // grid-1: three readings in one bucket three hours ago (measurement time in the payload).
    [1_000, 2_000, 3_000].forEach((w, i) =>
      poller.publish('telemetry.grid-1', JSON.stringify(grid(start + i * 1_000, w, i))),
    );
    // bat-1: 600 readings over the last 50 minutes; one of another day; one that is not a reading.
    for (let i = 0; i < 600; i += 1) {
      const reading: AssetReading = {
        v: 1,
        assetId: 'bat-1',
        kind: 'battery',
        atMs: nowMs - 3_000_000 + i * 5_000,
        sequence: i,
        quality: 'good',
        values: { powerW: 1_000, socPct: 50 },
      };
      poller.publish('telemetry.bat-1', JSON.stringify(reading));
    }
    poller.publish('telemetry.bat-1', JSON.stringify({ ...grid(nowMs - 2 * DAY, 1, 0), assetId: 'bat-1' }));
    poller.publish('telemetry.bat-1', '{"not":"a reading"}');
    await poller.flush();

    const dashboard = await as('dashboard');
    const buckets = new HistoryBuckets(BUCKET, DAY);
    const result = await backfillFromStream({
      nc: dashboard,
      buckets,
      nowMs,
      maxSamplesPerAsset: 100,
      concurrency: 16,
      timeoutMs: 2_000,
      log: captureLogger().log,
    });

    expect(result.subjects).toBe(2);
    const points = buckets.points(nowMs, undefined);
    expect(points[0]).toMatchObject({ atMs: start + BUCKET / 2, gridW: 2_000 }); // all three, averaged
    const batteryPoints = points.filter((p) => p.socPct !== null);
    expect(batteryPoints.length).toBeGreaterThanOrEqual(10); // 50 min of 5-min buckets, every one sampled
    expect(batteryPoints.every((p) => p.batteryW === 1_000 && p.socPct === 50)).toBe(true);
    // bat-1: at most the cap (100) of its 602 messages were read, spread over the window; plus grid-1's three.
    expect(result.samples).toBeGreaterThan(50);
    expect(result.samples).toBeLessThanOrEqual(103);
    expect(result.requests).toBeLessThan(200);
  });

  it('may read the stream, but neither consume it nor change it', async () => {
    const dashboard = await as('dashboard');
    const jsm = await jetstreamManager(dashboard);
    await expect(
      jsm.consumers.add('TELEMETRY', { durable_name: 'dash', ack_policy: AckPolicy.Explicit }),
    ).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.streams.purge('TELEMETRY')).rejects.toThrow(/Permissions Violation/);
    await expect(jsm.streams.delete('TELEMETRY')).rejects.toThrow(/Permissions Violation/);
    expect((await jsm.streams.info('TELEMETRY')).state.messages).toBe(605);
  });
});
