import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createBusOnTransport, droppedTotal, type BusTransport, type Unsubscribe } from '@voltimax/bus';
import { subjects, type DeviceWrite, type Setpoint, type WriteResult } from '@voltimax/contracts';
import { serviceTracer } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import type { WriteOutcome, WriteStatus } from './driver';

/** The part of service-kit's HealthControl the write path and the reading publisher use. */
export interface DriverCounters {
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
}

/** What the write path needs to know of an asset. */
export interface WritePathAsset {
  readonly id: string;
  /** The watchdog retries a safe set-point that did not take every max(1 s, this), ms. */
  readonly pollIntervalMs: number;
}

/** Why `apply` is called: a write of the arbiter, or the watchdog after a write expired without a newer one. */
export type ApplyContext =
  | { readonly origin: 'write'; readonly write: DeviceWrite }
  | { readonly origin: 'watchdog'; readonly expired: { readonly commandId: string; readonly expiresAtMs: number } };

/** Counter of each write status (a status's reply is counted once under its name). */
export type StatusCounters = Readonly<Record<WriteStatus, string>>;

/** The status counters of the write path unless a service keeps older names. */
export const DEFAULT_STATUS_COUNTERS: StatusCounters = {
  applied: 'writesApplied',
  unchanged: 'writesApplied',
  mismatch: 'writeMismatches',
  rejected: 'writesRejected',
  failed: 'writeFailures',
  timeout: 'writeTimeouts',
};

/**
 * Counters the write path keeps besides the status counters (all set to 0 at start; the watchdog's only when an asset
 * has one): commands received, writes of assets it does not own (dropped unparsed), safe set-points the watchdog
 * wrote and attempts that failed, requests the typed bus refused (invalid JSON / schema) for owned assets.
 */
export const WRITE_PATH_COUNTERS = [
  'writeCommands',
  'foreignWrites',
  'watchdogSafe',
  'watchdogFailures',
  'writeBusDropped',
] as const;

/** Counted (only with `rememberCommandsMs`) when a command id comes again and gets the first answer. */
export const DUPLICATE_WRITES_COUNTER = 'duplicateWrites';

/** Every counter name a write path with these options sets at start (`watchdog`: whether any asset has one). */
export function writePathCounters(
  options: Pick<WritePathOptions<WritePathAsset>, 'statusCounters' | 'rememberCommandsMs'> & {
    readonly watchdog?: boolean;
  } = {},
): readonly string[] {
  const status = { ...DEFAULT_STATUS_COUNTERS, ...options.statusCounters };
  const watchdog = options.watchdog ?? true;
  return [
    ...new Set<string>([
      ...WRITE_PATH_COUNTERS.filter((name) => watchdog || !name.startsWith('watchdog')),
      ...Object.values(status),
      ...(options.rememberCommandsMs === undefined ? [] : [DUPLICATE_WRITES_COUNTER]),
    ]),
  ];
}

/** Dependencies and protocol hooks of {@link startWritePath}. */
export interface WritePathOptions<A extends WritePathAsset, O extends WriteOutcome = WriteOutcome> {
  /** The raw NATS transport: writes for assets not in `assets` are skipped before they are parsed. */
  readonly transport: BusTransport;
  readonly log: Logger;
  readonly health: DriverCounters;
  /** The assets this instance answers for (each at most once). */
  readonly assets: readonly A[];
  /** Epoch ms. */
  readonly now: () => number;
  /**
   * Write one set-point to the device and read it back. Runs in the asset's queue (never twice at once for an asset).
   * A throw or rejection becomes `failed` with its message. `signal` is aborted on `stop()` and on `applyTimeoutMs`.
   */
  readonly apply: (asset: A, setpoint: Setpoint, signal: AbortSignal, context: ApplyContext) => Promise<O>;
  /** Why a write to this asset is refused without touching the device (`rejected`); undefined: go ahead. */
  readonly refuse?: (asset: A, write: DeviceWrite) => string | undefined;
  /**
   * After `apply` resolved (not when it threw or timed out), still in the asset's queue: e.g. keep-alives. Called for
   * every arbiter write, and for a watchdog safe set-point that took.
   */
  readonly afterApply?: (asset: A, outcome: O, context: ApplyContext) => void;
  /**
   * Whether a write to this asset arms the expiry watchdog (default: yes). Off for devices with their own fallback
   * (e.g. an OCPP charging profile with a fallback period) or without controls.
   */
  readonly watchdog?: (asset: A) => boolean;
  /** Status counter names to keep instead of {@link DEFAULT_STATUS_COUNTERS} (existing dashboards). */
  readonly statusCounters?: Partial<StatusCounters>;
  /**
   * Remember command ids this long, ms: a write whose command id came before (the arbiter's retry) gets the first
   * answer, also while that is still in flight, instead of a second write. Absent: every command is executed.
   */
  readonly rememberCommandsMs?: number;
  /**
   * Answer `timeout` when `apply` has not finished after this long, ms (and abort its signal). The asset's queue still
   * waits for it, so writes of one asset never overlap. Absent: no limit (the protocol has its own timeouts).
   */
  readonly applyTimeoutMs?: number;
}

