import type { Bus } from '@voltimax/bus';
import type { Measurements } from '@voltimax/contracts';
import { createReadingPublisher, type ReadingFields, type ReadingPublisher } from '@voltimax/driver-sdk/plumbing';
import type { Logger } from 'pino';
import type { Health } from './counters';
import type { MeterValues } from './protocol/adapter';
import type { ConnectorState, Station } from './station';

/** What decides a connector's reading besides its own state. */
export interface ReadingContext {
  readonly identity: string;
  readonly connected: boolean;
  readonly disconnectedAtMs: number | undefined;
  readonly lastSeenAtMs: number | undefined;
  /** Meter values of a running session older than this make the reading `stale`, ms. */
  readonly meterStaleMs: number;
  /** A charge point silent (no message at all) for longer than this is `stale`, ms. */
  readonly silentStaleMs: number;
}

export type { ReadingFields };

/** States in which the EV draws nothing whatever the meter said last (suspended: EV or EVSE not charging). */
const IDLE_STATES = new Set(['available', 'preparing', 'suspended', 'finishing', 'unavailable', 'faulted']);

function measured(values: MeterValues): Measurements {
  const out: Measurements = {};
  const copy = <K extends keyof Measurements & keyof MeterValues>(key: K) => {
    const value = values[key];
    if (value !== undefined) (out as Record<string, number>)[key] = value;
  };
  for (const key of [
    'powerW',
    'powerL1W',
    'powerL2W',
    'powerL3W',
    'currentL1A',
    'currentL2A',
    'currentL3A',
    'voltageL1V',
    'voltageL2V',
    'voltageL3V',
    'importEnergyWh',
    'socPct',
    'temperatureC',
    'frequencyHz',
  ] as const) {
    copy(key);
  }
  const phaseCurrents = [values.currentL1A, values.currentL2A, values.currentL3A].filter((a): a is number => a !== undefined);
  if (phaseCurrents.length > 1) {
    const inUse = phaseCurrents.filter((a) => a >= 1).length;
    if (inUse === 1 || inUse === 2 || inUse === 3) out.phases = inUse;
  }
  return out;
}

/**
 * Pure: the reading of one connector at `nowMs`.
 * - `error`, no values: the asset cannot be driven, the charge point is not connected, or its last message about the
 *   connector was refused (CALLERROR); `error` says which.
 * - `error` with the usable values: the last meter values had implausible ones (dropped, named in `error`).
 * - `stale` with the last values and **their** time: a session runs but no meter values came for `meterStaleMs`, or
 *   the charge point has been silent for `silentStaleMs`.
 * - `good`: connected and current. `atMs` is now (the central system holds the live state: status and sessions are
 *   pushed by the charger); power comes from the last meter values of the session, 0 W in a state without charging
 *   (available, preparing, suspended, finishing, unavailable, faulted).
 */
export function connectorReading(connector: ConnectorState, ctx: ReadingContext, nowMs: number): ReadingFields {
  const { asset } = connector;
  if (!asset.profile.ok) return { atMs: nowMs, quality: 'error', values: {}, error: asset.profile.reason };
  if (!ctx.connected) {
    const since = ctx.disconnectedAtMs === undefined ? 'since start' : `for ${Math.round((nowMs - ctx.disconnectedAtMs) / 1000)} s`;
    return { atMs: nowMs, quality: 'error', values: {}, error: `charge point '${ctx.identity}' not connected ${since}` };
  }
  const state = connector.status?.state;
  const chargerState = state === undefined ? {} : { chargerState: state };
  const issue = connector.issue;
  if (issue?.kind === 'protocol') return { atMs: nowMs, quality: 'error', values: {}, error: issue.text, ...chargerState };

  const transaction = connector.transaction;
  const meter = connector.meter;
  const values: Measurements = meter === undefined ? {} : measured(meter.values);
  if (connector.limit?.confirmed === true) values.currentLimitA = connector.limit.currentA;
  if (meter?.values.currentOfferedA !== undefined) values.currentLimitA = meter.values.currentOfferedA;
  const sessionStartWh = transaction?.meterStartWh;
  const registerWh = meter?.values.importEnergyWh;
  if (transaction !== undefined && sessionStartWh !== undefined && registerWh !== undefined && registerWh >= sessionStartWh) {
    values.sessionEnergyWh = registerWh - sessionStartWh;
  }
  // Unknown state (e.g. just re-connected after our restart): no claim about the power until the charger says.
  const idle = state !== undefined && IDLE_STATES.has(state);
  if (idle) {
    values.powerW = 0;
    for (const key of ['powerL1W', 'powerL2W', 'powerL3W', 'currentL1A', 'currentL2A', 'currentL3A'] as const) delete values[key];
  }
  if (issue?.kind === 'implausible') {
    return { atMs: nowMs, quality: 'error', values, error: issue.text, ...chargerState };
  }
  const silentMs = ctx.lastSeenAtMs === undefined ? 0 : nowMs - ctx.lastSeenAtMs;
  if (silentMs > ctx.silentStaleMs) {
    return {
      atMs: ctx.lastSeenAtMs ?? nowMs,
      quality: 'stale',
      values,
      error: `charge point silent for ${Math.round(silentMs / 1000)} s`,
      ...chargerState,
    };
  }
  if (transaction !== undefined && !idle) {
    const ageMs = meter === undefined ? Number.POSITIVE_INFINITY : nowMs - meter.atMs;
    const sessionAgeMs = transaction.startedAtMs === undefined ? Number.POSITIVE_INFINITY : nowMs - transaction.startedAtMs;
    if (ageMs > ctx.meterStaleMs && sessionAgeMs > ctx.meterStaleMs) {
      return {
        atMs: meter?.atMs ?? transaction.startedAtMs ?? nowMs,
        quality: 'stale',
        values,
        error: meter === undefined ? 'no meter values in this session' : `no meter values for ${Math.round(ageMs / 1000)} s`,
        ...chargerState,
      };
    }
  }
  return { atMs: nowMs, quality: 'good', values, ...chargerState };
}

