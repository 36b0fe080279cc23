import type { Logger } from 'pino';
import { PendingReplies, type QueuedReply } from './pending-replies';
import type { DeferredReply } from './port';

/**
 * Replies a command channel could not send (link down): kept up to a TTL, swept on a timer so an expiry is reported
 * even while the link stays down, and reported to listeners as `delivered` or `expired`.
 */
export class DeferredReplies<T> {
  private readonly pending: PendingReplies<T>;
  private readonly listeners: ((reply: DeferredReply) => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ttlMs: number,
    capacity: number,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {
    this.pending = new PendingReplies(ttlMs, capacity);
  }

  get size(): number {
    return this.pending.size;
  }

  onReport(listener: (reply: DeferredReply) => void): void {
    this.listeners.push(listener);
  }

  /** Queues a reply until the link is back. */
  add(meta: { readonly correlationId: string; readonly messageType: string }, item: T): void {
    const pushedOut = this.pending.add({ ...meta, queuedAtMs: this.now(), item });
    this.log.info({ ...meta, pendingReplies: this.pending.size }, 'reply queued until the link is back');
    this.report(pushedOut, 'expired');
    this.ensureSweep();
  }

  /** Puts back a reply whose late send failed, keeping its original queue time (and so its expiry). */
  requeue(queued: QueuedReply<T>): void {
    this.report(
      this.pending.add({
        correlationId: queued.correlationId,
        messageType: queued.messageType,
        queuedAtMs: queued.queuedAtMs,
        item: queued.item,
      }),
      'expired',
    );
    this.ensureSweep();
  }

  /** Takes every queued reply that is still fresh (oldest first); the expired ones are reported. */
  takeFresh(): QueuedReply<T>[] {
    if (this.pending.size === 0) return [];
    const { fresh, expired } = this.pending.drain(this.now());
    this.report(expired, 'expired');
    return fresh;
  }

  /** Time left before `queued` expires, ms (at least 1). */
  remainingMs(queued: QueuedReply<T> | undefined): number {
    return queued === undefined ? this.ttlMs : Math.max(1, queued.expiresAtMs - this.now());
  }

  delivered(queued: QueuedReply<T>): void {
    this.report([queued], 'delivered');
  }

  close(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.pending.size > 0) this.log.warn({ pendingReplies: this.pending.size }, 'closing with unsent replies');
  }

  private ensureSweep(): void {
    if (this.sweepTimer !== undefined) return;
    const everyMs = Math.max(50, Math.min(this.ttlMs / 4, 10_000));
    this.sweepTimer = setInterval(() => {
      this.report(this.pending.expire(this.now()), 'expired');
      if (this.pending.size === 0) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    }, everyMs);
    this.sweepTimer.unref();
  }

  private report(replies: readonly QueuedReply<T>[], outcome: DeferredReply['outcome']): void {
    for (const queued of replies) {
      const event: DeferredReply = {
        correlationId: queued.correlationId,
        messageType: queued.messageType,
        queuedAtMs: queued.queuedAtMs,
        outcome,
        atMs: this.now(),
      };
      if (outcome === 'expired') this.log.warn({ ...event }, 'reply expired before the link came back');
      for (const listener of [...this.listeners]) listener(event);
    }
  }
}
