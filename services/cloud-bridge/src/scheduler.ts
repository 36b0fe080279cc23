/**
 * Time for the bridge's own loops (configuration poll, price schedule, counters). Injected, so a test can move the
 * clock a day ahead in seconds (src/testing/virtual-clock.ts); production uses {@link REAL_SCHEDULER}.
 */
export interface Scheduler {
  /** Epoch ms. */
  now(): number;
  /**
   * Run `task` once after `ms`; returns a cancel function. A task may return a promise: a virtual clock waits for it
   * before it moves on, so a loop that re-arms itself after async work keeps its cadence under a simulated clock.
   */
  after(ms: number, task: () => void | Promise<void>): () => void;
}

/** Wall clock and setTimeout. */
export const REAL_SCHEDULER: Scheduler = {
  now: () => Date.now(),
  after(ms, task) {
    const timer = setTimeout(() => void task(), Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};
