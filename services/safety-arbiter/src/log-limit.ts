import type { Logger } from 'pino';

/**
 * At most one log line per key per interval; the next line that gets through carries `suppressed: <n>`. Bad input
 * from one misbehaving publisher must not flood the log (STYLE § 6.2); counters count everything regardless.
 */
export class LimitedLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  write(key: string, level: 'warn' | 'error' | 'info', fields: Record<string, unknown>, message: string): void {
    const nowMs = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && nowMs - seen.atMs < this.intervalMs) {
      seen.suppressed += 1;
      return;
    }
    this.last.set(key, { atMs: nowMs, suppressed: 0 });
    const extra = seen !== undefined && seen.suppressed > 0 ? { suppressed: seen.suppressed } : {};
    this.log[level]({ ...fields, ...extra }, message);
  }

  /** Forget a key, so the next line for it is written at once (e.g. when a fault clears and comes back). */
  reset(key: string): void {
    this.last.delete(key);
  }
}
