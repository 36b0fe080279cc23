// Runs the modbus-poller service in-process against a real nats-server, and observes the bus like other services.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import { subjects, type AssetReading, type Heartbeat, type SiteConfig } from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_DEV_PASSWORDS, type NatsUser } from '@voltimax/testing';
import { modbusPollerService } from '../service';

/** A poller instance running in this process with fake process hooks. */
export interface RunningPoller {
  readonly runtime: ServiceRuntime;
  readonly lines: CapturedLine[];
  stop(): Promise<void>;
}

/** Writes the site to a temp file; returns its path and a cleanup. */
export function writeSite(site: SiteConfig): { readonly path: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'poller-site-'));
  const path = join(dir, 'assets.json');
  writeFileSync(path, JSON.stringify(site, null, 2));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts the service as user `modbus-poller` of docker/nats/nats.conf, with short Modbus timeouts for tests. */
export async function runPoller(options: {
  readonly natsUrl: string;
  readonly siteFile: string;
  readonly instanceId: string;
  readonly shard?: string;
  readonly env?: Readonly<Record<string, string>>;
}): Promise<RunningPoller> {
  const lines: CapturedLine[] = [];
  const runtime = await runService(modbusPollerService(), {
    env: {
      NATS_URL: options.natsUrl,
      NATS_USER: 'modbus-poller',
      NATS_PASS: NATS_DEV_PASSWORDS['modbus-poller'],
      SITE_FILE: options.siteFile,
      POLLER_SHARD: options.shard ?? '0/1',
      INSTANCE_ID: options.instanceId,
      HEARTBEAT_MS: '200',
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'debug',
      MODBUS_TIMEOUT_MS: '300',
      MODBUS_RETRY_ATTEMPTS: '1',
      MODBUS_BREAKER_FAILURES: '3',
      MODBUS_BREAKER_HALF_OPEN_MS: '200',
      MODBUS_RECONNECT_MAX_MS: '100',
      ...options.env,
    },
    exit: () => undefined,
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
    logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
  });
  if (runtime === undefined)
    throw new Error(`poller did not start:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
  return { runtime, lines, stop: async () => void (await runtime.shutdown('test done')) };
}

/** A bus connection as one of nats.conf's users, recording telemetry and heartbeats when it may see them. */
export interface BusClient {
  readonly bus: Bus;
  readonly connection: BusConnection;
  readonly readings: AssetReading[];
  readonly heartbeats: Heartbeat[];
  close(): Promise<void>;
}

export async function connectAs(natsUrl: string, user: NatsUser, record: boolean): Promise<BusClient> {
  const { log } = captureLogger('warn');
  const connection = await connectBus({
    servers: natsUrl,
    name: `test-${user}`,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    log,
  });
  const bus = createBus(connection.nc, log);
  const readings: AssetReading[] = [];
  const heartbeats: Heartbeat[] = [];
  if (record) {
    bus.subscribe(subjects.telemetry, (reading) => void readings.push(reading));
    bus.subscribe(subjects.health, (beat) => void heartbeats.push(beat));
    await connection.nc.flush();
  }
  return { bus, connection, readings, heartbeats, close: () => connection.nc.drain() };
}

/** The pymodbus peer's map for an SDM630 (eastron-sdm630.md): float32 typed entries, encoded by pymodbus, not by us. */
export function sdm630PeerTables(overrides: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const f32 = (value: number) => ({ type: 'float32', value });
  return {
    input_registers: {
      '0': f32(230.5), // 0x0000 voltage L1 V
      '2': f32(231.0), // 0x0002 voltage L2 V
      '4': f32(229.5), // 0x0004 voltage L3 V
      '6': f32(5.5), // 0x0006 current L1 A
      '8': f32(4.0), // 0x0008 current L2 A
      '10': f32(3.25), // 0x000A current L3 A
      '12': f32(1200.5), // 0x000C power L1 W
      '14': f32(900.0), // 0x000E power L2 W
      '16': f32(-100.5), // 0x0010 power L3 W
      '52': f32(2000.0), // 0x0034 total system active power W
      '56': f32(2100.0), // 0x0038 total apparent power VA
      '60': f32(-150.0), // 0x003C total reactive power var
      '62': f32(0.75), // 0x003E total power factor
      '70': f32(50.0), // 0x0046 frequency Hz
      '72': f32(1234.5), // 0x0048 import active energy kWh
      '74': f32(56.25), // 0x004A export active energy kWh
      ...overrides,
    },
  };
}
