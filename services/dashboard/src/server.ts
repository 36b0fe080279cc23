import type { ServerResponse } from 'node:http';
import { formatIssues, type ArbiterDecision, type ControlIntent, type EmergencyStop } from '@voltimax/contracts';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { EstopBodySchema, IntentBodySchema, LoginBodySchema, actor, type EstopBody, type IntentBody } from './actions';
import {
  clearedSessionCookie,
  isSameOrigin,
  parseCookies,
  safeEqual,
  SESSION_COOKIE,
  sessionCookie,
  type LoginLimiter,
  type Session,
  type SessionStore,
} from './auth';
import type { UiFile } from './ui-files';
import type { DashboardSnapshot, HistorySeries } from './view';

/** The outcome of a password check. `no-password`: no usable hash file (set one with the CLI). */
export type PasswordCheck = 'ok' | 'wrong' | 'no-password';

/** The answer to a manual intent: the arbiter's decision, or why there is none. */
export type IntentOutcome =
  | { readonly ok: true; readonly intent: ControlIntent; readonly decision: ArbiterDecision }
  | { readonly ok: false; readonly intent: ControlIntent; readonly error: string };

/** Counters for the heartbeat. */
export interface Counters {
  increment(name: string): void;
  set(name: string, value: number): void;
}

/** Repeats `run` every `ms`; returns a cancel function. Injectable so tests push on demand. */
export type Every = (ms: number, run: () => void) => () => void;

export const REAL_EVERY: Every = (ms, run) => {
  const timer = setInterval(run, ms);
  return () => clearInterval(timer);
};

/** What the web server needs; everything with I/O or a clock comes in here. */
export interface ServerDeps {
  readonly log: Logger;
  readonly now: () => number;
  readonly sessions: SessionStore;
  readonly limiter: LoginLimiter;
  readonly checkPassword: (password: string) => Promise<PasswordCheck>;
  readonly snapshot: () => DashboardSnapshot;
  readonly history: () => HistorySeries;
  readonly sendIntent: (body: IntentBody, by: string) => Promise<IntentOutcome>;
  readonly sendEstop: (body: EstopBody, by: string) => Promise<EmergencyStop>;
  readonly counters: Counters;
  /** The built UI by URL path; undefined when it could not be built. */
  readonly ui: ReadonlyMap<string, UiFile> | undefined;
  readonly every: Every;
  readonly settings: ServerSettings;
}

/** The web server's settings (from the environment). */
export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  /** PEM certificate and key: HTTPS. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly isCookieSecure: boolean;
  readonly allowedOrigins: readonly string[];
  readonly trustProxy: boolean;
  readonly updateMs: number;
  readonly sessionMaxMs: number;
  readonly maxEventClients: number;
}

/** A running web server. */
export interface DashboardServer {
  readonly app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  /** Push a snapshot to every live-stream client now (the timer does this every `updateMs`). */
  pushNow(): void;
  /** Browsers connected to the live stream. */
  eventClients(): number;
  close(): Promise<void>;
}

/** The page may load only its own scripts, styles and data; no framing, no plugins, no inline script. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

interface EventClient {
  readonly res: ServerResponse;
  readonly session: Session;
}

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

function problems(error: z.ZodError): string {
  return formatIssues(error.issues)
    .slice(0, 5)
    .map((p) => `${p.path}: ${p.message}`)
    .join('; ');
}

/**
 * The dashboard's web server (fastify): the built UI, the login, the live stream (Server-Sent Events, one snapshot
 * per `updateMs`), the 24 h history and the two actions — manual intent and e-stop — that go out on the bus as the
 * CLI's do. Every `/api` route but the login needs a session; every POST also needs a same-origin request, a JSON
 * body and the session's CSRF token.
 */
