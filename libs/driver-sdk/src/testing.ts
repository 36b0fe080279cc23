// Test helpers for drivers and the services built on the driver SDK (`@voltimax/driver-sdk/testing`).
import { randomUUID } from 'node:crypto';
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
  type ValueBounds,
  type WriteResult,
} from '@voltimax/contracts';
import { runService, type ServiceDefinition, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_DEV_PASSWORDS, type NatsUser } from '@voltimax/testing';
import type { z } from 'zod';

/** A HealthControl that records what it is told (status, counters, assets), for unit tests. */
export class RecordingHealth {
  readonly counters = new Map<string, number>();
  status: { readonly status: string; readonly detail?: string } = { status: 'ok' };
  assets: readonly string[] = [];

  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void {
    this.status = { status, ...(detail === undefined ? {} : { detail }) };
  }
  setCounter(name: string, value: number): void {
    this.counters.set(name, value);
  }
  incrementCounter(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }
  setAssets(ids: readonly string[]): void {
    this.assets = [...ids];
  }
  /** The counter's value, 0 when never set. */
  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }
}

/** Writes a site configuration (raw JSON) to a fresh temp folder; returns its path and a cleanup. */
export function writeSiteFile(
  site: unknown,
  prefix = 'driver-site-',
): { readonly path: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'assets.json');
  writeFileSync(path, JSON.stringify(site, null, 2));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A driver service running in this process with fake process hooks. */
export interface RunningDriver {
  readonly runtime: ServiceRuntime;
  /** Every log line, parsed. */
  readonly lines: CapturedLine[];
  stop(): Promise<void>;
}

/**
 * Runs a service in this process as `user` of docker/nats/nats.conf (heartbeat every 200 ms, no health port, debug
 * logs captured), with `env` on top; throws with its stderr and log when it does not start.
 */
export async function runDriverService<E extends z.ZodType>(
  service: ServiceDefinition<E>,
  options: { readonly natsUrl: string; readonly user: NatsUser; readonly env?: Readonly<Record<string, string>> },
): Promise<RunningDriver> {
  const lines: CapturedLine[] = [];
  const stderr: string[] = [];
  const runtime = await runService(service, {
    env: {
      NATS_URL: options.natsUrl,
      NATS_USER: options.user,
      NATS_PASS: NATS_DEV_PASSWORDS[options.user],
      HEARTBEAT_MS: '200',
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'debug',
      ...options.env,
    },
    exit: () => undefined,
    stderr: { write: (text: string) => void stderr.push(text) },
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
    logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
  });
  if (runtime === undefined)
    throw new Error(`${service.name} did not start: ${stderr.join('')}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
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

/** Connects as `user`; with `record`, subscribes to `telemetry.*` and `health.*` first. */
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

/** A device write as the arbiter sends it (request/reply), expiring `validForMs` (default 60 s) from now. */
export function sendDeviceWrite(
  arbiter: Bus,
  assetId: string,
  setpoint: Setpoint,
  options: {
    readonly validForMs?: number;
    readonly expiresAtMs?: number;
    readonly timeoutMs?: number;
    readonly commandId?: string;
    readonly intentId?: string;
    /** The arbiter's interval for the value (DeviceWrite.bounds). */
    readonly bounds?: ValueBounds;
  } = {},
): Promise<WriteResult> {
  const nowMs = Date.now();
  const write: DeviceWrite = {
    v: 1,
    commandId: options.commandId ?? `cmd-${randomUUID()}`,
    ...(options.intentId === undefined ? {} : { intentId: options.intentId }),
    assetId,
    setpoint,
    ...(options.bounds === undefined ? {} : { bounds: options.bounds }),
    issuedAtMs: nowMs,
    expiresAtMs: options.expiresAtMs ?? nowMs + (options.validForMs ?? 60_000),
  };
  return arbiter.request(subjects.deviceWrite, { assetId }, write, { timeoutMs: options.timeoutMs ?? 5_000 });
}

/** The newest reading of an asset matching `predicate`. */
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
