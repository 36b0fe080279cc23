import { ServiceBusClient } from '@azure/service-bus';
import { cloudExamples } from '@voltimax/contracts/testing';
import { startServiceBusStandIn, waitFor, type ServiceBusStandIn } from '@voltimax/testing';
import { gate, pingResult, statusLog, telemetryFrame } from '../../testing/behaviour';
import type { RejectedCommand } from '../port';
import { ServiceBusCommandChannel } from './servicebus-command-channel';
import { ServiceBusTelemetrySink } from './servicebus-telemetry-sink';

// Service Bus specifics the shared behaviour suite cannot see, checked in the stand-in's own store: what exactly
// goes on the wire, dead-letter properties, session lock renewal and re-accepting a session another receiver held.
const LOCK_MS = 1_500;
let standIn: ServiceBusStandIn;
let sdk: ServiceBusClient;
let counter = 0;
const nextGateway = () => `gw-sb-${++counter}`;
const FAST = { reconnectInitialMs: 50, reconnectMaxMs: 300, operationTimeoutMs: 5_000 } as const;

beforeAll(async () => {
  standIn = await startServiceBusStandIn({
    queues: [
      { name: 'gateway-commands', requiresSession: true },
      { name: 'cloud-replies', requiresSession: true },
    ],
    topics: [{ name: 'telemetry', subscriptions: ['archive'] }],
    lockDurationMs: LOCK_MS,
  });
  sdk = new ServiceBusClient(standIn.connectionString);
});

afterAll(async () => {
  await sdk.close();
  await standIn.close();
});

describe('ServiceBusCommandChannel on the stand-in', () => {
  let channel: ServiceBusCommandChannel | undefined;
  afterEach(async () => {
    await channel?.close();
    channel = undefined;
  });
  const open = (gatewayId: string) => {
    channel = new ServiceBusCommandChannel({ connectionString: standIn.connectionString, gatewayId, ...FAST });
    return channel;
  };

  it('replies to cloud-replies with the request session, correlation id and reply properties', async () => {
    const gatewayId = nextGateway();
    const c = open(gatewayId);
    await c.start(async (command) => pingResult(command));
    const sender = sdk.createSender('gateway-commands');
    await sender.sendMessages({
      body: { sentAtMs: 1_000 },
      messageId: 'corr-a',
      sessionId: gatewayId,
      replyToSessionId: 'cloud-7',
      applicationProperties: { MessageType: 'PingGateway', SentAtMs: 1_000 },
    });
    await sender.sendMessages({
      body: { reason: 'x' },
      messageId: 'corr-b',
      sessionId: gatewayId,
      applicationProperties: { MessageType: 'RefreshConfiguration' },
    });

    const replies = await waitFor(() => {
      const found = standIn
        .messages('cloud-replies')
        .filter((m) => m.correlationId === 'corr-a' || m.correlationId === 'corr-b');
      return found.length === 2 && found;
    });
    const a = replies.find((m) => m.correlationId === 'corr-a');
    const b = replies.find((m) => m.correlationId === 'corr-b');
    expect(a).toMatchObject({ sessionId: 'cloud-7', contentType: 'application/json', subject: 'PingGateway' });
    expect(a?.applicationProperties).toMatchObject({ MessageType: 'PingGateway', GatewayId: gatewayId, Ok: true });
    expect(JSON.parse(Buffer.from(a?.body as Uint8Array).toString('utf8'))).toMatchObject({
      gatewayId,
      requestSentAtMs: 1_000,
    });
    // No replyToSessionId: the reply goes to the gateway's own session id. The handler's ping payload does not fit a
    // RefreshConfiguration reply, so the gateway answers with an error instead of an invalid reply.
    expect(b).toMatchObject({ sessionId: gatewayId });
    expect(b?.applicationProperties).toMatchObject({
      MessageType: 'RefreshConfiguration',
      Ok: false,
      Error: expect.stringMatching(/invalid RefreshConfiguration reply/),
    });
    await waitFor(() => standIn.messages('gateway-commands').every((m) => m.sessionId !== gatewayId), {
      message: 'the commands to be completed',
    });
    await sender.close();
  });

  it('dead-letters a malformed command with DeadLetterReason and DeadLetterErrorDescription', async () => {
    const gatewayId = nextGateway();
    const c = open(gatewayId);
    const rejected: RejectedCommand[] = [];
    c.onRejected((r) => rejected.push(r));
    await c.start(async (command) => pingResult(command));
    const sender = sdk.createSender('gateway-commands');
    await sender.sendMessages({
      body: {},
      messageId: 'bad-1',
      sessionId: gatewayId,
      applicationProperties: { MessageType: 'SelfDestruct' },
    });
    await sender.sendMessages({
      body: { ...cloudExamples.SetBatterySetpoint.request, powerW: 'lots' },
      messageId: 'bad-2',
      sessionId: gatewayId,
      applicationProperties: { MessageType: 'SetBatterySetpoint' },
    });

    const dead = await waitFor(() => {
      const found = standIn.deadLetters('gateway-commands').filter((m) => m.sessionId === gatewayId);
      return found.length === 2 && found;
    });
    expect(dead.map((m) => [m.messageId, m.deadLetterReason])).toEqual([
      ['bad-1', 'unknown-message-type'],
      ['bad-2', 'invalid-payload'],
    ]);
    expect(dead[1]?.deadLetterErrorDescription).toMatch(/invalid SetBatterySetpoint payload: powerW/);
    expect(rejected.map((r) => r.code)).toEqual(['unknown-message-type', 'invalid-payload']);
    await sender.close();
  });

  it('keeps the session by renewing its lock for longer than one lock duration', async () => {
    const gatewayId = nextGateway();
    const c = open(gatewayId);
    const states = statusLog(c);
    await c.start(async (command) => pingResult(command));
    const renewalsOf = () =>
      standIn
        .managementCalls()
        .filter((call) => call.operation === 'com.microsoft:renew-session-lock' && call.statusCode === 200).length;
    const before = renewalsOf();

    // Three renewals span more than two lock durations (the SDK renews shortly before each expiry).
    await waitFor(() => renewalsOf() >= before + 3, { timeoutMs: 15_000, message: 'three session lock renewals' });

    expect(states.states).toEqual(['online']);
    expect(standIn.lockedSessions('gateway-commands')).toContain(gatewayId);
  });

  it('accepts its session again once another receiver that held it lets go', async () => {
    const gatewayId = nextGateway();
    const squatter = await sdk.acceptSession('gateway-commands', gatewayId);
    const c = open(gatewayId);
    const hold = gate();
    await c.start(async (command) => {
      await hold.promise;
      return pingResult(command);
    });
    expect(c.status()).toMatchObject({ state: 'offline', reason: expect.stringMatching(/locked/i) });

    await squatter.close();

    await waitFor(() => c.status().state === 'online', {
      timeoutMs: 10_000,
      message: 'the channel to get its session',
    });
    hold.open();
  });
});

