import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsFiles } from './config';
import type { RpcServer } from './protocol/rpc';

/** The listening OCPP endpoint. */
export interface OcppEndpoint {
  /** The bound port (the configured one, or the ephemeral one for port 0). */
  readonly port: number;
  /** `ws` or `wss`. */
  readonly scheme: 'ws' | 'wss';
  close(): Promise<void>;
}

/**
 * An HTTP server (security profiles 0 and 1) or an HTTPS server with TLS ≥ 1.2 (profile 2) that only upgrades to the
 * OCPP WebSocket; any plain HTTP request gets 404.
 */
export async function listenOcpp(opts: {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles | undefined;
  readonly rpc: RpcServer;
}): Promise<OcppEndpoint> {
  const notFound = (_req: unknown, res: { statusCode: number; end(): void }) => {
    res.statusCode = 404;
    res.end();
  };
  const server: Server =
    opts.tls === undefined
      ? createHttpServer(notFound)
      : createHttpsServer(
          { cert: opts.tls.cert, key: opts.tls.key, ...(opts.tls.ca === undefined ? {} : { ca: opts.tls.ca }), minVersion: 'TLSv1.2' },
          notFound,
        );
  server.on('upgrade', opts.rpc.handleUpgrade);
  // A TLS handshake that fails (a client that does not trust us) must not take the server down.
  server.on('tlsClientError', () => undefined);
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    scheme: opts.tls === undefined ? 'ws' : 'wss',
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
