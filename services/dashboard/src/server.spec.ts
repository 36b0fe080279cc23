// The web server on a real loopback socket: static UI, login with lockout, cookie flags, CSRF, the actions, and the
// live stream (Server-Sent Events). Bus and password file are fakes here; dashboard.int.spec.ts runs the real ones.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { captureLogger } from '@voltimax/bus/testing';
import type { EmergencyStop } from '@voltimax/contracts';
import { waitFor } from '@voltimax/testing';
import type { EstopBody, IntentBody } from './actions';
import { LoginLimiter, SessionStore } from './auth';
import { startServer, type DashboardServer, type Every, type IntentOutcome, type ServerSettings } from './server';
import { initialState, reduce, snapshot } from './state';
import { decision, testSite } from './testing/fixtures';
import type { UiFile } from './ui-files';

const T0 = 1_750_000_000_000;
const PASSWORD = 'right horse battery';

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

function call(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const payload =
    opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** One SSE connection: parsed events as they arrive. */
function openStream(url: string, cookie: string) {
  const events: { event: string; data: string }[] = [];
  let response: IncomingMessage | undefined;
  let ended = false;
  let buffer = '';
  const req = httpRequest(`${url}/api/events`, { headers: { cookie } }, (res) => {
    response = res;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data });
      }
    });
    res.on('end', () => {
      ended = true;
    });
  });
  req.on('error', () => {
    ended = true;
  });
  req.end();
  return {
    events,
    response: () => response,
    isEnded: () => ended,
    close: () => req.destroy(),
  };
}

interface Harness {
  server: DashboardServer;
  nowMs: number;
  passwordChecks: number;
  estops: { body: EstopBody; by: string }[];
  intents: { body: IntentBody; by: string }[];
  counters: Map<string, number>;
  log: ReturnType<typeof captureLogger>;
  cookieOf(reply: Reply): string;
  login(password?: string, headers?: Record<string, string>): Promise<Reply>;
  /** Logs in and returns the cookie header and the CSRF token. */
  session(): Promise<{ cookie: string; csrf: string }>;
}

const ui = new Map<string, UiFile>([
  [
    '/',
    {
      body: Buffer.from('<!doctype html><p>ui</p>'),
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'no-cache',
    },
  ],
  [
    '/assets/app-1.js',
    {
      body: Buffer.from('console.log(1)'),
      contentType: 'text/javascript; charset=utf-8',
      cacheControl: 'public, max-age=31536000, immutable',
    },
  ],
]);

const harnesses: Harness[] = [];

