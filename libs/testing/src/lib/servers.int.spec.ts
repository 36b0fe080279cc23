import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { connectAsync } from 'mqtt';
import { acceptsConnections, ServerStartError } from './server-process';
import { startMqtt, startNats, startRedis, type TestServer } from './servers';
import { waitFor } from './wait-for';

const REPO_ROOT = resolve(__dirname, '../../../..');

function hostPort(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

async function expectStoppedCleanly(server: TestServer): Promise<void> {
  await server.stop();
  await server.stop(); // idempotent
  if (server.source === 'env') return;
  const { host, port } = hostPort(server.url);
  expect(await acceptsConnections(host, port)).toBe(false);
}

describe('startNats', () => {
  it('gives a NATS server with JetStream that a client can use, and stops it', async () => {
    const server = await startNats();
    const nc = await connect({ servers: server.url, reconnect: false });
    try {
      const sub = nc.subscribe('ping', { max: 1, callback: (_err, msg) => void msg.respond('pong') });
      await expect(nc.request('ping', '', { timeout: 1_000 }).then((msg) => msg.string())).resolves.toBe('pong');
      sub.unsubscribe();

      // Unique names: with NATS_URL the server may be shared and outlive this run.
      const stream = `PROBE_${process.pid}_${Date.now()}`;
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      const ack = await jetstream(nc).publish(`${stream}.1`, 'x');
      expect(ack).toMatchObject({ stream, seq: 1 });
      await jsm.streams.delete(stream);
      if (server.source === 'binary') {
        expect(server.storeDir).toBeDefined();
        expect(readdirSync(server.storeDir ?? '')).toContain('jetstream');
      }
    } finally {
      await nc.close();
    }
    await expectStoppedCleanly(server);
    if (server.storeDir !== undefined) expect(existsSync(server.storeDir)).toBe(false);
  });

  it('starts without JetStream when asked', async () => {
    const savedUrl = process.env['NATS_URL'];
    delete process.env['NATS_URL']; // a server from the env cannot honour the option
    const server = await startNats({ jetstream: false }).finally(() => {
      if (savedUrl !== undefined) process.env['NATS_URL'] = savedUrl;
    });
    const nc = await connect({ servers: server.url, reconnect: false });
    try {
      expect(server.storeDir).toBeUndefined();
      await expect(jetstreamManager(nc)).rejects.toThrow(/jetstream/i);
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  describe('with a config file', () => {
    let dir: string;
    const savedUrl = process.env['NATS_URL'];
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'nats-config-'));
    });
    afterEach(async () => {
      if (savedUrl === undefined) delete process.env['NATS_URL'];
      else process.env['NATS_URL'] = savedUrl;
      await rm(dir, { recursive: true, force: true });
    });

    it('always starts its own server from the binary, ignoring NATS_URL', async () => {
      process.env['NATS_URL'] = 'nats://127.0.0.1:1';
      const config = join(dir, 'users.conf');
      await writeFile(
        config,
        'listen: 0.0.0.0:4222\nhttp: 0.0.0.0:8222\njetstream { store_dir: "/nonexistent/js" }\n' +
          'authorization { users: [ { user: a, password: b } ] }\n',
      );
      const server = await startNats({ config });
      try {
        expect(server.source).toBe('binary');
        const nc = await connect({ servers: server.url, user: 'a', pass: 'b', reconnect: false });
        await jetstreamManager(nc); // JetStream runs, in the temp store dir instead of the file's
        await nc.close();
        await expect(connect({ servers: server.url, user: 'a', pass: 'wrong', reconnect: false })).rejects.toThrow(
          /Authorization Violation/i,
        );
      } finally {
        await server.stop();
      }
    });

    it('fails fast with the server message when the config is invalid', async () => {
      const config = join(dir, 'bad.conf');
      await writeFile(
        config,
        'authorization { users: [ { user: a, password: b, permissions: { publish: ["device.>.write"] } } ] }\n',
      );
      const started = performance.now();
      const failure = await startNats({ config }).catch((err: unknown) => err);
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(failure).toBeInstanceOf(ServerStartError);
      expect((failure as Error).message).toMatch(/exited with 1 before it accepted connections/);
      expect((failure as Error).message).toMatch(/device\.>\.write/);
    });

    it('rejects a config path that does not exist', async () => {
      await expect(startNats({ config: join(dir, 'missing.conf') })).rejects.toThrow(/missing\.conf does not exist/);
    });
  });
});

describe('startRedis', () => {
  it('gives a Redis server that a client can use, and stops it', async () => {
    const server = await startRedis();
    const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const key = `test:${process.pid}:setpoint:bat-1`;
      await redis.set(key, '1500', 'PX', 60_000);
      await expect(redis.get(key)).resolves.toBe('1500');
      await redis.del(key);
    } finally {
      await redis.quit();
    }
    await expectStoppedCleanly(server);
  });
});

describe('startMqtt', () => {
  it('gives an MQTT broker that a client can use, and stops it', async () => {
    const server = await startMqtt();
    const client = await connectAsync(server.url, { reconnectPeriod: 0, connectTimeout: 2_000 });
    try {
      const received: string[] = [];
      client.on('message', (topic, payload) => received.push(`${topic}=${payload.toString()}`));
      const topic = `test/${process.pid}/meter-1/power`;
      await client.subscribeAsync(topic, { qos: 1 });
      await client.publishAsync(topic, '1234', { qos: 1 });
      await waitFor(() => received.length > 0, { message: 'the MQTT message to come back' });
      expect(received).toEqual([`${topic}=1234`]);
    } finally {
      await client.endAsync();
    }
    await expectStoppedCleanly(server);
  });
});

describe('process cleanup', () => {
  it.each([
    ['is killed with SIGKILL', 'setInterval(() => undefined, 1000);', true],
    ['exits without calling stop()', 'process.exit(0);', false],
  ])('stops a binary server when the Node process that started it %s', async (_how, then, killIt) => {
    const script =
      "require('./libs/testing/src/lib/servers.ts').startRedis()" +
      `.then((s) => { process.stdout.write(s.source + ' ' + s.url + '\\n'); ${then} })`;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const line = await waitFor(() => stdout.split('\n').find((l) => l.startsWith('binary ')), {
        timeoutMs: 10_000,
        message: 'the child to start redis-server',
      }).catch((err: unknown) => {
        throw new Error(`${String(err)}\nchild stderr:\n${stderr}`);
      });
      const { host, port } = hostPort(line.split(' ')[1] ?? '');
      if (killIt) child.kill('SIGKILL');

      await waitFor(async () => !(await acceptsConnections(host, port)), {
        timeoutMs: 5_000,
        message: `redis-server on port ${port} to stop after its parent went away`,
      });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
