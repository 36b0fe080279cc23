import { context, trace } from '@opentelemetry/api';
import { InvalidSubjectTokenError, subjects } from '@voltimax/contracts';
import { exampleDeviceWrite, exampleReadings, exampleWriteResult } from '@voltimax/contracts/testing';
import {
  BusReplyRejectedError,
  BusRequestFailedError,
  BusValidationError,
  createBusOnTransport,
  ERROR_HEADER,
  type BusTransport,
  type MessageContext,
  type RawMessage,
} from '../index';
import { streamOrigin } from './nats-transport';
import {
  captureLogger,
  contextWithNewTrace,
  createMemoryBus,
  createMemoryNetwork,
  installTestTracing,
  LOG_LEVEL,
  type CapturedLine,
} from '../testing';
import type { AssetReading, DeviceWrite } from '@voltimax/contracts';
import type { Logger } from 'pino';

type LogLine = CapturedLine & {
  subject?: string;
  reason?: string;
  suppressed?: number;
  issues?: { path: string; message: string }[];
  err?: { message: string };
};

function capturedLog(): { log: Logger; lines: LogLine[] } {
  const { log, lines } = captureLogger();
  return { log, lines: lines as LogLine[] };
}

const WARN = LOG_LEVEL.warn;
const ERROR = LOG_LEVEL.error;
const battery = exampleReadings.battery;
const decode = (body: string): unknown => JSON.parse(body);

