import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { readBody, sendJson } from '../http-json';
import { EvInterfacePatchSchema, type EvInterfacePatch, type PeblarCharger } from './peblar-charger';

/** The REST API's base path (peblar-ev-charger.md § 1). */
export const PEBLAR_BASE_PATH = '/api/wlac/v1';
/** Largest request body the simulated charger reads, bytes. */
const MAX_BODY_BYTES = 4 * 1024;

/** Request counters of the simulated charger (health counters `<assetId>.reads/.writes/.rejectedWrites`). */
export interface PeblarCounters {
  reads: number;
  writes: number;
  rejectedWrites: number;
  unauthorized: number;
}

/** A running Peblar REST API on a real socket. */
export interface PeblarHttpServer {
  readonly assetId: string;
  readonly port: number;
  counters(): PeblarCounters;
  /** Whether the listener is open (false between `disconnect` and `reconnect`). */
  readonly connected: boolean;
  /** Whether GETs answer the documents captured by `freeze`. */
  readonly frozen: boolean;
  /** GETs keep answering what they answer now (a hung firmware that still serves its last values). */
  freeze(): void;
  unfreeze(): void;
  /** The charger drops off the network: open connections are closed and new ones refused (fault injection). */
  disconnect(): Promise<void>;
  /** The charger is back: it listens again on the same host and port. */
  reconnect(): Promise<void>;
  close(): Promise<void>;
}

export interface PeblarHttpOptions {
  readonly charger: PeblarCharger;
  readonly host: string;
  /** 0 = ephemeral. */
  readonly port: number;
  /** The API token the charger demands in `Authorization`; undefined = no check. */
  readonly token: string | undefined;
  readonly log: Logger;
  /** Called after each accepted PATCH with its body (measurement hooks, e.g. SIM_EVENTS_FILE). */
  readonly onWrite?: (body: EvInterfacePatch) => void;
}


/**
 * Serves the simulated charger's local REST API on `host:port`: GET health, system, meter, evinterface and PATCH
 * evinterface below `/api/wlac/v1`. With a token, a request without `Authorization: <token>` gets 401 (as after a
 * reboot that invalidated the token). A PATCH body that is not JSON or fails the schema gets 400 and changes
 * nothing; unknown paths 404, other methods 405.
 */
export function startPeblarHttpServer(options: PeblarHttpOptions): Promise<PeblarHttpServer> {
  const { charger, log } = options;
  const counters: PeblarCounters = { reads: 0, writes: 0, rejectedWrites: 0, unauthorized: 0 };
  let frozenAnswers: Readonly<Record<string, Record<string, unknown>>> | undefined;
  const routes: Readonly<Record<string, () => Record<string, unknown>>> = {
    health: () => charger.health(),
    system: () => charger.system(),
    meter: () => charger.meter(),
    evinterface: () => charger.evInterface(),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (!path.startsWith(`${PEBLAR_BASE_PATH}/`)) return sendJson(res, 404, { error: `no such endpoint: ${path}` });
    if (options.token !== undefined && req.headers.authorization !== options.token) {
      counters.unauthorized += 1;
      return sendJson(res, 401, { error: 'unauthorized: missing or wrong API token' });
    }
    const name = path.slice(PEBLAR_BASE_PATH.length + 1);
    const route = routes[name];
    if (route === undefined) return sendJson(res, 404, { error: `no such endpoint: ${path}` });
    if (req.method === 'GET') {
      counters.reads += 1;
      return sendJson(res, 200, frozenAnswers?.[name] ?? route());
    }
    if (req.method !== 'PATCH' || name !== 'evinterface')
      return sendJson(res, 405, { error: `${req.method} not allowed on ${name}` });
    const text = await readBody(req, MAX_BODY_BYTES);
    const refuse = (error: string) => {
      counters.rejectedWrites += 1;
      log.debug({ error }, 'PATCH evinterface refused');
      sendJson(res, 400, { error });
    };
    if (text === undefined) return refuse(`body larger than ${MAX_BODY_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return refuse('body is not JSON');
    }
    const parsed = EvInterfacePatchSchema.safeParse(json);
    if (!parsed.success)
      return refuse(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    const problem = charger.patch(parsed.data);
    if (problem !== undefined) return refuse(problem);
    counters.writes += 1;
    log.debug({ body: parsed.data }, 'PATCH evinterface');
    options.onWrite?.(parsed.data);
    sendJson(res, 200, charger.evInterface());
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 30_000;
  const listenOn = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const shut = () =>
    new Promise<void>((done) => {
      if (!server.listening) return done();
      server.closeAllConnections();
      server.close(() => done());
    });
  return listenOn(options.port).then((port) => {
    let closed = false;
    return {
      assetId: charger.options.assetId,
      port,
      counters: () => ({ ...counters }),
      get connected() {
        return server.listening;
      },
      get frozen() {
        return frozenAnswers !== undefined;
      },
      freeze() {
        frozenAnswers ??= Object.fromEntries(Object.entries(routes).map(([route, answer]) => [route, answer()]));
      },
      unfreeze() {
        frozenAnswers = undefined;
      },
      async disconnect() {
        await shut();
        log.info({ port }, 'peblar charger disconnected');
      },
      async reconnect() {
        if (server.listening || closed) return;
        await listenOn(port);
        log.info({ port }, 'peblar charger reconnected');
      },
      async close() {
        closed = true;
        await shut();
      },
    };
  });
}
