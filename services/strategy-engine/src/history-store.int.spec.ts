import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ensureKv } from '@voltimax/bus';
import type { NatsConnection } from '@nats-io/transport-node';
import { INITIAL_METER_MEMORY, siteHistoryOf } from '@voltimax/strategies';
import { connectNatsAs, NATS_CONFIG_PATH, startNats, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import { pino } from 'pino';
import { HISTORY_BUCKET, kvHistoryStore } from './history-store';

const log = pino({ level: 'silent' });
let server: NatsTestServer;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  // The project's nats.conf: the engine's own user and grants; not provisioned yet (the first test needs the bucket
  // missing), the second provisions it as `voltimax bus init` does.
  server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await server.stop();
});

async function connectAs(user: NatsUser): Promise<NatsConnection> {
  const nc = await connectNatsAs(server.url, user);
  connections.push(nc);
  return nc;
}

const history = siteHistoryOf({ ...INITIAL_METER_MEMORY, monthKey: '2026-01', monthPeakW: 3_210, historyDay: [20_454, -1, -1, -1, -1, -1, -1] }, 1_767_225_600_000);

describe('kvHistoryStore against nats-server with the project configuration', () => {
  it('before the bucket is provisioned there is no history and nothing to save into; the engine cannot create it', async () => {
    const engineNc = await connectAs('strategy-engine');
    const store = kvHistoryStore(engineNc, { log, key: 'gw-hist' });
    expect(await store.load()).toEqual({ status: 'absent' });
    expect(await store.save(history)).toBe(false);
    // A stream's subjects are not checked against the creator's grants: the engine must not be able to create one.
    await expect(new Kvm(engineNc).create(HISTORY_BUCKET.name)).rejects.toThrow(/Permissions Violation/);
    await expect(jetstreamManager(engineNc).then((jsm) => jsm.streams.add({ name: 'CAPTURE', subjects: ['device.*.write'] }))).rejects.toThrow(
      /Permissions Violation/,
    );
  });

  it('once provisioned, the engine saves, and a later start reads back what the last one saved', async () => {
    await ensureKv(await connectAs('provisioner'), HISTORY_BUCKET);
    const first = kvHistoryStore(await connectAs('strategy-engine'), { log, key: 'gw-hist' });
    expect(await first.load()).toEqual({ status: 'absent' });
    expect(await first.save(history)).toBe(true);

    const restarted = kvHistoryStore(await connectAs('strategy-engine'), { log, key: 'gw-hist' });
    expect(await restarted.load()).toEqual({ status: 'found', value: JSON.parse(JSON.stringify(history)) });
    // Another gateway's key is its own.
    expect(await kvHistoryStore(await connectAs('strategy-engine'), { log, key: 'gw-other' }).load()).toEqual({ status: 'absent' });
    // File storage, the latest value only.
    const status = await (await new Kvm(await connectAs('strategy-engine')).open(HISTORY_BUCKET.name)).status();
    expect(status.streamInfo.config.storage).toBe('file');
    expect(status.history).toBe(1);
  });

  it.each<NatsUser>(['cloud-bridge', 'dashboard', 'modbus-poller'])('%s can neither write nor read it', async (user) => {
    const engine = kvHistoryStore(await connectAs('strategy-engine'), { log, key: 'gw-perm' });
    expect(await engine.save(history)).toBe(true);
    const other = await connectAs(user);
    await expect(other.request(`$KV.${HISTORY_BUCKET.name}.gw-perm`, '{"v":1}', { timeout: 1_000 })).rejects.toThrow(/Permissions Violation/);
    await expect(other.request(`$JS.API.DIRECT.GET.KV_${HISTORY_BUCKET.name}.$KV.${HISTORY_BUCKET.name}.gw-perm`, '', { timeout: 1_000 })).rejects.toThrow(
      /Permissions Violation/,
    );
    expect(await engine.load()).toEqual({ status: 'found', value: JSON.parse(JSON.stringify(history)) });
  });

  it('reports a store it cannot reach as failed, not as empty (so a fresh history does not overwrite it)', async () => {
    const nc = await connectAs('strategy-engine');
    const store = kvHistoryStore(nc, { log, key: 'gw-hist' });
    await nc.close();
    expect(await store.load()).toEqual({ status: 'failed' });
    expect(await store.save(history)).toBe(false);
  });
});
