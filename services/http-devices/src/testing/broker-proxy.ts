// A TCP proxy in front of a test broker that can swallow all traffic (a dead link the client has not noticed yet:
// keepalive is 30 s) and cut every connection (the link drops; the client reconnects through the proxy).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface BrokerProxy {
  /** `mqtt://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /** True: bytes in both directions are dropped. */
  frozen: boolean;
  /** Destroys every proxied connection. */
  cut(): void;
  close(): Promise<void>;
}

export async function startBrokerProxy(brokerUrl: string): Promise<BrokerProxy> {
  const { hostname, port } = new URL(brokerUrl);
  const sockets = new Set<Socket>();
  const state = { frozen: false };
  const server: Server = createServer((down) => {
    const up = connect(Number(port), hostname);
    sockets.add(down).add(up);
    down.on('data', (chunk) => {
      if (!state.frozen) up.write(chunk);
    });
    up.on('data', (chunk) => {
      if (!state.frozen) down.write(chunk);
    });
    const end = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${proxyPort}`,
    get frozen() {
      return state.frozen;
    },
    set frozen(on: boolean) {
      state.frozen = on;
    },
    cut: () => sockets.forEach((s) => s.destroy()),
    close: async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