describe('in-memory bus: publish and subscribe', () => {
  it('delivers a valid message with the params parsed from the subject', async () => {
    const bus = createMemoryBus();
    const got: { reading: AssetReading; ctx: MessageContext<'telemetry.{assetId}'> }[] = [];
    bus.subscribe(subjects.telemetry, (reading, ctx) => {
      got.push({ reading, ctx });
    });

    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    await bus.settle();

    expect(got).toHaveLength(1);
    expect(got[0]?.reading).toEqual(battery);
    expect(got[0]?.ctx.subject).toBe('telemetry.bat-1');
    expect(got[0]?.ctx.params).toEqual({ assetId: 'bat-1' });
    expect(bus.stats().subjects['telemetry.{assetId}']).toMatchObject({ published: 1, delivered: 1 });
  });

  it('refuses an invalid outbound payload with a typed error naming the subject and the issue, sending nothing', () => {
    const bus = createMemoryBus();
    const invalid = { ...battery, atMs: -5 };

    let error: unknown;
    try {
      bus.publish(subjects.telemetry, { assetId: 'bat-1' }, invalid);
    } catch (err) {
      error = err;
    }

    expect(error).toBeInstanceOf(BusValidationError);
    const validation = error as BusValidationError;
    expect(validation.subject).toBe('telemetry.bat-1');
    expect(validation.stage).toBe('publish');
    expect(validation.problems.map((p) => p.path)).toContain('$.atMs');
    expect(validation.message).toContain('telemetry.bat-1');
    expect(bus.network.messages).toHaveLength(0);
    expect(bus.stats().totals.publishRejected).toBe(1);
  });

  it('refuses a subject parameter that is not one token', () => {
    const bus = createMemoryBus();
    expect(() => bus.publish(subjects.telemetry, { assetId: 'bat.1' }, battery)).toThrow(InvalidSubjectTokenError);
    expect(bus.network.messages).toHaveLength(0);
  });

  it('drops and counts malformed JSON, schema-invalid payloads and foreign subjects while valid messages still arrive', async () => {
    const { log, lines } = capturedLog();
    const bus = createMemoryBus({ log });
    const handler = jest.fn();
    bus.subscribe(subjects.telemetry, handler);

    bus.publishRaw('telemetry.bat-1', '{not json');
    bus.publishRaw('telemetry.bat-1', new Uint8Array([0xff, 0xfe]));
    bus.publishRaw('telemetry.bat-1', JSON.stringify({ ...battery, sequence: 'x' }));
    bus.publishRaw('telemetry.BAT-1', JSON.stringify(battery));
    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    await bus.settle();

    expect(handler).toHaveBeenCalledTimes(1);
    expect(bus.stats().subjects['telemetry.{assetId}']).toMatchObject({
      delivered: 1,
      droppedInvalidJson: 2,
      droppedInvalidSchema: 1,
      droppedInvalidSubject: 1,
    });
    const schemaLine = lines.find((l) => l.reason === 'invalid-schema');
    expect(schemaLine).toMatchObject({ level: WARN, msg: 'dropped invalid message', subject: 'telemetry.bat-1' });
    expect(schemaLine?.issues?.map((i) => i.path)).toContain('$.sequence');
  });

  it('logs at most one drop line per subject and reason per interval, then reports the suppressed count', async () => {
    const { log, lines } = capturedLog();
    let nowMs = 1_000_000;
    const bus = createMemoryBus({ log, dropLogIntervalMs: 10_000, now: () => nowMs });
    bus.subscribe(subjects.telemetry, () => undefined);
    bus.subscribe(subjects.estop, () => undefined);

    for (let i = 0; i < 50; i++) bus.publishRaw('telemetry.bat-1', 'garbage');
    bus.publishRaw('safety.estop', 'garbage');
    nowMs += 9_999;
    bus.publishRaw('telemetry.bat-2', 'garbage');
    nowMs += 1;
    bus.publishRaw('telemetry.bat-1', 'garbage');
    await bus.settle();

    const drops = lines.filter((l) => l.msg === 'dropped invalid message');
    expect(drops.map((l) => [l.subject, l.suppressed])).toEqual([
      ['telemetry.bat-1', undefined],
      ['safety.estop', undefined],
      ['telemetry.bat-1', 50],
    ]);
    expect(bus.stats().subjects['telemetry.{assetId}']?.droppedInvalidJson).toBe(52);
  });

  it('isolates handler errors: logged and counted, other handlers and later messages unaffected', async () => {
    const { log, lines } = capturedLog();
    const bus = createMemoryBus({ log, dropLogIntervalMs: 0 });
    const healthy = jest.fn();
    let calls = 0;
    bus.subscribe(subjects.telemetry, () => {
      calls += 1;
      if (calls === 1) throw new Error('sync boom');
      return Promise.reject(new Error('async boom'));
    });
    bus.subscribe(subjects.telemetry, healthy);

    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    bus.publish(subjects.telemetry, { assetId: 'bat-2' }, { ...battery, assetId: 'bat-2' });
    await bus.settle();

    expect(healthy).toHaveBeenCalledTimes(2);
    expect(bus.stats().totals.handlerErrors).toBe(2);
    const errors = lines.filter((l) => l.level === ERROR && l.msg === 'message handler failed');
    expect(errors.map((l) => l.err?.message)).toEqual(['sync boom', 'async boom']);
  });

  it('delivers each message to one member of a queue group', async () => {
    const bus = createMemoryBus();
    const a = jest.fn();
    const b = jest.fn();
    bus.subscribe(subjects.telemetry, a, { queue: 'workers' });
    bus.subscribe(subjects.telemetry, b, { queue: 'workers' });

    for (let i = 0; i < 4; i++) bus.publish(subjects.telemetry, { assetId: 'bat-1' }, { ...battery, sequence: i });
    await bus.settle();

    expect(a.mock.calls.length + b.mock.calls.length).toBe(4);
    expect(a.mock.calls.length).toBeGreaterThan(0);
    expect(b.mock.calls.length).toBeGreaterThan(0);
  });

  it('stops delivering after unsubscribe', async () => {
    const bus = createMemoryBus();
    const handler = jest.fn();
    const unsubscribe = bus.subscribe(subjects.telemetry, handler);
    unsubscribe();
    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    await bus.settle();
    expect(handler).not.toHaveBeenCalled();
  });

  it('lists the validated payloads a party published, for assertions', () => {
    const bus = createMemoryBus();
    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    bus.publishRaw('telemetry.bat-1', 'garbage');
    expect(bus.published(subjects.telemetry).map((m) => [m.subject, m.payload.sequence])).toEqual([
      ['telemetry.bat-1', battery.sequence],
    ]);
  });
});

