import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { TransportError } from '../port';
import { telemetryFrame } from '../../testing/behaviour';
import { HttpTelemetrySink, telemetryUrl } from './http-telemetry-sink';

interface Received {
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A Platform API double on a real loopback socket: answers each POST with the next queued status (default 202). */
async function platformApi(port = 0): Promise<{
  app: FastifyInstance;
  base: string;
  received: Received[];
  statuses: number[];
  hold: { release?: () => void; holding?: boolean };
}> {
  const app = Fastify();
  const received: Received[] = [];
  const statuses: number[] = [];
  const hold: { release?: () => void; holding?: boolean } = {};
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/v1/gateways/:id/telemetry', async (req, reply) => {
    received.push({ url: req.url, headers: req.headers, body: req.body as Buffer });
    if (hold.holding) await new Promise<void>((resolve) => (hold.release = resolve));
    const status = statuses.shift() ?? 202;
    return reply.code(status).send(status >= 400 ? { error: `status ${status}` } : { accepted: true });
  });
  const address = await app.listen({ host: '127.0.0.1', port });
  return { app, base: `${address}/v1`, received, statuses, hold };
}

describe('HttpTelemetrySink against a real HTTP server', () => {
  let api: Awaited<ReturnType<typeof platformApi>>;
  beforeEach(async () => {
    api = await platformApi();
  });
  afterEach(async () => {
    api.hold.release?.();
    await api.app.close();
  });

  it('POSTs the frame as JSON with the idempotency key and bearer token, and resolves on 2xx', async () => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1', token: 's3cret' });
    const frame = telemetryFrame('gw-1', 1);

    await sink.send(frame);

    expect(api.received).toHaveLength(1);
    const [request] = api.received;
    expect(request?.url).toBe('/v1/gateways/gw-1/telemetry');
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': frame.frameId,
      authorization: 'Bearer s3cret',
    });
    expect(JSON.parse(request?.body.toString('utf8') ?? '')).toEqual(frame);
    expect(sink.status().state).toBe('online');
  });

  it('gzips the body on request and says so in Content-Encoding', async () => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1' });
    const frame = telemetryFrame('gw-1', 1, 100);

    await sink.send(frame, { gzip: true });

    const [request] = api.received;
    expect(request?.headers['content-encoding']).toBe('gzip');
    expect(request?.headers.authorization).toBeUndefined();
    expect(JSON.parse(gunzipSync(request?.body ?? Buffer.alloc(0)).toString('utf8'))).toEqual(frame);
  });

  it.each([
    { status: 400, code: 'rejected', retryable: false },
    { status: 401, code: 'auth', retryable: false },
    { status: 403, code: 'auth', retryable: false },
    { status: 413, code: 'too-large', retryable: false },
    { status: 408, code: 'rejected', retryable: true },
    { status: 429, code: 'rejected', retryable: true },
    { status: 500, code: 'rejected', retryable: true },
    { status: 503, code: 'rejected', retryable: true },
  ])('maps HTTP $status to $code (retryable: $retryable)', async ({ status, code, retryable }) => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1' });
    api.statuses.push(status);

    const failure = await sink.send(telemetryFrame('gw-1', 1)).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code, retryable, message: expect.stringContaining(`HTTP ${status}`) });
  });

  it('rejects as a retryable timeout when the server does not answer in time', async () => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1', timeoutMs: 300 });
    api.hold.holding = true;

    const failure = await sink.send(telemetryFrame('gw-1', 1)).catch((err: unknown) => err);

    expect(failure).toMatchObject({ code: 'timeout', retryable: true });
    expect(sink.status()).toMatchObject({ state: 'offline' });
  });

  it('rejects as retryable and goes offline when nothing listens, and recovers on the same address', async () => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1' });
    await sink.send(telemetryFrame('gw-1', 1));
    const port = Number(new URL(api.base).port);
    await api.app.close();

    const failure = await sink.send(telemetryFrame('gw-1', 2)).catch((err: unknown) => err);

    expect(failure).toMatchObject({ code: 'offline', retryable: true });
    expect(sink.status()).toMatchObject({
      state: 'offline',
      reason: expect.stringMatching(/ECONNREFUSED|socket|closed/i),
    });
    api = await platformApi(port);
    await sink.send(telemetryFrame('gw-1', 3));
    expect(sink.status().state).toBe('online');
    expect(api.received).toHaveLength(1);
  });

  it('refuses a frame for another gateway and one larger than its limit, without a request', async () => {
    const sink = new HttpTelemetrySink({ platformApiUrl: api.base, gatewayId: 'gw-1', maxFrameBytes: 500 });

    await expect(sink.send(telemetryFrame('gw-2', 1))).rejects.toMatchObject({ code: 'protocol', retryable: false });
    await expect(sink.send(telemetryFrame('gw-1', 1, 20))).rejects.toMatchObject({
      code: 'too-large',
      retryable: false,
    });
    expect(api.received).toHaveLength(0);
  });
});

describe('telemetryUrl', () => {
  it.each([
    ['https://api.example.com/v1', 'https://api.example.com/v1/gateways/gw-1/telemetry'],
    ['https://api.example.com/v1/', 'https://api.example.com/v1/gateways/gw-1/telemetry'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/gateways/gw-1/telemetry'],
  ])('%s → %s', (base, url) => {
    expect(telemetryUrl(base, 'gw-1')).toBe(url);
  });
});