async function harness(
  overrides: Partial<ServerSettings> = {},
  opts: { ui?: ReadonlyMap<string, UiFile>; maxFailures?: number; maxPerMinute?: number } = {},
): Promise<Harness> {
  const h = {
    nowMs: T0,
    passwordChecks: 0,
    estops: [],
    intents: [],
    counters: new Map<string, number>(),
    log: captureLogger('info'),
  } as unknown as Harness;
  const sessions = new SessionStore(30 * 60_000, 12 * 3_600_000);
  const limiter = new LoginLimiter({
    maxFailures: opts.maxFailures ?? 3,
    lockoutMs: 15 * 60_000,
    maxPerMinute: opts.maxPerMinute ?? 100,
  });
  const state = reduce(initialState(T0, { site: testSite(), source: 'file', loadedAtMs: T0 }), {
    type: 'bus',
    isConnected: true,
    atMs: T0,
  });
  const never: Every = () => () => undefined;
  h.server = await startServer({
    log: h.log.log,
    now: () => h.nowMs,
    sessions,
    limiter,
    checkPassword: async (password) => {
      h.passwordChecks += 1;
      return password === PASSWORD ? 'ok' : 'wrong';
    },
    snapshot: () => snapshot(state, h.nowMs),
    history: () => ({
      fromMs: h.nowMs - 86_400_000,
      toMs: h.nowMs,
      bucketMs: 300_000,
      points: [],
      samples: { stream: 0, live: 0 },
      streamProblem: null,
    }),
    sendIntent: async (body, by): Promise<IntentOutcome> => {
      h.intents.push({ body, by });
      const intent = {
        v: 1 as const,
        id: 'dashboard-1',
        source: 'manual' as const,
        assetId: body.assetId,
        setpoint: body.setpoint,
        issuedAtMs: h.nowMs,
        ttlMs: body.ttlMs,
        reason: body.reason,
      };
      return {
        ok: true,
        intent,
        decision: decision(body.assetId, h.nowMs, { source: 'manual', intentId: intent.id, outcome: 'clamped' }),
      };
    },
    sendEstop: async (body, by): Promise<EmergencyStop> => {
      h.estops.push({ body, by });
      return { v: 1, action: body.action, by, reason: body.reason, atMs: h.nowMs };
    },
    counters: {
      increment: (name) => h.counters.set(name, (h.counters.get(name) ?? 0) + 1),
      set: (name, value) => h.counters.set(name, value),
    },
    ui: 'ui' in opts ? opts.ui : ui,
    every: never,
    settings: {
      host: '127.0.0.1',
      port: 0,
      tls: undefined,
      isCookieSecure: false,
      allowedOrigins: [],
      trustProxy: false,
      updateMs: 1_000,
      sessionMaxMs: 12 * 3_600_000,
      maxEventClients: 2,
      ...overrides,
    },
  });
  h.cookieOf = (reply) => String(reply.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
  h.login = (password = PASSWORD, headers = {}) =>
    call(h.server.url, 'POST', '/api/login', {
      body: { password },
      headers: { 'content-type': 'application/json', origin: h.server.url, ...headers },
    });
  h.session = async () => {
    const reply = await h.login();
    expect(reply.status).toBe(200);
    return { cookie: h.cookieOf(reply), csrf: reply.json<{ csrfToken: string }>().csrfToken };
  };
  harnesses.push(h);
  return h;
}

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.server.close()));
});

describe('static UI', () => {
  it('serves the built page with a strict Content-Security-Policy, hashed assets as immutable, 404 for the rest', async () => {
    const h = await harness();
    const page = await call(h.server.url, 'GET', '/');
    const asset = await call(h.server.url, 'GET', '/assets/app-1.js');
    const missing = await call(h.server.url, 'GET', '/etc/passwd');

    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(missing.status).toBe(404);
  });

  it('answers 503 with the build command when the UI could not be built', async () => {
    const h = await harness({}, { ui: undefined });
    const page = await call(h.server.url, 'GET', '/');
    expect(page.status).toBe(503);
    expect(page.body).toContain('build-ui.mjs');
  });
});

