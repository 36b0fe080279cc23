import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import {
  DeviceWriteSchema,
  subjects,
  type ArbiterDecision,
  type DeviceWrite,
  type Heartbeat,
  type SiteConfigInput,
  type WriteResult,
} from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import {
  connectNatsAs,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  type NatsTestServer,
  type NatsUser,
  startNats,
} from '@voltimax/testing';
import { safetyArbiterService } from '../service';
import { freshReadings, TEST_SITE } from './site';

/** A write the spy saw: parsed if it parses, raw otherwise (a bug the tests must catch). */
export interface SpiedWrite {
  readonly subject: string;
  readonly atMs: number;
  readonly write?: DeviceWrite;
  readonly raw: string;
}

/** The whole control path on a real nats-server started from docker/nats/nats.conf. */
export interface NatsStack {
  readonly server: NatsTestServer;
  /** The arbiter, in-process through runService, connected as user safety-arbiter (the current one after a restart). */
  readonly arbiter: ServiceRuntime;
  /** The arbiter's SITE_FILE (a temporary copy of the test site). */
  readonly siteFile: string;
  /** Shuts the arbiter down as on SIGTERM (its safe setpoints on the way out included); nothing if it exited. */
  stopArbiter(): Promise<void>;
  /** Starts a new arbiter with the same environment (after {@link stopArbiter}). */
  startArbiter(): Promise<void>;
  readonly arbiterLog: CapturedLine[];
  /** Every `device.*.write`, recorded by a second driver user that never answers. */
  readonly spy: SpiedWrite[];
  /** Every `arbiter.decision.*` (observed as user cli). */
  readonly decisions: ArbiterDecision[];
  /** Every `health.safety-arbiter` heartbeat. */
  readonly arbiterHeartbeats: Heartbeat[];
  /** The fake driver (user modbus-poller): answers writes, publishes telemetry and heartbeats. */
  readonly driver: FakeDriver;
  /** A raw connection as the given user (closed by `stop`). */
  connectAs(user: NatsUser): Promise<NatsConnection>;
  stop(): Promise<void>;
}

/** The fake modbus-poller. */
export interface FakeDriver {
  readonly bus: Bus;
  readonly answered: DeviceWrite[];
  /** Assets whose telemetry is not published (e.g. to let it go stale). */
  readonly mutedTelemetry: Set<string>;
  /** Stop or resume heartbeats. */
  heartbeats(on: boolean): void;
  /** Override measured values per asset. */
  readonly values: Map<string, Record<string, number>>;
  /** When the last reading of each asset was published, epoch ms. */
  readonly lastReadingAtMs: Map<string, number>;
  /** How to answer writes from now on: a WriteResult status, or `silent` (never answer). Default `applied`. */
  behave(behaviour: (write: DeviceWrite) => WriteResult['status'] | 'silent'): void;
}

export interface StackOptions {
  readonly site?: SiteConfigInput;
  /** Extra arbiter environment (TICK_MS, WRITE_TIMEOUT_MS, …). */
  readonly env?: Record<string, string>;
  /** Telemetry period of the fake driver, ms (default: half the poll interval of 1000 ms). */
  readonly telemetryEveryMs?: number;
  readonly heartbeatEveryMs?: number;
  /** NATS config (default: docker/nats/nats.conf). */
  readonly natsConfig?: string;
  /** With the project's nats.conf: provision the streams first (default), as `voltimax bus init` does. */
  readonly provision?: boolean;
}