export async function startServer(deps: ServerDeps): Promise<DashboardServer> {
  const { log, now, sessions, limiter, settings, counters } = deps;
  const isTls = settings.tls !== undefined;
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    trustProxy: settings.trustProxy,
    ...(settings.tls === undefined ? {} : { https: { cert: settings.tls.cert, key: settings.tls.key } }),
  });
  const clients = new Set<EventClient>();
  const audit = log.child({ component: 'audit' });

  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    return payload;
  });

  const sessionOf = (request: FastifyRequest): Session | undefined =>
    sessions.get(parseCookies(request.headers.cookie).get(SESSION_COOKIE), now());

  const header = (request: FastifyRequest, name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };

  const sameOrigin = (request: FastifyRequest): boolean =>
    isSameOrigin({
      origin: header(request, 'origin'),
      host: header(request, 'host'),
      secFetchSite: header(request, 'sec-fetch-site'),
      isTls,
      allowed: settings.allowedOrigins,
    });

  const isJson = (request: FastifyRequest): boolean =>
    (header(request, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';

  const refuse = (reply: FastifyReply, status: number, error: string, extra: Record<string, unknown> = {}) =>
    reply.code(status).send({ error, ...extra });

  /** Session required; for POSTs also same origin, JSON and the CSRF token. */
  const guard = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const session = sessionOf(request);
    if (session === undefined) {
      await refuse(reply, 401, 'not-logged-in');
      return;
    }
    if (request.method === 'POST') {
      const token = header(request, 'x-csrf-token') ?? '';
      if (!sameOrigin(request) || !isJson(request) || !safeEqual(token, session.csrfToken)) {
        counters.increment('csrfRefused');
        audit.warn(
          {
            action: 'refused',
            reason: 'csrf',
            url: request.url,
            ip: request.ip,
            origin: header(request, 'origin') ?? null,
          },
          'audit',
        );
        await refuse(reply, 403, 'csrf');
        return;
      }
    }
    request.session = session;
  };

  const parse = <S extends z.ZodType>(
    schema: S,
    request: FastifyRequest,
    reply: FastifyReply,
  ): z.output<S> | undefined => {
    const parsed = schema.safeParse(request.body);
    if (parsed.success) return parsed.data;
    counters.increment('badRequests');
    void refuse(reply, 400, 'invalid-body', { detail: problems(parsed.error) });
    return undefined;
  };

  // Bodies only as JSON; anything else stays unparsed and is refused by the routes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
    try {
      done(null, JSON.parse(String(body)) as unknown);
    } catch {
      const err = new Error('body is not valid JSON') as Error & { statusCode: number };
      err.statusCode = 400;
      done(err, undefined);
    }
  });
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  app.get('/api/session', async (request, reply) => {
    const session = sessionOf(request);
    if (session === undefined) return reply.code(401).send({ authenticated: false });
    return { authenticated: true, csrfToken: session.csrfToken, expiresAtMs: sessions.expiresAtMs(session) };
  });

  app.post('/api/login', async (request, reply) => {
    const ip = request.ip;
    if (!sameOrigin(request) || !isJson(request)) {
      counters.increment('csrfRefused');
      audit.warn(
        { action: 'login', outcome: 'refused-origin', ip, origin: header(request, 'origin') ?? null },
        'audit',
      );
      return refuse(reply, 403, 'csrf');
    }
    const body = parse(LoginBodySchema, request, reply);
    if (body === undefined) return reply;
    const gate = limiter.check(ip, now());
    if (!gate.allowed) {
      counters.increment('loginsThrottled');
      audit.warn({ action: 'login', outcome: gate.reason, ip, retryAfterMs: gate.retryAfterMs }, 'audit');
      reply.header('retry-after', String(Math.ceil(gate.retryAfterMs / 1000)));
      return refuse(reply, 429, gate.reason, { retryAfterMs: gate.retryAfterMs });
    }
    const result = await deps.checkPassword(body.password);
    if (result === 'no-password') {
      audit.error({ action: 'login', outcome: 'no-password-set', ip }, 'audit');
      return refuse(reply, 503, 'no-password');
    }
    if (result === 'wrong') {
      const failure = limiter.recordFailure(ip, now());
      counters.increment('loginsFailed');
      counters.set('lockedOut', limiter.lockedCount(now()));
      audit.warn({ action: 'login', outcome: 'wrong-password', ip, locked: failure.isLocked }, 'audit');
      if (failure.isLocked) {
        const gateNow = limiter.check(ip, now());
        const retryAfterMs = gateNow.allowed ? 0 : gateNow.retryAfterMs;
        reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
        return refuse(reply, 429, 'locked', { retryAfterMs });
      }
      return refuse(reply, 401, 'wrong-password', { remainingAttempts: failure.remaining });
    }
    limiter.recordSuccess(ip);
    const { token, session } = sessions.create(now(), ip);
    counters.increment('loginsOk');
    audit.info({ action: 'login', outcome: 'ok', ip, session: session.id.slice(0, 12) }, 'audit');
    reply.header(
      'set-cookie',
      sessionCookie(token, { isSecure: settings.isCookieSecure, maxAgeMs: settings.sessionMaxMs }),
    );
    return { csrfToken: session.csrfToken, expiresAtMs: sessions.expiresAtMs(session) };
  });

  app.post('/api/logout', { preHandler: guard }, async (request, reply) => {
    const session = request.session;
    if (session !== undefined) {
      sessions.destroy(session);
      audit.info({ action: 'logout', ip: request.ip, session: session.id.slice(0, 12) }, 'audit');
      for (const client of clients) if (client.session === session) client.res.end();
    }
    reply.header('set-cookie', clearedSessionCookie(settings.isCookieSecure));
    return reply.code(204).send();
  });

  app.get('/api/state', { preHandler: guard }, async () => deps.snapshot());
  app.get('/api/history', { preHandler: guard }, async () => deps.history());

  app.post('/api/estop', { preHandler: guard }, async (request, reply) => {
    const body = parse(EstopBodySchema, request, reply);
    if (body === undefined) return reply;
    const by = actor(request.ip);
    audit.warn(
      { action: `estop-${body.action}`, by, reason: body.reason, session: request.session?.id.slice(0, 12) },
      'audit',
    );
    try {
      const message = await deps.sendEstop(body, by);
      counters.increment('estopsSent');
      return reply.code(202).send({ published: message });
    } catch (err) {
      audit.error({ action: `estop-${body.action}`, by, err }, 'audit');
      return refuse(reply, 502, 'not-sent', { detail: err instanceof Error ? err.message : String(err) });
    }
  });

  app.post('/api/intent', { preHandler: guard }, async (request, reply) => {
    const body = parse(IntentBodySchema, request, reply);
    if (body === undefined) return reply;
    const by = actor(request.ip);
    const outcome = await deps.sendIntent(body, by);
    counters.increment('intentsSent');
    const base = {
      action: 'manual-intent',
      by,
      assetId: body.assetId,
      setpoint: body.setpoint,
      ttlMs: body.ttlMs,
      reason: body.reason,
      intentId: outcome.intent.id,
    };
    if (!outcome.ok) {
      audit.warn({ ...base, error: outcome.error }, 'audit');
      return refuse(reply, 502, 'no-decision', { intent: outcome.intent, detail: outcome.error });
    }
    audit.info(
      { ...base, outcome: outcome.decision.outcome, violations: outcome.decision.violations.map((v) => v.code) },
      'audit',
    );
    return { intent: outcome.intent, decision: outcome.decision };
  });

  app.get('/api/events', { preHandler: guard }, async (request, reply) => {
    const session = request.session;
    if (session === undefined) return reply;
    if (clients.size >= settings.maxEventClients) return refuse(reply, 503, 'too-many-clients');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: EventClient = { res, session };
    clients.add(client);
    counters.set('eventClients', clients.size);
    res.on('close', () => {
      clients.delete(client);
      counters.set('eventClients', clients.size);
    });
    res.write(`retry: 3000\n\n`);
    send(client, `event: snapshot\ndata: ${JSON.stringify(deps.snapshot())}\n\n`);
    return reply;
  });

  const notBuilt =
    '<!doctype html><title>Voltimax dashboard</title><p>The dashboard UI is not built. Run <code>node services/dashboard/build-ui.mjs</code> and restart.</p>';
  app.get('/*', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (deps.ui === undefined) return reply.code(503).type('text/html; charset=utf-8').send(notBuilt);
    const file = deps.ui.get(path);
    if (file === undefined) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    return reply.type(file.contentType).header('cache-control', file.cacheControl).send(file.body);
  });

  /** Writes one event; a client that does not keep up (1 MB queued) is dropped. */
  function send(client: EventClient, text: string): void {
    if (client.res.writableLength > 1 << 20) {
      client.res.destroy();
      return;
    }
    client.res.write(text);
  }

  function pushNow(): void {
    if (clients.size === 0) return;
    const nowMs = now();
    const text = `event: snapshot\ndata: ${JSON.stringify(deps.snapshot())}\n\n`;
    for (const client of clients) {
      // A page that stays open keeps its session alive, up to SESSION_MAX_MS.
      if (!sessions.isLive(client.session, nowMs)) {
        client.res.write('event: session-expired\ndata: {}\n\n');
        client.res.end();
        continue;
      }
      client.session.lastSeenAtMs = nowMs;
      send(client, text);
    }
  }

  const cancel = deps.every(settings.updateMs, pushNow);
  await app.listen({ host: settings.host, port: settings.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : settings.port;
  const shownHost = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return {
    app,
    url: `${isTls ? 'https' : 'http'}://${shownHost}:${port}`,
    port,
    pushNow,
    eventClients: () => clients.size,
    async close() {
      cancel();
      for (const client of clients) client.res.end();
      clients.clear();
      await app.close();
    },
  };
}
