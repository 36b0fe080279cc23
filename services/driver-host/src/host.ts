import type { ResourceLimits, Worker } from 'node:worker_threads';
import type { Bus, BusTransport } from '@voltimax/bus';
import type { Setpoint, ValueBounds } from '@voltimax/contracts';
import {
  assetCounter,
  createPollLoop,
  createReadingPublisher,
  type PollLoop,
  startWritePath,
  type ReadingPublisher,
  type WriteOutcome,
  type WritePath,
} from '@voltimax/driver-sdk/plumbing';
import type { Logger } from 'pino';
import {
  startDriverProcess,
  stateReason,
  type CallOutcome,
  type DriverInfo,
  type DriverProcess,
  type DriverState,
  type DriverTiming,
  type FailureKind,
} from './driver-process';
import type { DriverPlan, HostPlan, PluginAsset } from './plan';
import {
  DriverSampleSchema,
  WriteOutcomeSchema,
  describeIssues,
  short,
  type ParsedHealth,
  type WorkerInit,
} from './protocol';

/** The part of service-kit's HealthControl the host uses. */
export interface HostHealth {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
  setAssets(assetIds: readonly string[]): void;
}

export interface HostSettings {
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly staleAfterIntervals: number;
  readonly timing: DriverTiming;
  readonly resourceLimits: ResourceLimits;
}

export interface HostOptions {
  readonly plan: HostPlan;
  readonly bus: Pick<Bus, 'publish'>;
  /** The raw transport for the write path (writes of assets not ours are skipped unparsed). */
  readonly transport: BusTransport;
  readonly log: Logger;
  readonly health: HostHealth;
  /** Epoch ms. */
  readonly now: () => number;
  readonly settings: HostSettings;
  readonly spawn: (init: WorkerInit, resourceLimits: ResourceLimits) => Worker;
}

/** The running host. */
export interface Host {
  /** The driver processes by name (for tests and the startup summary). */
  readonly drivers: ReadonlyMap<string, DriverProcess>;
  stop(): Promise<void>;
}

/** Counters set to 0 at start (besides the write path's and the per-driver/per-asset ones). */
export const HOST_COUNTERS = [
  'drivers',
  'driversRunning',
  'driverStarts',
  'driverCrashes',
  'driverHangs',
  'driverStartFailures',
  'configErrors',
  'reads',
  'readErrors',
  'readTimeouts',
  'samplesRejected',
  'pushes',
  'foreignPushes',
  'pushesDropped',
  'staleReadings',
  'writeOutcomesRejected',
  'workerGarbage',
  'driverLogsDropped',
  'assetsInError',
] as const;

/** A sample stamped further in the future than this is refused (a driver with a broken clock or unit). */
const MAX_FUTURE_MS = 5_000;
/** Pushed samples accepted per asset and second; beyond: dropped and counted (a driver pushing in a loop). */
const MAX_PUSHES_PER_SECOND = 20;
const FAILURE_COUNTER: Readonly<Record<FailureKind, string>> = {
  crash: 'driverCrashes',
  hang: 'driverHangs',
  start: 'driverStartFailures',
};

interface DriverRun {
  readonly plan: DriverPlan;
  readonly log: Logger;
  process: DriverProcess | undefined;
  /** Why the driver cannot run at all (module not found): no thread is started. */
  readonly refused: string | undefined;
  /** What the driver declared when it last started (kept across restarts: writes are refused early). */
  info: DriverInfo | undefined;
  health: ParsedHealth | undefined;
  healthError: string | undefined;
  failures: number;
}

interface AssetRun {
  readonly asset: PluginAsset;
  readonly log: Logger;
  readonly publisher: ReadingPublisher;
  readonly driver: DriverRun | undefined;
  /** Why this asset cannot be driven (driver disabled, options refused by the driver). */
  problem: string | undefined;
  readonly loop: PollLoop;
  /** The first tick waits a little, so that many assets do not all read at once. */
  firstTick: NodeJS.Timeout | undefined;
  /** Host time of the last accepted sample (read or pushed). */
  lastSampleMs: number | undefined;
  pushWindowMs: number;
  pushCount: number;
}

