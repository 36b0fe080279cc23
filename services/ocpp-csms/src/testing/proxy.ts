// A TCP relay between charge points and the central system, so a test can cut the network (both sockets destroyed,
// as a dropped link looks) while both ends keep running.
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Where new connections go (change it to follow a restarted server to another port). */
  targetPort: number;
  /** Destroys every relayed connection; new ones are accepted again unless `refuse` is set. */
  cut(): void;
  /** While true, new connections are closed at once (the link is down). */
  refuse: boolean;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  const proxy: TcpProxy = {
    port: 0,
    targetPort,
    refuse: false,
    get connections() {
      return accepted;
    },
    cut() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    close: async () => {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((client) => {
    if (proxy.refuse) {
      client.destroy();
      return;
    }
    accepted += 1;
    const upstream = createConnection({ host: targetHost, port: proxy.targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (proxy as { port: number }).port = (server.address() as AddressInfo).port;
  return proxy;
}
