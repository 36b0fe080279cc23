import { startRedis, type TestServer } from '@voltimax/testing';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { lastSetpoint, memoryKeys, MEMORY_TTL_MS, redisMemoryStore, toSnapshot } from './memory-store';

const log = pino({ level: 'silent' });
let server: TestServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  // As in main.ts: no offline queue, so commands before the connection is ready fail instead of queueing.
  redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const snapshot = toSnapshot(1_000, { 'net-zero': { integralW: 420 } }, { 'net-zero': 'abc' }, { conditionSinceMs: { night: 5 } });

describe('redisMemoryStore against a real Redis', () => {
  it('saves memories and last setpoints with the 5-minute TTL and loads them back', async () => {
    const store = redisMemoryStore(redis, { log });
    const setpoints = [lastSetpoint('bat-1', { kind: 'battery-power', powerW: -1_200 }, 1_000, 'net-zero:net-zero')];
    expect(await store.save('gw-redis-1', snapshot, setpoints)).toBe(true);

    expect(await store.load('gw-redis-1', ['bat-1', 'bat-2'])).toEqual({ snapshot, setpoints });
    const ttl = await redis.pttl(memoryKeys('gw-redis-1').memory);
    expect(ttl).toBeGreaterThan(MEMORY_TTL_MS - 5_000);
    expect(ttl).toBeLessThanOrEqual(MEMORY_TTL_MS);
    expect(await redis.pttl(memoryKeys('gw-redis-1').setpoint('bat-1'))).toBeGreaterThan(0);
  });

  it('keeps gateways apart by key prefix', async () => {
    const store = redisMemoryStore(redis, { log });
    await store.save('gw-redis-a', snapshot, []);
    expect((await store.load('gw-redis-b', [])).snapshot).toBeUndefined();
  });

  it('ignores an invalid stored value and starts fresh', async () => {
    await redis.set(memoryKeys('gw-redis-bad').memory, '{"v":2}', 'PX', 10_000);
    expect(await redisMemoryStore(redis, { log }).load('gw-redis-bad', [])).toEqual({ snapshot: undefined, setpoints: [] });
  });

  it('starts fresh at once when Redis is unreachable, and a save fails without queueing', async () => {
    const down = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
    down.on('error', () => undefined);
    const store = redisMemoryStore(down, { log, readyTimeoutMs: 200 });
    const started = Date.now();
    expect(await store.load('gw-redis-1', ['bat-1'])).toEqual({ snapshot: undefined, setpoints: [] });
    expect(await store.save('gw-redis-1', snapshot, [])).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    down.disconnect();
  });
});