/**
 * Runs the site's protocol plugins: one worker thread per driver (startDriverProcess), a poll loop per asset at its
 * pollIntervalMs, pushed samples, every sample validated before `telemetry.<assetId>`, `error` readings naming the
 * reason while an asset cannot be read, `device.<assetId>.write` through the shared write path (set-point kinds the
 * driver does not list are refused; the watchdog's safe set-point goes through the driver too), and the service
 * status naming every driver that is down and every asset in error.
 */
export function startHost(opts: HostOptions): Host {
  const { plan, health, now, settings, log } = opts;
  for (const name of HOST_COUNTERS) health.setCounter(name, 0);
  health.setCounter('drivers', plan.drivers.length);
  health.setAssets(plan.assets.map((a) => a.id));
  let stopped = false;
  const reportedProblems = new Set<string>();
  const inError = new Set<string>();
  let reportedStatus = '';

  const drivers = new Map<string, DriverRun>();
  const runs = new Map<string, AssetRun>();

  function updateStatus(): void {
    const parts: string[] = [];
    for (const run of drivers.values()) {
      const reason =
        run.refused ?? (run.process === undefined ? undefined : stateReason(run.plan.name, run.process.state));
      if (reason !== undefined) parts.push(reason);
      else if (run.health !== undefined && run.health.state !== 'ok') {
        parts.push(
          `driver '${run.plan.name}' reports ${run.health.state}${run.health.detail === undefined ? '' : `: ${run.health.detail}`}`,
        );
      } else if (run.healthError !== undefined) parts.push(`driver '${run.plan.name}' ${run.healthError}`);
    }
    if (inError.size > 0) parts.push(`assets in error: ${[...inError].sort().join(', ')}`);
    health.setCounter('assetsInError', inError.size);
    health.setCounter(
      'driversRunning',
      [...drivers.values()].filter((d) => d.process?.state.kind === 'running').length,
    );
    const detail = parts.length === 0 ? undefined : short(parts.join('; '));
    if ((detail ?? 'ok') === reportedStatus) return;
    reportedStatus = detail ?? 'ok';
    health.setStatus(detail === undefined ? 'ok' : 'degraded', detail);
  }

  function outcome(run: AssetRun, ok: boolean): void {
    const id = run.asset.id;
    if (ok === !inError.has(id)) return;
    if (ok) inError.delete(id);
    else inError.add(id);
    updateStatus();
  }

  /** Logs a warning once per distinct text (a driver repeating a mistake every second must not flood the log). */
  const warned = new Set<string>();
  function warnOnce(logger: Logger, text: string, message: string): void {
    if (warned.has(text) || warned.size > 1_000) return;
    warned.add(text);
    logger.warn({ problem: text }, message);
  }

  /** A configuration problem: logged and counted once per text (a restart reports the same again). */
  function configProblem(logger: Logger, text: string, fields: object): void {
    if (reportedProblems.has(text)) return;
    reportedProblems.add(text);
    health.incrementCounter('configErrors');
    logger.error({ ...fields, problem: text }, 'driver configuration refused');
  }

  function errorReading(run: AssetRun, error: string): void {
    if (run.publisher.error({ atMs: now(), error: short(error) })) run.log.warn({ error }, 'asset in error');
    outcome(run, false);
  }

  function acceptSample(run: AssetRun, raw: unknown, source: 'read' | 'push'): void {
    const parsed = DriverSampleSchema.safeParse(raw);
    const nowMs = now();
    let problem: string | undefined;
    if (!parsed.success)
      problem = `the driver ${source === 'read' ? 'returned' : 'pushed'} an invalid sample: ${describeIssues(parsed.error.issues)}`;
    else if (parsed.data.atMs !== undefined && parsed.data.atMs > nowMs + MAX_FUTURE_MS) {
      problem = `the driver's sample is stamped ${parsed.data.atMs - nowMs} ms in the future (atMs must be epoch ms from context.now)`;
    }
    if (problem !== undefined || !parsed.success) {
      health.incrementCounter('samplesRejected');
      health.incrementCounter(assetCounter('samplesRejected', run.asset.id));
      errorReading(run, problem ?? 'invalid sample');
      return;
    }
    const sample = parsed.data;
    run.lastSampleMs = nowMs;
    run.publisher.good({
      atMs: sample.atMs ?? nowMs,
      values: sample.values,
      ...(sample.chargerState === undefined ? {} : { chargerState: sample.chargerState }),
    });
    outcome(run, true);
  }

  function onPush(driver: DriverRun, assetId: string, sample: unknown): void {
    const run = runs.get(assetId);
    if (run === undefined || run.driver !== driver || run.problem !== undefined) {
      health.incrementCounter('foreignPushes');
      warnOnce(driver.log, `pushed a sample for '${short(assetId, 80)}', which it does not drive`, 'push refused');
      return;
    }
    const nowMs = now();
    if (nowMs - run.pushWindowMs >= 1_000) {
      run.pushWindowMs = nowMs;
      run.pushCount = 0;
    }
    run.pushCount += 1;
    if (run.pushCount > MAX_PUSHES_PER_SECOND) {
      health.incrementCounter('pushesDropped');
      return;
    }
    health.incrementCounter('pushes');
    acceptSample(run, sample, 'push');
  }

  function onReadOutcome(run: AssetRun, result: CallOutcome): void {
    switch (result.kind) {
      case 'value':
        acceptSample(run, result.value, 'read');
        return;
      case 'error':
        health.incrementCounter('readErrors');
        errorReading(run, `read failed: ${result.error}`);
        return;
      case 'timeout':
        health.incrementCounter('readTimeouts');
        errorReading(run, `read did not answer within ${result.afterMs} ms`);
        return;
      case 'unavailable':
        errorReading(run, result.reason);
        return;
    }
  }

  /** One poll cycle of an asset (never two at once: createPollLoop); a busy tick checks staleness instead. */
  async function cycle(run: AssetRun): Promise<void> {
    if (stopped) return;
    if (run.problem !== undefined) {
      errorReading(run, run.problem);
      return;
    }
    const driver = run.driver;
    if (driver === undefined) return;
    if (driver.refused !== undefined) {
      errorReading(run, driver.refused);
      return;
    }
    const process = driver.process;
    const state = process?.state;
    if (process === undefined || state === undefined || state.kind !== 'running') {
      // The very first start is not an error yet: the asset simply has no reading so far.
      if (state?.kind === 'starting' && state.attempt === 1) return;
      errorReading(run, stateReason(driver.plan.name, state ?? { kind: 'stopped' }) ?? 'driver not running');
      return;
    }
    if (state.info.read) {
      health.incrementCounter('reads');
      const result = await process.read(run.asset.id, settings.readTimeoutMs);
      if (!stopped) onReadOutcome(run, result);
      return;
    }
    // A driver that only pushes: silence is the fault to report.
    const silentMs = now() - (run.lastSampleMs ?? state.sinceMs);
    if (silentMs > run.asset.pollIntervalMs * settings.staleAfterIntervals) {
      health.incrementCounter('staleReadings');
      const error = `no sample pushed by driver '${driver.plan.name}' for ${silentMs} ms`;
      if (!run.publisher.stale(error)) run.publisher.error({ atMs: now(), error });
      outcome(run, false);
    }
  }

  function onState(driver: DriverRun, state: DriverState): void {
    if (state.kind === 'running') {
      driver.info = state.info;
      health.incrementCounter('driverStarts');
    }
    health.setCounter(`driver.${driver.plan.name}.up`, state.kind === 'running' ? 1 : 0);
    if (state.kind === 'refused') {
      for (const problem of state.problems) {
        const prefix = problem.path.startsWith('options')
          ? `drivers[${driver.plan.index}].`
          : `drivers[${driver.plan.index}] (${driver.plan.module}) `;
        configProblem(driver.log, `${prefix}${problem.path}: ${problem.message}`, { driver: driver.plan.name });
      }
    }
    if (state.kind !== 'running') {
      driver.health = undefined;
      driver.healthError = undefined;
    }
    updateStatus();
  }

  function onAssetProblems(
    driver: DriverRun,
    problems: readonly { assetId: string; problems: readonly { path: string; message: string }[] }[],
  ): void {
    const refused = new Map(problems.map((p) => [p.assetId, p.problems]));
    for (const asset of driver.plan.assets) {
      const run = runs.get(asset.id);
      const list = refused.get(asset.id);
      if (run === undefined) continue;
      if (list === undefined) {
        run.problem = undefined;
        continue;
      }
      const text = list.map((p) => `assets[${asset.index}] '${asset.id}' ${p.path}: ${p.message}`).join('; ');
      run.problem = short(`options refused by driver '${driver.plan.name}': ${text}`);
      configProblem(run.log, text, { driver: driver.plan.name });
    }
  }

  function onHealth(driver: DriverRun, value: ParsedHealth | undefined, error: string | undefined): void {
    driver.healthError = error;
    const previous = driver.health;
    driver.health = value;
    for (const [name, count] of Object.entries(value?.counters ?? {}))
      health.setCounter(`${driver.plan.name}.${name}`, count);
    let dropped = 0;
    for (const d of drivers.values()) dropped += d.process?.droppedLogLines ?? 0;
    health.setCounter('driverLogsDropped', dropped);
    if (previous?.state !== value?.state || previous?.detail !== value?.detail || error !== undefined) updateStatus();
  }

  // --- drivers and assets ------------------------------------------------------------------------------------

  for (const driverPlan of plan.drivers) {
    const driverLog = log.child({ driver: driverPlan.name });
    const run: DriverRun = {
      plan: driverPlan,
      log: driverLog,
      process: undefined,
      refused: driverPlan.resolution.ok
        ? undefined
        : short(
            `driver '${driverPlan.name}' refused: drivers[${driverPlan.index}].module: ${driverPlan.resolution.reason}`,
          ),
      info: undefined,
      health: undefined,
      healthError: undefined,
      failures: 0,
    };
    drivers.set(driverPlan.name, run);
    health.setCounter(`driver.${driverPlan.name}.up`, 0);
    health.setCounter(`driver.${driverPlan.name}.failures`, 0);
    if (run.refused !== undefined) configProblem(driverLog, run.refused, {});
  }
  for (const asset of plan.assets) {
    const assetLog = log.child({ assetId: asset.id, driver: asset.driver });
    const driver = drivers.get(asset.driver);
    const run: AssetRun = {
      asset,
      loop: createPollLoop({
        intervalMs: asset.pollIntervalMs,
        cycle: () => cycle(run),
        onBusy: () => {
          if (run.publisher.checkStale()) outcome(run, false);
        },
        onError: (err) => assetLog.error({ err }, 'poll cycle failed'),
      }),
      firstTick: undefined,
      log: assetLog,
      publisher: createReadingPublisher({
        bus: opts.bus,
        asset,
        log: assetLog,
        now,
        staleAfterIntervals: settings.staleAfterIntervals,
        onStale: () => health.incrementCounter('staleReadings'),
      }),
      driver,
      problem: plan.unusable.get(asset.id),
      lastSampleMs: undefined,
      pushWindowMs: 0,
      pushCount: 0,
    };
    if (run.problem !== undefined) configProblem(assetLog, run.problem, {});
    runs.set(asset.id, run);
  }
  for (const run of drivers.values()) {
    if (run.refused !== undefined || !run.plan.resolution.ok) continue;
    run.process = startDriverProcess({
      name: run.plan.name,
      modulePath: run.plan.resolution.path,
      hostOptions: run.plan.hostOptions,
      assets: run.plan.assets.map((a) => ({ id: a.id, config: a.config })),
      timing: settings.timing,
      resourceLimits: settings.resourceLimits,
      log: run.log.child({ component: 'driver' }),
      spawn: opts.spawn,
      now,
      events: {
        onState: (state) => onState(run, state),
        onAssetProblems: (problems) => onAssetProblems(run, problems),
        onPush: (assetId, sample) => onPush(run, assetId, sample),
        onHealth: (value, error) => onHealth(run, value, error),
        onFailure: (kind) => {
          run.failures += 1;
          health.incrementCounter(FAILURE_COUNTER[kind]);
          health.setCounter(`driver.${run.plan.name}.failures`, run.failures);
        },
        onGarbage: (reason) => {
          health.incrementCounter('workerGarbage');
          run.log.warn({ reason }, 'garbage from the driver thread');
        },
      },
    });
  }
  for (const run of runs.values()) {
    run.firstTick = setTimeout(
      () => run.loop.start(),
      Math.min(run.asset.pollIntervalMs, 100 + Math.floor(Math.random() * 100)),
    );
  }

  // --- writes ------------------------------------------------------------------------------------------------

  function refuseWrite(asset: PluginAsset, setpoint: Setpoint): string | undefined {
    const run = runs.get(asset.id);
    if (run?.problem !== undefined) return run.problem;
    const driver = run?.driver;
    if (driver === undefined) return 'no driver';
    if (driver.refused !== undefined) return driver.refused;
    const info = driver.info;
    if (info === undefined) return undefined; // not started yet: apply answers why
    if (info.setpoints.length === 0 || !info.write) return `driver '${driver.plan.name}' is read-only`;
    if (setpoint.kind !== 'safe' && !info.setpoints.includes(setpoint.kind)) {
      return `driver '${driver.plan.name}' cannot write '${setpoint.kind}' (it writes: ${info.setpoints.join(', ')})`;
    }
    return undefined;
  }

  async function applyWrite(
    asset: PluginAsset,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
    signal: AbortSignal,
  ): Promise<WriteOutcome> {
    const driver = runs.get(asset.id)?.driver;
    const process = driver?.process;
    if (driver === undefined || process === undefined) return { status: 'failed', error: 'no driver' };
    // The watchdog's safe set-point comes here without passing `refuse`.
    const refused = refuseWrite(asset, setpoint);
    if (refused !== undefined) return { status: 'rejected', error: refused };
    const result = await process.write(asset.id, setpoint, bounds, settings.writeTimeoutMs, signal);
    switch (result.kind) {
      case 'value': {
        const parsed = WriteOutcomeSchema.safeParse(result.value);
        if (parsed.success) return parsed.data;
        health.incrementCounter('writeOutcomesRejected');
        const error = `the driver returned an invalid write outcome: ${describeIssues(parsed.error.issues)}`;
        driver.log.warn({ assetId: asset.id, error }, 'write outcome rejected');
        return { status: 'failed', error };
      }
      case 'error':
        return { status: 'failed', error: `write failed: ${result.error}` };
      case 'timeout':
        return { status: 'timeout', error: `the driver did not answer within ${result.afterMs} ms` };
      case 'unavailable':
        return { status: 'failed', error: result.reason };
    }
  }

  const writes: WritePath = startWritePath<PluginAsset>({
    transport: opts.transport,
    log: log.child({ component: 'writes' }),
    health,
    assets: plan.assets,
    now,
    refuse: (asset, write) => refuseWrite(asset, write.setpoint),
    // The arbiter's interval goes with its own writes only (a watchdog's safe set-point has none).
    apply: (asset, setpoint, signal, context) =>
      applyWrite(asset, setpoint, context.origin === 'write' ? context.write.bounds : undefined, signal),
    // A backstop: the driver call has its own timeout; this one covers the host's own bookkeeping.
    applyTimeoutMs: settings.writeTimeoutMs + 1_000,
  });

  updateStatus();

  return {
    drivers: new Map(
      [...drivers.values()].flatMap((d) => (d.process === undefined ? [] : [[d.plan.name, d.process] as const])),
    ),
    async stop() {
      stopped = true;
      for (const run of runs.values()) if (run.firstTick !== undefined) clearTimeout(run.firstTick);
      // Loops first (no new reads), then writes, then the drivers, which settles the calls still in flight.
      const loops = Promise.all([...runs.values()].map((r) => r.loop.stop()));
      await writes.stop();
      await Promise.all([...drivers.values()].map((d) => d.process?.stop()));
      await loops;
      let dropped = 0;
      for (const d of drivers.values()) dropped += d.process?.droppedLogLines ?? 0;
      health.setCounter('driverLogsDropped', dropped);
    },
  };
}
