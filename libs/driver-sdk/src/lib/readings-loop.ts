/** What {@link createPollLoop} runs. */
export interface PollLoopOptions {
  /** Time between ticks, ms (the asset's poll interval). */
  readonly intervalMs: number;
  /** One read-and-publish cycle; never two at once. A rejection is handed to `onError`. */
  readonly cycle: () => Promise<void>;
  /** A tick that finds the previous cycle still running (e.g. `readings.checkStale()`). */
  readonly onBusy?: () => void;
  /** A cycle that rejected (cycles normally publish their own error readings and never reject). */
  readonly onError?: (err: unknown) => void;
}

/** A per-asset poll loop. */
export interface PollLoop {
  /** The first cycle runs at once, then one every interval. */
  start(): void;
  /** No more ticks; resolves once the cycle in flight has ended. */
  stop(): Promise<void>;
  readonly stopped: boolean;
}

/**
 * A tick every `intervalMs`: starts a cycle unless the previous one is still running, in which case only `onBusy`
 * runs — a slow or hanging device never gets overlapping reads, and consumers still learn that the value is aging.
 */
export function createPollLoop(opts: PollLoopOptions): PollLoop {
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    timer = setTimeout(tick, opts.intervalMs);
    if (inFlight !== undefined) {
      opts.onBusy?.();
      return;
    }
    let cycle: Promise<void>;
    try {
      cycle = opts.cycle(); // started within the tick, as the timer fires
    } catch (err) {
      cycle = Promise.reject(err);
    }
    inFlight = cycle
      .catch((err: unknown) => opts.onError?.(err))
      .finally(() => {
        inFlight = undefined;
      });
  };
  return {
    start: tick,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
    },
    get stopped() {
      return stopped;
    },
  };
}
