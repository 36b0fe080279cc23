// The device HTTP client against a real node:http server on 127.0.0.1: retries, the breaker, timeouts and the body
// checks, each failure with its kind and a message fit for a reading.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { captureLogger } from '@voltimax/bus/testing';
import { freePort } from '@voltimax/testing';
import { HttpDeviceClient, HttpDeviceError } from './http-client';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe('HttpDeviceClient', () => {
  let server: Server;
  let url = '';
  let handler: Handler = (_req, res) => res.end('{}');
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        handler(req, res, body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    seen.length = 0;
  });

  const client = (overrides: Partial<ConstructorParameters<typeof HttpDeviceClient>[1]> = {}) =>
    new HttpDeviceClient('dev-1', {
      // Generous: an exchange that should succeed must not time out on a busy machine (CI once saw 200 ms pass).
      timeoutMs: 5_000,
      attempts: 2,
      maxBodyBytes: 1_024,
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 60_000 },
      retryInitialDelayMs: 1,
      log: captureLogger('warn').log,
      ...overrides,
    });
  const failure = async (promise: Promise<unknown>): Promise<HttpDeviceError> => {
    try {
      await promise;
    } catch (err) {
      if (err instanceof HttpDeviceError) return err;
      throw err;
    }
    throw new Error('expected a failure');
  };

  it('sends the method, headers and JSON body, and returns the text of a 2xx answer', async () => {
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    const answer = await client().once({
      method: 'PATCH',
      url: `${url}/x`,
      headers: { Authorization: 'tok' },
      body: '{"a":1}',
    });
    expect(answer).toEqual({ status: 200, text: '{"ok":true}' });
    expect(seen[0]).toMatchObject({ method: 'PATCH', url: '/x', body: '{"a":1}' });
    expect(seen[0]?.headers).toMatchObject({
      authorization: 'tok',
      'content-type': 'application/json',
      accept: 'application/json',
    });
  });

  it('retries a 5xx once, then succeeds; a 4xx is not retried', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls += 1;
      if (calls === 1) res.writeHead(503).end('busy');
      else res.end('{}');
    };
    expect(await client().request({ method: 'GET', url })).toEqual({ status: 200, text: '{}' });
    expect(calls).toBe(2);
    calls = 0;
    handler = (_req, res) => {
      calls += 1;
      res.writeHead(404, 'Not Found').end('{"error":"no such endpoint"}');
    };
    const notFound = await failure(client().request({ method: 'GET', url: `${url}/gone` }));
    expect([notFound.kind, notFound.status, notFound.retryable, calls]).toEqual(['status', 404, false, 1]);
    expect(notFound.message).toBe(`GET ${url}/gone: HTTP 404 Not Found: {"error":"no such endpoint"}`);
  });

  it('gives up after the timeout, naming it', async () => {
    handler = () => undefined; // never answers
    const err = await failure(client({ attempts: 1, timeoutMs: 200 }).once({ method: 'GET', url }));
    expect([err.kind, err.retryable]).toEqual(['timeout', true]);
    expect(err.message).toBe(`GET ${url}: no complete answer within 200 ms`);
  });

  it('refuses bodies that are too large or not UTF-8, and redirects', async () => {
    handler = (_req, res) => res.end('x'.repeat(2_000));
    expect(await failure(client().once({ method: 'GET', url }))).toMatchObject({
      kind: 'too-large',
      message: `${url}: response body exceeds 1024 bytes`,
    });
    handler = (_req, res) => res.end(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(await failure(client().once({ method: 'GET', url }))).toMatchObject({
      kind: 'body',
      message: `GET ${url}: HTTP 200 body is not UTF-8 text`,
    });
    handler = (_req, res) => res.writeHead(302, { Location: 'http://192.0.2.1/' }).end();
    expect((await failure(client().once({ method: 'GET', url }))).kind).toBe('connection');
  });

  it('opens the breaker after failures in a row and then fails at once, without a request', async () => {
    const port = await freePort();
    const dead = client({ attempts: 1 });
    for (let i = 0; i < 3; i += 1) {
      const err = await failure(dead.once({ method: 'GET', url: `http://127.0.0.1:${port}/` }));
      expect(err.kind).toBe('connection');
      expect(err.message).toContain('ECONNREFUSED');
    }
    expect(dead.breakerCode()).toBe(2);
    const open = await failure(dead.once({ method: 'GET', url }));
    expect(open).toMatchObject({
      kind: 'breaker-open',
      message: 'circuit open after 3 failures in a row; next probe within 60000 ms',
    });
    expect(seen).toEqual([]);
  });
});
