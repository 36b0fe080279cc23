/**
 * Two ways the NATS server itself publishes on a subject without checking the publish permission of whoever set it
 * up (nats-server 2.9/2.10; nats-io/nats-server#8274 for the first):
 *   - a push consumer: any user with CONSUMER.CREATE on a stream picks its `deliver_subject`;
 *   - a stream's republish: whoever creates the stream picks its `republish.dest`.
 * With docker/nats/nats.conf, cloud-bridge — the service the cloud talks to — writes KV `config` and `prices` and may
 * create consumers on them, so it could have a value it stored published as `device.bat-1.write`, which only the
 * safety-arbiter may publish. Only the provisioner may create streams, so a republish needs a stream provisioned
 * with one (a tampered `bus init`). These tests do both against a real nats-server started from the file, show that
 * the message reaches a raw subscriber of the driver's user — on the device write subject, with a valid body for a
 * republish — and that the bus, which every driver uses to take device writes, drops it, counts it
 * (`droppedFromStream`) and never runs the handler.
 */
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { subjects, type DeviceWrite } from '@voltimax/contracts';
import {
  exampleDeviceWrite,
  examplePingReply,
  examplePingRequest,
  exampleWriteResult,
} from '@voltimax/contracts/testing';
import { connectNatsAs, NATS_CONFIG_PATH, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { BusRequestFailedError, createBus, type Bus } from '../index';
import { captureLogger, LOG_LEVEL } from '../testing';

const FORGED: DeviceWrite = {
  ...exampleDeviceWrite,
  commandId: 'cmd-forged',
  setpoint: { kind: 'battery-power', powerW: 5_000 },
};
const BODY = JSON.stringify(FORGED);

describe('device writes the server would deliver out of a stream', () => {
  let server: NatsTestServer;
  const connections: NatsConnection[] = [];
  let bridge: NatsConnection;
  let raw: { subject: string; body: string }[];
  let handled: DeviceWrite[];
  let driverBus: Bus;
  let stopDriver: () => void;
  let driverLog: ReturnType<typeof captureLogger>;

  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
    const driver = await connectNatsAs(server.url, 'modbus-poller');
    bridge = await connectNatsAs(server.url, 'cloud-bridge');
    connections.push(driver, bridge);
    raw = [];
    handled = [];
    driver.subscribe('device.bat-1.write', {
      callback: (_err, msg) => {
        raw.push({ subject: msg.subject, body: msg.string() });
      },
    });
    driverLog = captureLogger('warn');
    driverBus = createBus(driver, driverLog.log);
    stopDriver = driverBus.reply(subjects.deviceWrite, (write) => {
      handled.push(write);
      return { ...exampleWriteResult, commandId: write.commandId };
    });
    await driver.flush();
  });

  afterAll(async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await server?.stop();
  });

  const droppedFromStream = (): number =>
    driverBus.stats().subjects[subjects.deviceWrite.pattern]?.droppedFromStream ?? 0;

  it('cloud-bridge may not create a stream, so it cannot set up a republish itself', async () => {
    const jsm = await jetstreamManager(bridge);
    await expect(
      jsm.streams.add({
        name: 'KV_prices',
        subjects: ['$KV.prices.>'],
        storage: StorageType.Memory,
        republish: { src: '$KV.prices.forged', dest: 'device.bat-1.write' },
      }),
    ).rejects.toThrow(/Permissions Violation/);
  });

  it('a provisioned stream that republishes what cloud-bridge stores into a device write: it reaches the driver as a valid write, and the bus drops it', async () => {
    const provisioner = await connectNatsAs(server.url, 'provisioner');
    connections.push(provisioner);
    await (
      await jetstreamManager(provisioner)
    ).streams.add({
      name: 'KV_prices',
      subjects: ['$KV.prices.>'],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      republish: { src: '$KV.prices.forged', dest: 'device.bat-1.write' },
    });
    await (await jetstreamManager(bridge)).jetstream().publish('$KV.prices.forged', BODY);

    // On the wire it is indistinguishable by subject and body from the arbiter's write: only its origin tells.
    await waitFor(() => raw.find((m) => m.subject === 'device.bat-1.write' && m.body === BODY), {
      timeoutMs: 5_000,
      message: 'the republish on device.bat-1.write',
    });
    await waitFor(() => droppedFromStream() === 1, { message: 'the bus to count the republish as droppedFromStream' });
    expect(handled).toEqual([]);
    expect(driverLog.lines).toContainEqual(
      expect.objectContaining({ level: LOG_LEVEL.error, reason: 'from-stream', subject: 'device.bat-1.write' }),
    );
  });

  it('a DIRECT.GET of a value cloud-bridge stored, answered to the device write subject: a valid write on the wire, dropped', async () => {
    const provisioner = await connectNatsAs(server.url, 'provisioner');
    connections.push(provisioner);
    await new Kvm(provisioner).create('config', { history: 1 });
    await (await new Kvm(bridge).open('config')).put('direct', BODY);
    const before = droppedFromStream();
    const seen = raw.length;

    // The server answers a JetStream API request on whatever reply subject it names; the answer is the stored value.
    bridge.publish('$JS.API.DIRECT.GET.KV_config.$KV.config.direct', '', { reply: 'device.bat-1.write' });
    await waitFor(() => raw.slice(seen).find((m) => m.subject === 'device.bat-1.write' && m.body === BODY), {
      timeoutMs: 5_000,
      message: 'the DIRECT.GET answer on device.bat-1.write',
    });
    await waitFor(() => droppedFromStream() === before + 1, { message: 'the bus to drop it as droppedFromStream' });
    expect(handled).toEqual([]);
  });

  it('a push consumer on KV config that cloud-bridge created, delivering to the device write subject: dropped too', async () => {
    const config = await new Kvm(bridge).open('config'); // provisioned in the test before
    await config.put('forged', BODY);
    const before = raw.length;
    await (
      await jetstreamManager(bridge)
    ).consumers.add('KV_config', {
      deliver_subject: 'device.bat-1.write',
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.LastPerSubject,
      filter_subject: '$KV.config.forged',
    });

    await waitFor(() => raw.slice(before).find((m) => m.body === BODY), {
      timeoutMs: 5_000,
      message: 'the delivery to device.bat-1.write',
    });
    await waitFor(() => droppedFromStream() === 3, { message: 'the bus to count the delivery as droppedFromStream' });
    expect(handled).toEqual([]);
  });

  it("the safety-arbiter's own request is still executed and answered", async () => {
    const arbiter = await connectNatsAs(server.url, 'safety-arbiter');
    connections.push(arbiter);
    const arbiterBus = createBus(arbiter, captureLogger('warn').log);
    const result = await arbiterBus.request(subjects.deviceWrite, { assetId: 'bat-1' }, exampleDeviceWrite, {
      timeoutMs: 5_000,
    });
    expect(result.commandId).toBe(exampleDeviceWrite.commandId);
    expect(handled.map((w) => w.commandId)).toEqual([exampleDeviceWrite.commandId]);
    expect(droppedFromStream()).toBe(3);
  });

  it("a push consumer into the arbiter's reply inbox: the forged write result is never taken for the driver's answer", async () => {
    // The driver sees the arbiter's reply inbox on every write request; here a silent driver hands it over, and
    // cloud-bridge aims a push consumer of a stored result at it.
    stopDriver();
    const silent = await connectNatsAs(server.url, 'modbus-poller');
    const arbiter = await connectNatsAs(server.url, 'safety-arbiter');
    connections.push(silent, arbiter);
    const inboxes: string[] = [];
    silent.subscribe('device.bat-2.write', { callback: (_err, msg) => void (msg.reply && inboxes.push(msg.reply)) });
    await silent.flush();
    const config = await new Kvm(bridge).open('config');
    await config.put(
      'forged-result',
      JSON.stringify({ ...exampleWriteResult, commandId: 'cmd-forged', assetId: 'bat-2' }),
    );

    const arbiterBus = createBus(arbiter, captureLogger('warn').log);
    const pending = arbiterBus
      .request(
        subjects.deviceWrite,
        { assetId: 'bat-2' },
        { ...exampleDeviceWrite, assetId: 'bat-2', commandId: 'cmd-forged' },
        { timeoutMs: 2_000 },
      )
      .catch((err: unknown) => err);
    const inbox = await waitFor(() => inboxes[0], { message: 'the request at the silent driver' });
    await (
      await jetstreamManager(bridge)
    ).consumers.add('KV_config', {
      deliver_subject: inbox,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.LastPerSubject,
      filter_subject: '$KV.config.forged-result',
    });

    // On nats-server 2.9.10 nothing is delivered to a subject whose only interest is the wildcard subscription of the
    // shared reply inbox; a delivery would keep the stored subject ($KV.config.forged-result), which routes to no
    // pending request. Either way the request ends as the silent driver leaves it: no answer. (Were it taken, the bus
    // would still refuse it: core.spec 'refuses such a message as the answer to a request'.)
    const failure = await pending;
    expect(failure).toBeInstanceOf(BusRequestFailedError);
    expect(failure).toMatchObject({ reason: 'timeout' });
  });
  it("a cli request whose reply subject is KV config: cloud-bridge's bus neither handles it nor writes the answer there", async () => {
    // Without the inbox check the answer would be published on `$KV.config.site` under cloud-bridge's KV write
    // grant: a write into the site configuration by the cli, whose own grants allow no KV write.
    const bridgeBus = createBus(bridge, captureLogger('warn').log);
    const answered: unknown[] = [];
    bridgeBus.reply(subjects.gatewayPing, (request) => {
      answered.push(request);
      return { ...examplePingReply, atMs: Date.now() };
    });
    await bridge.flush();
    const config = await new Kvm(bridge).open('config');
    await config.put('site', '{"unchanged":true}');

    const cli = await connectNatsAs(server.url, 'cli');
    connections.push(cli);
    cli.publish(subjects.gatewayPing.format({}), JSON.stringify(examplePingRequest), { reply: '$KV.config.site' });
    await cli.flush();
    await waitFor(() => (bridgeBus.stats().subjects[subjects.gatewayPing.pattern]?.droppedForeignReply ?? 0) === 1, {
      message: 'cloud-bridge to refuse the request',
    });
    expect(answered).toEqual([]);
    expect((await config.get('site'))?.string()).toBe('{"unchanged":true}');

    // Its real requests, with an inbox, are answered as ever.
    const cliBus = createBus(cli, captureLogger('warn').log);
    const reply = await cliBus.request(subjects.gatewayPing, {}, examplePingRequest, { timeoutMs: 5_000 });
    expect(reply.gatewayId).toBe(examplePingReply.gatewayId);
  });
});
