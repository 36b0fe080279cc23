import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { containerRuntimeAnswers, startContainerServer } from './containers';
import { findBinary } from './find-binary';
import { freePort } from './free-port';
import { NATS_CONFIG_PATH } from './nats-dev-users';
import { provisionTestStreams, type ProvisionTestOptions } from './provision';
import { startServerProcess, ServerStartError, type ServerProcessOptions } from './server-process';
import {
  chooseServerSource,
  SERVER_SPECS,
  TestServerUnavailableError,
  type ServerKind,
  type ServerSource,
  type SourceDecision,
} from './server-source';

/** A server a test can connect to. */
export interface TestServer {
  /** e.g. `nats://127.0.0.1:39123`, `redis://…`, `mqtt://…`. */
  readonly url: string;
  readonly source: ServerSource;
  /** Stops what this helper started (a no-op for `env`) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A NATS server for a test. */
export interface NatsTestServer extends TestServer {
  /** The JetStream store dir (`-sd`) of a server started from the binary; `undefined` otherwise. */
  readonly storeDir: string | undefined;
}

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /**
   * A nats.conf to run with (e.g. `NATS_CONFIG_PATH`). The server then always is a new one started
   * for this test, never `NATS_URL`; its listen address, monitoring port and JetStream store dir are
   * replaced by test values.
   */
  readonly config?: string;
  /** JetStream on (default) or off. */
  readonly jetstream?: boolean;
  /**
   * With `config: NATS_CONFIG_PATH`: create the gateway's streams and KV buckets as the `provisioner` user right after
   * the start, as `voltimax bus init` does before any service (only that user may create streams). Default true;
   * `false` leaves the server empty; an object sets their retention. Ignored for other configs.
   */
  readonly provision?: boolean | ProvisionTestOptions;
}

const HOST = '127.0.0.1';
const PORT_ATTEMPTS = 3;