const OWNED = ['bat-1', 'grid-1', 'ev-1', 'pv-1', 'load-1'];
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Starts nats-server, the arbiter, the fake driver, the write spy and a decision observer. */
export async function startStack(opts: StackOptions = {}): Promise<NatsStack> {
  const server = await startNats({ config: opts.natsConfig ?? NATS_CONFIG_PATH, provision: opts.provision ?? true });
  const dir = await mkdtemp(join(tmpdir(), 'arbiter-int-'));
  const siteFile = join(dir, 'assets.json');
  await writeFile(siteFile, JSON.stringify(opts.site ?? TEST_SITE));
  const connections: NatsConnection[] = [];
  const busConnections: BusConnection[] = [];
  const timers: NodeJS.Timeout[] = [];
  const quiet = captureLogger('warn').log;

  const connectAs = async (user: NatsUser): Promise<NatsConnection> => {
    const nc = await connectNatsAs(server.url, user);
    connections.push(nc);
    return nc;
  };
  const busAs = async (user: NatsUser): Promise<Bus> => {
    const connection = await connectBus({
      servers: server.url,
      name: `test-${user}`,
      user,
      pass: NATS_DEV_PASSWORDS[user],
      log: quiet,
    });
    busConnections.push(connection);
    return createBus(connection.nc, quiet);
  };

  // Observer (cli may watch decisions and heartbeats).
  const decisions: ArbiterDecision[] = [];
  const arbiterHeartbeats: Heartbeat[] = [];
  const observer = await busAs('cli');
  observer.subscribe(subjects.arbiterDecision, (d) => void decisions.push(d));
  observer.subscribe(subjects.health, (h) => {
    if (h.service === 'safety-arbiter') arbiterHeartbeats.push(h);
  });

  // Spy: a second driver user records every write and never answers.
  const spy: SpiedWrite[] = [];
  const spyConn = await connectAs('http-devices');
  spyConn.subscribe('device.*.write', {
    callback: (_err, msg) => {
      const raw = decoder.decode(msg.data);
      let write: DeviceWrite | undefined;
      try {
        const parsed = DeviceWriteSchema.safeParse(JSON.parse(raw));
        if (parsed.success) write = parsed.data;
      } catch {
        write = undefined;
      }
      spy.push({ subject: msg.subject, atMs: Date.now(), raw, ...(write === undefined ? {} : { write }) });
    },
  });

  // The fake driver.
  const driverBus = await busAs('modbus-poller');
  const answered: DeviceWrite[] = [];
  let behaviour: (write: DeviceWrite) => WriteResult['status'] | 'silent' = () => 'applied';
  driverBus.reply(subjects.deviceWrite, (write): WriteResult | Promise<WriteResult> => {
    answered.push(write);
    const status = behaviour(write);
    if (status === 'silent') return new Promise<WriteResult>(() => undefined);
    return { v: 1, commandId: write.commandId, assetId: write.assetId, status, atMs: Date.now() };
  });
  const mutedTelemetry = new Set<string>();
  const values = new Map<string, Record<string, number>>();
  const lastReadingAtMs = new Map<string, number>();
  let sequence = 0;
  const publishTelemetry = () => {
    sequence += 1;
    for (const reading of freshReadings(Date.now(), sequence)) {
      if (mutedTelemetry.has(reading.assetId)) continue;
      driverBus.publish(
        subjects.telemetry,
        { assetId: reading.assetId },
        { ...reading, values: { ...reading.values, ...values.get(reading.assetId) } },
      );
      lastReadingAtMs.set(reading.assetId, reading.atMs);
    }
  };
  const heartbeatEveryMs = opts.heartbeatEveryMs ?? 250;
  let heartbeatsOn = true;
  const beat = () => {
    if (!heartbeatsOn) return;
    const nowMs = Date.now();
    driverBus.publish(
      subjects.health,
      { service: 'modbus-poller' },
      {
        v: 1,
        service: 'modbus-poller',
        instanceId: 'fake-poller-1',
        status: 'ok',
        atMs: nowMs,
        startedAtMs: nowMs,
        version: '0.0.0',
        intervalMs: heartbeatEveryMs,
        assets: OWNED,
      },
    );
  };
  publishTelemetry();
  beat();
  timers.push(setInterval(publishTelemetry, opts.telemetryEveryMs ?? 500), setInterval(beat, heartbeatEveryMs));
  await Promise.all([spyConn.flush(), ...busConnections.map((c) => c.nc.flush())]);

  // The arbiter, connected as safety-arbiter.
  const arbiterLog: CapturedLine[] = [];
  const launchArbiter = async (): Promise<ServiceRuntime> => {
    const runtime = await runService(safetyArbiterService(), {
      env: {
        NATS_URL: server.url,
        NATS_USER: 'safety-arbiter',
        NATS_PASS: NATS_DEV_PASSWORDS['safety-arbiter'],
        HEALTH_PORT: 'off',
        HEARTBEAT_MS: '200',
        LOG_LEVEL: 'info',
        INSTANCE_ID: 'arbiter-test',
        SITE_FILE: siteFile,
        TICK_MS: '250',
        MIN_WRITE_INTERVAL_MS: '0',
        ...opts.env,
      },
      exit: () => undefined,
      onSignal: () => () => undefined,
      onFatal: () => () => undefined,
      logDestination: { write: (line: string) => void arbiterLog.push(JSON.parse(line) as CapturedLine) },
    });
    if (runtime === undefined) throw new Error(`the arbiter did not start: ${JSON.stringify(arbiterLog.slice(-5))}`);
    return runtime;
  };
  let arbiter: ServiceRuntime | undefined = await launchArbiter();

  return {
    server,
    siteFile,
    get arbiter(): ServiceRuntime {
      if (arbiter === undefined) throw new Error('the arbiter is stopped');
      return arbiter;
    },
    async stopArbiter() {
      await arbiter?.shutdown('test: arbiter stopped');
      arbiter = undefined;
    },
    async startArbiter() {
      if (arbiter !== undefined) throw new Error('the arbiter is running');
      arbiter = await launchArbiter();
    },
    arbiterLog,
    spy,
    decisions,
    arbiterHeartbeats,
    driver: {
      bus: driverBus,
      answered,
      mutedTelemetry,
      values,
      lastReadingAtMs,
      heartbeats: (on) => {
        heartbeatsOn = on;
      },
      behave: (next) => {
        behaviour = next;
      },
    },
    connectAs,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await arbiter?.shutdown('test done');
      await Promise.allSettled([...connections.map((nc) => nc.close()), ...busConnections.map((c) => c.nc.close())]);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Encodes a value as request bytes. */
export const bytes = (value: unknown): Uint8Array =>
  encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));
