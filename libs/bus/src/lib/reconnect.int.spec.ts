import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { subjects } from '@voltimax/contracts';
import { exampleReadings } from '@voltimax/contracts/testing';
import { connectBus, createBus, type BusConnection } from '../index';
import { captureLogger, type CapturedLine } from '../testing';
import { findBinary, freePort, waitFor } from '@voltimax/testing';

const HOST = '127.0.0.1';

/** A plain nats-server on a fixed port, so it can be stopped and started again on the same address. */
async function startServer(binary: string, port: number): Promise<ChildProcess> {
  const child = spawn(binary, ['-a', HOST, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('Server is ready'), { timeoutMs: 5000, message: `nats-server on ${port}` });
  return child;
}

async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('connectBus reconnects', () => {
  let binary: string;
  let port: number;
  let server: ChildProcess | undefined;
  let conn: BusConnection | undefined;
  let lines: CapturedLine[];

  beforeAll(async () => {
    const found = findBinary('nats-server');
    if (found === undefined) throw new Error('nats-server is not on PATH');
    binary = found;
    port = await freePort(HOST);
    server = await startServer(binary, port);
  });

  afterAll(async () => {
    await conn?.nc.close();
    await stopServer(server);
  });

  it('survives a server restart on the same port and delivers again', async () => {
    const captured = captureLogger('debug');
    lines = captured.lines;
    conn = await connectBus({
      servers: `nats://${HOST}:${port}`,
      name: 'bus-reconnect-int',
      log: captured.log,
      reconnectTimeWaitMs: 50,
      reconnectJitterMs: 10,
    });
    const bus = createBus(conn.nc, captured.log);
    const got: number[] = [];
    bus.subscribe(subjects.telemetry, (reading) => {
      got.push(reading.sequence);
    });
    await conn.nc.flush();
    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, { ...exampleReadings.battery, sequence: 1 });
    await waitFor(() => got.includes(1), { timeoutMs: 2000, message: 'delivery before the restart' });

    await stopServer(server);
    await waitFor(() => !conn?.isConnected(), { timeoutMs: 3000, message: 'the client to notice the disconnect' });
    server = await startServer(binary, port);
    await waitFor(() => conn?.isConnected(), { timeoutMs: 5000, message: 'the client to reconnect' });
    await conn.nc.flush();

    bus.publish(subjects.telemetry, { assetId: 'bat-1' }, { ...exampleReadings.battery, sequence: 2 });
    await waitFor(() => got.includes(2), { timeoutMs: 2000, message: 'delivery after the restart' });

    const messages = lines.map((l) => l.msg);
    expect(messages).toContain('nats disconnected');
    expect(messages).toContain('nats reconnected');
  });
});
