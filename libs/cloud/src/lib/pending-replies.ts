/** A reply waiting for the link, with the time after which it is no longer worth sending. */
export interface QueuedReply<T> {
  readonly correlationId: string;
  readonly messageType: string;
  readonly queuedAtMs: number;
  readonly expiresAtMs: number;
  readonly item: T;
}

/**
 * Replies that could not be sent while the link was down, bounded in count (the oldest is expired first when full)
 * and in age (`ttlMs`).
 */
export class PendingReplies<T> {
  private readonly queue: QueuedReply<T>[] = [];

  constructor(
    private readonly ttlMs: number,
    private readonly capacity = 1000,
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** Queues a reply; returns the replies pushed out because the queue was full (report them as expired). */
  add(entry: Omit<QueuedReply<T>, 'expiresAtMs'>): QueuedReply<T>[] {
    this.queue.push({ ...entry, expiresAtMs: entry.queuedAtMs + this.ttlMs });
    return this.queue.length > this.capacity ? this.queue.splice(0, this.queue.length - this.capacity) : [];
  }

  /** Empties the queue: what is still fresh at `nowMs` (oldest first), and what expired. */
  drain(nowMs: number): { readonly fresh: QueuedReply<T>[]; readonly expired: QueuedReply<T>[] } {
    const all = this.queue.splice(0, this.queue.length);
    return { fresh: all.filter((r) => r.expiresAtMs > nowMs), expired: all.filter((r) => r.expiresAtMs <= nowMs) };
  }

  /** Removes and returns what expired by `nowMs`, leaving the rest queued. */
  expire(nowMs: number): QueuedReply<T>[] {
    const expired = this.queue.filter((r) => r.expiresAtMs <= nowMs);
    if (expired.length > 0) {
      const fresh = this.queue.filter((r) => r.expiresAtMs > nowMs);
      this.queue.splice(0, this.queue.length, ...fresh);
    }
    return expired;
  }
}
