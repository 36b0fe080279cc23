/**
 * Provisioning under docker/nats/nats.conf, against real nats-servers started from the file: the provisioner
 * (`voltimax bus init`) creates every stream and bucket; the services, which may not create or change a stream, find
 * them unchanged; one started before provisioning is told what to run; one that wants other limits keeps the
 * provisioned ones and says so. The test helper's provisioning (libs/testing, which cannot use this lib) makes the
 * same streams.
 */
import { jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { configBucket, pricesBucket, strategyHistoryBucket, streamRetention, streams } from '@voltimax/contracts';
import { connectNatsAs, NATS_CONFIG_PATH, startNats, type NatsTestServer } from '@voltimax/testing';
import { ensureKv, ensureStream, provisionGatewayStreams, StreamNotProvisionedError } from '../index';
import { captureLogger, LOG_LEVEL } from '../testing';

const GATEWAY_STREAMS = ['KV_config', 'KV_prices', 'KV_strategy-history', 'TELEMETRY', 'AUDIT', 'ESTOP'];
const DEFAULTS = {
  telemetry: { maxAgeMs: streamRetention.telemetry.defaultAgeMs, maxBytes: streamRetention.telemetry.defaultBytes },
  audit: { maxAgeMs: streamRetention.audit.defaultAgeMs, maxBytes: streamRetention.audit.defaultBytes },
};
const telemetrySpec = {
  name: streams.telemetry.name,
  subjects: [...streams.telemetry.subjects],
  storage: 'file' as const,
  ...DEFAULTS.telemetry,
};

/** The settings that make a stream what it is (not its state or creation time). */
function essentials(config: StreamConfig): Partial<StreamConfig> {
  const keys = [
    'subjects',
    'storage',
    'retention',
    'discard',
    'max_age',
    'max_bytes',
    'max_msgs',
    'max_msgs_per_subject',
    'max_msg_size',
    'num_replicas',
    'duplicate_window',
    'allow_direct',
    'allow_rollup_hdrs',
    'deny_delete',
    'deny_purge',
    'republish',
    'mirror',
    'sources',
  ] as const;
  return Object.fromEntries(keys.map((k) => [k, config[k]]));
}

describe('provisioning the gateway streams under docker/nats/nats.conf', () => {
  const servers: NatsTestServer[] = [];
  const connections: NatsConnection[] = [];
  let bare: NatsTestServer;

  beforeAll(async () => {
    bare = await startNats({ config: NATS_CONFIG_PATH, provision: false });
    servers.push(bare);
  });

  afterAll(async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await Promise.allSettled(servers.map((s) => s.stop()));
  });

  const as = async (server: NatsTestServer, user: Parameters<typeof connectNatsAs>[1]): Promise<NatsConnection> => {
    const nc = await connectNatsAs(server.url, user);
    connections.push(nc);
    return nc;
  };

  it('a service started before provisioning is told to run `voltimax bus init`', async () => {
    const bridge = await as(bare, 'cloud-bridge');
    const failure = await ensureKv(bridge, configBucket).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(StreamNotProvisionedError);
    expect(String(failure)).toMatch(
      /stream KV_config does not exist and this NATS user may not create it: run `voltimax bus init`/,
    );
    const publisher = await as(bare, 'telemetry-publisher');
    await expect(ensureStream(await jetstreamManager(publisher), telemetrySpec)).rejects.toBeInstanceOf(
      StreamNotProvisionedError,
    );
  });

  it('the provisioner creates all five; a second run changes nothing', async () => {
    const provisioner = await as(bare, 'provisioner');
    const first = await provisionGatewayStreams(provisioner, DEFAULTS);
    expect(first).toEqual(Object.fromEntries(GATEWAY_STREAMS.map((name) => [name, 'created'])));
    const again = await provisionGatewayStreams(provisioner, DEFAULTS);
    expect(again).toEqual(Object.fromEntries(GATEWAY_STREAMS.map((name) => [name, 'unchanged'])));
  });

  it('each service then finds its streams unchanged, with no grant to create them', async () => {
    const bridge = await as(bare, 'cloud-bridge');
    for (const bucket of [configBucket, pricesBucket, strategyHistoryBucket]) {
      expect((await ensureKv(bridge, bucket)).action).toBe('unchanged');
    }
    const publisher = await as(bare, 'telemetry-publisher');
    expect((await ensureStream(await jetstreamManager(publisher), telemetrySpec)).action).toBe('unchanged');
  });

  it('a service that wants other limits keeps the provisioned ones and logs the difference', async () => {
    const publisher = await as(bare, 'telemetry-publisher');
    const { log, lines } = captureLogger('warn');
    const result = await ensureStream(await jetstreamManager(publisher), { ...telemetrySpec, maxBytes: 1 << 20 }, log);
    expect(result.action).toBe('kept');
    expect(result.info.config.max_bytes).toBe(DEFAULTS.telemetry.maxBytes);
    expect(lines).toContainEqual(expect.objectContaining({ level: LOG_LEVEL.warn, stream: 'TELEMETRY' }));
  });

  it("the test helper's provisioning makes the same streams as `provisionGatewayStreams`", async () => {
    const helper = await startNats({ config: NATS_CONFIG_PATH });
    servers.push(helper);
    const jsmHelper = await jetstreamManager(await as(helper, 'provisioner'));
    const jsmBare = await jetstreamManager(await as(bare, 'provisioner'));
    for (const name of GATEWAY_STREAMS) {
      const ours = essentials((await jsmBare.streams.info(name)).config);
      expect([name, essentials((await jsmHelper.streams.info(name)).config)]).toEqual([name, ours]);
    }
  });
});
