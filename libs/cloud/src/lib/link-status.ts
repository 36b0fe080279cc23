import type { LinkState, LinkStatus } from './port';

/** Holds a transport's LinkStatus and tells listeners about every change of state. */
export class LinkStatusTracker {
  private current: LinkStatus;
  private readonly listeners: ((status: LinkStatus) => void)[] = [];

  constructor(
    private readonly now: () => number,
    initial: LinkState,
    reason?: string,
  ) {
    this.current = withReason({ state: initial, sinceMs: now() }, reason);
  }

  status(): LinkStatus {
    return this.current;
  }

  /** Moves to `state`; listeners hear only real changes of state (a new reason alone updates silently). */
  set(state: LinkState, reason?: string): void {
    if (this.current.state === 'closed') return;
    if (this.current.state === state) {
      if (reason !== undefined && reason !== this.current.reason)
        this.current = withReason({ ...this.current }, reason);
      return;
    }
    this.current = withReason({ state, sinceMs: this.now() }, reason);
    for (const listener of [...this.listeners]) listener(this.current);
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.listeners.push(listener);
  }
}

function withReason(status: { state: LinkState; sinceMs: number }, reason: string | undefined): LinkStatus {
  return reason === undefined ? { state: status.state, sinceMs: status.sinceMs } : { ...status, reason };
}

/** Exponential backoff with full jitter between `initialMs` and `maxMs`. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; grows ×2 per call up to `maxMs`. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(this.initialMs / 2 + this.random() * (ceiling - this.initialMs / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** A one-line description of an unknown error (with its code, e.g. ECONNREFUSED), for LinkStatus.reason and replies. */
export function describeError(err: unknown): string {
  // Duck-typed: errors from Node internals (undici, net) may come from another realm than this module's Error, and
  // AMQP errors are plain { condition, description } objects.
  if (typeof err === 'object' && err !== null) {
    const fields = err as {
      message?: unknown;
      description?: unknown;
      condition?: unknown;
      code?: unknown;
      name?: unknown;
    };
    const text = [fields.message, fields.description, fields.condition, fields.name].find(
      (v): v is string => typeof v === 'string' && v !== '',
    );
    const code =
      typeof fields.code === 'string' || typeof fields.code === 'number'
        ? String(fields.code)
        : typeof fields.condition === 'string'
          ? fields.condition
          : undefined;
    if (text !== undefined) return code !== undefined && !text.includes(code) ? `${code}: ${text}` : text;
    try {
      return JSON.stringify(err);
    } catch {
      return String(err);
    }
  }
  return String(err);
}
