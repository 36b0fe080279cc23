import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import {
  canonicalJson,
  PriceSeriesSchema,
  TelemetryFrameSchema,
  type PriceSeries,
  type TelemetryFrame,
} from '@voltimax/contracts';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

/** The routes of the double (see {@link startPlatformApi}). */
export type PlatformApiRoute = 'configuration' | 'prices' | 'telemetry';

/**
 * A fault for one route: answer with `status` (e.g. 500, 503, 401), never answer (`timeout`: the request hangs until
 * the fault is cleared or the double stops), cut the connection (`reset`), or answer 200 with a body that is not JSON.
 */
export type PlatformApiFault =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'invalid-json' };

/** One request the double received, in arrival order. */
export interface PlatformApiRequest {
  readonly method: string;
  readonly route: PlatformApiRoute | 'unknown';
  /** Path and query as sent. */
  readonly url: string;
  readonly authorization: string | undefined;
  readonly ifNoneMatch: string | undefined;
  /** The status answered (undefined for a hung or reset request). */
  status: number | undefined;
  readonly receivedAtMs: number;
}

/** One telemetry POST: the decoded body and whether it was a valid TelemetryFrame. */
export interface TelemetryPost {
  readonly gatewayId: string;
  readonly body: unknown;
  readonly frame: TelemetryFrame | undefined;
  readonly gzip: boolean;
  readonly idempotencyKey: string | undefined;
  readonly receivedAtMs: number;
  /** The status answered (202 accepted, 400 invalid, or the fault's). */
  readonly status: number | undefined;
}

export interface StartPlatformApiOptions {
  /** Require `Authorization: Bearer <token>` (401 otherwise). */
  readonly token?: string;
  /** Path prefix of every route, e.g. `/v1` (default none). */
  readonly basePath?: string;
}

/** A Voltimax Platform API double: fastify on 127.0.0.1 and a free port. */
export interface PlatformApiDouble {
  /** Base URL including `basePath`, without a trailing slash: what a gateway's `platformApiUrl` is set to. */
  readonly url: string;
  /** Serve `config` for the gateway (undefined: 404). Returns its ETag (a quoted SHA-256 of its canonical JSON). */
  setConfiguration(gatewayId: string, config: unknown): string | undefined;
  /** Serve `series` for its zone (undefined: 404 for that zone). */
  setPrices(zone: string, series: PriceSeries | undefined): void;
  /** Inject `fault` on `route` for the next `times` requests (default: until cleared with `fault(route, undefined)`). */
  fault(route: PlatformApiRoute, fault: PlatformApiFault | undefined, times?: number): void;
  setToken(token: string | undefined): void;
  /** Every request so far (optionally only one route's). */
  requests(route?: PlatformApiRoute): readonly PlatformApiRequest[];
  /** Every telemetry POST so far, valid or not (optionally only one gateway's). */
  telemetry(gatewayId?: string): readonly TelemetryPost[];
  /** The valid telemetry frames accepted (2xx), de-duplicated by frameId, in arrival order. */
  frames(gatewayId?: string): readonly TelemetryFrame[];
  /** Forget the request and telemetry logs. */
  clearLogs(): void;
  /** Close the server (hung requests are cut). Idempotent. */
  stop(): Promise<void>;
}

