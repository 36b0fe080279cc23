// What a whole-gateway test holds: the services it started as processes (as `npm start` does) and everything the bus
// showed to user `cli` (telemetry, intents, arbiter decisions, heartbeats), with a wrapper that prints that record and
// each service's last output when a hook or test fails.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import {
  subjects,
  type ArbiterDecision,
  type AssetReading,
  type ControlIntent,
  type DecisionMetrics,
  type Heartbeat,
} from '@voltimax/contracts';
import {
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  startRedis,
  waitFor,
  type NatsTestServer,
  type TestServer,
} from '@voltimax/testing';
import { startService, type ServiceProcess } from './processes';

/** A message and when the test received it (epoch ms). */
export interface Seen<T> {
  readonly receivedAtMs: number;
  readonly payload: T;
}

/** What `startControlLoop` starts, in order. */
export const CONTROL_LOOP_SERVICES = ['simulator', 'modbus-poller', 'safety-arbiter', 'strategy-engine'] as const;

/** The engine and the arbiter stop first (the arbiter's last safe write still reaches the drivers), then the rest. */
const STOP_FIRST = ['strategy-engine', 'safety-arbiter'];

export class GatewayWatch {
  readonly readings: Seen<AssetReading>[] = [];
  readonly intents: Seen<ControlIntent>[] = [];
  readonly decisions: Seen<ArbiterDecision>[] = [];
  /** `strategy.decision.*`: the strategies' and the feed-in limit's metrics. */
  readonly strategyDecisions: Seen<DecisionMetrics>[] = [];
  readonly heartbeats: Seen<Heartbeat>[] = [];
  readonly services: ServiceProcess[] = [];
  /** The observer's own warnings (a subscription the server refused shows here). */
  readonly observerLog = captureLogger('warn');
  readonly t0 = Date.now();
  private nats: NatsTestServer | undefined;
  private redis: TestServer | undefined;
  private dir: string | undefined;
  private observer: BusConnection | undefined;

  /** `record`: what the bus showed, as text for a failure report (the test knows what matters to it). */
  constructor(private readonly record: () => string) {}

  /** Seconds since the watch began, for records. */
  rel(atMs: number): string {
    return ((atMs - this.t0) / 1_000).toFixed(1);
  }

  readingsOf(assetId: string): AssetReading[] {
    return this.readings.filter((r) => r.payload.assetId === assetId).map((r) => r.payload);
  }

  latestHeartbeat(service: string): Heartbeat | undefined {
    return this.heartbeats.filter((h) => h.payload.service === service).at(-1)?.payload;
  }

  /** Runs a hook or test body; on failure prints the record, the observer's warnings and each service's last output. */
  reported(body: () => Promise<void>): () => Promise<void> {
    return () =>
      body().catch((err: unknown) => {
        // The services' output first and the bus last: a CI log that keeps only its tail still shows the bus.
        process.stderr.write(
          `\n[e2e] last output of each service:\n${this.services.map((s) => s.tail()).join('\n')}\n` +
            `[e2e] observer warnings: ${this.observerLog.lines.map((l) => JSON.stringify(l)).join('\n') || 'none'}\n` +
            `[e2e] failed ${this.rel(Date.now())} s after the start; the bus:\n${this.record()}\n`,
        );
        throw err;
      });
  }

