// Private servers the fault suite stops, kills and starts again on the same port: a nats-server with the production
// users (docker/nats/nats.conf) and its own JetStream store, and a redis-server. Never the machine's shared servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { findBinary, freePort, NATS_CONFIG_PATH, provisionTestStreams, waitFor } from '@voltimax/testing';

const HOST = '127.0.0.1';

/** A server process on a fixed loopback port that can be stopped, killed and started again (same port, same data). */
export interface RestartableServer {
  readonly url: string;
  readonly port: number;
  /** Starts it (again). */
  start(): Promise<void>;
  /** SIGTERM, waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for the exit. */
  kill9(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
  /** The last lines it wrote, for failure reports. */
  tail(): string;
}

function restartable(opts: {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly ready: (output: string) => boolean;
}): RestartableServer {
  let child: ChildProcess | undefined;
  let output = '';
  const end = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    await exited;
  };
  return {
    url: opts.url,
    port: opts.port,
    async start() {
      if (child !== undefined) return;
      output = '';
      const started = spawn(opts.binary, [...opts.args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-8_000));
      started.stdout?.on('data', keep);
      started.stderr?.on('data', keep);
      child = started;
      await waitFor(() => opts.ready(output) || started.exitCode !== null, {
        timeoutMs: 20_000,
        message: `${opts.name} on port ${opts.port}`,
      });
      if (started.exitCode !== null) throw new Error(`${opts.name} exited: ${output}`);
    },
    stop: () => end('SIGTERM'),
    kill9: () => end('SIGKILL'),
    async close() {
      await end('SIGTERM');
      rmSync(opts.dir, { recursive: true, force: true });
    },
    tail: () => `--- ${opts.name} (port ${opts.port})\n${output.split('\n').slice(-20).join('\n')}`,
  };
}

/** nats-server with docker/nats/nats.conf (users, permissions) on a free port, JetStream in its own store, provisioned. */
export async function startRestartableNats(): Promise<RestartableServer> {
  const binary = findBinary('nats-server');
  if (binary === undefined) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const dir = mkdtempSync(join(tmpdir(), 'voltimax-faults-nats-'));
  const conf = join(dir, 'nats.conf');
  // An include resolves relative to the including file; later keys win, so the store moves into our dir.
  writeFileSync(conf, `include ${JSON.stringify(relative(dir, NATS_CONFIG_PATH))}\njetstream { store_dir: ${JSON.stringify(join(dir, 'store'))} }\n`);
  const port = await freePort(HOST);
  const server = restartable({
    name: 'nats-server',
    binary,
    args: ['-c', conf, '-a', HOST, '-p', String(port), '-m', '0'],
    url: `nats://${HOST}:${port}`,
    port,
    dir,
    ready: (output) => output.includes('Server is ready'),
  });
  await server.start();
  // As `voltimax bus init` before the services: only the provisioner may create streams. The store survives restarts.
  await provisionTestStreams(server.url);
  return server;
}

/** redis-server on a free port, without persistence. */
export async function startRestartableRedis(): Promise<RestartableServer> {
  const binary = findBinary('redis-server');
  if (binary === undefined) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'voltimax-faults-redis-'));
  const port = await freePort(HOST);
  const server = restartable({
    name: 'redis-server',
    binary,
    args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir],
    url: `redis://${HOST}:${port}`,
    port,
    dir,
    ready: (output) => output.includes('Ready to accept connections'),
  });
  await server.start();
  return server;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: HOST, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });

/** The first of `count` consecutive free loopback ports (the simulator's SIM_BASE_PORT, so a restart keeps them). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const base = await freePort(HOST);
    if (base + count > 65_535) continue;
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports on ${HOST}`);
}
