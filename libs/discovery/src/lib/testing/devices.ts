// Devices on 127.x.y.z addresses for the scan tests: the independent pymodbus peer bound to a chosen loopback
// address (its write log proves nothing was written), a listener that accepts and never answers (it records the
// function code of every request it got), and one that resets every connection.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PEER_PYTHON, PEER_SCRIPT, waitFor } from '@voltimax/modbus/testing';

/** A pymodbus peer on `host:port`. */
export interface HostPeer {
  readonly host: string;
  /** Everything it logged; writes appear as `WRITE unit=… addr=… values=[…]`. */
  output(): string;
  stop(): Promise<void>;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts the pymodbus peer (`shared/tools/modbus-peer`) with `map`, bound to `host:port`. */
export async function startPeerOn(host: string, port: number, map: unknown): Promise<HostPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'discovery-peer-'));
  const mapFile = join(dir, 'registers.json');
  writeFileSync(mapFile, JSON.stringify(map));
  const child = spawn(
    PEER_PYTHON,
    [PEER_SCRIPT, '--map', mapFile, '--transport', 'tcp', '--host', host, '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`peer on ${host}:${port} exited with ${child.exitCode}:\n${output}`);
        return accepts(host, port);
      },
      { timeoutMs: 15_000, what: `modbus peer on ${host}:${port}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, output: () => output, stop };
}

/** A TCP listener on `host:port`. */
export interface FaultServer {
  readonly host: string;
  /** Modbus function codes of the requests received (MBAP frames), in order. */
  readonly functionCodes: number[];
  /** Connections accepted. */
  connections(): number;
  stop(): Promise<void>;
}

async function listen(
  host: string,
  port: number,
  onSocket: (socket: Socket, server: FaultServer) => void,
): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const functionCodes: number[] = [];
  const fault: FaultServer = {
    host,
    functionCodes,
    connections: () => accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket, fault);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return fault;
}

/** Accepts and never answers; records the function code of each Modbus TCP request (byte 7 of the MBAP frame). */
export function startSilentServer(host: string, port: number): Promise<FaultServer> {
  return listen(host, port, (socket, fault) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 8) {
        const length = buffer.readUInt16BE(4);
        if (buffer.length < 6 + length) break;
        fault.functionCodes.push(buffer.readUInt8(7));
        buffer = buffer.subarray(6 + length);
      }
    });
  });
}

/** Accepts and resets every connection at once (TCP RST). */
export function startResetServer(host: string, port: number): Promise<FaultServer> {
  return listen(host, port, (socket) => socket.resetAndDestroy());
}
