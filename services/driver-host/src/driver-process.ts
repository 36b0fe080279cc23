import type { Worker, ResourceLimits } from 'node:worker_threads';
import type { Setpoint, ValueBounds } from '@voltimax/contracts';
import type { Logger } from 'pino';
import {
  DriverHealthSchema,
  WORKER_ROLE,
  WorkerMessageSchema,
  describeIssues,
  short,
  type AssetProblems,
  type HostMessage,
  type ParsedHealth,
  type Problem,
  type WorkerAsset,
  type WorkerInit,
  type WorkerMessage,
} from './protocol';

/** Timeouts and backoff of one driver's worker, ms. */
export interface DriverTiming {
  /** From spawning the worker to `start` having resolved. */
  readonly startTimeoutMs: number;
  /** How long `close()` may take before the worker is terminated anyway. */
  readonly closeTimeoutMs: number;
  /** How often the worker is pinged. */
  readonly pingIntervalMs: number;
  /** No answer to pings for this long: the worker's event loop is stuck (an endless loop): terminate, restart. */
  readonly hangTimeoutMs: number;
  /** This many calls in a row without an answer (promises that never settle): terminate, restart. */
  readonly hungAfterTimeouts: number;
  /** Restart backoff: first delay, doubled per failure up to the max; reset after running for the max. */
  readonly restartMinMs: number;
  readonly restartMaxMs: number;
}

/** What a started driver declared. */
export interface DriverInfo {
  readonly name: string;
  readonly version: string;
  readonly setpoints: readonly string[];
  readonly read: boolean;
  readonly write: boolean;
  readonly health: boolean;
}

/** Lifecycle of a driver's worker, as the host sees it. */
export type DriverState =
  | { readonly kind: 'starting'; readonly attempt: number }
  | { readonly kind: 'running'; readonly info: DriverInfo; readonly sinceMs: number }
  | { readonly kind: 'backoff'; readonly reason: string; readonly retryInMs: number }
  | { readonly kind: 'refused'; readonly reason: string; readonly problems: readonly Problem[] }
  | { readonly kind: 'stopped' };

/** How a call to the driver ended. */
export type CallOutcome =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'error'; readonly error: string }
  | { readonly kind: 'timeout'; readonly afterMs: number }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** Why a worker was replaced; each is a counter. */
export type FailureKind = 'crash' | 'hang' | 'start';

export interface DriverEvents {
  onState(state: DriverState): void;
  /** Once per start: assets whose options the driver refused (they are not started). */
  onAssetProblems(problems: AssetProblems): void;
  /** An unsolicited sample (unvalidated: the host checks it). */
  onPush(assetId: string, sample: unknown): void;
  /** The driver's health from the last ping (undefined: it has no health()); invalid health arrives as an error. */
  onHealth(health: ParsedHealth | undefined, error?: string): void;
  onFailure(kind: FailureKind, reason: string): void;
  /** A message from the worker that is not one of the protocol (counted). */
  onGarbage(reason: string): void;
}

export interface DriverProcessOptions {
  /** The driver's name in the site's `drivers` list. */
  readonly name: string;
  readonly modulePath: string;
  readonly hostOptions: Readonly<Record<string, unknown>>;
  readonly assets: readonly WorkerAsset[];
  readonly timing: DriverTiming;
  readonly resourceLimits: ResourceLimits;
  readonly log: Logger;
  readonly events: DriverEvents;
  readonly spawn: (init: WorkerInit, resourceLimits: ResourceLimits) => Worker;
  /** Epoch ms. */
  readonly now: () => number;
  /** Log lines a driver may write per second (beyond: dropped and counted). */
  readonly logLinesPerSecond?: number;
}