describe('in-memory bus: request and reply', () => {
  const write: DeviceWrite = { ...exampleDeviceWrite };
  const params = { assetId: 'bat-1' } as const;

  it('answers a valid request with the validated reply', async () => {
    const network = createMemoryNetwork();
    const arbiter = network.connect();
    const driver = network.connect();
    const seen: string[] = [];
    driver.reply(subjects.deviceWrite, (req, ctx) => {
      seen.push(ctx.params.assetId);
      return { ...exampleWriteResult, commandId: req.commandId };
    });

    const result = await arbiter.request(subjects.deviceWrite, params, write, { timeoutMs: 500 });

    expect(result).toEqual(exampleWriteResult);
    expect(seen).toEqual(['bat-1']);
    expect(driver.stats().totals.delivered).toBe(1);
  });

  it('refuses an invalid request before sending it', async () => {
    const bus = createMemoryBus();
    const handler = jest.fn();
    bus.reply(subjects.deviceWrite, handler);

    await expect(
      bus.request(
        subjects.deviceWrite,
        params,
        { ...write, expiresAtMs: 'soon' as unknown as number },
        { timeoutMs: 500 },
      ),
    ).rejects.toMatchObject({ name: 'BusValidationError', stage: 'request', subject: 'device.bat-1.write' });
    expect(handler).not.toHaveBeenCalled();
    expect(bus.network.messages).toHaveLength(0);
  });

  it('answers an invalid incoming request with the error header and an empty body, without calling the handler', async () => {
    const { log, lines } = capturedLog();
    const bus = createMemoryBus({ log });
    const handler = jest.fn();
    bus.reply(subjects.deviceWrite, handler);

    const answer = await bus.raw.request(
      'device.bat-1.write',
      new TextEncoder().encode(JSON.stringify({ ...write, setpoint: { kind: 'laser' } })),
      {},
      500,
    );

    expect(handler).not.toHaveBeenCalled();
    expect(answer.data).toHaveLength(0);
    expect(answer.headers[ERROR_HEADER]).toMatch(/^invalid-request: invalid-schema: \$\.setpoint/);
    expect(bus.stats().totals).toMatchObject({ droppedInvalidSchema: 1, requestsRejected: 1 });
    expect(lines.some((l) => l.msg === 'dropped invalid message')).toBe(true);
  });

  it('makes the requester fail fast with a typed error when the replier rejects the request', async () => {
    const bus = createMemoryBus();
    bus.raw.subscribe(
      'device.*.write',
      {},
      (msg) => msg.respond(new Uint8Array(0), { [ERROR_HEADER]: 'invalid-request: x' }),
      () => undefined,
    );

    const error = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 500 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BusReplyRejectedError);
    expect(error).toMatchObject({ code: 'invalid-request', subject: 'device.bat-1.write' });
  });

  it('refuses a reply that fails the reply schema with a typed error', async () => {
    const bus = createMemoryBus();
    bus.raw.subscribe(
      'device.*.write',
      {},
      (msg) => msg.respond(new TextEncoder().encode(JSON.stringify({ ...exampleWriteResult, status: 'maybe' }))),
      () => undefined,
    );

    const error = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 500 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(BusValidationError);
    expect(error).toMatchObject({ stage: 'reply', subject: 'device.bat-1.write' });
    expect((error as BusValidationError).problems.map((p) => p.path)).toEqual(['$.status']);
    expect(bus.stats().totals.invalidReplies).toBe(1);
  });

  it('does not send a reply its own handler built wrongly; the requester gets invalid-reply', async () => {
    const { log, lines } = capturedLog();
    const network = createMemoryNetwork();
    const driver = network.connect({ log });
    const arbiter = network.connect();
    driver.reply(subjects.deviceWrite, () => ({ ...exampleWriteResult, atMs: -1 }));

    const error = await arbiter
      .request(subjects.deviceWrite, params, write, { timeoutMs: 500 })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'BusReplyRejectedError', code: 'invalid-reply' });
    expect(driver.stats().totals.invalidReplies).toBe(1);
    expect(lines.find((l) => l.msg === 'handler returned an invalid reply')?.level).toBe(ERROR);
  });

  it('answers handler-failed when the reply handler throws, and keeps serving', async () => {
    const bus = createMemoryBus();
    let fail = true;
    bus.reply(subjects.deviceWrite, () => {
      if (fail) {
        fail = false;
        throw new TypeError('device offline');
      }
      return exampleWriteResult;
    });

    const first = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 500 }).catch((e: unknown) => e);
    const second = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 500 });

    expect(first).toMatchObject({ name: 'BusReplyRejectedError', reason: 'handler-failed: TypeError' });
    expect(second).toEqual(exampleWriteResult);
    expect(bus.stats().totals.handlerErrors).toBe(1);
  });

  it('fails with no-responders when nobody answers the subject', async () => {
    const bus = createMemoryBus();
    const error = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusRequestFailedError);
    expect(error).toMatchObject({ reason: 'no-responders', retryable: true });
  });

  it('fails with timeout when the replier does not answer in time', async () => {
    const bus = createMemoryBus();
    bus.raw.subscribe(
      'device.*.write',
      {},
      () => undefined,
      () => undefined,
    );
    const error = await bus.request(subjects.deviceWrite, params, write, { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'BusRequestFailedError', reason: 'timeout', timeoutMs: 20 });
  });

  it('handles a plain publish on a request subject without answering', async () => {
    const bus = createMemoryBus();
    const handler = jest.fn(() => exampleWriteResult);
    bus.reply(subjects.deviceWrite, handler);
    bus.publish(subjects.deviceWrite, params, write);
    await bus.settle();
    expect(handler).toHaveBeenCalledTimes(1);
    expect(bus.stats().totals).toMatchObject({ handlerErrors: 0, requestsRejected: 0 });
  });
});

