// Starts the independent pymodbus peer (../shared/tools/modbus-peer, Debian python3-pymodbus) for integration tests.
// A trimmed copy of libs/modbus's test helper (not exported from there): TCP only, a fixed port on request, and a
// live-editable register map (the peer re-reads its map file every `watchS` seconds).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@voltimax/testing';

/** services/modbus-poller/src/testing → the repository root is four levels up; `shared/` is its sibling. */
export const PEER_SCRIPT = resolve(
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
/** Debian's interpreter: the one that sees python3-pymodbus. */
export const PEER_PYTHON = '/usr/bin/python3';

/** A running peer. */
export interface Peer {
  readonly port: number;
  /** Everything the peer logged (client writes are logged as `WRITE unit=… addr=… values=[…]`). */
  output(): string;
  /** Replace the map file; the peer applies values of existing addresses within `watchS`. */
  updateMap(map: unknown): void;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on (just freed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise<boolean>((done) => {
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
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** Writes the map to a temp dir, starts the peer (Modbus TCP on 127.0.0.1) and waits until it accepts connections. */
export async function startPeer(options: {
  readonly map: unknown;
  readonly port?: number;
  readonly watchS?: number;
}): Promise<Peer> {
  if (!existsSync(PEER_SCRIPT)) throw new Error(`modbus peer not found at ${PEER_SCRIPT}`);
  if (!existsSync(PEER_PYTHON))
    throw new Error(`${PEER_PYTHON} not found: apt-get install python3-pymodbus python3-serial-asyncio`);
  const dir = mkdtempSync(join(tmpdir(), 'poller-peer-'));
  const mapFile = join(dir, 'registers.json');
  writeFileSync(mapFile, JSON.stringify(options.map, null, 2));
  const port = options.port ?? (await closedPort());
  const args = [PEER_SCRIPT, '--map', mapFile, '--transport', 'tcp', '--host', '127.0.0.1', '--port', String(port)];
  args.push('--watch', String(options.watchS ?? 0));
  const child = spawn(PEER_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`modbus peer exited with ${child.exitCode}:\n${output}`);
        return portAccepts(port);
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'the modbus peer to serve' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    output: () => output,
    updateMap: (map) => writeFileSync(mapFile, JSON.stringify(map, null, 2)),
    stop,
  };
}