/** One driver running in its own worker thread, restarted with backoff when it crashes or hangs. */
export interface DriverProcess {
  readonly name: string;
  readonly state: DriverState;
  /** Log lines of the driver dropped by the rate limit so far. */
  readonly droppedLogLines: number;
  read(assetId: string, timeoutMs: number, signal?: AbortSignal): Promise<CallOutcome>;
  /** `bounds`: the arbiter's interval for the value (DeviceWrite.bounds), handed to the driver's write. */
  write(
    assetId: string,
    setpoint: Setpoint,
    bounds: ValueBounds | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CallOutcome>;
  /** Close the driver (bounded by closeTimeoutMs), terminate its worker; no restart after this. */
  stop(): Promise<void>;
}

interface Pending {
  readonly resolve: (outcome: CallOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

interface Generation {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Ended (failed, refused or stopped): its events are ignored from now on. */
  over: boolean;
  lastPongMs: number;
  consecutiveTimeouts: number;
  pingTimer: NodeJS.Timeout | undefined;
  startTimer: NodeJS.Timeout | undefined;
  closed: (() => void) | undefined;
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Starts the driver's first worker at once. */
export function startDriverProcess(opts: DriverProcessOptions): DriverProcess {
  const { timing, events, now, log } = opts;
  let state: DriverState = { kind: 'starting', attempt: 1 };
  let current: Generation | undefined;
  let attempts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let nextId = 1;
  let droppedLogLines = 0;
  let logWindowStartMs = 0;
  let logWindowCount = 0;
  const logLimit = opts.logLinesPerSecond ?? 50;

  const setState = (next: DriverState): void => {
    state = next;
    events.onState(next);
  };

  /** Driver logs through the host's logger, at most `logLimit` lines a second. */
  function driverLine(level: LogLevel, fields: object, message: string): void {
    const nowMs = now();
    if (nowMs - logWindowStartMs >= 1_000) {
      if (logWindowCount > logLimit)
        log.warn({ dropped: logWindowCount - logLimit }, 'driver log lines dropped (rate limit)');
      logWindowStartMs = nowMs;
      logWindowCount = 0;
    }
    logWindowCount += 1;
    if (logWindowCount > logLimit) {
      droppedLogLines += 1;
      return;
    }
    log[level](fields, message);
  }

  function pipeLines(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = (lines.pop() ?? '').slice(-4_000);
      for (const line of lines)
        if (line.trim() !== '')
          driverLine('warn', { stream: name, line: short(line, 1_000) }, 'driver wrote to its console');
    });
  }

  function settleAll(gen: Generation, reason: string): void {
    for (const [id, pending] of gen.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ kind: 'unavailable', reason });
      gen.pending.delete(id);
    }
  }

  function end(gen: Generation): void {
    gen.over = true;
    if (gen.pingTimer !== undefined) clearInterval(gen.pingTimer);
    if (gen.startTimer !== undefined) clearTimeout(gen.startTimer);
    void gen.worker.terminate().catch(() => undefined);
  }

