// Runs http-devices in this process against a real nats-server, and observes the bus like other services do.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import {
  subjects,
  type AssetReading,
  type DeviceWrite,
  type Heartbeat,
  type Setpoint,
  type WriteResult,
} from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_DEV_PASSWORDS, type NatsUser } from '@voltimax/testing';
import type { ConnectBroker } from '../mqtt-listener';
import { httpDevicesService } from '../service';

/** A service instance running in this process with fake process hooks. */
export interface RunningService {
  readonly runtime: ServiceRuntime;
  readonly lines: CapturedLine[];
  stop(): Promise<void>;
}

/** Writes a site (raw JSON) to a temp file; returns its path and a cleanup. */
export function writeSite(site: unknown): { readonly path: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'http-devices-site-'));
  const path = join(dir, 'assets.json');
  writeFileSync(path, JSON.stringify(site, null, 2));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts the service as user `http-devices` of docker/nats/nats.conf with short timeouts for tests. */
export async function runHttpDevices(options: {
  readonly natsUrl: string;
  readonly siteFile: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Wraps mqtt.js `connect` (e.g. to record the clients); the real one when absent. */
  readonly connectBroker?: ConnectBroker;
}): Promise<RunningService> {
  const lines: CapturedLine[] = [];
  const service = httpDevicesService(
    options.connectBroker === undefined ? {} : { connectBroker: options.connectBroker },
  );
  const runtime = await runService(service, {
    env: {
      NATS_URL: options.natsUrl,
      NATS_USER: 'http-devices',
      NATS_PASS: NATS_DEV_PASSWORDS['http-devices'],
      SITE_FILE: options.siteFile,
      INSTANCE_ID: 'http-devices-test',
      HEARTBEAT_MS: '200',
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'debug',
      // Generous for a loaded machine (npm test runs three workers); the hang test waits it out three times.
      HTTP_TIMEOUT_MS: '1000',
      HTTP_RETRY_ATTEMPTS: '1',
      HTTP_BREAKER_FAILURES: '3',
      HTTP_BREAKER_HALF_OPEN_MS: '400',
      MQTT_CONFIRM_TIMEOUT_MS: '2000',
      MQTT_RECONNECT_MS: '200',
      ...options.env,
    },
    exit: () => undefined,
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
    logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
  });
  if (runtime === undefined)
    throw new Error(`http-devices did not start:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
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

let commandCounter = 0;

/** A device write as the arbiter sends it (request/reply), expiring `validForMs` from now. */
export function sendWrite(
  arbiter: Bus,
  assetId: string,
  setpoint: Setpoint,
  options: { readonly validForMs?: number; readonly timeoutMs?: number; readonly expiresAtMs?: number } = {},
): Promise<WriteResult> {
  commandCounter += 1;
  const nowMs = Date.now();
  const write: DeviceWrite = {
    v: 1,
    commandId: `cmd-${commandCounter}`,
    assetId,
    setpoint,
    issuedAtMs: nowMs,
    expiresAtMs: options.expiresAtMs ?? nowMs + (options.validForMs ?? 60_000),
  };
  return arbiter.request(subjects.deviceWrite, { assetId }, write, { timeoutMs: options.timeoutMs ?? 5_000 });
}

/** The newest reading of an asset after `afterSequence`, matching `predicate`. */
export function newestReading(
  readings: readonly AssetReading[],
  assetId: string,
  predicate: (reading: AssetReading) => boolean = () => true,
): AssetReading | undefined {
  for (let i = readings.length - 1; i >= 0; i -= 1) {
    const reading = readings[i];
    if (reading?.assetId === assetId && predicate(reading)) return reading;
  }
  return undefined;
}
