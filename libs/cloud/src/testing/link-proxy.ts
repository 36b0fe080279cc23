import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 between a client and a server, standing for the site's internet link: tests cut it
 * (every connection drops, new ones are reset at once), restore it, or hold the server → client direction (bytes
 * queue up) to observe a client waiting for an acknowledgement the server already sent. The port stays bound
 * while cut: closing and binding it again let another process take it in between (EADDRINUSE on restore).
 */
export interface LinkProxy {
  readonly host: string;
  readonly port: number;
  /** Drops every connection and resets new ones (RST, as a refused connect): the client sees the server go away. */
  cut(): Promise<void>;
  /** Forwards new connections again. */
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

  let cutOff = false;

  const onConnection = (client: Socket): void => {
    if (cutOff) {
      client.resetAndDestroy();
      return;
    }
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

  const dropAll = (): void => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair.client.destroy();
      pair.upstream.destroy();
    }
  };

  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = undefined;
      dropAll();
      if (s === undefined) return resolve();
      s.close(() => resolve());
    });

  const port = await listen(0);
  return {
    host,
    port,
    cut: async () => {
      cutOff = true;
      dropAll();
    },
    restore: async () => {
      cutOff = false;
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