describe('login', () => {
  it('refuses the API without a session', async () => {
    const h = await harness();
    expect((await call(h.server.url, 'GET', '/api/state')).status).toBe(401);
    expect((await call(h.server.url, 'GET', '/api/session')).json()).toEqual({ authenticated: false });
  });

  it('sets an HttpOnly, SameSite=Strict session cookie (no Secure without TLS) and opens the API', async () => {
    const h = await harness();
    const reply = await h.login();

    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']?.[0]).toMatch(
      /^voltimax_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    const cookie = h.cookieOf(reply);
    const state = await call(h.server.url, 'GET', '/api/state', { headers: { cookie } });
    expect(state.status).toBe(200);
    expect(state.headers['cache-control']).toBe('no-store');
    expect(state.json()).toMatchObject({ v: 1, site: { gatewayId: 'gw-test' } });
    expect((await call(h.server.url, 'GET', '/api/session', { headers: { cookie } })).json()).toMatchObject({
      authenticated: true,
      csrfToken: reply.json<{ csrfToken: string }>().csrfToken,
    });
  });

  it('marks the cookie Secure when the site is served over TLS (or a TLS proxy)', async () => {
    const h = await harness({ isCookieSecure: true });
    expect((await h.login()).headers['set-cookie']?.[0]).toMatch(/; Secure$/);
  });

  it('refuses a wrong password with the attempts left, then locks the address out — the right password too', async () => {
    const h = await harness({}, { maxFailures: 3 });
    const first = await h.login('wrong one');
    expect(first.status).toBe(401);
    expect(first.json()).toEqual({ error: 'wrong-password', remainingAttempts: 2 });
    expect((await h.login('wrong two')).json()).toMatchObject({ remainingAttempts: 1 });

    const third = await h.login('wrong three');
    expect(third.status).toBe(429);
    expect(third.json()).toMatchObject({ error: 'locked', retryAfterMs: 15 * 60_000 });
    expect(third.headers['retry-after']).toBe('900');

    const checksBefore = h.passwordChecks;
    h.nowMs += 60_000;
    const right = await h.login();
    expect(right.status).toBe(429);
    expect(right.json()).toMatchObject({ error: 'locked', retryAfterMs: 14 * 60_000 });
    expect(right.headers['set-cookie']).toBeUndefined();
    expect(h.passwordChecks).toBe(checksBefore); // not even checked while locked

    h.nowMs += 14 * 60_000;
    expect((await h.login()).status).toBe(200);
    expect(h.log.lines.filter((l) => l['action'] === 'login').map((l) => l['outcome'])).toEqual([
      'wrong-password',
      'wrong-password',
      'wrong-password',
      'locked',
      'ok',
    ]);
  });

  it('limits login attempts per minute across all addresses', async () => {
    const h = await harness({}, { maxPerMinute: 2, maxFailures: 100 });
    await h.login('a');
    await h.login('b');
    const third = await h.login();
    expect(third.status).toBe(429);
    expect(third.json()).toMatchObject({ error: 'rate-limited' });
  });

  it.each([
    ['from another origin', { origin: 'http://evil.example' }],
    ['as a form post', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['with Origin null', { origin: 'null' }],
  ])('refuses a login %s', async (_name, headers) => {
    const h = await harness();
    const reply = await h.login(PASSWORD, headers);
    expect(reply.status).toBe(403);
    expect(h.passwordChecks).toBe(0);
  });

  it('logs out: the cookie is cleared and the session is gone', async () => {
    const h = await harness();
    const { cookie, csrf } = await h.session();
    const out = await call(h.server.url, 'POST', '/api/logout', {
      body: {},
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', origin: h.server.url },
    });

    expect(out.status).toBe(204);
    expect(out.headers['set-cookie']?.[0]).toBe('voltimax_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
    expect((await call(h.server.url, 'GET', '/api/state', { headers: { cookie } })).status).toBe(401);
  });

  it('ends a session after the idle timeout', async () => {
    const h = await harness();
    const { cookie } = await h.session();
    h.nowMs += 30 * 60_000 + 1;
    expect((await call(h.server.url, 'GET', '/api/state', { headers: { cookie } })).status).toBe(401);
  });
});

describe('actions (CSRF-protected)', () => {
  const estop = { action: 'engage', reason: 'smoke in the battery room' };

  it('publishes the e-stop with the session, same origin and CSRF token, and audits it', async () => {
    const h = await harness();
    const { cookie, csrf } = await h.session();
    const reply = await call(h.server.url, 'POST', '/api/estop', {
      body: estop,
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', origin: h.server.url },
    });

    expect(reply.status).toBe(202);
    expect(h.estops).toEqual([{ body: estop, by: 'dashboard@127.0.0.1' }]);
    expect(h.log.lines.find((l) => l['action'] === 'estop-engage')).toMatchObject({
      by: 'dashboard@127.0.0.1',
      reason: 'smoke in the battery room',
      msg: 'audit',
    });
  });

  it.each([
    [
      'without the CSRF token',
      (csrf: string, url: string) => ({
        'content-type': 'application/json',
        origin: url,
        'x-csrf-token': csrf.slice(1),
      }),
    ],
    [
      'from another origin',
      (csrf: string) => ({ 'content-type': 'application/json', origin: 'http://evil.example', 'x-csrf-token': csrf }),
    ],
    [
      'as text/plain',
      (csrf: string, url: string) => ({ 'content-type': 'text/plain', origin: url, 'x-csrf-token': csrf }),
    ],
    [
      'cross-site without Origin',
      (csrf: string) => ({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrf }),
    ],
  ])('refuses the e-stop %s (403, nothing published)', async (_name, headersOf) => {
    const h = await harness();
    const { cookie, csrf } = await h.session();
    const reply = await call(h.server.url, 'POST', '/api/estop', {
      body: estop,
      headers: { cookie, ...headersOf(csrf, h.server.url) },
    });

    expect(reply.status).toBe(403);
    expect(h.estops).toEqual([]);
    expect(h.counters.get('csrfRefused')).toBe(1);
  });

  it('sends a manual intent and returns the arbiter decision; refuses an invalid one with the reason', async () => {
    const h = await harness();
    const { cookie, csrf } = await h.session();
    const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', origin: h.server.url };
    const body = {
      assetId: 'bat-1',
      setpoint: { kind: 'battery-power', powerW: 8_000 },
      ttlMs: 60_000,
      reason: 'test',
    };

    const ok = await call(h.server.url, 'POST', '/api/intent', { body, headers });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ decision: { assetId: 'bat-1', outcome: 'clamped', source: 'manual' } });
    expect(h.intents).toEqual([{ body, by: 'dashboard@127.0.0.1' }]);

    const bad = await call(h.server.url, 'POST', '/api/intent', {
      body: { ...body, ttlMs: 5, assetId: 'BAT 1' },
      headers,
    });
    expect(bad.status).toBe(400);
    expect(bad.json<{ detail: string }>().detail).toMatch(/\$\.assetId: .*; \$\.ttlMs: /);
    const notJson = await call(h.server.url, 'POST', '/api/intent', { body: '{"assetId":', headers });
    expect(notJson.status).toBe(400);
    expect(h.intents).toHaveLength(1);
  });
});

