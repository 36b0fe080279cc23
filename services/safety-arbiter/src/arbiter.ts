import { randomUUID } from 'node:crypto';
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { Bus, Unsubscribe } from '@voltimax/bus';
import {
  INTENT_PRIORITY,
  subjects,
  type ArbiterDecision,
  type AssetReading,
  type ControlIntent,
  type DeviceWrite,
  type EmergencyStop,
  type Heartbeat,
  type Setpoint,
  type ValueBounds,
  type Violation,
} from '@voltimax/contracts';
import {
  addIntent,
  applyEstop,
  arbitrateSite,
  ESTOP_RELEASED,
  expireIntents,
  EMPTY_INTENT_TABLE,
  gridBandFromReading,
  SAFE_SETPOINT,
  selectIntent,
  setpointValue,
  staleAfterMs,
  type AppliedSetpoint,
  type ArbiterOptions,
  type AssetArbitrationResult,
  type DriverHealth,
  type EstopState,
  type IntentTable,
  type SafetyViolation,
} from '@voltimax/safety';
import { serviceTracer } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import { sendWrite, type WriteFailure, type WriteOutcome } from './device-write';
import type { ProblemHealth } from './health-problems';
import { LimitedLog } from './log-limit';
import type { ControllableAsset, SitePlan } from './site';

/** Timers, injectable so tests drive them (Jest fake timers patch the globals this default calls). */
export interface Scheduler {
  /** Run `fn` once after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
  /** Run `fn` every `ms`; returns a cancel function. */
  every(ms: number, fn: () => void): () => void;
}

