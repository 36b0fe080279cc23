import { setTimeout as sleep } from 'node:timers/promises';

/** A value `if (value)` accepts. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Pause between two calls of the predicate; default 20 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the error message (e.g. 'modbus-poller to receive device.bat-1.write'). */
  readonly message?: string;
}

/** {@link waitFor} ran out of time. `cause` is the last error the predicate threw, if it threw at all. */
export class WaitForTimeoutError extends Error {
  override readonly name = 'WaitForTimeoutError';
  readonly retryable = false;
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(
      `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}` +
        (options && 'cause' in options ? `; last error: ${describeError(options.cause)}` : ''),
      options,
    );
  }
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_INTERVAL_MS = 20;

/**
 * Calls `predicate` until it returns (or resolves to) a truthy value and resolves with that value.
 * A throw or rejection counts as "not yet", and so does an empty array: it is truthy, and a predicate that returns a
 * filtered list would otherwise end the wait before anything arrived. Rejects with {@link WaitForTimeoutError} once `timeoutMs`
 * has passed, also when a single call hangs. Uses real timers: do not combine with Jest fake timers.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = performance.now() + timeoutMs;
  let attempts = 0;
  let failure: { readonly error: unknown } | undefined;

  for (;;) {
    attempts += 1;
    try {
      const outcome = await beforeDeadline(predicate, deadline - performance.now());
      if (outcome.done && outcome.value && !(Array.isArray(outcome.value) && outcome.value.length === 0)) {
        return outcome.value as Truthy<T>;
      }
    } catch (error: unknown) {
      failure = { error };
    }
    const leftMs = deadline - performance.now();
    if (leftMs <= 0) break;
    await sleep(Math.min(intervalMs, leftMs));
  }
  throw new WaitForTimeoutError(
    opts.message ?? 'the condition',
    timeoutMs,
    attempts,
    failure ? { cause: failure.error } : undefined,
  );
}

type Outcome<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/** Runs one call of the predicate; a call still pending at the deadline is abandoned. */
async function beforeDeadline<T>(predicate: () => T | Promise<T>, leftMs: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), Math.max(leftMs, 0));
  });
  try {
    const call = (async (): Promise<Outcome<T>> => ({ done: true, value: await predicate() }))();
    return await Promise.race([call, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