describe('messages the server delivered out of a JetStream stream', () => {
  /** A transport that hands the bus whatever message the test builds, as the NATS transport would. */
  function handTransport(): { transport: BusTransport; deliver(msg: RawMessage): Promise<void> } {
    const listeners: ((msg: RawMessage) => void | Promise<void>)[] = [];
    return {
      transport: {
        publish: () => undefined,
        subscribe(_subject, _opts, onMessage) {
          listeners.push(onMessage);
          return { unsubscribe: () => undefined };
        },
        request: () => Promise.reject(new Error('not used')),
      },
      async deliver(msg) {
        await Promise.all(listeners.map((l) => l(msg)));
      },
    };
  }
  const body = new TextEncoder().encode(JSON.stringify(exampleDeviceWrite));

  it('drops a valid device write that came out of a stream: counted, logged as an error, never handled, never answered', async () => {
    const { log, lines } = capturedLog();
    const hand = handTransport();
    const bus = createBusOnTransport(hand.transport, log);
    const handler = jest.fn(() => exampleWriteResult);
    bus.reply(subjects.deviceWrite, handler);
    const respond = jest.fn();

    await hand.deliver({
      subject: 'device.bat-1.write',
      data: body,
      headers: {},
      hasReply: true,
      respond,
      fromStream: 'KV_prices',
    });
    await hand.deliver({ subject: 'device.bat-1.write', data: body, headers: {}, hasReply: true, respond });

    expect(handler).toHaveBeenCalledTimes(1);
    expect(respond).toHaveBeenCalledTimes(1); // the client's request only
    expect(bus.stats().subjects['device.{assetId}.write']).toMatchObject({
      delivered: 1,
      droppedFromStream: 1,
      requestsRejected: 0,
    });
    expect(lines.find((l) => l.reason === 'from-stream')).toMatchObject({
      level: ERROR,
      subject: 'device.bat-1.write',
      issues: [{ path: '$', message: expect.stringContaining('JetStream stream KV_prices') }],
    });
  });

  it("refuses such a message as the answer to a request: a forged write result is never taken for the driver's", async () => {
    const forged: RawMessage = {
      subject: '_INBOX.arbiter.1',
      data: new TextEncoder().encode(JSON.stringify(exampleWriteResult)),
      headers: {},
      hasReply: true,
      respond: () => undefined,
      fromStream: 'KV_config',
    };
    const transport: BusTransport = {
      publish: () => undefined,
      subscribe: () => ({ unsubscribe: () => undefined }),
      request: () => Promise.resolve(forged),
    };
    const bus = createBusOnTransport(transport, capturedLog().log);

    const failure = await bus
      .request(subjects.deviceWrite, { assetId: 'bat-1' }, exampleDeviceWrite, { timeoutMs: 1_000 })
      .catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(BusValidationError);
    expect(String(failure)).toContain('out of JetStream stream KV_config');
    expect(bus.stats().subjects['device.{assetId}.write']).toMatchObject({ published: 1, invalidReplies: 1 });
  });

  it('neither handles nor answers a request whose reply subject is not an inbox (the requester picked it)', async () => {
    const { log, lines } = capturedLog();
    const hand = handTransport();
    const bus = createBusOnTransport(hand.transport, log);
    const handler = jest.fn(() => exampleWriteResult);
    bus.reply(subjects.deviceWrite, handler);
    const respond = jest.fn();
    const request = (replyTo: string): RawMessage => ({
      subject: 'device.bat-1.write',
      data: body,
      headers: {},
      hasReply: true,
      replyTo,
      respond,
    });

    await hand.deliver(request('$KV.config.site'));
    await hand.deliver(request('device.bat-2.write'));
    await hand.deliver(request('_INBOX_safety-arbiter.abc.1'));
    await hand.deliver(request('_INBOX.abc.2'));

    expect(handler).toHaveBeenCalledTimes(2);
    expect(respond).toHaveBeenCalledTimes(2);
    expect(bus.stats().subjects['device.{assetId}.write']).toMatchObject({ delivered: 2, droppedForeignReply: 2 });
    expect(lines.find((l) => l.reason === 'foreign-reply')).toMatchObject({
      level: ERROR,
      issues: [{ path: '$', message: 'reply subject $KV.config.site is not a reply inbox' }],
    });
  });

  it('drops one on a plain subscription as well', async () => {
    const hand = handTransport();
    const bus = createBusOnTransport(hand.transport, capturedLog().log);
    const handler = jest.fn();
    bus.subscribe(subjects.telemetry, handler);
    const reading = new TextEncoder().encode(JSON.stringify(battery));

    await hand.deliver({
      subject: 'telemetry.bat-1',
      data: reading,
      headers: {},
      hasReply: false,
      respond: () => undefined,
      fromStream: '?',
    });

    expect(handler).not.toHaveBeenCalled();
    expect(bus.stats().totals).toMatchObject({ delivered: 0, droppedFromStream: 1 });
  });

  it('tells a stream delivery by its JetStream reply subject or its Nats-Stream header, and a client message by neither', () => {
    expect(streamOrigin('$JS.ACK.KV_prices.evil.1.2.2.1700000000000000000.0', {})).toBe('KV_prices');
    expect(streamOrigin('$JS.FC.KV_config.evil.x1', {})).toBe('KV_config');
    expect(streamOrigin(undefined, { 'Nats-Stream': 'AUDIT', 'Nats-Subject': 'x', 'Nats-Sequence': '3' })).toBe(
      'AUDIT',
    );
    expect(streamOrigin('', { 'nats-stream': '' })).toBe('?');
    expect(streamOrigin('_INBOX.abc.1', { traceparent: '00-…' })).toBeUndefined();
    expect(streamOrigin(undefined, {})).toBeUndefined();
  });
});