/** Dependencies of {@link startTelemetry}. */
export interface TelemetryOptions {
  readonly bus: Bus;
  readonly log: Logger;
  readonly health: Health;
  readonly stations: ReadonlyMap<string, Station>;
  readonly meterStaleMs: number;
  readonly silentStaleMs: number;
  readonly now: () => number;
}

/** The running publisher. */
export interface Telemetry {
  /** Publish the readings of these assets now (state changed). */
  publish(assetIds: readonly string[]): void;
  /** Assets whose last reading was not good, with the reason. */
  problems(): ReadonlyMap<string, string>;
  stop(): void;
}

/**
 * Publishes `telemetry.<assetId>` for every charger: every `pollIntervalMs` of the asset, and at once when its state
 * changes (status, session, meter values, connection). `sequence` counts the asset's readings from 0.
 */
export function startTelemetry(opts: TelemetryOptions): Telemetry {
  const targets = new Map<string, { station: Station; connector: ConnectorState; readings: ReadingPublisher; timer?: NodeJS.Timeout }>();
  for (const station of opts.stations.values()) {
    for (const connector of station.connectors.values()) {
      const { assetId, pollIntervalMs } = connector.asset;
      const readings = createReadingPublisher({
        bus: opts.bus,
        asset: { id: assetId, kind: 'ev-charger', pollIntervalMs },
        log: opts.log.child({ assetId }),
        now: opts.now,
        onPublishFailed: () => opts.health.incrementCounter('telemetryPublishFailures'),
      });
      targets.set(assetId, { station, connector, readings });
    }
  }
  const problems = new Map<string, string>();
  let stopped = false;

  const publishOne = (assetId: string): void => {
    const target = targets.get(assetId);
    if (target === undefined || stopped) return;
    const { station, connector } = target;
    const fields = connectorReading(
      connector,
      {
        identity: station.identity,
        connected: station.connected,
        disconnectedAtMs: station.disconnectedAtMs,
        lastSeenAtMs: station.lastSeenAtMs,
        meterStaleMs: opts.meterStaleMs,
        silentStaleMs: opts.silentStaleMs,
      },
      opts.now(),
    );
    target.readings.publish(fields);
    if (fields.quality === 'stale') opts.health.incrementCounter('staleReadings');
    if (fields.quality === 'good') problems.delete(assetId);
    else problems.set(assetId, fields.error ?? fields.quality);
  };

  for (const [assetId, target] of targets) {
    const tick = () => {
      if (stopped) return;
      publishOne(assetId);
      target.timer = setTimeout(tick, target.connector.asset.pollIntervalMs);
    };
    tick();
  }
  return {
    publish: (assetIds) => assetIds.forEach(publishOne),
    problems: () => problems,
    stop() {
      stopped = true;
      for (const target of targets.values()) if (target.timer !== undefined) clearTimeout(target.timer);
    },
  };
}
