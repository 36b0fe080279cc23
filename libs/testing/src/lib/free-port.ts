import { createServer, type AddressInfo } from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago: binds port 0, reads the port the kernel chose and
 * closes the socket again. Another process may take it before the caller binds it, so callers that
 * start a server on it retry on "address in use".
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
