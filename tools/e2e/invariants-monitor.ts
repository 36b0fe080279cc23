// The fault suite's invariant monitor: it runs for the whole suite, follows the simulator's event log (every register
// write, Peblar PATCH and step) and taps the bus (DeviceWrite requests, arbiter decisions, telemetry), and checks the
// invariants of invariants.ts over everything it saw — across restarts of every service and of NATS itself.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { subjects, type ArbiterDecision, type AssetReading, type Heartbeat } from '@voltimax/contracts';
import { NATS_DEV_PASSWORDS } from '@voltimax/testing';
import {
  checkBusWrites,
  checkDeviceWrites,
  checkGridSteps,
  SimEventSchema,
  type BusWrite,
  type SimEvent,
  type SiteLimits,
  type Violation,
} from './invariants';

/** Something the bus showed, with when the test received it (epoch ms). */
export interface Seen<T> {
  readonly receivedAtMs: number;
  readonly payload: T;
}

/** How far the test's subscriber may lag the driver or the simulator, ms (a loaded 2-core machine). */
export const ATTRIBUTION_SLACK_MS = 3_000;

export interface InvariantMonitor {
  readonly events: readonly SimEvent[];
  readonly busWrites: readonly BusWrite[];
  readonly decisions: readonly Seen<ArbiterDecision>[];
  readonly readings: readonly Seen<AssetReading>[];
  readonly heartbeats: readonly Seen<Heartbeat>[];
  /** Reads what the simulator appended to its event log since the last call. */
  poll(): void;
  /**
   * Every broken invariant so far; device writes and DeviceWrites younger than the slack are left for a later call
   * (their counterpart may still be on its way).
   */
  violations(nowMs?: number): Violation[];
  /** Device writes (register writes, PATCHes) recorded after `sinceMs`. */
  deviceWrites(sinceMs: number, assetId?: string): SimEvent[];
  close(): Promise<void>;
}

/**
 * Starts the monitor: a bus tap as user `cli` (telemetry, decisions, heartbeats), a DeviceWrite tap as a driver's
 * user (`modbus-poller` may subscribe to `device.*.write`; it never answers), and the event log reader.
 */
export async function startInvariantMonitor(opts: {
  readonly natsUrl: string;
  readonly eventsFile: string;
  readonly limits: SiteLimits;
}): Promise<InvariantMonitor> {
  const events: SimEvent[] = [];
  const busWrites: BusWrite[] = [];
  const decisions: Seen<ArbiterDecision>[] = [];
  const readings: Seen<AssetReading>[] = [];
  const heartbeats: Seen<Heartbeat>[] = [];
  const quiet = captureLogger('error').log;
  const seen =
    <T>(list: Seen<T>[]) =>
    (payload: T) =>
      void list.push({ receivedAtMs: Date.now(), payload });

  const observer: BusConnection = await connectBus({
    servers: opts.natsUrl,
    name: 'faults-observer',
    user: 'cli',
    pass: NATS_DEV_PASSWORDS.cli,
    log: quiet,
    reconnectTimeWaitMs: 250,
    reconnectJitterMs: 100,
  });
  const bus = createBus(observer.nc, quiet);
  bus.subscribe(subjects.telemetry, seen(readings));
  bus.subscribe(subjects.arbiterDecision, seen(decisions));
  bus.subscribe(subjects.health, seen(heartbeats));
  const tap: BusConnection = await connectBus({
    servers: opts.natsUrl,
    name: 'faults-write-tap',
    user: 'modbus-poller',
    pass: NATS_DEV_PASSWORDS['modbus-poller'],
    log: quiet,
    reconnectTimeWaitMs: 250,
    reconnectJitterMs: 100,
  });
  createBus(tap.nc, quiet).subscribe(subjects.deviceWrite, (write) => void busWrites.push({ receivedAtMs: Date.now(), write }));
  await Promise.all([observer.nc.flush(), tap.nc.flush()]);

  let offset = 0;
  let partial = '';
  const poll = () => {
    if (!existsSync(opts.eventsFile)) return;
    const size = statSync(opts.eventsFile).size;
    if (size <= offset) return;
    const fd = openSync(opts.eventsFile, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      readSync(fd, buffer, 0, buffer.length, offset);
      offset = size;
      const lines = (partial + buffer.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const parsed = SimEventSchema.safeParse(JSON.parse(line));
        if (parsed.success) events.push(parsed.data);
        else throw new Error(`unexpected event log line ${line}: ${parsed.error.message}`);
      }
    } finally {
      closeSync(fd);
    }
  };
  const timer = setInterval(poll, 200);

  const socAt = (atMs: number): number | undefined => {
    for (let i = readings.length - 1; i >= 0; i -= 1) {
      const r = readings[i];
      if (r && r.receivedAtMs <= atMs && r.payload.assetId === opts.limits.battery.assetId && r.payload.values.socPct !== undefined)
        return r.payload.values.socPct;
    }
    return undefined;
  };

  return {
    events,
    busWrites,
    decisions,
    readings,
    heartbeats,
    poll,
    violations(nowMs = Date.now()) {
      poll();
      const settled = nowMs - ATTRIBUTION_SLACK_MS;
      return [
        ...checkDeviceWrites(
          events.filter((e) => e.atMs <= settled),
          { limits: opts.limits, busWrites, socAt, slackMs: ATTRIBUTION_SLACK_MS },
        ),
        ...checkGridSteps(events, opts.limits),
        ...checkBusWrites(
          busWrites.filter((w) => w.receivedAtMs <= settled),
          decisions.map((d) => d.payload),
        ),
      ];
    },
    deviceWrites(sinceMs, assetId) {
      poll();
      return events.filter(
        (e) => (e.t === 'write' || e.t === 'http-write') && e.atMs > sinceMs && (assetId === undefined || e.assetId === assetId),
      );
    },
    async close() {
      clearInterval(timer);
      await Promise.allSettled([observer.nc.drain(), tap.nc.drain()]);
    },
  };
}