/** The running write path. */
export interface WritePath {
  /**
   * Runs `work` in the asset's queue, after the writes and watchdog actions queued before it (keep-alives use it).
   * Rejects for an asset not in `assets`.
   */
  serialize<T>(assetId: string, work: () => Promise<T>): Promise<T>;
  /** Unsubscribe, abort signals, cancel watchdogs, and wait for the work in flight. */
  stop(): Promise<void>;
}

type Answer = Omit<WriteResult, 'v' | 'commandId' | 'assetId' | 'atMs'>;

interface Deadline {
  readonly commandId: string;
  readonly expiresAtMs: number;
  timer: NodeJS.Timeout | undefined;
}

interface AssetState<A> {
  readonly asset: A;
  readonly log: Logger;
  /** Writes, watchdog actions and other serialized work of one asset run one after the other. */
  queue: Promise<unknown>;
  deadline: Deadline | undefined;
}

const STATUSES: ReadonlySet<string> = new Set<WriteStatus>([
  'applied',
  'unchanged',
  'mismatch',
  'rejected',
  'failed',
  'timeout',
]);
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_ERROR_CHARS = 500;
const clampDelay = (ms: number): number => Math.min(MAX_TIMER_MS, Math.max(0, ms));
const short = (text: string): string =>
  text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 3)}...` : text;
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const took = (status: WriteStatus): boolean => status === 'applied' || status === 'unchanged';

/** An outcome as the contract's WriteResult accepts it: a known status, a finite read-back, an error ≤ 500 chars. */
export function normaliseOutcome(outcome: WriteOutcome): Answer {
  const known = STATUSES.has(outcome.status);
  const error = known ? outcome.error : `the driver answered an unknown status '${String(outcome.status)}'`;
  return {
    status: known ? outcome.status : 'failed',
    ...(typeof outcome.readBack === 'number' && Number.isFinite(outcome.readBack)
      ? { readBack: outcome.readBack }
      : {}),
    ...(typeof error === 'string' ? { error: short(error) } : {}),
  };
}

/**
 * A transport whose subscriptions only see `device.<id>.write` of owned assets; the rest is not even parsed, so the
 * typed bus on top never answers it (its owner — another instance or another driver — does). `onOwnedDone` runs after
 * each owned message was handled (or refused by the bus).
 */
export function ownedWritesOnly(
  transport: BusTransport,
  owns: (assetId: string) => boolean,
  onForeign: () => void,
  onOwnedDone: () => void = () => undefined,
): BusTransport {
  return {
    publish: (subject, data, headers) => transport.publish(subject, data, headers),
    request: (subject, data, headers, timeoutMs) => transport.request(subject, data, headers, timeoutMs),
    subscribe(subject, opts, onMessage, onError) {
      return transport.subscribe(
        subject,
        opts,
        (msg) => {
          const params = subjects.deviceWrite.parse(msg.subject);
          if (params === undefined || !owns(params.assetId)) {
            onForeign();
            return;
          }
          return Promise.resolve(onMessage(msg)).finally(onOwnedDone);
        },
        onError,
      );
    },
  };
}

/**
 * Answers `device.<assetId>.write` (request/reply → WriteResult) for the owned assets: writes of other assets are not
 * parsed nor answered (`foreignWrites`). Per asset, one thing at a time: check the payload's assetId and the expiry
 * (an expired write is `rejected`, never applied), `refuse`, arm the expiry watchdog, `apply`, `afterApply`. When a
 * write's `expiresAtMs` passes without a newer write, the watchdog applies `{ kind: 'safe' }` and retries every
 * max(1 s, poll interval) until it takes. Each command gets a `device.write <assetId>` span in the arbiter's trace,
 * status counters and a log line.
 */
export function startWritePath<A extends WritePathAsset, O extends WriteOutcome = WriteOutcome>(
  opts: WritePathOptions<A, O>,
): WritePath {
  const { health, now } = opts;
  const statusCounters: StatusCounters = { ...DEFAULT_STATUS_COUNTERS, ...opts.statusCounters };
  const states = new Map<string, AssetState<A>>(
    opts.assets.map((asset) => [
      asset.id,
      { asset, log: opts.log.child({ assetId: asset.id }), queue: Promise.resolve(), deadline: undefined },
    ]),
  );
  const stopping = new AbortController();
  const seen = new Map<string, { readonly answer: Promise<WriteResult>; readonly atMs: number }>();
  let stopped = false;
  const anyWatchdog = opts.assets.some((asset) => opts.watchdog?.(asset) ?? true);
  for (const name of writePathCounters({ ...opts, watchdog: anyWatchdog })) health.setCounter(name, 0);

  const bus = createBusOnTransport(
    ownedWritesOnly(
      opts.transport,
      (id) => states.has(id),
      () => health.incrementCounter('foreignWrites'),
      () => health.setCounter('writeBusDropped', droppedTotal(bus.stats().totals)),
    ),
    opts.log.child({ component: 'write-bus' }),
  );

  /**
   * Queues `work` behind the asset's earlier work. The returned promise may settle early through `answer` (a timed
   * out apply), but the queue only moves on once `work` itself has settled.
   */
  function enqueue<T>(state: AssetState<A>, work: (answer: (value: T) => void) => Promise<T>): Promise<T> {
    let early: (value: T) => void = () => undefined;
    const answered = new Promise<T>((resolve) => (early = resolve));
    const run = state.queue.then(
      () => work(early),
      () => work(early),
    );
    state.queue = run.catch(() => undefined);
    return Promise.race([run, answered]);
  }

  /** `apply` with the thrown → `failed` rule and the optional time limit. */
  async function applyOnce(
    state: AssetState<A>,
    setpoint: Setpoint,
    context: ApplyContext,
    answer: (outcome: Answer) => void,
  ): Promise<{ readonly answer: Answer; readonly outcome: O | undefined }> {
    const controller = new AbortController();
    const abort = (): void => controller.abort(stopping.signal.reason);
    stopping.signal.addEventListener('abort', abort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    if (opts.applyTimeoutMs !== undefined) {
      const limitMs = opts.applyTimeoutMs;
      timer = setTimeout(() => {
        controller.abort(new Error(`no answer within ${limitMs} ms`));
        answer({ status: 'timeout', error: `the device did not answer within ${limitMs} ms` });
      }, limitMs);
    }
    try {
      const outcome = await opts.apply(state.asset, setpoint, controller.signal, context);
      return { answer: normaliseOutcome(outcome), outcome };
    } catch (err) {
      return { answer: { status: 'failed', error: short(messageOf(err)) }, outcome: undefined };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      stopping.signal.removeEventListener('abort', abort);
    }
  }

  function armWatchdog(state: AssetState<A>, write: DeviceWrite): void {
    if (state.deadline?.timer !== undefined) clearTimeout(state.deadline.timer);
    const deadline: Deadline = { commandId: write.commandId, expiresAtMs: write.expiresAtMs, timer: undefined };
    state.deadline = deadline;
    const context: ApplyContext = {
      origin: 'watchdog',
      expired: { commandId: deadline.commandId, expiresAtMs: deadline.expiresAtMs },
    };
    const fire = (): void => {
      // A timer may fire a millisecond before the wall clock says the write expired: the write holds until then.
      const earlyMs = deadline.expiresAtMs - now();
      if (earlyMs > 0 && !stopped && state.deadline === deadline) {
        deadline.timer = setTimeout(fire, clampDelay(earlyMs));
        return;
      }
      void enqueue<void>(state, async (answer) => {
        if (state.deadline !== deadline || stopped) return;
        const applied = await applyOnce(state, { kind: 'safe' }, context, () => answer());
        const { status, error } = applied.answer;
        const fields = { commandId: deadline.commandId, expiredAtMs: deadline.expiresAtMs, status };
        if (took(status)) {
          health.incrementCounter('watchdogSafe');
          state.log.warn(fields, 'write expired without a newer one; safe set-point applied');
          state.deadline = undefined;
          if (applied.outcome !== undefined) opts.afterApply?.(state.asset, applied.outcome, context);
          return;
        }
        // The old set-point may still be running on the device: keep trying until the safe one takes.
        health.incrementCounter('watchdogFailures');
        state.log.error({ ...fields, error }, 'safe set-point after expiry failed; retrying');
        if (!stopped && state.deadline === deadline) {
          deadline.timer = setTimeout(fire, Math.max(1_000, state.asset.pollIntervalMs));
        }
      });
    };
    deadline.timer = setTimeout(fire, clampDelay(write.expiresAtMs - now()));
  }

  async function execute(state: AssetState<A>, write: DeviceWrite, answer: (a: Answer) => void): Promise<Answer> {
    const { asset } = state;
    if (write.assetId !== asset.id) {
      return { status: 'rejected', error: short(`payload assetId '${write.assetId}' differs from the subject`) };
    }
    if (write.expiresAtMs <= now()) {
      return { status: 'rejected', error: `expired at ${write.expiresAtMs} before it could be applied` };
    }
    const refused = opts.refuse?.(asset, write);
    if (refused !== undefined) return { status: 'rejected', error: short(refused) };
    if (opts.watchdog?.(asset) ?? true) armWatchdog(state, write);
    const context: ApplyContext = { origin: 'write', write };
    const applied = await applyOnce(state, write.setpoint, context, answer);
    if (applied.outcome !== undefined) opts.afterApply?.(asset, applied.outcome, context);
    return applied.answer;
  }

  async function handle(state: AssetState<A>, write: DeviceWrite, assetId: string): Promise<WriteResult> {
    health.incrementCounter('writeCommands');
    // The handler runs in the arbiter's trace context (the write's traceparent): the device write is its child.
    const span = serviceTracer().startSpan(`device.write ${assetId}`, {
      kind: SpanKind.CONSUMER,
      attributes: { 'voltimax.asset': assetId, 'voltimax.command': write.commandId },
    });
    const result: Answer = stopped
      ? { status: 'failed', error: 'driver stopping' }
      : await enqueue<Answer>(state, (answer) => execute(state, write, answer)).catch((err: unknown) => ({
          status: 'failed' as const,
          error: short(messageOf(err)),
        }));
    span.setAttribute('voltimax.write.status', result.status);
    if (!took(result.status)) span.setStatus({ code: SpanStatusCode.ERROR, message: result.status });
    span.end();
    health.incrementCounter(statusCounters[result.status]);
    const fields = { commandId: write.commandId, setpoint: write.setpoint, ...result };
    if (took(result.status)) state.log.debug(fields, 'write executed');
    else state.log.warn(fields, 'write not applied');
    return { v: 1, commandId: write.commandId, assetId, atMs: now(), ...result };
  }

  const unsubscribe: Unsubscribe = bus.reply(subjects.deviceWrite, (write, ctx): Promise<WriteResult> => {
    const { assetId } = ctx.params;
    const state = states.get(assetId);
    if (state === undefined) {
      // ownedWritesOnly lets only owned assets through; this is defence in depth.
      return Promise.resolve({
        v: 1,
        commandId: write.commandId,
        assetId,
        atMs: now(),
        status: 'failed',
        error: 'not owned',
      });
    }
    if (opts.rememberCommandsMs === undefined) return handle(state, write, assetId);
    const nowMs = now();
    for (const [key, entry] of seen) if (nowMs - entry.atMs > opts.rememberCommandsMs) seen.delete(key);
    const key = `${assetId}/${write.commandId}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      health.incrementCounter(DUPLICATE_WRITES_COUNTER);
      return earlier.answer;
    }
    const answer = handle(state, write, assetId);
    seen.set(key, { answer, atMs: nowMs });
    return answer;
  });

  return {
    serialize<T>(assetId: string, work: () => Promise<T>): Promise<T> {
      const state = states.get(assetId);
      if (state === undefined) return Promise.reject(new Error(`asset '${assetId}' is not served by this write path`));
      return enqueue<T>(state, work);
    },
    async stop() {
      stopped = true;
      unsubscribe();
      stopping.abort(new Error('write path stopping'));
      for (const state of states.values()) {
        if (state.deadline?.timer !== undefined) clearTimeout(state.deadline.timer);
        state.deadline = undefined;
      }
      await Promise.all([...states.values()].map((s) => s.queue));
    },
  };
}
