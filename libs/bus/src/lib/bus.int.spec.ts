import { randomBytes } from 'node:crypto';
import { context, trace } from '@opentelemetry/api';
import { subjects, type AssetReading } from '@voltimax/contracts';
import { exampleDeviceWrite, exampleReadings, exampleWriteResult } from '@voltimax/contracts/testing';
import {
  BusReplyRejectedError,
  BusRequestFailedError,
  BusValidationError,
  connectBus,
  createBus,
  ERROR_HEADER,
  type Bus,
  type BusConnection,
} from '../index';
import { captureLogger, contextWithNewTrace, installTestTracing, type CapturedLine } from '../testing';
import { startNats, waitFor, type NatsTestServer } from '@voltimax/testing';

const run = randomBytes(3).toString('hex');
const asset = (name: string): string => `${name}-${run}`;
const encode = (value: unknown): Uint8Array =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('bus over a real nats-server', () => {
  let server: NatsTestServer;
  let pubConn: BusConnection;
  let subConn: BusConnection;
  let pub: Bus;
  let sub: Bus;
  let subLines: CapturedLine[];
  let tracing: { uninstall(): void };

  beforeAll(async () => {
    tracing = installTestTracing();
    server = await startNats();
    const quiet = captureLogger('warn');
    const captured = captureLogger('debug');
    subLines = captured.lines;
    pubConn = await connectBus({ servers: server.url, name: 'bus-int-pub', log: quiet.log });
    subConn = await connectBus({ servers: server.url, name: 'bus-int-sub', log: captured.log });
    pub = createBus(pubConn.nc, quiet.log);
    sub = createBus(subConn.nc, captured.log, { dropLogIntervalMs: 0 });
  });

  afterAll(async () => {
    await pubConn?.nc.drain();
    await subConn?.nc.drain();
    await server?.stop();
    tracing?.uninstall();
  });

  it('reports connected', () => {
    expect(pubConn.isConnected()).toBe(true);
  });

  it('round-trips a typed message between two connections', async () => {
    const assetId = asset('rt');
    const got: AssetReading[] = [];
    const unsubscribe = sub.subscribe(subjects.telemetry, (reading, ctx) => {
      if (ctx.params.assetId === assetId) got.push(reading);
    });
    await subConn.nc.flush();

    const reading = { ...exampleReadings.battery, assetId };
    pub.publish(subjects.telemetry, { assetId }, reading);

    await waitFor(() => got.length === 1, { timeoutMs: 2000, message: 'the reading to arrive' });
    expect(got[0]).toEqual(reading);
    unsubscribe();
  });

  it('drops and counts malformed JSON and schema-invalid messages published raw; valid ones still arrive', async () => {
    const assetId = asset('drop');
    const got: number[] = [];
    const before = sub.stats().subjects['telemetry.{assetId}'];
    const unsubscribe = sub.subscribe(subjects.telemetry, (reading, ctx) => {
      if (ctx.params.assetId === assetId) got.push(reading.sequence);
    });
    await subConn.nc.flush();

    const subject = subjects.telemetry.format({ assetId });
    pubConn.nc.publish(subject, encode('{"v":1,'));
    pubConn.nc.publish(subject, encode({ ...exampleReadings.battery, assetId, quality: 'excellent' }));
    pub.publish(subjects.telemetry, { assetId }, { ...exampleReadings.battery, assetId, sequence: 99 });

    await waitFor(() => got.length === 1, { timeoutMs: 2000, message: 'the valid reading' });
    const after = sub.stats().subjects['telemetry.{assetId}'];
    expect(got).toEqual([99]);
    expect((after?.droppedInvalidJson ?? 0) - (before?.droppedInvalidJson ?? 0)).toBe(1);
    expect((after?.droppedInvalidSchema ?? 0) - (before?.droppedInvalidSchema ?? 0)).toBe(1);
    const dropped = subLines.filter((l) => l.msg === 'dropped invalid message' && l['subject'] === subject);
    expect(dropped.map((l) => l['reason'])).toEqual(['invalid-json', 'invalid-schema']);
    unsubscribe();
  });

  describe('request/reply', () => {
    const write = exampleDeviceWrite;

    it('answers a valid request with a validated reply', async () => {
      const assetId = asset('rr');
      const unsubscribe = sub.reply(subjects.deviceWrite, (req, ctx) => ({
        ...exampleWriteResult,
        assetId: ctx.params.assetId,
        commandId: req.commandId,
      }));
      await subConn.nc.flush();

      const result = await pub.request(subjects.deviceWrite, { assetId }, { ...write, assetId }, { timeoutMs: 2000 });

      expect(result).toEqual({ ...exampleWriteResult, assetId });
      unsubscribe();
    });

    it('answers an invalid request (sent raw) with the Voltimax-Error header, never calling the handler', async () => {
      const assetId = asset('badreq');
      const handler = jest.fn(() => exampleWriteResult);
      const unsubscribe = sub.reply(subjects.deviceWrite, handler);
      await subConn.nc.flush();

      const answer = await pubConn.nc.request(
        subjects.deviceWrite.format({ assetId }),
        encode({ ...write, assetId, setpoint: { kind: 'battery-power', powerW: 'max' } }),
        { timeout: 2000 },
      );

      expect(handler).not.toHaveBeenCalled();
      expect(answer.data).toHaveLength(0);
      expect(answer.headers?.get(ERROR_HEADER)).toMatch(/^invalid-request: invalid-schema: \$\.setpoint\.powerW/);
      unsubscribe();
    });

    it('fails fast with BusReplyRejectedError when the handler builds an invalid reply', async () => {
      const assetId = asset('badrep');
      const unsubscribe = sub.reply(subjects.deviceWrite, () => ({
        ...exampleWriteResult,
        status: 'perhaps' as 'applied',
      }));
      await subConn.nc.flush();

      const error = await pub
        .request(subjects.deviceWrite, { assetId }, { ...write, assetId }, { timeoutMs: 2000 })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(BusReplyRejectedError);
      expect(error).toMatchObject({ code: 'invalid-reply' });
      unsubscribe();
    });

    it('refuses a reply that fails the reply schema (raw replier)', async () => {
      const assetId = asset('rawrep');
      const raw = subConn.nc.subscribe(subjects.deviceWrite.format({ assetId }), {
        callback: (_err, msg) => {
          msg.respond(encode({ v: 1, status: 'applied' }));
        },
      });
      await subConn.nc.flush();

      const error = await pub
        .request(subjects.deviceWrite, { assetId }, { ...write, assetId }, { timeoutMs: 2000 })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(BusValidationError);
      expect(error).toMatchObject({ stage: 'reply' });
      expect((error as BusValidationError).problems.map((p) => p.path)).toEqual(
        expect.arrayContaining(['$.commandId', '$.assetId', '$.atMs']),
      );
      raw.unsubscribe();
    });

    it('refuses an invalid request before it leaves the process', async () => {
      const error = await pub
        .request(subjects.deviceWrite, { assetId: asset('x') }, { ...write, v: 2 as 1 }, { timeoutMs: 2000 })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'BusValidationError', stage: 'request' });
    });

    it('reports no responders and timeouts as BusRequestFailedError', async () => {
      const lonely = asset('lonely');
      const silent = asset('silent');
      const raw = subConn.nc.subscribe(subjects.deviceWrite.format({ assetId: silent }));
      await subConn.nc.flush();

      const none = await pub
        .request(subjects.deviceWrite, { assetId: lonely }, { ...write, assetId: lonely }, { timeoutMs: 2000 })
        .catch((e: unknown) => e);
      const late = await pub
        .request(subjects.deviceWrite, { assetId: silent }, { ...write, assetId: silent }, { timeoutMs: 100 })
        .catch((e: unknown) => e);

      expect(none).toBeInstanceOf(BusRequestFailedError);
      expect(none).toMatchObject({ reason: 'no-responders' });
      expect(late).toMatchObject({ name: 'BusRequestFailedError', reason: 'timeout' });
      raw.unsubscribe();
    });
  });

  it('propagates W3C trace context across real NATS hops (publish, then a request made inside the handler)', async () => {
    const assetId = asset('trace');
    const { ctx, span } = contextWithNewTrace('voltimax=1');
    const seen: { hop: string; traceId: string | undefined; parentSpan: string | undefined }[] = [];
    const unsubscribe = sub.subscribe(subjects.telemetry, async (reading, msgCtx) => {
      if (msgCtx.params.assetId !== assetId) return;
      seen.push({
        hop: 'telemetry',
        traceId: trace.getSpanContext(context.active())?.traceId,
        parentSpan: trace.getSpanContext(msgCtx.traceContext)?.spanId,
      });
      await sub.request(subjects.deviceWrite, { assetId }, { ...exampleDeviceWrite, assetId }, { timeoutMs: 2000 });
    });
    const unreply = pub.reply(subjects.deviceWrite, (_req, msgCtx) => {
      seen.push({
        hop: 'write',
        traceId: trace.getSpanContext(msgCtx.traceContext)?.traceId,
        parentSpan: trace.getSpanContext(msgCtx.traceContext)?.spanId,
      });
      return { ...exampleWriteResult, assetId };
    });
    await subConn.nc.flush();
    await pubConn.nc.flush();

    context.with(ctx, () => pub.publish(subjects.telemetry, { assetId }, { ...exampleReadings.battery, assetId }));

    await waitFor(() => seen.length === 2, { timeoutMs: 2000, message: 'both hops' });
    expect(seen).toEqual([
      { hop: 'telemetry', traceId: span.traceId, parentSpan: span.spanId },
      { hop: 'write', traceId: span.traceId, parentSpan: span.spanId },
    ]);
    unsubscribe();
    unreply();
  });
});
