import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { HeartbeatSchema } from '@voltimax/contracts';
import { exampleHeartbeat } from '@voltimax/contracts/testing';
import {
  BusValidationError,
  connectBus,
  ensureConsumer,
  ensureKv,
  ensureStream,
  JetStreamConfigConflictError,
  typedKv,
  type BusConnection,
} from '../index';
import { captureLogger } from '../testing';
import { startNats, type NatsTestServer } from '@voltimax/testing';

const run = randomBytes(3).toString('hex');
const NS_PER_MS = 1_000_000;
const HOUR_MS = 3_600_000;

describe('JetStream and KV helpers over a real nats-server', () => {
  let server: NatsTestServer;
  let conn: BusConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    server = await startNats();
    conn = await connectBus({ servers: server.url, name: 'bus-js-int', log: captureLogger('warn').log });
    jsm = await jetstreamManager(conn.nc);
  });

  afterAll(async () => {
    await conn?.nc.drain();
    await server?.stop();
  });

  describe('ensureStream', () => {
    const name = `ITEST_${run}`;
    const spec = { name, subjects: [`itest-${run}.*`], maxAgeMs: 72 * HOUR_MS, maxBytes: 1_000_000 };

    afterAll(async () => {
      await jsm.streams.delete(name).catch(() => undefined);
    });

    it('creates a file stream, changes nothing when called again, and updates the max age', async () => {
      const first = await ensureStream(jsm, spec);
      const second = await ensureStream(jsm, spec);
      const third = await ensureStream(jsm, { ...spec, maxAgeMs: 96 * HOUR_MS });

      expect([first.action, second.action, third.action]).toEqual(['created', 'unchanged', 'updated']);
      expect(first.info.config).toMatchObject({
        storage: 'file',
        max_age: 72 * HOUR_MS * NS_PER_MS,
        max_bytes: 1_000_000,
      });
      const info = await jsm.streams.info(name);
      expect(info.config.max_age).toBe(96 * HOUR_MS * NS_PER_MS);
      expect(info.config.subjects).toEqual([`itest-${run}.*`]);
    });

    it('refuses to change the storage type in place', async () => {
      await ensureStream(jsm, spec);
      await expect(ensureStream(jsm, { ...spec, storage: 'memory' })).rejects.toBeInstanceOf(
        JetStreamConfigConflictError,
      );
    });

    it('creates a durable pull consumer once and updates its ack wait', async () => {
      await ensureStream(jsm, spec);
      const consumer = { durable: `worker-${run}`, filterSubject: `itest-${run}.*`, ackWaitMs: 10_000 };

      const first = await ensureConsumer(jsm, name, consumer);
      const second = await ensureConsumer(jsm, name, consumer);
      const third = await ensureConsumer(jsm, name, { ...consumer, ackWaitMs: 20_000 });

      expect([first.action, second.action, third.action]).toEqual(['created', 'unchanged', 'updated']);
      expect(first.info.config).toMatchObject({ durable_name: `worker-${run}`, ack_policy: 'explicit' });
      expect(first.info.config.deliver_subject).toBeUndefined();
      expect((await jsm.consumers.info(name, `worker-${run}`)).config.ack_wait).toBe(20_000 * NS_PER_MS);
    });
  });

  describe('ensureKv and typedKv', () => {
    const bucket = `itest-${run}`;

    afterAll(async () => {
      await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    });

    it('creates the bucket, changes nothing when called again, and updates the ttl', async () => {
      const first = await ensureKv(conn.nc, { name: bucket, ttlMs: HOUR_MS, history: 3 });
      const second = await ensureKv(conn.nc, { name: bucket, ttlMs: HOUR_MS, history: 3 });
      const third = await ensureKv(conn.nc, { name: bucket, ttlMs: 2 * HOUR_MS, history: 3 });

      expect([first.action, second.action, third.action]).toEqual(['created', 'unchanged', 'updated']);
      const status = await third.kv.status();
      expect(status.ttl).toBe(2 * HOUR_MS);
      expect(status.history).toBe(3);
    });

    it('validates values on put and on get', async () => {
      const { kv } = await ensureKv(conn.nc, { name: bucket, ttlMs: 2 * HOUR_MS, history: 3 });
      const heartbeats = typedKv({ kv, bucket, schema: HeartbeatSchema });

      const revision = await heartbeats.put('poller', exampleHeartbeat);
      expect(await heartbeats.get('poller')).toEqual({ value: exampleHeartbeat, revision });
      expect(await heartbeats.get('absent')).toBeUndefined();

      await expect(heartbeats.put('poller', { ...exampleHeartbeat, status: 'sleepy' as 'ok' })).rejects.toMatchObject({
        name: 'BusValidationError',
        stage: 'kv-put',
      });
      expect((await heartbeats.get('poller'))?.revision).toBe(revision);

      await kv.put('broken', new TextEncoder().encode('{"v":1}'));
      const error = await heartbeats.get('broken').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BusValidationError);
      expect(error).toMatchObject({ stage: 'kv-get', subject: `$KV.${bucket}.broken` });

      await heartbeats.delete('poller');
      expect(await heartbeats.get('poller')).toBeUndefined();
    });
  });
});