describe('live stream (Server-Sent Events)', () => {
  it('sends a snapshot at once and one per push, and stops when the session is logged out', async () => {
    const h = await harness();
    const { cookie, csrf } = await h.session();
    const stream = openStream(h.server.url, cookie);
    await waitFor(() => stream.events.length >= 1, { message: 'the first snapshot' });

    expect(stream.response()?.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.response()?.headers['content-security-policy']).toContain("default-src 'self'");
    expect(stream.events[0]?.event).toBe('snapshot');
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toMatchObject({ v: 1, atMs: T0 });
    expect(h.server.eventClients()).toBe(1);

    h.nowMs += 1_000;
    h.server.pushNow();
    await waitFor(() => stream.events.length >= 2, { message: 'the pushed snapshot' });
    expect(JSON.parse(stream.events[1]?.data ?? '{}')).toMatchObject({ atMs: T0 + 1_000 });

    await call(h.server.url, 'POST', '/api/logout', {
      body: {},
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', origin: h.server.url },
    });
    await waitFor(() => stream.isEnded(), { message: 'the stream to end' });
    expect(h.server.eventClients()).toBe(0);
  });

  it('tells the page when its session expired, then ends the stream', async () => {
    const h = await harness();
    const { cookie } = await h.session();
    const stream = openStream(h.server.url, cookie);
    await waitFor(() => stream.events.length >= 1);

    h.nowMs += 12 * 3_600_000 + 1;
    h.server.pushNow();
    await waitFor(() => stream.isEnded(), { message: 'the stream to end' });
    expect(stream.events.at(-1)?.event).toBe('session-expired');
  });

  it('refuses the stream without a session, and beyond the client limit', async () => {
    const h = await harness({ maxEventClients: 1 });
    expect((await call(h.server.url, 'GET', '/api/events')).status).toBe(401);

    const { cookie } = await h.session();
    const first = openStream(h.server.url, cookie);
    await waitFor(() => first.events.length >= 1);
    const second = await call(h.server.url, 'GET', '/api/events', { headers: { cookie } });
    expect(second.status).toBe(503);
    first.close();
  });
});
