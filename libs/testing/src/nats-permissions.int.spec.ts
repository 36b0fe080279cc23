/**
 * Proves docker/nats/nats.conf against a real nats-server: only the safety-arbiter can publish device
 * writes; each intent source (`control.intent.<source>.<assetId>`) only its publishers (manual: cloud-bridge,
 * cli and dashboard; optimization, scheduled and safety: strategy-engine); and the other grants are least privilege.
 * NATS_URL is never used here: the users exist only in a server started from the file.
 *
 * How NATS.js v3 reports a refusal: a denied publish does not throw. The server drops the message and
 * sends `-ERR 'Permissions Violation for Publish to "<subject>"'`; the client yields
 * `{ type: 'error', error: PermissionViolationError }` from `nc.status()`, with `error.operation`
 * ('publish' | 'subscription') and `error.subject`. A `request()` to a denied subject rejects at once
 * with a `RequestError` whose `cause` is that `PermissionViolationError`.
 */
import { AckPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, nanos, PermissionViolationError, RequestError, type NatsConnection } from '@nats-io/transport-node';
import {
  connectNatsAs,
  NATS_CONFIG_PATH,
  NATS_USERS,
  startNats,
  waitFor,
  type NatsTestServer,
  type NatsUser,
} from './index';

const DEVICE_WRITE = 'device.bat-1.write';
/** Who may publish intents of each source (`control.intent.<source>.*`); nobody else may. */
const INTENT_PUBLISHERS: Readonly<Record<'safety' | 'manual' | 'scheduled' | 'optimization', readonly NatsUser[]>> = {
  safety: ['strategy-engine'],
  manual: ['cloud-bridge', 'cli', 'dashboard'],
  scheduled: ['strategy-engine'],
  optimization: ['strategy-engine'],
};
const INTENT_GRANTS = Object.entries(INTENT_PUBLISHERS).flatMap(([source, publishers]) =>
  NATS_USERS.map((user) => [source, user, publishers.includes(user) ? 'delivered' : 'refused'] as const),
);
/**
 * A request that the server refuses fails well before the 5 s timeout that a permitted one without an answer would
 * take. Half of it, not less: the bound only tells the two apart (the PermissionViolationError cause proves the refusal),
 * and a loaded CI machine can stall one round trip for hundreds of milliseconds.
 */
const FAST_MS = 2_500;

interface Client {
  readonly user: NatsUser;
  readonly nc: NatsConnection;
  /** Every error the server reported on this connection, in order. */
  readonly errors: Error[];
}

let server: NatsTestServer;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  // Not provisioned: the provisioner's own test below creates the streams.
  server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await server.stop();
});

async function connectAs(user: NatsUser): Promise<Client> {
  const nc = await connectNatsAs(server.url, user, { name: `permissions-test-${user}` });
  connections.push(nc);
  const errors: Error[] = [];
  const status = nc.status(); // listen before the first publish
  void (async () => {
    for await (const event of status) if (event.type === 'error') errors.push(event.error);
  })();
  return { user, nc, errors };
}

function violation(
  client: Client,
  operation: 'publish' | 'subscription',
  subject: string,
): PermissionViolationError | undefined {
  return client.errors.find(
    (err): err is PermissionViolationError =>
      err instanceof PermissionViolationError && err.operation === operation && err.subject === subject,
  );
}

/** Publishes, flushes, and resolves with the violation the server reports for it. */
async function expectPublishRefused(client: Client, subject: string): Promise<PermissionViolationError> {
  client.nc.publish(subject, `from ${client.user}`);
  await client.nc.flush();
  const refused = await waitFor(() => violation(client, 'publish', subject), {
    timeoutMs: 2_000,
    message: `the server to refuse ${client.user}'s publish on ${subject}`,
  });
  expect(refused.message).toBe(`Permissions Violation for Publish to "${subject}"`);
  return refused;
}

/** Subscribes `receiver` to `subject`, publishes from `publisher`, and waits for the message to arrive. */
async function expectPublishDelivered(publisher: Client, subject: string, receiver: Client): Promise<void> {
  const got: string[] = [];
  const sub = receiver.nc.subscribe(subject, { callback: (_err, msg) => void got.push(msg.string()) });
  await receiver.nc.flush();
  try {
    publisher.nc.publish(subject, `from ${publisher.user}`);
    await publisher.nc.flush();
    await waitFor(() => got.includes(`from ${publisher.user}`), {
      timeoutMs: 2_000,
      message: `${receiver.user} to receive ${publisher.user}'s publish on ${subject}`,
    });
    expect(violation(publisher, 'publish', subject)).toBeUndefined();
    expect(violation(receiver, 'subscription', subject)).toBeUndefined();
  } finally {
    sub.unsubscribe();
  }
}