/** A NATS server (JetStream on) from `NATS_URL`, the local `nats-server`, or a container, in that order. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsTestServer> {
  const config = opts.config === undefined ? undefined : resolve(opts.config);
  if (config !== undefined && !existsSync(config)) {
    throw new Error(`NATS config ${config} does not exist`);
  }
  const decision = await decide('nats', config === undefined ? undefined : `it runs with config ${config}`);
  switch (decision.source) {
    case 'env':
      return { url: decision.url, source: 'env', storeDir: undefined, stop: noop };
    case 'binary':
      return provisioned(await startNatsBinary(decision.binaryPath, config, opts.jetstream ?? true), config, opts);
    case 'container': {
      const server = await startContainerServer({
        kind: 'nats',
        image: decision.image,
        jetstream: opts.jetstream ?? true,
        ...(config === undefined ? {} : { natsConfig: config }),
      });
      return provisioned({ ...server, source: 'container', storeDir: undefined }, config, opts);
    }
    case 'unavailable':
      throw new TestServerUnavailableError('nats', decision.message);
  }
}

/** The server, with the gateway's streams when it runs the project's nats.conf (see `StartNatsOptions.provision`). */
async function provisioned(
  server: NatsTestServer,
  config: string | undefined,
  opts: StartNatsOptions,
): Promise<NatsTestServer> {
  if (config !== resolve(NATS_CONFIG_PATH) || opts.provision === false || opts.jetstream === false) return server;
  try {
    await provisionTestStreams(server.url, opts.provision === true ? {} : (opts.provision ?? {}));
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** A Redis server from `REDIS_URL`, the local `redis-server`, or a container, in that order. No persistence. */
export async function startRedis(): Promise<TestServer> {
  const decision = await decide('redis', undefined);
  switch (decision.source) {
    case 'env':
      return { url: decision.url, source: 'env', stop: noop };
    case 'binary': {
      const dir = await makeTempDir('redis');
      return startOnFreePort(dir, 'redis', (port) => ({
        binaryPath: decision.binaryPath,
        args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir],
        port,
        readyPattern: /Ready to accept connections/,
      }));
    }
    case 'container':
      return { ...(await startContainerServer({ kind: 'redis', image: decision.image })), source: 'container' };
    case 'unavailable':
      throw new TestServerUnavailableError('redis', decision.message);
  }
}

/** Options of {@link startMqtt}. */
export interface StartMqttOptions {
  /**
   * Listen on this loopback port (e.g. the port of a broker this test stopped, to restart it on the same address).
   * The broker then always is a new local `mosquitto`, never `MQTT_URL` or a container.
   */
  readonly port?: number;
}

/** An MQTT broker (anonymous access) from `MQTT_URL`, the local `mosquitto`, or a container, in that order. */
export async function startMqtt(opts: StartMqttOptions = {}): Promise<TestServer> {
  const fixedPort = opts.port;
  if (fixedPort !== undefined) return startMqttOnPort(fixedPort);
  const decision = await decide('mqtt', undefined);
  switch (decision.source) {
    case 'env':
      return { url: decision.url, source: 'env', stop: noop };
    case 'binary': {
      const dir = await makeTempDir('mqtt');
      const configPath = join(dir, 'mosquitto.conf');
      return startOnFreePort(dir, 'mqtt', async (port) => {
        await writeFile(configPath, mosquittoConfig(port));
        return {
          binaryPath: decision.binaryPath,
          args: ['-c', configPath],
          port,
          readyPattern: /mosquitto version \S+ running/,
        };
      });
    }
    case 'container':
      return { ...(await startContainerServer({ kind: 'mqtt', image: decision.image })), source: 'container' };
    case 'unavailable':
      throw new TestServerUnavailableError('mqtt', decision.message);
  }
}

async function startMqttOnPort(port: number): Promise<TestServer> {
  const binaryPath = findBinary(SERVER_SPECS.mqtt.binary);
  if (binaryPath === undefined) {
    throw new TestServerUnavailableError('mqtt', `a broker on a given port needs a local ${SERVER_SPECS.mqtt.binary}`);
  }
  const dir = await makeTempDir('mqtt');
  const configPath = join(dir, 'mosquitto.conf');
  await writeFile(configPath, mosquittoConfig(port));
  try {
    const proc = await startServerProcess({
      binaryPath,
      args: ['-c', configPath],
      port,
      dir,
      readyPattern: /mosquitto version \S+ running/,
    });
    let stopping: Promise<void> | undefined;
    return {
      url: `mqtt://${HOST}:${port}`,
      source: 'binary',
      stop: () => {
        stopping ??= proc.stop().finally(() => rm(dir, { recursive: true, force: true }));
        return stopping;
      },
    };
  } catch (err: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The mosquitto config of a test broker on `port`. */
export function mosquittoConfig(port: number): string {
  return [`listener ${port} ${HOST}`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', ''].join('\n');
}

/**
 * The config a test NATS server runs with: the given file, then a JetStream block that moves the
 * store to `storeDir` (or turns JetStream off). Later keys win in nats.conf; `-sd` cannot be used
 * because nats-server refuses it next to a `store_dir` in the file.
 */
export function natsTestConfig(opts: {
  readonly configDir: string;
  readonly config: string;
  readonly storeDir: string | undefined;
}): string {
  const include = relative(opts.configDir, opts.config); // nats-server resolves includes relative to the including file
  const jetstream =
    opts.storeDir === undefined ? 'jetstream: disabled' : `jetstream { store_dir: ${JSON.stringify(opts.storeDir)} }`;
  return `include ${JSON.stringify(include)}\n${jetstream}\n`;
}

async function startNatsBinary(
  binaryPath: string,
  config: string | undefined,
  jetstream: boolean,
): Promise<NatsTestServer> {
  const dir = await makeTempDir('nats');
  const storeDir = jetstream ? join(dir, 'store') : undefined;
  const server = await startOnFreePort(dir, 'nats', async (port) => {
    const listen = ['-a', HOST, '-p', String(port)];
    if (config === undefined) {
      return {
        binaryPath,
        args: [...listen, ...(storeDir === undefined ? [] : ['-js', '-sd', storeDir])],
        port,
        readyPattern: /Server is ready/,
      };
    }
    const testConfig = join(dir, 'nats.conf');
    await writeFile(testConfig, natsTestConfig({ configDir: dir, config, storeDir }));
    // -m 0: no monitoring port, so parallel test servers do not fight over the file's 8222
    return { binaryPath, args: ['-c', testConfig, ...listen, '-m', '0'], port, readyPattern: /Server is ready/ };
  });
  return { ...server, storeDir };
}

/** Starts the binary on a fresh free port, trying another port when one was taken in between. */
async function startOnFreePort(
  dir: string,
  kind: ServerKind,
  options: (port: number) => ServerProcessOptions | Promise<ServerProcessOptions>,
): Promise<TestServer> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort(HOST);
    await mkdir(dir, { recursive: true }); // a failed attempt may have removed it
    try {
      const proc = await startServerProcess({ ...(await options(port)), dir });
      let stopping: Promise<void> | undefined;
      return {
        url: `${kind}://${HOST}:${port}`,
        source: 'binary',
        stop: () => {
          stopping ??= proc.stop().finally(() => rm(dir, { recursive: true, force: true }));
          return stopping;
        },
      };
    } catch (err: unknown) {
      if (err instanceof ServerStartError && err.retryable && attempt < PORT_ATTEMPTS) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

/** Env, then binary; the container runtime is asked only when neither is there. */
async function decide(kind: ServerKind, ownServerReason: string | undefined): Promise<SourceDecision> {
  const inputs = {
    kind,
    env: process.env,
    ownServerReason,
    binaryPath: findBinary(SERVER_SPECS[kind].binary),
    containerRuntime: false,
  };
  const first = chooseServerSource(inputs);
  if (first.source !== 'unavailable') return first;
  return chooseServerSource({ ...inputs, containerRuntime: await containerRuntimeAnswers() });
}

function makeTempDir(kind: ServerKind): Promise<string> {
  return mkdtemp(join(tmpdir(), `voltimax-${kind}-`));
}

async function noop(): Promise<void> {
  // The server belongs to whoever set the env var.
}
