import type { Logger } from 'pino';

/** Options for {@link RateLimitedLog}. */
export interface RateLimitedLogOptions {
  /** At most one line per key per this interval, ms. */
  readonly intervalMs: number;
  /** Epoch ms; injectable for tests. */
  readonly now: () => number;
}

type Level = 'warn' | 'error';

/**
 * One log line per key per interval; the lines in between are counted and reported as `suppressed` on the next
 * line that gets through. One misbehaving publisher must not flood the log.
 */
export class RateLimitedLog {
  private readonly windows = new Map<string, { openedAtMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly opts: RateLimitedLogOptions,
  ) {}

  write(key: string, level: Level, fields: Record<string, unknown>, msg: string): void {
    const nowMs = this.opts.now();
    const window = this.windows.get(key);
    if (window && nowMs - window.openedAtMs < this.opts.intervalMs) {
      window.suppressed += 1;
      return;
    }
    const suppressed = window?.suppressed ?? 0;
    this.windows.set(key, { openedAtMs: nowMs, suppressed: 0 });
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }
}