function etagOf(config: unknown): string {
  return `"${createHash('sha256').update(canonicalJson(config)).digest('hex')}"`;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Starts the Platform API double:
 *
 * - `GET <base>/gateways/:id/configuration` → 200 with the configuration set for the gateway and its `ETag`; 304 when
 *   `If-None-Match` is that ETag; 404 when none is set.
 * - `GET <base>/prices/:zone?startMs=&endMs=` → 200 with the zone's PriceSeries, only the points overlapping the
 *   window when one is given; 404 when none is set.
 * - `POST <base>/gateways/:id/telemetry` (JSON, optionally `Content-Encoding: gzip`) → 202 `{ accepted, duplicate }`
 *   for a valid TelemetryFrame of that gateway, 400 otherwise; every POST is recorded.
 *
 * With a token every route needs `Authorization: Bearer <token>` (401). Faults per route: a status, a hang, a
 * connection reset or a non-JSON body.
 */
export async function startPlatformApi(opts: StartPlatformApiOptions = {}): Promise<PlatformApiDouble> {
  const base = (opts.basePath ?? '').replace(/\/+$/, '');
  const app = Fastify({ forceCloseConnections: true, bodyLimit: 16 * 1024 * 1024 });
  const configurations = new Map<string, { config: unknown; etag: string }>();
  const prices = new Map<string, PriceSeries>();
  const faults = new Map<PlatformApiRoute, { fault: PlatformApiFault; remaining: number }>();
  const log: PlatformApiRequest[] = [];
  const posts: TelemetryPost[] = [];
  const hung = new Set<() => void>();
  let token = opts.token;
  let stopped: Promise<void> | undefined;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  /** Applies auth and the route's fault; true when the request was answered (or cut) here. */
  async function intercept(
    route: PlatformApiRoute,
    request: FastifyRequest,
    reply: FastifyReply,
    entry: PlatformApiRequest,
  ): Promise<boolean> {
    if (token !== undefined && entry.authorization !== `Bearer ${token}`) {
      entry.status = 401;
      await reply.code(401).send({ error: 'missing or wrong bearer token' });
      return true;
    }
    const active = faults.get(route);
    if (active === undefined) return false;
    active.remaining -= 1;
    if (active.remaining <= 0) faults.delete(route);
    switch (active.fault.kind) {
      case 'status':
        entry.status = active.fault.status;
        await reply.code(active.fault.status).send({ error: `injected status ${active.fault.status}` });
        return true;
      case 'invalid-json':
        entry.status = 200;
        await reply.code(200).header('content-type', 'application/json').send('{"not json');
        return true;
      case 'reset':
        request.raw.socket.destroy();
        return true;
      case 'timeout':
        await new Promise<void>((resolve) => {
          hung.add(resolve);
        });
        request.raw.socket.destroy();
        return true;
    }
  }

  function record(route: PlatformApiRequest['route'], request: FastifyRequest): PlatformApiRequest {
    const entry: PlatformApiRequest = {
      method: request.method,
      route,
      url: request.url,
      authorization: header(request, 'authorization'),
      ifNoneMatch: header(request, 'if-none-match'),
      status: undefined,
      receivedAtMs: Date.now(),
    };
    log.push(entry);
    return entry;
  }

  app.get<{ Params: { id: string } }>(`${base}/gateways/:id/configuration`, async (request, reply) => {
    const entry = record('configuration', request);
    if (await intercept('configuration', request, reply, entry)) return reply;
    const found = configurations.get(request.params.id);
    if (found === undefined) {
      entry.status = 404;
      return reply.code(404).send({ error: `no configuration for gateway ${request.params.id}` });
    }
    if (entry.ifNoneMatch === found.etag) {
      entry.status = 304;
      return reply.code(304).header('etag', found.etag).send();
    }
    entry.status = 200;
    return reply
      .code(200)
      .header('etag', found.etag)
      .header('content-type', 'application/json')
      .send(JSON.stringify(found.config));
  });

  app.get<{ Params: { zone: string }; Querystring: { startMs?: string; endMs?: string } }>(
    `${base}/prices/:zone`,
    async (request, reply) => {
      const entry = record('prices', request);
      if (await intercept('prices', request, reply, entry)) return reply;
      const series = prices.get(request.params.zone);
      if (series === undefined) {
        entry.status = 404;
        return reply.code(404).send({ error: `no prices for zone ${request.params.zone}` });
      }
      const startMs = Number(request.query.startMs ?? Number.NEGATIVE_INFINITY);
      const endMs = Number(request.query.endMs ?? Number.POSITIVE_INFINITY);
      entry.status = 200;
      return reply
        .code(200)
        .send({ ...series, series: series.series.filter((p) => p.endMs > startMs && p.startMs < endMs) });
    },
  );

  app.post<{ Params: { id: string } }>(`${base}/gateways/:id/telemetry`, async (request, reply) => {
    const entry = record('telemetry', request);
    const gzip = (header(request, 'content-encoding') ?? '').toLowerCase() === 'gzip';
    let body: unknown;
    let decodeError: string | undefined;
    try {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      body = JSON.parse((gzip ? gunzipSync(raw) : raw).toString('utf8')) as unknown;
    } catch (err) {
      decodeError = err instanceof Error ? err.message : String(err);
    }
    const parsed = decodeError === undefined ? TelemetryFrameSchema.safeParse(body) : undefined;
    const frame = parsed?.success && parsed.data.gatewayId === request.params.id ? parsed.data : undefined;
    const post = (status: number | undefined): TelemetryPost => ({
      gatewayId: request.params.id,
      body,
      frame,
      gzip,
      idempotencyKey: header(request, 'idempotency-key'),
      receivedAtMs: entry.receivedAtMs,
      status,
    });
    if (await intercept('telemetry', request, reply, entry)) {
      posts.push(post(entry.status));
      return reply;
    }
    if (frame === undefined) {
      entry.status = 400;
      posts.push(post(400));
      return reply.code(400).send({ error: decodeError ?? 'not a TelemetryFrame of this gateway' });
    }
    const duplicate = posts.some(
      (p) => p.frame?.frameId === frame.frameId && (p.status ?? 0) < 300 && (p.status ?? 0) >= 200,
    );
    entry.status = 202;
    posts.push(post(202));
    return reply.code(202).send({ accepted: true, duplicate });
  });

  app.setNotFoundHandler(async (request, reply) => {
    record('unknown', request).status = 404;
    return reply.code(404).send({ error: 'no such route' });
  });

  const address = await app.listen({ host: '127.0.0.1', port: 0 });

  const releaseHung = (): void => {
    for (const release of hung) release();
    hung.clear();
  };

  return {
    url: `${address}${base}`,
    setConfiguration(gatewayId, config) {
      if (config === undefined) {
        configurations.delete(gatewayId);
        return undefined;
      }
      const etag = etagOf(config);
      configurations.set(gatewayId, { config, etag });
      return etag;
    },
    setPrices(zone, series) {
      if (series === undefined) prices.delete(zone);
      else prices.set(zone, PriceSeriesSchema.parse(series));
    },
    fault(route, fault, times = Number.POSITIVE_INFINITY) {
      if (fault === undefined) {
        faults.delete(route);
        releaseHung();
      } else {
        faults.set(route, { fault, remaining: times });
      }
    },
    setToken(next) {
      token = next;
    },
    requests: (route) => (route === undefined ? [...log] : log.filter((r) => r.route === route)),
    telemetry: (gatewayId) => (gatewayId === undefined ? [...posts] : posts.filter((p) => p.gatewayId === gatewayId)),
    frames(gatewayId) {
      const seen = new Set<string>();
      const out: TelemetryFrame[] = [];
      for (const p of posts) {
        if (p.frame === undefined || p.status !== 202 || (gatewayId !== undefined && p.gatewayId !== gatewayId))
          continue;
        if (seen.has(p.frame.frameId)) continue;
        seen.add(p.frame.frameId);
        out.push(p.frame);
      }
      return out;
    },
    clearLogs() {
      log.length = 0;
      posts.length = 0;
    },
    stop() {
      stopped ??= (async () => {
        releaseHung();
        await app.close();
      })();
      return stopped;
    },
  };
}