  function fail(gen: Generation, kind: FailureKind, reason: string): void {
    if (gen.over || stopped) return;
    const wasRunningForMs = state.kind === 'running' ? now() - state.sinceMs : 0;
    end(gen);
    settleAll(gen, `driver '${opts.name}' ${reason}`);
    if (wasRunningForMs >= timing.restartMaxMs) attempts = 0;
    const delayMs = Math.min(timing.restartMaxMs, timing.restartMinMs * 2 ** Math.max(0, attempts - 1));
    events.onFailure(kind, reason);
    log.error({ kind, reason, restartInMs: delayMs, attempt: attempts }, 'driver failed; restarting it');
    setState({ kind: 'backoff', reason, retryInMs: delayMs });
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (!stopped) spawn();
    }, delayMs);
  }

  function onMessage(gen: Generation, raw: unknown): void {
    if (gen.over) return;
    const parsed = WorkerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      events.onGarbage(`unexpected message from the worker: ${describeIssues(parsed.error.issues)}`);
      return;
    }
    const message: WorkerMessage = parsed.data;
    switch (message.t) {
      case 'started': {
        if (gen.startTimer !== undefined) clearTimeout(gen.startTimer);
        gen.startTimer = undefined;
        gen.lastPongMs = now();
        const info: DriverInfo = {
          name: message.name,
          version: message.version,
          setpoints: message.setpoints,
          read: message.read,
          write: message.write,
          health: message.health,
        };
        if (info.name !== opts.name) {
          log.info({ definitionName: info.name }, 'the site names this driver differently from its definition');
        }
        events.onAssetProblems(message.assetProblems);
        log.info(
          { version: info.version, setpoints: info.setpoints, read: info.read, write: info.write },
          'driver started',
        );
        setState({ kind: 'running', info, sinceMs: now() });
        gen.pingTimer = setInterval(() => ping(gen), timing.pingIntervalMs);
        return;
      }
      case 'refused': {
        end(gen);
        const reason =
          message.problems.length > 0
            ? `refused: ${message.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`
            : 'refused: no asset has valid options';
        events.onAssetProblems(message.assetProblems);
        log.error(
          { problems: message.problems, assetProblems: message.assetProblems },
          'driver refused (configuration); not restarting it',
        );
        setState({ kind: 'refused', reason: short(reason), problems: message.problems });
        return;
      }
      case 'failed':
        fail(gen, 'start', `${message.stage === 'load' ? 'could not be loaded' : 'start failed'}: ${message.error}`);
        return;
      case 'result': {
        const pending = gen.pending.get(message.id);
        if (pending === undefined) return; // answered after its timeout
        gen.pending.delete(message.id);
        clearTimeout(pending.timer);
        gen.consecutiveTimeouts = 0;
        pending.resolve(
          message.ok ? { kind: 'value', value: message.value } : { kind: 'error', error: message.error ?? 'failed' },
        );
        return;
      }
      case 'push':
        if (state.kind === 'running') events.onPush(message.assetId, message.sample);
        return;
      case 'log': {
        const fields = typeof message.fields === 'object' && message.fields !== null ? { data: message.fields } : {};
        driverLine(message.level, fields, message.message);
        return;
      }
      case 'pong': {
        gen.lastPongMs = now();
        if (message.healthError !== undefined) {
          events.onHealth(undefined, message.healthError);
          return;
        }
        if (message.health === undefined) {
          events.onHealth(undefined);
          return;
        }
        const health = DriverHealthSchema.safeParse(message.health);
        if (health.success) events.onHealth(health.data);
        else events.onHealth(undefined, `health() returned garbage: ${describeIssues(health.error.issues)}`);
        return;
      }
      case 'closed':
        if (message.error !== undefined) log.warn({ error: message.error }, 'driver close failed');
        gen.closed?.();
        return;
    }
  }

  function ping(gen: Generation): void {
    if (gen.over) return;
    const silentMs = now() - gen.lastPongMs;
    if (silentMs > timing.hangTimeoutMs) {
      fail(gen, 'hang', `hung: its thread did not answer for ${silentMs} ms (blocked event loop)`);
      return;
    }
    post(gen, { t: 'ping', id: nextId++ });
  }

  function post(gen: Generation, message: HostMessage): void {
    try {
      gen.worker.postMessage(message);
    } catch (err) {
      fail(gen, 'crash', `cannot be reached: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  function spawn(): void {
    attempts += 1;
    setState({ kind: 'starting', attempt: attempts });
    const init: WorkerInit = {
      role: WORKER_ROLE,
      driver: opts.name,
      modulePath: opts.modulePath,
      hostOptions: opts.hostOptions,
      assets: opts.assets,
    };
    const generation = (worker: Worker): Generation => ({
      worker,
      pending: new Map(),
      over: false,
      lastPongMs: now(),
      consecutiveTimeouts: 0,
      pingTimer: undefined,
      startTimer: undefined,
      closed: undefined,
    });
    let worker: Worker;
    try {
      worker = opts.spawn(init, opts.resourceLimits);
    } catch (err) {
      // No worker to end: schedule the retry the same way.
      const none = generation({ terminate: () => Promise.resolve(0) } as unknown as Worker);
      fail(none, 'start', `worker could not be started: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const gen = generation(worker);
    current = gen;
    if (worker.stdout) pipeLines(worker.stdout, 'stdout');
    if (worker.stderr) pipeLines(worker.stderr, 'stderr');
    worker.on('message', (message: unknown) => onMessage(gen, message));
    worker.on('messageerror', () => events.onGarbage('a message from the worker could not be deserialized'));
    worker.on('error', (err: Error & { code?: string }) => {
      const reason =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `crashed: out of memory (limit ${opts.resourceLimits.maxOldGenerationSizeMb ?? '?'} MB)`
          : `crashed: ${short(err.message)}`;
      fail(gen, 'crash', reason);
    });
    worker.on('exit', (code) => fail(gen, 'crash', `crashed: its thread exited (code ${code})`));
    gen.startTimer = setTimeout(() => {
      fail(gen, 'start', `start timed out: not started within ${timing.startTimeoutMs} ms`);
    }, timing.startTimeoutMs);
  }

  function call(
    message:
      | { readonly t: 'read'; readonly assetId: string }
      | { readonly t: 'write'; readonly assetId: string; readonly setpoint: Setpoint; readonly bounds?: ValueBounds },
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CallOutcome> {
    const gen = current;
    if (state.kind !== 'running' || gen === undefined || gen.over) {
      return Promise.resolve({ kind: 'unavailable', reason: unavailableReason() });
    }
    const id = nextId++;
    return new Promise<CallOutcome>((resolve) => {
      const finish = (outcome: CallOutcome): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const giveUp = (outcome: CallOutcome): void => {
        if (!gen.pending.delete(id)) return;
        clearTimeout(timer);
        if (!gen.over) post(gen, { t: 'cancel', id });
        finish(outcome);
      };
      const onAbort = (): void => giveUp({ kind: 'unavailable', reason: 'cancelled' });
      const timer = setTimeout(() => {
        giveUp({ kind: 'timeout', afterMs: timeoutMs });
        gen.consecutiveTimeouts += 1;
        if (gen.consecutiveTimeouts >= timing.hungAfterTimeouts) {
          fail(gen, 'hang', `hung: ${gen.consecutiveTimeouts} calls in a row got no answer within ${timeoutMs} ms`);
        }
      }, timeoutMs);
      gen.pending.set(id, { resolve: finish, timer });
      signal?.addEventListener('abort', onAbort, { once: true });
      post(gen, { ...message, id });
    });
  }

  function unavailableReason(): string {
    return stateReason(opts.name, state) ?? `driver '${opts.name}' is running`;
  }

  spawn();

  return {
    name: opts.name,
    get state() {
      return state;
    },
    get droppedLogLines() {
      return droppedLogLines;
    },
    read: (assetId, timeoutMs, signal) => call({ t: 'read', assetId }, timeoutMs, signal),
    write: (assetId, setpoint, bounds, timeoutMs, signal) =>
      call({ t: 'write', assetId, setpoint, ...(bounds === undefined ? {} : { bounds }) }, timeoutMs, signal),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      const gen = current;
      if (gen !== undefined && !gen.over) {
        if (state.kind === 'running') {
          const closed = new Promise<void>((resolve) => {
            gen.closed = resolve;
            setTimeout(resolve, timing.closeTimeoutMs).unref();
          });
          post(gen, { t: 'close' });
          await closed;
        }
        end(gen);
        settleAll(gen, `driver '${opts.name}' stopped`);
        await gen.worker.terminate().catch(() => undefined);
      }
      setState({ kind: 'stopped' });
    },
  };
}

/** The reason a driver cannot serve right now (for error readings and write results). */
export function stateReason(name: string, state: DriverState): string | undefined {
  switch (state.kind) {
    case 'running':
      return undefined;
    case 'starting':
      return `driver '${name}' is starting (attempt ${state.attempt})`;
    case 'backoff':
      return `driver '${name}' ${state.reason}; restarting in ${state.retryInMs} ms`;
    case 'refused':
      return `driver '${name}' ${state.reason}`;
    case 'stopped':
      return `driver '${name}' stopped`;
  }
}
