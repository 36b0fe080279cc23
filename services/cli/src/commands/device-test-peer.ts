// Test helper for the device commands' specs: starts the independent pymodbus peer (../shared/tools/modbus-peer,
// Debian python3-pymodbus) with a register map, Modbus TCP on 127.0.0.1. Not used by the CLI itself.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const PEER_SCRIPT = resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  '..',
  'shared',
  'tools',
  'modbus-peer',
  'modbus_server.py',
);
const PEER_PYTHON = '/usr/bin/python3';

/** A running peer. */
export interface TestPeer {
  readonly port: number;
  /** The peer's log; client writes appear as `WRITE unit=… addr=…`. */
  output(): string;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => {
      socket.destroy();
      done(false);
    });
  });

/** Starts the peer with `map` and resolves once it accepts connections (at most 10 s). */
export async function startTestPeer(map: unknown): Promise<TestPeer> {
  if (!existsSync(PEER_SCRIPT)) throw new Error(`modbus peer not found at ${PEER_SCRIPT}`);
  const dir = mkdtempSync(join(tmpdir(), 'cli-peer-'));
  const mapFile = join(dir, 'registers.json');
  writeFileSync(mapFile, JSON.stringify(map));
  const port = await unusedPort();
  const child = spawn(
    PEER_PYTHON,
    [PEER_SCRIPT, '--map', mapFile, '--host', '127.0.0.1', '--port', String(port), '--watch', '0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`modbus peer did not start:\n${output}`);
    }
    await delay(50);
  }
  return { port, output: () => output, stop };
}
