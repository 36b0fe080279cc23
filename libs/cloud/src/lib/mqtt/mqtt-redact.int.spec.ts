import { createServer, type Socket } from 'node:net';
import { telemetryFrame } from '../../testing';
import { MqttTelemetrySink } from './mqtt-telemetry-sink';

// A broker that takes the TCP connection and never answers CONNACK: the first send waits for the link and fails with
// the text that names the broker URL, which must not carry the URL's password.
describe('MQTT broker URL with credentials', () => {
  it('the failure of a send names the broker without its password', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const sink = new MqttTelemetrySink({
      brokerUrl: `mqtt://gw-user:S3cretPw0rd@127.0.0.1:${port}`,
      gatewayId: 'gw-secret-url',
      connectTimeoutMs: 300,
      reconnectInitialMs: 100,
      reconnectMaxMs: 200,
    });
    try {
      const failure = await sink.send(telemetryFrame('gw-secret-url', 1)).then(
        () => 'sent',
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
      expect(failure).toContain(`not connected to mqtt://***@127.0.0.1:${port}`);
      expect(failure).not.toContain('S3cretPw0rd');
      expect(sink.status().reason ?? '').not.toContain('S3cretPw0rd');
    } finally {
      await sink.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
