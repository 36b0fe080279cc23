// Start the independent pymodbus peer (shared/tools/modbus-peer) and socat pty pairs for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closedPort } from './fault-server';
import { waitFor } from './wait';

/** The repository root (libs/modbus/src/testing → four levels up). */
const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
/** CI clones the repository with `shared/` as a sibling of its root. */
export const PEER_SCRIPT = resolve(REPO_ROOT, '..', 'shared', 'tools', 'modbus-peer', 'modbus_server.py');
/** Debian's interpreter: the one that sees python3-pymodbus. */
export const PEER_PYTHON = '/usr/bin/python3';

/** A running peer. */
export interface Peer {
  readonly port: number;
  /** Everything the peer logged so far (writes are logged as `WRITE unit=… addr=… values=[…]`). */
  output(): string;
  /** Replace the map file; with `watchS` > 0 the peer applies values of existing addresses within `watchS`. */
  updateMap(map: unknown): void;
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** The register map (see shared/tools/modbus-peer/registers.example.json). */
  readonly map: unknown;
  /** Default `tcp` (Modbus TCP on 127.0.0.1). */
  readonly transport?: 'tcp' | 'rtu-tcp' | 'serial';
  /** With `tcp` / `rtu-tcp`: a fixed port (e.g. one a test kept closed until now); default a free one. */
  readonly port?: number;
  /** Re-read the map file every `watchS` seconds (see {@link Peer.updateMap}); default 0, never. */
  readonly watchS?: number;
  /** With `serial`: the pty or device the peer serves on. */
  readonly device?: string;
  readonly baudRate?: number;
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

/** Write the map to a temp dir, start the peer, and wait until it serves (port accepts, or the serial log line). */
export async function startPeer(options: PeerOptions): Promise<Peer> {
  if (!existsSync(PEER_SCRIPT)) throw new Error(`modbus peer not found at ${PEER_SCRIPT}`);
  if (!existsSync(PEER_PYTHON))
    throw new Error(`${PEER_PYTHON} not found: apt-get install python3-pymodbus python3-serial-asyncio`);
  const transport = options.transport ?? 'tcp';
  const dir = mkdtempSync(join(tmpdir(), 'modbus-peer-'));
  const mapFile = join(dir, 'registers.json');
  writeFileSync(mapFile, JSON.stringify(options.map, null, 2));
  const port = transport === 'serial' ? 0 : (options.port ?? (await closedPort()));
  const args = [PEER_SCRIPT, '--map', mapFile, '--transport', transport, '--watch', String(options.watchS ?? 0)];
  if (transport === 'serial') {
    if (!options.device) throw new Error('serial peer needs a device');
    args.push('--device', options.device, '--baudrate', String(options.baudRate ?? 9_600));
  } else {
    args.push('--host', '127.0.0.1', '--port', String(port));
  }
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
        return transport === 'serial' ? output.includes('serving Modbus RTU') : portAccepts(port);
      },
      { timeoutMs: 10_000, what: 'modbus peer to serve' },
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

/** A socat pty pair: two linked serial devices, `a` for the client, `b` for the peer. */
export interface PtyPair {
  readonly a: string;
  readonly b: string;
  stop(): Promise<void>;
}

/** True when socat is installed (CI installs it with the peer). */
export function hasSocat(): boolean {
  return existsSync('/usr/bin/socat');
}

export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'modbus-pty-'));
  const a = join(dir, 'ttyA');
  const b = join(dir, 'ttyB');
  const child = spawn('/usr/bin/socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}:\n${output}`);
        return existsSync(a) && existsSync(b);
      },
      { timeoutMs: 5_000, what: 'socat pty pair' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { a, b, stop };
}
