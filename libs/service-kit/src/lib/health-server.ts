import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What `/readyz` reports. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: {
    readonly nats: boolean;
    readonly started: boolean;
    readonly service: boolean;
    readonly stopping: boolean;
  };
}

/** Ready = NATS connected, `start` resolved, the service says ready, and not shutting down. */
export function readiness(input: {
  readonly natsConnected: boolean;
  readonly started: boolean;
  readonly serviceReady: boolean;
  readonly stopping: boolean;
}): Readiness {
  return {
    ready: input.natsConnected && input.started && input.serviceReady && !input.stopping,
    checks: {
      nats: input.natsConnected,
      started: input.started,
      service: input.serviceReady,
      stopping: input.stopping,
    },
  };
}

/** A running health endpoint. */
export interface HealthServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `GET /healthz`: 200 while the process serves HTTP (liveness). `GET /readyz`: 200 when `readiness().ready`,
 * else 503, with the checks as JSON. `GET /metrics`: Prometheus text format (see metrics.ts), when `metrics` is
 * given. Anything else: 404.
 */
export async function startHealthServer(opts: {
  readonly port: number;
  readonly host: string;
  readonly service: string;
  readonly readiness: () => Readiness;
  readonly metrics?: () => string;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (path === '/healthz') return send(200, { status: 'alive', service: opts.service });
    if (path === '/metrics' && opts.metrics) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : opts.metrics());
      return;
    }
    if (path === '/readyz') {
      const report = opts.readiness();
      return send(report.ready ? 200 : 503, { service: opts.service, ...report });
    }
    return send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, host: opts.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