  /**
   * Starts the test's own servers — a nats-server with the production users (docker/nats/nats.conf) and Redis — and a
   * state directory, then connects the observer (`name`) as user `cli` and starts recording.
   */
  async open(name: string): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'voltimax-e2e-'));
    const [nats, redis] = await Promise.allSettled([startNats({ config: NATS_CONFIG_PATH }), startRedis()]);
    // Kept even when the other failed, so stop() stops what did start.
    if (nats.status === 'fulfilled') this.nats = nats.value;
    if (redis.status === 'fulfilled') this.redis = redis.value;
    if (nats.status === 'rejected') throw nats.reason;
    if (redis.status === 'rejected') throw redis.reason;
    this.observer = await connectBus({
      servers: nats.value.url,
      name,
      user: 'cli',
      pass: NATS_DEV_PASSWORDS.cli,
      log: this.observerLog.log,
    });
    const bus = createBus(this.observer.nc, this.observerLog.log);
    const seen =
      <T>(list: Seen<T>[]) =>
      (payload: T) =>
        void list.push({ receivedAtMs: Date.now(), payload });
    bus.subscribe(subjects.telemetry, seen(this.readings));
    bus.subscribe(subjects.intent, seen(this.intents));
    bus.subscribe(subjects.arbiterDecision, seen(this.decisions));
    bus.subscribe(subjects.strategyDecision, seen(this.strategyDecisions));
    bus.subscribe(subjects.health, seen(this.heartbeats));
    await this.observer.nc.flush();
  }

  /** Starts a service as a process and waits for its first heartbeat (fails at once if it exits). */
  async start(name: string, env: Record<string, string>): Promise<void> {
    if (!this.nats) throw new Error('open() first: nats-server is not running');
    const service = startService(name, this.nats.url, env);
    this.services.push(service);
    await waitFor(
      () => {
        if (service.exit() !== undefined) throw new Error(`${name} exited (${service.exit()})`);
        return this.latestHeartbeat(name);
      },
      { timeoutMs: 20_000, intervalMs: 50, message: `the first heartbeat of ${name}` },
    );
  }

  /**
   * The control loop over Modbus as `npm start` runs it: writes `site` and the load/PV `profileCsv` into the state
   * directory, starts the simulator on them at sim speed 1 (plus `simEnv`), waits for its resolved site (each device's
   * real endpoint), then starts modbus-poller, safety-arbiter and strategy-engine on it. `env` goes to every service.
   */
  async startControlLoop(options: {
    readonly site: Record<string, unknown>;
    readonly profileCsv: string;
    readonly simEnv: Record<string, string>;
    readonly env?: Record<string, string>;
  }): Promise<void> {
    const { dir, redis } = this;
    if (dir === undefined || redis === undefined) throw new Error('open() first');
    const { env = {} } = options;
    const siteFile = join(dir, 'site.json');
    const profileFile = join(dir, 'profile.csv');
    const simAssetsFile = join(dir, 'sim-assets.json');
    writeFileSync(siteFile, JSON.stringify(options.site, null, 2));
    writeFileSync(profileFile, options.profileCsv);
    await this.start('simulator', {
      ...env,
      SITE_FILE: siteFile,
      STATE_DIR: dir,
      SIM_PROFILE: profileFile,
      SIM_SPEED: '1',
      HEARTBEAT_MS: '1000',
      ...options.simEnv,
    });
    // The simulator writes the site with each simulated device's real endpoint once its listeners are open.
    await waitFor(() => existsSync(simAssetsFile), {
      timeoutMs: 10_000,
      message: 'the simulator to write sim-assets.json',
    });
    const site = { ...env, SITE_FILE: simAssetsFile, STATE_DIR: dir };
    await this.start('modbus-poller', site);
    await this.start('safety-arbiter', site);
    await this.start('strategy-engine', { ...site, REDIS_URL: redis.url });
  }

  /** `name: running` or `name: <exit>` for each service, in start order. */
  states(): string[] {
    return this.services.map((s) => `${s.name}: ${s.exit() ?? 'running'}`);
  }

  /** Stops the services (engine and arbiter first), the observer and the servers, and removes the state directory. */
  async stop(): Promise<void> {
    const stop = (which: (s: ServiceProcess) => boolean) =>
      Promise.all(this.services.filter(which).map((s) => s.stop(5_000)));
    await stop((s) => STOP_FIRST.includes(s.name));
    await stop((s) => !STOP_FIRST.includes(s.name));
    try {
      await this.observer?.nc.drain();
    } finally {
      await Promise.all([this.nats?.stop(), this.redis?.stop()]);
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