describe('docker/nats/nats.conf', () => {
  it('starts a real nats-server from the file, with JetStream, and lets every user in', async () => {
    expect(server.source).toBe('binary');
    for (const user of NATS_USERS) {
      const { nc } = await connectAs(user);
      expect(nc.info).toMatchObject({ jetstream: true, max_payload: 1024 * 1024 });
    }
  });

  it('refuses a wrong password', async () => {
    await expect(
      connect({ servers: server.url, user: 'safety-arbiter', pass: 'guess', reconnect: false }),
    ).rejects.toThrow(/Authorization Violation/i);
  });

  describe('device writes: only the safety-arbiter may publish device.*.write', () => {
    const others = NATS_USERS.filter((user) => user !== 'safety-arbiter');
    let driver: Client;
    let arbiter: Client;
    const delivered: string[] = [];

    beforeAll(async () => {
      driver = await connectAs('modbus-poller');
      driver.nc.subscribe('device.*.write', { callback: (_err, msg) => void delivered.push(msg.string()) });
      await driver.nc.flush();
      arbiter = await connectAs('safety-arbiter');
    });

    it('covers every user of the file but the arbiter', () => {
      expect(others).toHaveLength(11);
    });

    it.each(others)('%s: the server refuses its publish and the driver never receives it', async (user) => {
      const client = await connectAs(user);
      await expectPublishRefused(client, DEVICE_WRITE);

      // The violation means the server already dropped the message. The arbiter's marker, published
      // after that, arriving at the driver closes the window: nothing of `user` can still come.
      const marker = `marker after ${user}`;
      arbiter.nc.publish(DEVICE_WRITE, marker);
      await arbiter.nc.flush();
      await waitFor(() => delivered.includes(marker), { message: `the driver to receive "${marker}"` });
      expect(delivered).not.toContain(`from ${user}`);
      expect(violation(arbiter, 'publish', DEVICE_WRITE)).toBeUndefined();
    });

    it.each(others)('%s: a request to device.bat-1.write fails at once with the violation', async (user) => {
      const client = await connectAs(user);
      const started = performance.now();
      const payload = `request from ${user}`;
      const failure = await client.nc.request(DEVICE_WRITE, payload, { timeout: 5_000 }).catch((err: unknown) => err);

      expect(performance.now() - started).toBeLessThan(FAST_MS);
      expect(failure).toBeInstanceOf(RequestError);
      const cause = (failure as RequestError).cause;
      expect(cause).toBeInstanceOf(PermissionViolationError);
      expect(cause).toMatchObject({ operation: 'publish', subject: DEVICE_WRITE });
      expect(delivered).not.toContain(payload);
    });

    it("safety-arbiter: its device write reaches the driver, and the driver's answer reaches it", async () => {
      const answering = await connectAs('http-devices');
      answering.nc.subscribe('device.ev-1.write', {
        callback: (_err, msg) => void msg.respond(`done: ${msg.string()}`),
      });
      await answering.nc.flush();

      const reply = await arbiter.nc.request('device.ev-1.write', '7400', { timeout: 2_000 });
      expect(reply.string()).toBe('done: 7400');
      await waitFor(() => delivered.includes('7400'), { message: 'the modbus-poller to see the write too' });
      expect(answering.errors).toEqual([]);
    });
  });

  describe('reply inboxes are per user, and nobody may answer on a subject of its choosing', () => {
    const atDriver: string[] = [];
    let driver: Client;
    beforeAll(async () => {
      driver = await connectAs('modbus-poller');
      driver.nc.subscribe('device.*.write', { callback: (_err, msg) => void atDriver.push(msg.string()) });
      await driver.nc.flush();
    });

    const REFLECTORS: readonly [NatsUser, string][] = [
      // Each publishes a subject it also subscribes; with `allow_responses` it could "answer" its own message.
      ['cloud-bridge', 'health.cloud-bridge'],
      ['cloud-bridge', 'config.updated'],
      ['cli', 'discovery.scan'],
      ['dashboard', 'safety.estop'],
    ];

    it.each(REFLECTORS)('%s cannot turn its own %s into a device write by answering it', async (user, subject) => {
      const client = await connectAs(user);
      const forged = JSON.stringify({ forgedBy: user, via: subject });
      const got: string[] = [];
      const sub = client.nc.subscribe(subject, {
        max: 1,
        callback: (_err, msg) => void (got.push(msg.reply ?? '') && msg.respond(forged)),
      });
      await client.nc.flush();
      client.nc.publish(subject, '{}', { reply: DEVICE_WRITE });
      await client.nc.flush();
      await waitFor(() => got.length === 1, { message: `${user} to receive its own ${subject}` });
      expect(got).toEqual([DEVICE_WRITE]);
      await waitFor(() => violation(client, 'publish', DEVICE_WRITE), {
        timeoutMs: 2_000,
        message: `the server to refuse ${user}'s answer on ${DEVICE_WRITE}`,
      });
      sub.unsubscribe();
      await driver.nc.flush();
      expect(atDriver).not.toContain(forged);
    });

    it.each<[NatsUser, string]>([
      ['cloud-bridge', '_INBOX.>'],
      ['cloud-bridge', '_INBOX_safety-arbiter.>'],
      ['modbus-poller', '_INBOX_cli.>'],
      ['cli', '_INBOX_dashboard.>'],
    ])('%s may not subscribe %s: nobody reads the replies to others', async (user, subject) => {
      const client = await connectAs(user);
      client.nc.subscribe(subject);
      await client.nc.flush();
      await waitFor(() => violation(client, 'subscription', subject), {
        timeoutMs: 2_000,
        message: `the server to refuse ${user}'s subscription to ${subject}`,
      });
    });

    it.each<[NatsUser, string]>([
      ['cloud-bridge', '_INBOX_safety-arbiter.x.1'],
      ['strategy-engine', '_INBOX_safety-arbiter.x.1'],
      ['modbus-poller', '_INBOX_cli.x.1'],
      ['dashboard', '_INBOX_cli.x.1'],
    ])(
      '%s may not publish into %s: only into the inboxes of those whose requests it answers',
      async (user, subject) => {
        await expectPublishRefused(await connectAs(user), subject);
      },
    );
  });

  describe('least privilege on the other subjects', () => {
    it.each<[NatsUser, string]>([
      ['strategy-engine', 'safety.estop'],
      ['strategy-engine', 'arbiter.decision.bat-1'],
      ['strategy-engine', 'telemetry.bat-1'],
      ['strategy-engine', 'config.updated'],
      ['strategy-engine', 'health.safety-arbiter'],
      ['modbus-poller', 'control.intent.optimization.bat-1'],
      ['modbus-poller', 'health.safety-arbiter'],
      ['modbus-poller', '_INBOX.forged-reply'],
      ['telemetry-publisher', 'telemetry.bat-1'],
      ['simulator', 'telemetry.bat-1'],
      ['dashboard', 'control.intent.optimization.bat-1'],
      ['dashboard', 'config.updated'],
      ['dashboard', 'telemetry.bat-1'],
      ['cloud-bridge', 'arbiter.decision.bat-1'],
      ['cloud-bridge', 'telemetry.bat-1'],
      ['cli', 'config.updated'],
      ['cli', '$KV.config.site'],
      ['safety-arbiter', 'control.intent.safety.bat-1'],
      ['safety-arbiter', 'control.intent.manual.bat-1'],
      // Intents: the source is in the subject, and each source is granted only to its publishers.
      ['strategy-engine', 'control.intent.manual.bat-1'],
      ['cli', 'control.intent.safety.bat-1'],
      ['cli', 'control.intent.optimization.bat-1'],
      ['cloud-bridge', 'control.intent.safety.bat-1'],
      ['cloud-bridge', 'control.intent.scheduled.bat-1'],
      // The old subject without a source, an unknown source, and too many tokens are nobody's.
      ['strategy-engine', 'control.intent.bat-1'],
      ['cli', 'control.intent.bat-1'],
      ['cli', 'control.intent.admin.bat-1'],
      ['cli', 'control.intent.manual.bat.1'],
      ['strategy-engine', 'control.intent.optimization.bat-1.x'],
    ])('%s may not publish %s', async (user, subject) => {
      await expectPublishRefused(await connectAs(user), subject);
    });

    it.each<[NatsUser, string, NatsUser]>([
      ['cli', 'control.intent.manual.bat-1', 'safety-arbiter'],
      ['cli', 'safety.estop', 'safety-arbiter'],
      ['dashboard', 'control.intent.manual.bat-1', 'safety-arbiter'],
      ['dashboard', 'safety.estop', 'safety-arbiter'],
      ['cloud-bridge', 'control.intent.manual.bat-1', 'safety-arbiter'],
      ['cloud-bridge', 'safety.estop', 'safety-arbiter'],
      // The arbiter records an engage it holds that stream ESTOP missed (its service.ts).
      ['safety-arbiter', 'safety.estop', 'cloud-bridge'],
      ['cloud-bridge', 'config.updated', 'strategy-engine'],
      // Services that read the site only at start restart on it (service-kit restartOnSiteChange).
      ['cloud-bridge', 'config.updated', 'safety-arbiter'],
      ['cloud-bridge', 'config.updated', 'modbus-poller'],
      ['cloud-bridge', 'config.updated', 'http-devices'],
      ['cloud-bridge', 'config.updated', 'ocpp-csms'],
      ['cloud-bridge', 'config.updated', 'driver-host'],
      ['cloud-bridge', 'config.updated', 'telemetry-publisher'],
      ['strategy-engine', 'control.intent.optimization.bat-1', 'safety-arbiter'],
      ['strategy-engine', 'control.intent.scheduled.bat-1', 'safety-arbiter'],
      ['strategy-engine', 'control.intent.safety.bat-1', 'safety-arbiter'],
      ['strategy-engine', 'control.intent.optimization.bat-1', 'cli'],
      ['strategy-engine', 'strategy.decision.net-zero', 'dashboard'],
      ['modbus-poller', 'telemetry.bat-1', 'strategy-engine'],
      ['ocpp-csms', 'health.ocpp-csms', 'safety-arbiter'],
      ['safety-arbiter', 'arbiter.decision.bat-1', 'cloud-bridge'],
      ['cli', 'discovery.scan', 'modbus-poller'],
      ['cloud-bridge', 'gateway.ping', 'telemetry-publisher'],
    ])('%s may publish %s (received by %s)', async (publisher, subject, receiver) => {
      await expectPublishDelivered(await connectAs(publisher), subject, await connectAs(receiver));
    });

    it('the arbiter answers an intent request from the cli', async () => {
      const arbiter = await connectAs('safety-arbiter');
      arbiter.nc.subscribe('control.intent.*.*', { callback: (_err, msg) => void msg.respond('applied') });
      await arbiter.nc.flush();
      const cli = await connectAs('cli');

      const reply = await cli.nc.request('control.intent.manual.bat-1', '{}', { timeout: 2_000 });
      expect(reply.string()).toBe('applied');
      expect(arbiter.errors).toEqual([]);
    });

    it('dashboard may not subscribe to device writes', async () => {
      const dashboard = await connectAs('dashboard');
      const sub = dashboard.nc.subscribe('device.*.write');
      await dashboard.nc.flush();
      const refused = await waitFor(() => violation(dashboard, 'subscription', 'device.*.write'));
      expect(refused.message).toBe('Permissions Violation for Subscription to "device.*.write"');
      await expect(sub.closed).resolves.toBeInstanceOf(PermissionViolationError);
    });
  });

  describe('intents: each source only from its publishers, every source to the arbiter', () => {
    let arbiter: Client;
    const received: string[] = [];

    beforeAll(async () => {
      arbiter = await connectAs('safety-arbiter');
      arbiter.nc.subscribe('control.intent.*.*', { callback: (_err, msg) => void received.push(msg.string()) });
      await arbiter.nc.flush();
    });

    it('covers every user for every source, and grants manual to the operators only', () => {
      expect(INTENT_GRANTS).toHaveLength(4 * NATS_USERS.length);
      expect(
        INTENT_GRANTS.filter(([, , outcome]) => outcome === 'delivered').map(([source, user]) => `${source}:${user}`),
      ).toEqual([
        'safety:strategy-engine',
        'manual:cloud-bridge',
        'manual:cli',
        'manual:dashboard',
        'scheduled:strategy-engine',
        'optimization:strategy-engine',
      ]);
    });

    it.each(INTENT_GRANTS)('control.intent.%s.bat-1 from %s: %s', async (source, user, outcome) => {
      const client = await connectAs(user);
      const subject = `control.intent.${source}.bat-1`;
      const body = `${source} from ${user}`;
      client.nc.publish(subject, body);
      await client.nc.flush();
      if (outcome === 'delivered') {
        await waitFor(() => received.includes(body), { message: `the arbiter to receive "${body}"` });
        expect(violation(client, 'publish', subject)).toBeUndefined();
        return;
      }
      await waitFor(() => violation(client, 'publish', subject), {
        timeoutMs: 2_000,
        message: `the server to refuse ${user}'s publish on ${subject}`,
      });
      // As for device writes: a granted marker published after the refusal closes the window.
      const marker = `marker after ${source} from ${user}`;
      const cli = await connectAs('cli');
      cli.nc.publish('control.intent.manual.bat-1', marker);
      await cli.nc.flush();
      await waitFor(() => received.includes(marker), { message: `the arbiter to receive "${marker}"` });
      expect(received).not.toContain(body);
    });

    it('the arbiter took all of them on its one wildcard subscription, without a violation', () => {
      expect(arbiter.errors).toEqual([]);
    });

    it.each<NatsUser>(['strategy-engine', 'dashboard', 'modbus-poller'])(
      '%s may not subscribe to intents (operators’ commands are the arbiter’s and the cli monitor’s)',
      async (user) => {
        const client = await connectAs(user);
        client.nc.subscribe('control.intent.*.*');
        await client.nc.flush();
        const refused = await waitFor(() => violation(client, 'subscription', 'control.intent.*.*'));
        expect(refused.message).toBe('Permissions Violation for Subscription to "control.intent.*.*"');
      },
    );
  });

  describe('JetStream grants are per stream and bucket; only the provisioner creates streams', () => {
    const GATEWAY_STREAMS = ['TELEMETRY', 'AUDIT', 'ESTOP', 'KV_config', 'KV_prices', 'KV_strategy-history'];

    it('the provisioner creates every stream and bucket of the gateway, and may do nothing else', async () => {
      const provisioner = await connectAs('provisioner');
      const jsm = await jetstreamManager(provisioner.nc);
      const kvm = new Kvm(provisioner.nc);
      for (const [bucket, history] of [
        ['config', 5],
        ['prices', 1],
        ['strategy-history', 1],
      ] as const) {
        await kvm.create(bucket, { history });
      }
      await jsm.streams.add({
        name: 'TELEMETRY',
        subjects: ['telemetry.*'],
        storage: StorageType.File,
        max_age: nanos(72 * 3_600_000),
      });
      await jsm.streams.add({ name: 'AUDIT', subjects: ['arbiter.decision.*'], storage: StorageType.File });
      await jsm.streams.update('AUDIT', { max_age: nanos(96 * 3_600_000) });
      await jsm.streams.add({ name: 'ESTOP', subjects: ['safety.estop'], storage: StorageType.File, max_msgs: 1_000 });
      await jsm.streams.update('ESTOP', { subjects: ['safety.estop'], max_msgs: 1_000, max_bytes: 4 << 20 });
      for (const name of GATEWAY_STREAMS) expect((await jsm.streams.info(name)).config.name).toBe(name);

      await expect((await kvm.open('config')).put('site', '{}')).rejects.toThrow(/Permissions Violation/);
      await expect(
        jsm.consumers.add('TELEMETRY', { durable_name: 'x', ack_policy: AckPolicy.Explicit }),
      ).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.delete('KV_prices')).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.add({ name: 'ROGUE', subjects: ['device.>'] })).rejects.toThrow(/Permissions Violation/);
      await expectPublishRefused(provisioner, 'config.updated');
    });

    it('cloud-bridge writes KV config; strategy-engine reads and watches it but cannot change it', async () => {
      const bridge = await connectAs('cloud-bridge');
      const config = await new Kvm(bridge.nc).open('config');
      await config.put('site', '{"gridLimitW":17000}');

      const engine = await connectAs('strategy-engine');
      const readOnly = await new Kvm(engine.nc).open('config');
      expect((await readOnly.get('site'))?.string()).toBe('{"gridLimitW":17000}');

      const seen: string[] = [];
      const watch = await readOnly.watch({ key: 'site' });
      void (async () => {
        for await (const entry of watch) seen.push(entry.string());
      })();
      await waitFor(() => seen.includes('{"gridLimitW":17000}'), { message: 'the watch to deliver the current value' });
      await config.put('site', '{"gridLimitW":11000}');
      await waitFor(() => seen.includes('{"gridLimitW":11000}'), { message: 'the watch to deliver the update' });
      watch.stop();

      const started = performance.now();
      await expect(readOnly.put('site', '{"gridLimitW":99000}')).rejects.toThrow(/Permissions Violation/);
      await expect(jetstreamManager(engine.nc).then((jsm) => jsm.streams.delete('KV_config'))).rejects.toThrow(
        /Permissions Violation/,
      );
      expect(performance.now() - started).toBeLessThan(2 * FAST_MS);
      expect((await config.get('site'))?.string()).toBe('{"gridLimitW":11000}');
    });

    it("telemetry-publisher consumes and acks a driver's telemetry from TELEMETRY", async () => {
      const publisher = await connectAs('telemetry-publisher');
      const jsm = await jetstreamManager(publisher.nc);
      await jsm.consumers.add('TELEMETRY', { durable_name: 'cloud', ack_policy: AckPolicy.Explicit });

      const driver = await connectAs('modbus-poller');
      driver.nc.publish('telemetry.meter-1', '{"activePowerW":1200}');
      await driver.nc.flush();

      const consumer = await jetstream(publisher.nc).consumers.get('TELEMETRY', 'cloud');
      const msg = await consumer.next({ expires: 2_000 });
      expect(msg?.subject).toBe('telemetry.meter-1');
      expect(msg?.string()).toBe('{"activePowerW":1200}');
      await expect(msg?.ackAck()).resolves.toBe(true);
      expect((await consumer.info()).num_ack_pending).toBe(0);
      expect(publisher.errors).toEqual([]);
    });

    it("the AUDIT stream keeps the safety-arbiter's decisions", async () => {
      const arbiter = await connectAs('safety-arbiter');
      const jsm = await jetstreamManager(arbiter.nc);
      arbiter.nc.publish('arbiter.decision.bat-1', '{"outcome":"clamped"}');
      await arbiter.nc.flush();
      await waitFor(async () => (await jsm.streams.info('AUDIT')).state.messages === 1, {
        message: 'AUDIT to hold the decision',
      });
    });

    it('ESTOP keeps every e-stop an operator sends; the safety-arbiter (only) reads them back', async () => {
      const cli = await connectAs('cli');
      cli.nc.publish('safety.estop', '{"action":"engage"}');
      await cli.nc.flush();
      const arbiter = await connectAs('safety-arbiter');
      const jsm = await jetstreamManager(arbiter.nc);
      const info = await waitFor(
        async () => {
          const state = (await jsm.streams.info('ESTOP')).state;
          return state.messages >= 1 ? state : undefined;
        },
        { message: 'ESTOP to hold the e-stop' },
      );
      expect((await jsm.streams.getMessage('ESTOP', { seq: info.last_seq }))?.string()).toBe('{"action":"engage"}');
      const engine = await jetstreamManager((await connectAs('strategy-engine')).nc);
      await expect(engine.streams.getMessage('ESTOP', { seq: info.last_seq })).rejects.toThrow(/Permissions Violation/);
    });

    // With a stream-create or -update grant a service could capture `device.*.write` in a stream of its own: the
    // server would then answer each of the arbiter's write requests with a PubAck before the driver could.
    const SERVICES = NATS_USERS.filter((user) => user !== 'provisioner');
    it.each(SERVICES)('%s may neither create a stream nor change one of the gateway', async (user) => {
      const client = await connectAs(user);
      // Without `$JS.API.INFO` (driver-host, simulator) even the manager's first request is refused.
      const jsm = await jetstreamManager(client.nc, { checkAPI: false });
      await expect(
        jsm.streams.add({ name: 'KV_strategy-history-x', subjects: ['device.>'], storage: StorageType.Memory }),
      ).rejects.toThrow(/Permissions Violation/);
      for (const name of GATEWAY_STREAMS) {
        await expect(jsm.streams.update(name, { subjects: ['device.>'] })).rejects.toThrow(/Permissions Violation/);
      }
    });

    it('so no device write request is answered by anyone but the driver', async () => {
      const driver = await connectAs('modbus-poller');
      driver.nc.subscribe('device.bat-1.write', { callback: (_err, msg) => void msg.respond('{"driver":true}') });
      await driver.nc.flush();
      const arbiter = await connectAs('safety-arbiter');
      const answer = await arbiter.nc.request('device.bat-1.write', '{}', { timeout: 2_000 });
      expect(answer.string()).toBe('{"driver":true}');
    });
  });
});
