import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 between a client and a server, standing for the site's internet link: tests cut it
 * (every connection drops, new ones are refused), restore it on the same port, or hold the server → client
 * direction (bytes queue up) to observe a client waiting for an acknowledgement the server already sent.
 */
export interface LinkProxy {
  readonly host: string;
  readonly port: number;
  /** Drops every connection and stops listening: the client sees the server go away. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /** Stops forwarding server → client bytes (they are kept, in order). */
  holdDownstream(): void;
  /** Forwards what was held and everything after it. */
  releaseDownstream(): void;
  /** Open client connections. */
  connections(): number;
  /** Connections accepted since the start (a reconnect adds one). */
  accepted(): number;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly held: Buffer[];
}

/** Starts a proxy to `target` on a free loopback port. */
export async function startLinkProxy(target: { readonly host: string; readonly port: number }): Promise<LinkProxy> {
  const host = '127.0.0.1';
  const pairs = new Set<Pair>();
  let holding = false;
  let acceptedCount = 0;
  let server: Server | undefined;

  const onConnection = (client: Socket): void => {
    acceptedCount += 1;
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, held: [] };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (holding) pair.held.push(chunk);
      else client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  };

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen({ host, port, exclusive: true }, () => {
        server = s;
        const address = s.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });

  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = undefined;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      if (s === undefined) return resolve();
      s.close(() => resolve());
    });

  const port = await listen(0);
  return {
    host,
    port,
    cut: stopListening,
    restore: async () => {
      if (server === undefined) await listen(port);
    },
    holdDownstream: () => {
      holding = true;
    },
    releaseDownstream: () => {
      holding = false;
      for (const pair of pairs) {
        for (const chunk of pair.held.splice(0)) pair.client.write(chunk);
      }
    },
    connections: () => pairs.size,
    accepted: () => acceptedCount,
    close: stopListening,
  };
}