describe('in-memory bus: trace context', () => {
  let tracing: { uninstall(): void };
  beforeAll(() => {
    tracing = installTestTracing();
  });
  afterAll(() => tracing.uninstall());

  it('carries the active trace in traceparent/tracestate and runs the handler inside it', async () => {
    const bus = createMemoryBus();
    const { ctx, span } = contextWithNewTrace('vendor=abc');
    let seen: { fromCtx?: string; active?: string; state?: string } = {};
    bus.subscribe(subjects.telemetry, async (_reading, msgCtx) => {
      await Promise.resolve();
      seen = {
        fromCtx: trace.getSpanContext(msgCtx.traceContext)?.traceId,
        active: trace.getSpanContext(context.active())?.traceId,
        state: msgCtx.headers['tracestate'],
      };
    });

    context.with(ctx, () => bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery));
    await bus.settle();

    expect(seen).toEqual({ fromCtx: span.traceId, active: span.traceId, state: 'vendor=abc' });
    expect(bus.network.messages[0]?.headers['traceparent']).toBe(`00-${span.traceId}-${span.spanId}-01`);
  });

  it('sends no traceparent without an active trace', () => {
    const bus = createMemoryBus();
    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, battery);
    expect(bus.network.messages[0]?.headers).toEqual({});
    expect(decode(bus.network.messages[0]?.body ?? '')).toEqual(battery);
  });
});