/** The real timers. */
export const REAL_SCHEDULER: Scheduler = {
  after(ms, fn) {
    const timer = setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return () => clearTimeout(timer);
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

/** The arbiter's tuning, from the environment (config.ts). */
export interface ArbiterSettings {
  readonly tickMs: number;
  readonly rules: ArbiterOptions;
  /** A reading is stale after this many poll intervals of its asset (and always after `rules.maxTelemetryAgeMs`). */
  readonly staleAfterPollIntervals: number;
  /**
   * The grid meter's readings count as stale once their values (power, voltages, frequency, …) have not changed for
   * this many of its poll intervals: a frozen meter keeps answering its last values with fresh timestamps. 0 or
   * absent = off. A live meter's values change with every measurement; keep this well above 1 so that two polls
   * between two meter updates do not count.
   */
  readonly frozenMeterAfterPollIntervals?: number;
  readonly setpointValidityMs: number;
  readonly reassertMarginMs: number;
  readonly writeTimeoutMs: number;
  readonly writeAttempts: number;
  readonly writeRetryDelayMs: number;
  readonly minWriteIntervalMs: number;
  /**
   * Services whose heartbeats may claim assets (`Heartbeat.assets`). nats.conf lets each user publish only its own
   * `health.<service>`, so the subject names the sender; other services cannot pose as an asset's driver.
   */
  readonly driverServices: ReadonlySet<string>;
}

/** Dependencies of {@link startArbiter}. */
export interface ArbiterDeps {
  readonly bus: Bus;
  readonly log: Logger;
  /** Open problems make the heartbeat `degraded` (health-problems.ts). */
  readonly health: ProblemHealth;
  readonly plan: SitePlan;
  readonly settings: ArbiterSettings;
  /** Epoch ms. */
  readonly now: () => number;
  readonly scheduler?: Scheduler;
  /** Ids for DeviceWrite.commandId. */
  readonly newId?: () => string;
  /** This service's name: its own heartbeats are not driver heartbeats. */
  readonly serviceName?: string;
  /**
   * The e-stop latch is restored from stream ESTOP by the caller ({@link Arbiter.restoreEstop}); until then every
   * asset is held safe as if the e-stop were engaged (an engage from before a restart must not be lost).
   */
  readonly restoreEstop?: boolean;
}

/** Counters, also published in the heartbeat. */
export const COUNTER_NAMES = [
  'intentsReceived',
  'intentsAccepted',
  'intentsRejected',
  'intentsSourceMismatch',
  'intentsMalformed',
  'intentsSuperseded',
  'intentsExpired',
  'decisionsPublished',
  'writes',
  'reasserts',
  'writeRetries',
  'writesOk',
  'writeFailures',
  'telemetryIgnored',
  'telemetryRejected',
  'telemetryOutOfOrder',
  'heartbeatsRejected',
  'estopEvents',
  'evaluations',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

/** A running arbiter. */
export interface Arbiter {
  /** Resolves once the start-up safe writes have been answered (successfully or not). */
  readonly started: Promise<void>;
  /** Unsubscribe, stop timers, wait for writes in flight, then write the safe setpoint to every asset (best effort). */
  stop(): Promise<void>;
  counters(): Readonly<Record<CounterName, number>>;
  /** The e-stop latch as the arbiter applies it (engaged while it is still being restored). */
  estop(): EstopState;
  /**
   * Folds the e-stops kept in stream ESTOP, oldest first, into the latch (as if they had arrived live; an engage wins
   * over a release older than it) and ends the hold of {@link ArbiterDeps.restoreEstop}. The first call starts from
   * released, or from engaged when the history was `truncated` (older messages dropped: it may have begun with an
   * engage; a kept release after the last kept engage still releases), then applies the e-stops that arrived live
   * during the hold. `unavailable`: why the history could not be read (it is then empty), kept as a health problem
   * until a later call without it. Callable again; a call that changes nothing writes nothing.
   */
  restoreEstop(
    events: readonly EmergencyStop[],
    options?: { readonly truncated?: boolean; readonly unavailable?: string },
  ): void;
  /**
   * An engage the service publishes itself, to record in stream ESTOP an engage the latch holds but the stream missed.
   * Its echo on `safety.estop` is then ignored once: it must neither re-engage a latch an operator released meanwhile
   * nor re-write every safe set-point.
   */
  expectEstopEcho(message: EmergencyStop): void;
  /** Assets whose last write failed, with the failure. */
  alarms(): ReadonlyMap<string, WriteFailure>;
}

type WriteKind = 'start' | 'change' | 'force' | 'reassert' | 'retry' | 'stop';

/** The newest write the arbiter started for an asset, and what became of it. */
interface LastWrite {
  readonly write: DeviceWrite;
  /** The request the write answered (the winning intent's setpoint then). */
  readonly requested?: Setpoint;
  status: 'pending' | 'ok' | 'failed';
  doneAtMs?: number;
}

interface DriverInstance {
  readonly key: string;
  readonly lastSeenAtMs: number;
  readonly intervalMs: number;
  readonly status: Heartbeat['status'];
  readonly assets: ReadonlySet<string>;
}

interface AssetRuntime {
  readonly asset: ControllableAsset;
  readonly index: number;
  readonly log: Logger;
  last?: LastWrite;
  /**
   * The writes since the last confirmed one (in flight, timed out or failed): any of them may still have reached the
   * device, so the grid band counts them until they expire (the driver's watchdog falls back then).
   */
  unconfirmed: DeviceWrite[];
  lastDecisionKey?: string;
  /** A widening change could not be written yet (write in flight, or too soon after the last widening write). */
  deferred: boolean;
  /**
   * When the last widening change was written, epoch ms: MIN_WRITE_INTERVAL_MS is the gap between two widening
   * writes. Narrowing writes, retries and re-assertions do not count: they must not hold a widening change back.
   */
  lastWideningAtMs?: number;
  alarm?: { readonly failure: WriteFailure; readonly setpoint: Setpoint; readonly sinceMs: number; count: number };
  /**
   * Battery power, W: of all the setpoints written since the last confirmed write, and that one, the closest to 0 W
   * (0 W across a change of sign). Until `fallbackAtMs` the battery is at one of them or between: after a failed
   * write the ramp goes on from here. Undefined until a battery setpoint or the safe setpoint is confirmed.
   */
  floorW?: number;
  /**
   * The earliest expiry of the confirmed write and those since, epoch ms: from then on the driver's watchdog may have
   * put the battery in its safe state, 0 W, without a word. (A device's own keep-alive timeout shorter than the
   * setpoint validity is not covered until its reading shows it: keep SETPOINT_VALIDITY_MS below it.)
   */
  fallbackAtMs?: number;
}

const MAX_REASON = 500;
const clip = (text: string): string => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 3)}...` : text);
/** An instant for a reason a person reads: ISO 8601 (epoch ms only where Date cannot show it). */
const isoTime = (atMs: number): string => (Math.abs(atMs) <= 8.64e15 ? new Date(atMs).toISOString() : String(atMs));

function sameSetpoint(a: Setpoint, b: Setpoint): boolean {
  switch (a.kind) {
    case 'battery-power':
      return b.kind === 'battery-power' && a.powerW === b.powerW;
    case 'ev-current':
      return b.kind === 'ev-current' && a.currentA === b.currentA && a.phases === b.phases && a.session === b.session;
    case 'pv-limit':
      return b.kind === 'pv-limit' && a.maxPowerW === b.maxPowerW;
    case 'safe':
      return b.kind === 'safe';
  }
}

/** True if `next` only moves towards the safe state from `prev`: safe, or the same kind with a smaller magnitude. */
export function isNarrowing(prev: Setpoint, next: Setpoint): boolean {
  if (next.kind === 'safe') return true;
  if (prev.kind !== next.kind) return false;
  const before = setpointValue(prev);
  const after = setpointValue(next);
  return Math.abs(after) <= Math.abs(before) && Math.sign(after) * Math.sign(before) >= 0;
}

function toViolation(v: SafetyViolation): Violation {
  return {
    code: v.code,
    ...(v.limit === undefined ? {} : { limit: v.limit }),
    ...(v.value === undefined ? {} : { value: v.value }),
    ...(v.unit === undefined ? {} : { unit: v.unit }),
    ...(v.detail === undefined ? {} : { detail: v.detail }),
  };
}

/**
 * The safety arbiter: keeps the intents, the latest readings, the driver heartbeats and the e-stop latch; on every
 * event, every tick and every deadline (a reading or heartbeat going stale, an intent expiring, a setpoint due for
 * re-assertion) arbitrates all controllable assets together with `arbitrateSite`, writes what changed as
 * `device.<id>.write` requests, checks each WriteResult, and records every decision on `arbiter.decision.<id>`.
 */
export function startArbiter(deps: ArbiterDeps): Arbiter {
  const { bus, log, health, plan, settings, now } = deps;
  const scheduler = deps.scheduler ?? REAL_SCHEDULER;
  const newId = deps.newId ?? (() => `cmd-${randomUUID()}`);
  const serviceName = deps.serviceName ?? 'safety-arbiter';
  const limited = new LimitedLog(log, 10_000, now);
  const counts = Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Record<CounterName, number>;
  const count = (name: CounterName, by = 1): void => {
    counts[name] += by;
  };

  const runtimes = new Map<string, AssetRuntime>(
    plan.controllable.map((asset, index) => [
      asset.id,
      { asset, index, log: log.child({ assetId: asset.id }), deferred: false, unconfirmed: [] },
    ]),
  );
  const assetIds = [...runtimes.keys()];
  const readings = new Map<string, AssetReading>();
  /** Each asset's reading before its latest one: how the asset stood when an older grid reading was taken. */
  const previousReadings = new Map<string, AssetReading>();
  const drivers = new Map<string, DriverInstance>();
  const owners = new Map<string, string>();
  let table: IntentTable = EMPTY_INTENT_TABLE;
  let estop: EstopState = ESTOP_RELEASED;
  /** False until the latch has been restored from stream ESTOP (deps.restoreEstop): everything is held safe. */
  let estopKnown = deps.restoreEstop !== true;
  const restoring: EstopState = {
    engaged: true,
    engagedAtMs: now(),
    engagedBy: deps.serviceName ?? 'safety-arbiter',
    engagedReason: 'restoring the e-stop latch from stream ESTOP',
  };
  const effectiveEstop = (): EstopState => (estopKnown ? estop : restoring);
  /** E-stops received during the hold: applied after the kept history (re-applying one the stream also kept is a no-op). */
  const heldLive: EmergencyStop[] = [];
  let stopped = false;
  let cancelDeadline: (() => void) | undefined;
  const inFlight = new Set<Promise<void>>();

  // ---- health ------------------------------------------------------------------------------------------------

  const malformedIntents = (): number => {
    const s = bus.stats().subjects[subjects.intent.pattern];
    return s === undefined
      ? 0
      : s.droppedInvalidJson +
          s.droppedInvalidSchema +
          s.droppedInvalidSubject +
          s.droppedFromStream +
          s.droppedForeignReply;
  };
  const snapshotCounters = (): Record<CounterName, number> => ({ ...counts, intentsMalformed: malformedIntents() });
  const publishCounters = (): void => {
    for (const [name, value] of Object.entries(snapshotCounters())) health.setCounter(name, value);
  };
  const setProblem = (key: string, detail: string | undefined): void => health.setProblem(key, detail);
  if (!estopKnown) setProblem('estop-restore', 'restoring the e-stop latch from stream ESTOP; every asset held safe');

  // ---- audit -------------------------------------------------------------------------------------------------

  function publishDecision(decision: ArbiterDecision): void {
    try {
      bus.publish(subjects.arbiterDecision, { assetId: decision.assetId }, decision);
      count('decisionsPublished');
    } catch (err) {
      // We built it, so this is our bug; the write path must go on regardless.
      log.error({ err, assetId: decision.assetId }, 'decision not published');
    }
  }

  function decisionFor(
    assetId: string,
    intent: ControlIntent | undefined,
    result: Pick<AssetArbitrationResult, 'outcome' | 'setpoint' | 'violations'>,
    atMs: number,
    extra: { commandId?: string; reason?: string } = {},
  ): ArbiterDecision {
    const reason =
      extra.reason ??
      (intent === undefined ? 'no live intent: safe default' : `${intent.source} intent: ${intent.reason}`);
    return {
      v: 1,
      assetId,
      ...(intent === undefined ? {} : { intentId: intent.id, source: intent.source, requested: intent.setpoint }),
      outcome: result.outcome,
      applied: result.setpoint,
      violations: result.violations.map(toViolation),
      ...(extra.commandId === undefined ? {} : { commandId: extra.commandId }),
      atMs,
      reason: clip(reason),
    };
  }

  // ---- inputs ------------------------------------------------------------------------------------------------

  const maxAgeMs = (pollIntervalMs: number): number =>
    staleAfterMs(pollIntervalMs, {
      staleAfterPollIntervals: settings.staleAfterPollIntervals,
      maxTelemetryAgeMs: settings.rules.maxTelemetryAgeMs,
    });

  /** The grid meter's values and when they last changed (reading time), for the frozen-meter check. */
  let gridValues: { readonly key: string; readonly sinceMs: number } | undefined;
  const frozenAfterMs = (pollIntervalMs: number): number | undefined => {
    const intervals = settings.frozenMeterAfterPollIntervals ?? 0;
    return intervals > 0 ? Math.ceil(intervals * pollIntervalMs) : undefined;
  };
  const valuesKey = (values: AssetReading['values']): string =>
    JSON.stringify(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  function noteGridValues(reading: AssetReading): void {
    if (reading.quality !== 'good') return void (gridValues = undefined);
    const key = valuesKey(reading.values);
    if (gridValues?.key !== key) gridValues = { key, sinceMs: reading.atMs };
  }

  /**
   * The reading as the rules should see it: a good reading older than its asset's staleness limit is passed on as
   * `stale` (the rules then give the safe setpoint); `notes` gets the age for the audit.
   */
  function judged(
    reading: AssetReading | undefined,
    pollIntervalMs: number,
    nowMs: number,
    what: 'asset' | 'grid-meter',
    notes: Map<string, SafetyViolation>,
  ): AssetReading | undefined {
    if (reading === undefined || reading.quality !== 'good') return reading;
    const limitMs = maxAgeMs(pollIntervalMs);
    const ageMs = nowMs - reading.atMs;
    if (ageMs <= limitMs) return reading;
    notes.set(`${what} reading quality stale`, {
      code: 'stale-telemetry',
      limit: limitMs,
      value: ageMs,
      unit: 'ms',
      detail: `${what} reading age (limit: ${settings.staleAfterPollIntervals} poll intervals of ${pollIntervalMs} ms, at most ${settings.rules.maxTelemetryAgeMs} ms)`,
    });
    return { ...reading, quality: 'stale' };
  }

  /**
   * The asset's reading from when the grid was read, when its latest one is newer than the grid reading: the grid
   * reading shows the asset as it was then (a charger read at 10 A after the meter was read at 6 A would otherwise
   * free 4 A the meter never showed). Its previous reading, if good; undefined when the latest is not newer.
   */
  function readingAtGrid(
    reading: AssetReading | undefined,
    previous: AssetReading | undefined,
    grid: AssetReading | undefined,
  ): AssetReading | undefined {
    if (reading?.quality !== 'good' || grid === undefined || reading.atMs <= grid.atMs) return undefined;
    return previous?.quality === 'good' ? previous : undefined;
  }

  /**
   * The rules check the phase-current limit only on phases the grid reading shows (per-phase power or current); a
   * meter without them (or a hybrid inverter's grid power as the reading) cannot show it. Said in the health rather
   * than skipped silently: the installer should add a meter with phase values or drop `maxPhaseCurrentA`.
   */
  function notePhaseCoverage(grid: AssetReading | undefined): void {
    const maxA = plan.grid.maxPhaseCurrentA;
    if (maxA === undefined || grid === undefined || grid.quality !== 'good') return;
    const band = gridBandFromReading(grid, plan.grid);
    if (band === undefined) return;
    const missing = band.phasesA.flatMap((phase, index) => (phase === undefined ? [`L${index + 1}`] : []));
    setProblem(
      'phase-limit',
      missing.length === 0
        ? undefined
        : `phase-current limit ${maxA} A not enforced on ${missing.join(', ')}: the grid reading has no per-phase values`,
    );
  }

  function gridReading(nowMs: number, notes: Map<string, SafetyViolation>): AssetReading | undefined {
    const source = plan.gridMeter;
    if (source === undefined) return undefined;
    const reading = readings.get(source.assetId);
    if (reading === undefined) return undefined;
    const asGrid: AssetReading =
      source.from === 'grid-meter'
        ? reading
        : {
            ...reading,
            kind: 'grid-meter',
            values: reading.values.gridPowerW === undefined ? {} : { powerW: reading.values.gridPowerW },
          };
    const seen = judged(asGrid, source.pollIntervalMs, nowMs, 'grid-meter', notes);
    const limitMs = frozenAfterMs(source.pollIntervalMs);
    if (seen?.quality !== 'good' || limitMs === undefined || gridValues === undefined) return seen;
    const unchangedMs = nowMs - gridValues.sinceMs;
    if (unchangedMs <= limitMs) return seen;
    notes.set('grid-meter reading quality stale', {
      code: 'stale-telemetry',
      limit: limitMs,
      value: unchangedMs,
      unit: 'ms',
      detail: `grid-meter values unchanged (frozen meter; limit: ${settings.frozenMeterAfterPollIntervals} poll intervals of ${source.pollIntervalMs} ms)`,
    });
    return { ...seen, quality: 'stale' };
  }

  function driverFor(assetId: string): DriverHealth | undefined {
    const key = owners.get(assetId);
    const driver = key === undefined ? undefined : drivers.get(key);
    return driver === undefined
      ? undefined
      : { lastSeenAtMs: driver.lastSeenAtMs, intervalMs: driver.intervalMs, status: driver.status };
  }

  /** What the rules take as the asset's last setpoint: the newest write unless it failed (then: unknown). */
  function lastApplied(rt: AssetRuntime): AppliedSetpoint | undefined {
    const last = rt.last;
    if (last === undefined || last.status === 'failed') return undefined;
    // The ramp counts from when the driver confirmed it (a write confirmed on its third try earns no ramp time for
    // its retries), from its issue while it is in flight.
    return {
      setpoint: last.write.setpoint,
      atMs: last.doneAtMs ?? last.write.issuedAtMs,
      ...(last.requested === undefined ? {} : { requested: last.requested }),
    };
  }

  /**
   * Where the ramp starts after a failed write: the written battery power closest to 0 W since the last confirmed
   * write, tightened by the reading, now (restarting from 0 W would first drop a battery discharging 3 kW to 0 — a
   * 3 kW step at the grid connection — and ramp it back). From what the arbiter wrote: a reading only tightens it.
   */
  function rampFrom(rt: AssetRuntime, nowMs: number, reading: AssetReading | undefined): AppliedSetpoint | undefined {
    if (rt.last?.status !== 'failed' || rt.floorW === undefined || rt.asset.limits.battery === undefined)
      return undefined;
    // Past an expiry the battery may be in its safe state (0 W): from 0 W, as before — and from the re-assert margin
    // (which config keeps above a write with its retries) plus the clock skew allowed before it, since a write
    // computed now may reach the driver only then, and the driver's watchdog runs on the driver's clock.
    if (rt.fallbackAtMs === undefined) return undefined;
    if (nowMs >= rt.fallbackAtMs - settings.reassertMarginMs - settings.rules.maxClockSkewMs) return undefined;
    // A reading may tighten the start, never loosen it: a battery the device stopped by itself reads 0 W.
    const measuredW = reading?.values.powerW;
    const floorW =
      typeof measuredW === 'number' && Number.isFinite(measuredW) ? closerToZero(rt.floorW, measuredW) : rt.floorW;
    return { setpoint: { kind: 'battery-power', powerW: floorW }, atMs: nowMs };
  }

  /** The battery power a setpoint asks, W: the safe setpoint is 0 W; undefined for other kinds. */
  const batteryWOf = (setpoint: Setpoint): number | undefined =>
    setpoint.kind === 'safe' ? 0 : setpoint.kind === 'battery-power' ? setpoint.powerW : undefined;

  /** Of two battery powers, the one closer to 0 W (0 W across a change of sign). */
  const closerToZero = (a: number, b: number): number =>
    Math.sign(a) * Math.sign(b) < 0 ? 0 : Math.abs(a) <= Math.abs(b) ? a : b;

  // ---- writes ------------------------------------------------------------------------------------------------

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => scheduler.after(ms, resolve));

  function startWrite(
    rt: AssetRuntime,
    setpoint: Setpoint,
    nowMs: number,
    kind: WriteKind,
    intent: ControlIntent | undefined,
    decision: (commandId: string) => ArbiterDecision,
    bounds?: ValueBounds,
  ): string {
    const commandId = newId();
    // A setpoint never outlives the intent it executes, even if the arbiter dies: the driver falls back by then.
    const intentEndMs = intent === undefined ? Number.POSITIVE_INFINITY : intent.issuedAtMs + intent.ttlMs;
    const write: DeviceWrite = {
      v: 1,
      commandId,
      ...(intent === undefined ? {} : { intentId: intent.id }),
      assetId: rt.asset.id,
      setpoint,
      issuedAtMs: nowMs,
      expiresAtMs: Math.max(nowMs + 1, Math.min(nowMs + settings.setpointValidityMs, intentEndMs)),
      // The rules' interval: a driver that writes whole steps picks one inside it (never past a limit).
      ...(bounds === undefined || setpoint.kind === 'safe' ? {} : { bounds }),
    };
    const last: LastWrite = {
      write,
      ...(intent === undefined ? {} : { requested: intent.setpoint }),
      status: 'pending',
    };
    rt.last = last;
    rt.unconfirmed.push(write);
    const writtenW = batteryWOf(setpoint);
    if (rt.floorW !== undefined) rt.floorW = writtenW === undefined ? undefined : closerToZero(rt.floorW, writtenW);
    if (rt.fallbackAtMs !== undefined) rt.fallbackAtMs = Math.min(rt.fallbackAtMs, write.expiresAtMs);
    rt.deferred = false;
    count(kind === 'reassert' ? 'reasserts' : kind === 'retry' ? 'writeRetries' : 'writes');
    rt.log.debug({ commandId, setpoint, kind, expiresAtMs: write.expiresAtMs }, 'writing setpoint');
    const audit = decision(commandId);
    const isLatest = () => rt.last === last;
    // A span per write, child of whatever led here (the intent's or the reading's trace): the device write request
    // carries it to the driver, so one trace shows reading → strategy → arbiter → device write.
    const span = serviceTracer().startSpan(`arbiter.write ${rt.asset.id}`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        'voltimax.asset': rt.asset.id,
        'voltimax.command': commandId,
        'voltimax.write.kind': kind,
        'voltimax.decision': audit.outcome,
        ...(intent === undefined ? {} : { 'voltimax.intent': intent.id, 'voltimax.source': intent.source }),
      },
    });
    const done = context
      .with(trace.setSpan(context.active(), span), () =>
        sendWrite(write, {
          bus,
          timeoutMs: settings.writeTimeoutMs,
          attempts: kind === 'stop' ? 1 : settings.writeAttempts,
          retryDelayMs: settings.writeRetryDelayMs,
          sleep,
          stillWanted: () => (kind === 'stop' || !stopped) && isLatest(),
        }),
      )
      .then((outcome) => {
        span.setAttribute('voltimax.write.outcome', outcome.kind);
        return onWriteDone(rt, last, outcome, audit, kind);
      })
      .catch((err: unknown) => log.error({ err, assetId: rt.asset.id }, 'write bookkeeping failed'))
      .finally(() => span.end());
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return commandId;
  }

  function onWriteDone(
    rt: AssetRuntime,
    last: LastWrite,
    outcome: WriteOutcome,
    audit: ArbiterDecision,
    kind: WriteKind,
  ): void {
    const nowMs = now();
    if (outcome.kind === 'abandoned' || rt.last !== last) {
      rt.log.debug({ commandId: last.write.commandId, outcome: outcome.kind }, 'write superseded by a newer one');
      return;
    }
    last.doneAtMs = nowMs;
    if (outcome.kind === 'ok') {
      last.status = 'ok';
      rt.unconfirmed = [];
      rt.floorW = batteryWOf(last.write.setpoint);
      rt.fallbackAtMs = last.write.expiresAtMs;
      count('writesOk');
      if (rt.alarm !== undefined) {
        rt.log.info(
          { commandId: last.write.commandId, failedSinceMs: rt.alarm.sinceMs, failures: rt.alarm.count },
          'device write recovered',
        );
        rt.alarm = undefined;
        limited.reset(`write-failed|${rt.asset.id}`);
        setProblem(`write:${rt.asset.id}`, undefined);
      }
    } else {
      last.status = 'failed';
      count('writeFailures');
      const alarm = rt.alarm;
      const streakStarts =
        alarm === undefined || alarm.failure !== outcome.failure || !sameSetpoint(alarm.setpoint, last.write.setpoint);
      if (streakStarts)
        rt.alarm = { failure: outcome.failure, setpoint: last.write.setpoint, sinceMs: nowMs, count: 1 };
      else alarm.count += 1;
      limited.write(
        `write-failed|${rt.asset.id}`,
        'error',
        {
          assetId: rt.asset.id,
          commandId: last.write.commandId,
          setpoint: last.write.setpoint,
          failure: outcome.failure,
          detail: outcome.detail,
          attempts: outcome.attempts,
          kind,
          failures: rt.alarm?.count ?? 1,
        },
        'device write failed',
      );
      setProblem(`write:${rt.asset.id}`, `write to ${rt.asset.id} failed: ${outcome.failure}`);
      if (streakStarts) {
        publishDecision({
          ...audit,
          violations: [
            ...audit.violations,
            {
              code: 'write-failed',
              detail: clip(`${outcome.failure} after ${outcome.attempts} attempt(s): ${outcome.detail}`),
            },
          ],
          atMs: nowMs,
          reason: clip(`device write failed (${outcome.failure}); ${audit.reason ?? ''}`),
        });
      }
    }
    publishCounters();
    // A failure makes the last setpoint unknown (the ramp goes on from the written power closest to 0 W); a deferred
    // change may go out now.
    if (!stopped && (outcome.kind === 'failed' || [...runtimes.values()].some((r) => r.deferred)))
      evaluate('write-done');
  }

  /**
   * Writes `target` if it differs from the newest write, if the newest write failed (after a pause of one tick), if
   * its validity is about to run out, or if forced. Narrowing changes (towards safe) go out at once, even past a
   * write in flight; widening ones wait for the write in flight and for `minWriteIntervalMs` after the last widening
   * write. Returns the write's kind and commandId, or undefined when nothing was written.
   */
  function maybeWrite(
    rt: AssetRuntime,
    target: Setpoint,
    nowMs: number,
    force: boolean,
    intent: ControlIntent | undefined,
    decision: (commandId: string) => ArbiterDecision,
    bounds?: ValueBounds,
  ): { kind: WriteKind; commandId: string } | undefined {
    const last = rt.last;
    rt.deferred = false;
    const write = (kind: WriteKind) => ({
      kind,
      commandId: startWrite(rt, target, nowMs, kind, intent, decision, bounds),
    });
    if (last === undefined) return write('change');
    if (!sameSetpoint(last.write.setpoint, target)) {
      const widening = !force && !isNarrowing(last.write.setpoint, target);
      const tooSoon = rt.lastWideningAtMs !== undefined && nowMs < rt.lastWideningAtMs + settings.minWriteIntervalMs;
      if (widening && (last.status === 'pending' || tooSoon)) {
        rt.deferred = true;
        return undefined;
      }
      if (widening) rt.lastWideningAtMs = nowMs;
      return write(force ? 'force' : 'change');
    }
    if (last.status === 'pending') return undefined;
    if (force) return write('force');
    if (last.status === 'failed') {
      if (nowMs < (last.doneAtMs ?? nowMs) + settings.tickMs) return undefined;
      return write('retry');
    }
    const dueAtMs = last.write.expiresAtMs - settings.reassertMarginMs;
    const intentEndMs = intent === undefined ? Number.POSITIVE_INFINITY : intent.issuedAtMs + intent.ttlMs;
    // Re-asserting only helps if the new write would be valid for longer (not when capped by the intent's end).
    if (nowMs >= dueAtMs && Math.min(nowMs + settings.setpointValidityMs, intentEndMs) > last.write.expiresAtMs) {
      return write('reassert');
    }
    return undefined;
  }

  // ---- evaluation --------------------------------------------------------------------------------------------

  interface Evaluation {
    readonly reply?: ArbiterDecision;
    readonly winner?: ControlIntent;
  }

  /** Arbitrates every controllable asset now, writes what must be written and records the decisions. */
  function evaluate(trigger: string, opts: { intent?: ControlIntent; force?: boolean } = {}): Evaluation {
    if (stopped) return {};
    const nowMs = now();
    count('evaluations');
    const swept = expireIntents(table, nowMs);
    table = swept.table;
    if (swept.expired.length > 0) {
      count('intentsExpired', swept.expired.length);
      log.debug({ intents: swept.expired.map((i) => i.id) }, 'intents expired');
    }
    const selection = selectIntent(table.intents, nowMs, { maxClockSkewMs: settings.rules.maxClockSkewMs, assetIds });
    const winnerOf = (id: string) => selection.winners.get(id)?.intent;
    // Grid headroom goes first to the assets with the highest-priority intents (ties: assets.json order).
    const ordered = [...runtimes.values()].sort((a, b) => {
      const pa = winnerOf(a.asset.id);
      const pb = winnerOf(b.asset.id);
      const byPriority =
        (pb === undefined ? 0 : INTENT_PRIORITY[pb.source]) - (pa === undefined ? 0 : INTENT_PRIORITY[pa.source]);
      return byPriority !== 0 ? byPriority : a.index - b.index;
    });
    const gridNotes = new Map<string, SafetyViolation>();
    const grid = gridReading(nowMs, gridNotes);
    notePhaseCoverage(grid);
    const notesPerAsset = new Map<string, Map<string, SafetyViolation>>();
    const results = arbitrateSite({
      assets: ordered.map((rt) => {
        const notes = new Map(gridNotes);
        notesPerAsset.set(rt.asset.id, notes);
        // Without an intent the arbiter asks for the safe default itself, so the audit still names every fault.
        const requested = winnerOf(rt.asset.id)?.setpoint ?? SAFE_SETPOINT;
        const reading = judged(readings.get(rt.asset.id), rt.asset.pollIntervalMs, nowMs, 'asset', notes);
        const atGrid = readingAtGrid(reading, previousReadings.get(rt.asset.id), grid);
        const lastSet = lastApplied(rt);
        const rampStart = rampFrom(rt, nowMs, reading);
        const driver = driverFor(rt.asset.id);
        rt.unconfirmed = rt.unconfirmed.filter((w) => w.expiresAtMs > nowMs);
        return {
          asset: rt.asset.limits,
          requested,
          ...(reading === undefined ? {} : { reading }),
          ...(atGrid === undefined ? {} : { readingAtGrid: atGrid }),
          ...(lastSet === undefined ? {} : { lastApplied: lastSet }),
          ...(rt.unconfirmed.length === 0 ? {} : { mayStillLand: rt.unconfirmed.map((w) => w.setpoint) }),
          ...(rampStart === undefined ? {} : { rampFrom: rampStart }),
          ...(driver === undefined ? {} : { driver }),
        };
      }),
      grid: { limits: plan.grid, ...(grid === undefined ? {} : { reading: grid }) },
      estop: effectiveEstop(),
      nowMs,
      options: settings.rules,
    });

    let reply: ArbiterDecision | undefined;
    ordered.forEach((rt, i) => {
      const raw = results[i];
      if (raw === undefined) return;
      const notes = notesPerAsset.get(rt.asset.id) ?? new Map<string, SafetyViolation>();
      const winner = winnerOf(rt.asset.id);
      const result = {
        ...raw,
        // No intent: the safe default is what applies, whether or not a fault forces it too.
        outcome: winner === undefined ? ('safe' as const) : raw.outcome,
        // Replace "reading quality stale" by the age and limit when the arbiter itself judged the reading stale.
        violations: raw.violations.map((v) =>
          v.code === 'stale-telemetry' && v.detail !== undefined ? (notes.get(v.detail) ?? v) : v,
        ),
      };
      const isReply = opts.intent !== undefined && opts.intent.assetId === rt.asset.id && winner?.id === opts.intent.id;
      const decision = (commandId?: string) =>
        decisionFor(rt.asset.id, winner, result, nowMs, commandId === undefined ? {} : { commandId });
      const written = maybeWrite(rt, result.setpoint, nowMs, opts.force === true, winner, decision, raw.bounds);
      // Not the EV hold's note: it comes and goes as the value touches the kept current, with nothing written.
      const codes = result.violations.map((v) => v.code).filter((code) => code !== 'ev-limit-hold');
      const key = JSON.stringify([winner?.id, result.outcome, result.setpoint, codes]);
      const audited = written !== undefined && (written.kind === 'change' || written.kind === 'force');
      if (isReply) {
        reply = decision(written?.commandId);
        publishDecision(reply);
        rt.lastDecisionKey = key;
      } else if (audited || (key !== rt.lastDecisionKey && !rt.deferred)) {
        publishDecision(decision(audited ? written.commandId : undefined));
        rt.lastDecisionKey = key;
      }
      if (written !== undefined && written.kind !== 'reassert' && written.kind !== 'retry') {
        rt.log.debug(
          { trigger, outcome: result.outcome, setpoint: result.setpoint, codes: result.violations.map((v) => v.code) },
          'setpoint changed',
        );
      }
    });
    scheduleDeadline(nowMs);
    const opened = opts.intent === undefined ? undefined : winnerOf(opts.intent.assetId);
    return { ...(reply === undefined ? {} : { reply }), ...(opened === undefined ? {} : { winner: opened }) };
  }

  /** The next instant something changes by itself: a reading or heartbeat ages out, an intent ends, a write is due. */
  function scheduleDeadline(nowMs: number): void {
    let next = Number.POSITIVE_INFINITY;
    const consider = (atMs: number) => {
      if (atMs > nowMs && atMs < next) next = atMs;
    };
    const staleAt = (reading: AssetReading | undefined, pollIntervalMs: number) => {
      if (reading !== undefined && reading.quality === 'good') consider(reading.atMs + maxAgeMs(pollIntervalMs) + 1);
    };
    if (plan.gridMeter !== undefined) {
      staleAt(readings.get(plan.gridMeter.assetId), plan.gridMeter.pollIntervalMs);
      const frozenMs = frozenAfterMs(plan.gridMeter.pollIntervalMs);
      if (frozenMs !== undefined && gridValues !== undefined) consider(gridValues.sinceMs + frozenMs + 1);
    }
    for (const rt of runtimes.values()) {
      staleAt(readings.get(rt.asset.id), rt.asset.pollIntervalMs);
      const driver = driverFor(rt.asset.id);
      if (driver !== undefined) consider(driver.lastSeenAtMs + settings.rules.missedHeartbeats * driver.intervalMs + 1);
      const last = rt.last;
      if (last?.status === 'ok') consider(last.write.expiresAtMs - settings.reassertMarginMs);
      if (last?.status === 'failed') consider((last.doneAtMs ?? nowMs) + settings.tickMs);
      if (rt.deferred && rt.lastWideningAtMs !== undefined) consider(rt.lastWideningAtMs + settings.minWriteIntervalMs);
    }
    for (const intent of table.intents) consider(intent.issuedAtMs + intent.ttlMs);
    cancelDeadline?.();
    cancelDeadline = undefined;
    if (next < nowMs + settings.tickMs) cancelDeadline = scheduler.after(next - nowMs, () => evaluate('deadline'));
  }

  // ---- handlers ----------------------------------------------------------------------------------------------

  function onIntent(
    intent: ControlIntent,
    subject: { readonly source: string; readonly assetId: string },
  ): ArbiterDecision {
    count('intentsReceived');
    const nowMs = now();
    const subjectAssetId = subject.assetId;
    const reject = (code: string, detail: string, level: 'warn' | 'error' = 'warn'): ArbiterDecision => {
      count('intentsRejected');
      limited.write(
        `intent-rejected|${code}`,
        level,
        {
          assetId: subjectAssetId,
          intentId: intent.id,
          source: intent.source,
          subjectSource: subject.source,
          code,
          detail,
        },
        'intent rejected',
      );
      const decision: ArbiterDecision = {
        v: 1,
        assetId: subjectAssetId,
        intentId: intent.id,
        source: intent.source,
        outcome: 'rejected',
        requested: intent.setpoint,
        violations: [{ code, detail: clip(detail) }],
        atMs: nowMs,
        reason: clip(`${code}: ${detail}`),
      };
      publishDecision(decision);
      return decision;
    };
    if (stopped) return reject('arbiter-stopping', 'the arbiter is shutting down');
    // nats.conf grants each source's subjects only to its publishers; the subject, not the payload, says who may
    // claim what. A mismatch is a bug or a publisher claiming a priority it was not granted: a human should look.
    if (intent.source !== subject.source) {
      count('intentsSourceMismatch');
      return reject(
        'source-mismatch',
        `intent claims source ${intent.source} but was sent on the subject of source ${subject.source}`,
        'error',
      );
    }
    if (intent.assetId !== subjectAssetId) {
      return reject('asset-mismatch', `intent for ${intent.assetId} sent on the subject of ${subjectAssetId}`);
    }
    const rt = runtimes.get(intent.assetId);
    if (rt === undefined) {
      return plan.enabled.has(intent.assetId)
        ? reject('not-controllable', `asset ${intent.assetId} takes no setpoints`)
        : reject('unknown-asset', `asset ${intent.assetId} is not an enabled asset of this site`);
    }
    if (intent.setpoint.kind !== 'safe' && !rt.asset.accepts.includes(intent.setpoint.kind)) {
      return reject(
        'unsupported-setpoint',
        `asset ${intent.assetId} takes ${rt.asset.accepts.join(', ') || 'no setpoints'}, not ${intent.setpoint.kind}`,
      );
    }
    const update = addIntent(table, intent, nowMs, { maxClockSkewMs: settings.rules.maxClockSkewMs });
    table = update.table;
    const refused = update.rejected.find((r) => r.intent.id === intent.id);
    if (refused !== undefined) return reject(refused.reason, refused.detail);
    for (const old of update.superseded) {
      if (old.id === intent.id) continue;
      count('intentsSuperseded');
      publishDecision({
        v: 1,
        assetId: old.assetId,
        intentId: old.id,
        source: old.source,
        outcome: 'superseded',
        requested: old.setpoint,
        violations: [],
        atMs: nowMs,
        reason: clip(`superseded by ${intent.source} intent ${intent.id}`),
      });
    }
    if (!update.accepted) {
      count('intentsSuperseded');
      const decision: ArbiterDecision = {
        v: 1,
        assetId: intent.assetId,
        intentId: intent.id,
        source: intent.source,
        outcome: 'superseded',
        requested: intent.setpoint,
        violations: [],
        atMs: nowMs,
        reason: 'superseded on arrival: a newer intent from the same source is already held',
      };
      publishDecision(decision);
      return decision;
    }
    count('intentsAccepted');
    const evaluation = evaluate('intent', { intent });
    if (evaluation.reply !== undefined) return evaluation.reply;
    const winner = evaluation.winner;
    const decision: ArbiterDecision = {
      v: 1,
      assetId: intent.assetId,
      intentId: intent.id,
      source: intent.source,
      outcome: 'superseded',
      requested: intent.setpoint,
      violations: [],
      atMs: nowMs,
      reason: clip(
        winner === undefined
          ? 'not applied: no longer live'
          : `outranked by ${winner.source} intent ${winner.id}; held until ${isoTime(intent.issuedAtMs + intent.ttlMs)} and applied if that ends first`,
      ),
    };
    publishDecision(decision);
    return decision;
  }

  function onReading(reading: AssetReading, subjectAssetId: string): void {
    if (reading.assetId !== subjectAssetId) {
      count('telemetryRejected');
      limited.write(
        'telemetry-mismatch',
        'warn',
        { subject: subjectAssetId, assetId: reading.assetId },
        'reading dropped: asset id differs from subject',
      );
      return;
    }
    const asset = plan.enabled.get(reading.assetId);
    if (asset === undefined) {
      count('telemetryIgnored');
      return;
    }
    if (asset.kind !== reading.kind) {
      count('telemetryRejected');
      limited.write(
        'telemetry-kind',
        'warn',
        { assetId: reading.assetId, kind: reading.kind, configured: asset.kind },
        'reading dropped: kind differs from assets.json',
      );
      return;
    }
    // A reading older than the one held (reordered on the bus, two driver instances during a hand-over) would put
    // old values in place of newer ones. A held reading from the future (a clock ahead) does not block the rest.
    const held = readings.get(reading.assetId);
    if (held !== undefined && reading.atMs < held.atMs && held.atMs <= now() + settings.rules.maxClockSkewMs) {
      count('telemetryOutOfOrder');
      limited.write(
        'telemetry-order',
        'warn',
        { assetId: reading.assetId, atMs: reading.atMs, heldAtMs: held.atMs },
        'reading dropped: older than the one held',
      );
      return;
    }
    if (held !== undefined && held.atMs < reading.atMs) previousReadings.set(reading.assetId, held);
    readings.set(reading.assetId, reading);
    if (plan.gridMeter?.assetId === reading.assetId) noteGridValues(reading);
    if (runtimes.has(reading.assetId) || plan.gridMeter?.assetId === reading.assetId) evaluate('telemetry');
  }

  function onHeartbeat(heartbeat: Heartbeat, subjectService: string): void {
    if (heartbeat.service !== subjectService) {
      count('heartbeatsRejected');
      limited.write(
        'heartbeat-mismatch',
        'warn',
        { subject: subjectService, service: heartbeat.service },
        'heartbeat dropped: service differs from subject',
      );
      return;
    }
    if (heartbeat.service === serviceName) return;
    if (!settings.driverServices.has(heartbeat.service)) {
      if ((heartbeat.assets?.length ?? 0) > 0) {
        count('heartbeatsRejected');
        limited.write(
          `heartbeat-not-driver|${heartbeat.service}`,
          'warn',
          { service: heartbeat.service, assets: heartbeat.assets },
          'heartbeat claims assets but its service is not a driver; ignored',
        );
      }
      return;
    }
    const nowMs = now();
    const key = `${heartbeat.service}/${heartbeat.instanceId}`;
    const previous = drivers.get(key);
    const assets = new Set(heartbeat.assets ?? []);
    drivers.set(key, { key, lastSeenAtMs: nowMs, intervalMs: heartbeat.intervalMs, status: heartbeat.status, assets });
    for (const assetId of assets) {
      const before = owners.get(assetId);
      if (before !== key && runtimes.has(assetId)) log.info({ assetId, driver: key, before }, 'asset driver changed');
      owners.set(assetId, key);
    }
    for (const assetId of previous?.assets ?? []) {
      if (!assets.has(assetId) && owners.get(assetId) === key) owners.delete(assetId);
    }
    // Forget instances that own nothing and fell silent long ago (restarts get new instance ids).
    for (const [other, driver] of drivers) {
      const silentMs = nowMs - driver.lastSeenAtMs;
      if (![...owners.values()].includes(other) && silentMs > 10 * settings.rules.missedHeartbeats * driver.intervalMs)
        drivers.delete(other);
    }
    if ([...assets, ...(previous?.assets ?? [])].some((id) => runtimes.has(id))) evaluate('heartbeat');
  }

  /** Engages this arbiter published itself (see `expectEstopEcho`), whose echo is still to come. */
  const echoes: EmergencyStop[] = [];
  const sameEstop = (a: EmergencyStop, b: EmergencyStop): boolean =>
    a.action === b.action && a.by === b.by && a.reason === b.reason && a.atMs === b.atMs;

  function onEstop(received: EmergencyStop): void {
    const echo = echoes.findIndex((e) => sameEstop(e, received));
    if (echo >= 0) {
      echoes.splice(echo, 1);
      log.debug({ by: received.by, atMs: received.atMs }, 'own record of the engaged e-stop came back; ignored');
      return;
    }
    count('estopEvents');
    // Never later than now: an engage stamped in the future by a wrong clock would ignore every release until then.
    const nowMs = now();
    const message = received.atMs > nowMs ? { ...received, atMs: nowMs } : received;
    if (!estopKnown) {
      heldLive.push(message);
      log.info({ action: message.action, by: message.by }, 'e-stop received while the latch is being restored');
      return;
    }
    const before = estop;
    estop = applyEstop(estop, message);
    if (message.action === 'engage') {
      if (!before.engaged)
        log.error({ by: message.by, reason: message.reason, atMs: message.atMs }, 'emergency stop engaged');
      else
        log.warn({ by: message.by, reason: message.reason }, 'emergency stop engaged again; re-writing safe setpoints');
      setProblem('estop', clip(`emergency stop engaged by ${estop.engagedBy ?? message.by}`));
      evaluate('estop', { force: true });
      return;
    }
    if (before.engaged && !estop.engaged) {
      log.warn(
        { by: message.by, reason: message.reason, engagedForMs: message.atMs - (before.engagedAtMs ?? message.atMs) },
        'emergency stop released',
      );
      setProblem('estop', undefined);
      evaluate('estop');
      return;
    }
    log.warn(
      { by: message.by, atMs: message.atMs, engaged: estop.engaged, engagedAtMs: estop.engagedAtMs },
      estop.engaged
        ? 'emergency stop release ignored: older than the engage'
        : 'emergency stop release ignored: not engaged',
    );
  }

  // ---- start -------------------------------------------------------------------------------------------------

  const unsubscribes: Unsubscribe[] = [
    bus.reply(subjects.intent, (intent, ctx) => onIntent(intent, ctx.params)),
    bus.subscribe(subjects.telemetry, (reading, ctx) => onReading(reading, ctx.params.assetId)),
    bus.subscribe(subjects.health, (heartbeat, ctx) => onHeartbeat(heartbeat, ctx.params.service)),
    bus.subscribe(subjects.estop, (message) => onEstop(message)),
  ];

  // Start in the safe state: whatever the assets were doing before, they get the safe setpoint first.
  const startNowMs = now();
  for (const rt of runtimes.values()) {
    const result = { outcome: 'safe' as const, setpoint: SAFE_SETPOINT, violations: [] };
    const reason = 'start-up: safe setpoint until fresh telemetry, driver heartbeats and intents arrive';
    startWrite(rt, SAFE_SETPOINT, startNowMs, 'start', undefined, (commandId) => {
      const decision = decisionFor(rt.asset.id, undefined, result, startNowMs, { commandId, reason });
      publishDecision(decision);
      return decision;
    });
    rt.lastDecisionKey = JSON.stringify([undefined, 'safe', SAFE_SETPOINT, []]);
  }
  const started = Promise.allSettled([...inFlight]).then(() => {
    const failed = [...runtimes.values()].filter((rt) => rt.alarm !== undefined).map((rt) => rt.asset.id);
    log.info({ assets: assetIds, failed }, 'start-up safe setpoints written');
  });
  const cancelTick = scheduler.every(settings.tickMs, () => {
    publishCounters();
    evaluate('tick');
  });
  publishCounters();

  return {
    started,
    async stop() {
      if (stopped) return;
      stopped = true;
      cancelTick();
      cancelDeadline?.();
      for (const off of unsubscribes) off();
      await Promise.allSettled([...inFlight]);
      // Hand the assets back to their safe default rather than leave the last setpoint running until it expires.
      const nowMs = now();
      for (const rt of runtimes.values()) {
        const result = { outcome: 'safe' as const, setpoint: SAFE_SETPOINT, violations: [] };
        startWrite(rt, SAFE_SETPOINT, nowMs, 'stop', undefined, (commandId) => {
          const decision = decisionFor(rt.asset.id, undefined, result, nowMs, {
            commandId,
            reason: 'arbiter stopping: safe setpoint',
          });
          publishDecision(decision);
          return decision;
        });
      }
      await Promise.allSettled([...inFlight]);
      publishCounters();
    },
    counters: snapshotCounters,
    estop: effectiveEstop,
    expectEstopEcho(message) {
      // a record tried again after a refusal is the same message: one echo is expected at a time
      if (echoes.some((e) => sameEstop(e, message))) return;
      echoes.push(message);
      // an echo that never came (a lost message) does not stay forever
      if (echoes.length > 4) echoes.shift();
    },
    restoreEstop(events, options = {}) {
      if (stopped) return;
      const first = !estopKnown;
      const before = effectiveEstop();
      if (first && options.truncated === true) {
        estop = {
          engaged: true,
          engagedBy: 'unknown (before the kept e-stop history)',
          engagedReason: 'older e-stops were dropped from stream ESTOP; it may have been engaged',
        };
      }
      for (const event of events) estop = applyEstop(estop, event);
      if (first) for (const event of heldLive.splice(0)) estop = applyEstop(estop, event);
      estopKnown = true;
      setProblem(
        'estop-restore',
        options.unavailable === undefined ? undefined : clip(`e-stop latch not restored: ${options.unavailable}`),
      );
      if (!first && estop.engaged === before.engaged) return;
      if (estop.engaged) {
        setProblem('estop', clip(`emergency stop engaged by ${estop.engagedBy ?? 'unknown'}`));
        log.error(
          { by: estop.engagedBy, reason: estop.engagedReason, atMs: estop.engagedAtMs, kept: events.length },
          'emergency stop engaged (restored from stream ESTOP)',
        );
        evaluate('estop', { force: true });
        return;
      }
      setProblem('estop', undefined);
      log.info(
        { kept: events.length, ...(options.unavailable === undefined ? {} : { unavailable: options.unavailable }) },
        'e-stop latch restored: released',
      );
      if (before.engaged) evaluate('estop');
    },
    alarms: () =>
      new Map(
        [...runtimes.values()].flatMap((rt) =>
          rt.alarm === undefined ? [] : [[rt.asset.id, rt.alarm.failure] as const],
        ),
      ),
  };
}
