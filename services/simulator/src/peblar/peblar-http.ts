import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { EvInterfacePatchSchema, type PeblarCharger } from './peblar-charger';

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
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
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
  const routes: Readonly<Record<string, () => Record<string, unknown>>> = {
    health: () => charger.health(),
    system: () => charger.system(),
    meter: () => charger.meter(),
    evinterface: () => charger.evInterface(),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (!path.startsWith(`${PEBLAR_BASE_PATH}/`)) return send(res, 404, { error: `no such endpoint: ${path}` });
    if (options.token !== undefined && req.headers.authorization !== options.token) {
      counters.unauthorized += 1;
      return send(res, 401, { error: 'unauthorized: missing or wrong API token' });
    }
    const name = path.slice(PEBLAR_BASE_PATH.length + 1);
    const route = routes[name];
    if (route === undefined) return send(res, 404, { error: `no such endpoint: ${path}` });
    if (req.method === 'GET') {
      counters.reads += 1;
      return send(res, 200, route());
    }
    if (req.method !== 'PATCH' || name !== 'evinterface')
      return send(res, 405, { error: `${req.method} not allowed on ${name}` });
    const text = await readBody(req);
    const refuse = (error: string) => {
      counters.rejectedWrites += 1;
      log.debug({ error }, 'PATCH evinterface refused');
      send(res, 400, { error });
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
    send(res, 200, charger.evInterface());
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolve({
        assetId: charger.options.assetId,
        port,
        counters: () => ({ ...counters }),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
