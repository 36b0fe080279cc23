// Two poller instances (POLLER_SHARD 0/2 and 1/2) on one real nats-server split the site's Modbus assets.
import { subjects, type DeviceWrite } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { shardOf } from './assets';
import {
  connectAs,
  runPoller,
  sdm630PeerTables,
  writeSite,
  type BusClient,
  type RunningPoller,
} from './testing/harness';
import { flatten, PEBLAR_HOLDING, PEBLAR_INPUT } from './testing/images';
import { startPeer, type Peer } from '@voltimax/modbus/testing';
import { startRegisterServer, type RegisterServer } from './testing/register-server';
import { siteWith, tcpAsset } from './testing/site';

const METERS = ['meter-a', 'meter-b', 'meter-c', 'meter-d', 'meter-e', 'meter-f'];
const CHARGERS = ['ev-1', 'ev-2', 'ev-3', 'ev-4'];

describe('sharding: two instances split the assets', () => {
  let nats: NatsTestServer;
  let peer: Peer;
  let chargers: RegisterServer;
  let observer: BusClient;
  let arbiter: BusClient;
  const pollers: RunningPoller[] = [];
  let site: { path: string; remove: () => void };

  beforeAll(async () => {
    [nats, chargers, peer] = await Promise.all([
      startNats({ config: NATS_CONFIG_PATH }),
      startRegisterServer({ holding: flatten(PEBLAR_HOLDING), input: flatten(PEBLAR_INPUT) }),
      // One peer, every unit id answers the same SDM630 image (the single-unit shorthand of the map).
      startPeer({ map: sdm630PeerTables() }),
    ]);
    [observer, arbiter] = await Promise.all([
      connectAs(nats.url, 'dashboard', true),
      connectAs(nats.url, 'safety-arbiter', false),
    ]);
    site = writeSite(
      siteWith([
        ...METERS.map((id, i) =>
          tcpAsset(id, 'meter', 'eastron.sdm630', peer.port, { unitId: i + 1, pollIntervalMs: 250 }),
        ),
        ...CHARGERS.map((id, i) =>
          tcpAsset(id, 'ev-charger', 'peblar.home', chargers.port, { unitId: i + 1, pollIntervalMs: 1_000 }),
        ),
      ]),
    );
    pollers.push(
      ...(await Promise.all([
        runPoller({ natsUrl: nats.url, siteFile: site.path, instanceId: 'shard-0', shard: '0/2' }),
        runPoller({ natsUrl: nats.url, siteFile: site.path, instanceId: 'shard-1', shard: '1/2' }),
      ])),
    );
  });

  afterAll(async () => {
    await Promise.all(pollers.map((p) => p.stop()));
    await Promise.all([observer?.close(), arbiter?.close()]);
    await Promise.all([peer?.stop(), chargers?.close()]);
    await nats?.stop();
    site?.remove();
  });

  it('the test site has assets in both shards', () => {
    const shards = new Set([...METERS, ...CHARGERS].map((id) => shardOf(id, 2)));
    expect(shards).toEqual(new Set([0, 1]));
  });

  it('each instance announces a disjoint set of assets, together covering all of them', async () => {
    const assetsOf = (instanceId: string) =>
      waitFor(() => observer.heartbeats.find((b) => b.instanceId === instanceId && b.assets !== undefined)?.assets, {
        message: `${instanceId} heartbeat with its assets`,
      });
    const [zero, one] = await Promise.all([assetsOf('shard-0'), assetsOf('shard-1')]);
    expect(zero.filter((id) => one.includes(id))).toEqual([]);
    expect([...zero, ...one].sort()).toEqual([...METERS, ...CHARGERS].sort());
    expect(zero.every((id) => shardOf(id, 2) === 0)).toBe(true);
  });

  it('every asset is published, each by exactly one instance (one sequence, no duplicates)', async () => {
    await waitFor(
      () => METERS.every((id) => observer.readings.filter((r) => r.assetId === id && r.quality === 'good').length >= 3),
      {
        message: 'three good readings of every meter',
      },
    );
    for (const id of METERS) {
      const sequences = observer.readings.filter((r) => r.assetId === id).map((r) => r.sequence);
      expect(new Set(sequences).size).toBe(sequences.length);
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    }
  });

  it('a write is answered exactly once, by the owning instance; the other one drops it unanswered', async () => {
    const nc = arbiter.connection.nc;
    const replies = new Map<string, string[]>(CHARGERS.map((id) => [id, []]));
    const inbox = `_INBOX_safety-arbiter.sharding-${Date.now()}`; // the arbiter user may subscribe only its own inboxes
    const sub = nc.subscribe(`${inbox}.*`, {
      callback: (_err, msg) => void replies.get(msg.subject.slice(inbox.length + 1))?.push(msg.string()),
    });
    const nowMs = Date.now();
    for (const assetId of CHARGERS) {
      const write: DeviceWrite = {
        v: 1,
        commandId: `cmd-${assetId}`,
        assetId,
        setpoint: { kind: 'ev-current', currentA: 16 },
        issuedAtMs: nowMs,
        expiresAtMs: nowMs + 60_000,
      };
      nc.publish(subjects.deviceWrite.format({ assetId }), JSON.stringify(write), { reply: `${inbox}.${assetId}` });
    }
    // Both instances have seen all four writes: each either executed it or dropped it as another's.
    const seenAll = (instanceId: string) =>
      observer.heartbeats.some(
        (b) =>
          b.instanceId === instanceId &&
          (b.counters?.['writeCommands'] ?? 0) + (b.counters?.['foreignWrites'] ?? 0) === CHARGERS.length,
      );
    await waitFor(() => seenAll('shard-0') && seenAll('shard-1'), {
      message: 'both instances to count the four writes',
    });
    await waitFor(() => [...replies.values()].every((r) => r.length >= 1), { message: 'a reply for every charger' });
    sub.unsubscribe();
    for (const [assetId, answers] of replies) {
      expect(answers).toHaveLength(1);
      expect(JSON.parse(answers[0] ?? '{}')).toMatchObject({ assetId, status: 'unchanged' });
    }
  });
});