describe('ServiceBusTelemetrySink on the stand-in', () => {
  it('sends one message per frame with messageId = frameId and the encoding as a property', async () => {
    const gatewayId = nextGateway();
    const sink = new ServiceBusTelemetrySink({ connectionString: standIn.connectionString, gatewayId, ...FAST });
    const plain = telemetryFrame(gatewayId, 1);
    const zipped = telemetryFrame(gatewayId, 4);

    await sink.send(plain);
    await sink.send(zipped, { gzip: true });

    const archived = standIn
      .messages('telemetry/Subscriptions/archive')
      .filter((m) => m.applicationProperties['GatewayId'] === gatewayId);
    expect(
      archived.map((m) => [m.messageId, m.applicationProperties['content-encoding'] ?? 'identity', m.subject]),
    ).toEqual([
      [plain.frameId, 'identity', 'TelemetryFrame'],
      [zipped.frameId, 'gzip', 'TelemetryFrame'],
    ]);
    expect(JSON.parse(Buffer.from(archived[0]?.body as Uint8Array).toString('utf8'))).toEqual(plain);
    expect(sink.status().state).toBe('online');
    await sink.close();
  });

  it('refuses a frame over its size limit before sending', async () => {
    const gatewayId = nextGateway();
    const sink = new ServiceBusTelemetrySink({
      connectionString: standIn.connectionString,
      gatewayId,
      maxFrameBytes: 1_000,
      ...FAST,
    });
    await expect(sink.send(telemetryFrame(gatewayId, 1, 20))).rejects.toMatchObject({
      code: 'too-large',
      retryable: false,
    });
    await sink.close();
  });
});
