import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { replyInbox } from '@voltimax/bus';
import type { Logger } from 'pino';
import { parseAckSubject } from './ack-subject';
import { decodeReading } from './decode';
import { cutFrame, planFrame, type FrameLimits, type PlannedFrame, type StreamEntry } from './framing';
import { lostBeforeFirst } from './lanes-plan';

/** Tuning of one lane. */
export interface LaneSettings {
  /** Messages per pull request at most. */
  readonly fetchBatch: number;
  /** Unframed and unsent messages held in memory at most; no pull while at the limit. */
  readonly bufferLimit: number;
  /** Wait between pulls when the lane has caught up with the stream (or the server gave nothing), ms. */
  readonly pollMs: number;
  /** Wait after a failed pull, ack or stream read, ms. */
  readonly retryMs: number;
  /** Timeout of a pull request, a confirmed ack and a read by sequence, ms. */
  readonly requestTimeoutMs: number;
  /** Reads by sequence in parallel when filling a gap. */
  readonly gapReadConcurrency: number;
}

/** What a lane reports to the publisher. */
export interface LaneEvents {
  /** A malformed message was skipped (it is acked with its frame and stays in the stream until max_age). */
  invalid(info: {
    readonly lane: string;
    readonly seq: number;
    readonly subject: string;
    readonly reason: string;
    readonly detail: string;
  }): void;
  /** Messages the stream dropped (max_bytes / max_age) before they were sent. */
  lost(info: { readonly lane: string; readonly count: number; readonly fromSeq: number; readonly toSeq: number }): void;
  /** New messages were buffered or the lane's state changed: the publisher may have work. */
  wake(): void;
}

/** Everything a lane needs. */
export interface LaneDeps {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly log: Logger;
  /** Epoch ms. */
  readonly now: () => number;
  readonly settings: LaneSettings;
  readonly events: LaneEvents;
}

/** Milliseconds of an RFC 3339 time with up to nanoseconds, truncated (as the ack subject's nanoseconds are). */
export function rfc3339Ms(text: string): number {
  return Date.parse(text.replace(/(\.\d{3})\d*/, '$1'));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The pull request in progress. */
interface Pull {
  readonly batch: number;
  received: number;
  resolve(result: PullResult): void;
}

/** How a pull request ended: the server's status (404 no messages, 408 fewer than asked), or our timeout. */
interface PullResult {
  readonly received: number;
  readonly status: number | undefined;
  readonly timedOut: boolean;
}

/**
 * One durable pull consumer and its range (see lanes-plan.ts). Pulls messages in stream order into a bounded
 * buffer (`no_wait` pull requests to one inbox that stays subscribed, so nothing the server sends is ever dropped by
 * the client), validates each, fills gaps (messages a crashed run had pulled and not acked are pending on the server
 * and come back only after ack_wait, so they are read by sequence instead; messages the stream dropped are counted as
 * lost), cuts frames (framing.ts), and acks ("ack all") at the end of each frame the cloud accepted.
 */
export class Lane {
  /** Last sequence of a backlog lane; undefined for the live lane. */
  endSeq: number | undefined;
  /** Every sequence up to this one is buffered, sent or counted lost. */
  receivedThrough: number;
  /** Every sequence up to this one was accepted by the cloud (or was malformed or lost). */
  acceptedThrough: number;
  /** The server's ack floor as far as we know it (confirmed acks). */
  ackedThrough: number;
  /** Our clock when the lane last knew it had every message the stream held (live lane only). */
  caughtUpAsOfMs: number | undefined;

  private entries: StreamEntry[] = [];
  private head: PlannedFrame | undefined;
  /** Ack subjects of delivered messages by stream sequence (messages read by sequence have none). */
  private readonly handles = new Map<number, string>();
  /** Deliveries beyond a gap, waiting for the gap to be filled. */
  private readonly ahead = new Map<number, { entry: StreamEntry; reply: string }>();
  /** Under the connection's inbox prefix: the only inboxes nats.conf lets this user subscribe. */
  private readonly inbox: string;
  private sub: Subscription | undefined;
  private pull: Pull | undefined;
  private running = false;
  private paused = false;
  private pulling = false;
  private pullFailures = 0;
  private loop: Promise<void> | undefined;
  private gapFill: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private ackTarget: { seq: number; reply: string } | undefined;
  private acking: Promise<void> | undefined;
  private redeliveries = 0;

  constructor(
    private readonly deps: LaneDeps,
    readonly name: string,
    readonly startSeq: number,
    endSeq: number | undefined,
  ) {
    this.endSeq = endSeq;
    this.inbox = replyInbox(deps.nc);
    this.receivedThrough = startSeq - 1;
    this.acceptedThrough = startSeq - 1;
    this.ackedThrough = startSeq - 1;
  }

  /** Whether this is the live lane. */
  get live(): boolean {
    return this.endSeq === undefined;
  }

  /** Messages held in memory (unsent, including the head frame and deliveries beyond a gap). */
  get buffered(): number {
    return this.entries.length + this.ahead.size;
  }

  /** Redelivered messages ignored so far (already held or already sent). */
  get redeliveriesIgnored(): number {
    return this.redeliveries;
  }

  /** Everything in this backlog lane was accepted (or lost): its consumer can go. */
  get drained(): boolean {
    return this.endSeq !== undefined && this.acceptedThrough >= this.endSeq;
  }

  /** Stream time of the first message not yet accepted, if the lane holds it. */
  headStoredAtMs(): number | undefined {
    return this.entries[0]?.storedAtMs;
  }

  /**
   * Reads the consumer's position and starts pulling. A gap between the ack floor and what the server delivered
   * (a previous run's unacked window) is read by sequence first, so frames restart exactly at the ack floor.
   */
  async start(): Promise<void> {
    const { jsm, stream, nc } = this.deps;
    const info = await jsm.consumers.info(stream, this.name);
    const floor = Math.max(info.ack_floor.stream_seq, this.startSeq - 1);
    this.receivedThrough = floor;
    this.acceptedThrough = floor;
    this.ackedThrough = floor;
    this.entries = [];
    this.head = undefined;
    this.ahead.clear();
    this.handles.clear();
    const delivered =
      this.endSeq === undefined ? info.delivered.stream_seq : Math.min(info.delivered.stream_seq, this.endSeq);
    this.sub = nc.subscribe(this.inbox, { callback: (err, msg) => (err ? undefined : this.onInbox(msg)) });
    this.running = true;
    if (delivered > this.receivedThrough) {
      this.deps.log.info(
        { lane: this.name, fromSeq: this.receivedThrough + 1, toSeq: delivered },
        'reading the unacknowledged window of a previous run by sequence',
      );
      this.gapFill = this.fillGaps(delivered).finally(() => {
        this.gapFill = undefined;
      });
    }
    this.loop = this.run();
  }

  /** Stops pulling and waits for the current pull to end. Buffered messages stay unacked (sent again next start). */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeLoop?.();
    this.pull?.resolve({ received: this.pull.received, status: undefined, timedOut: true });
    await this.loop;
    await this.gapFill;
    await this.acking;
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  /** Stops pulling until {@link resume} (for a split); resolves once no pull is in progress. */
  async pause(): Promise<void> {
    this.paused = true;
    while (this.pulling || this.gapFill !== undefined) await sleep(5);
  }

  resume(): void {
    this.paused = false;
    this.wakeLoop?.();
  }

  /** Makes this the backlog lane ending at `endSeq`: anything beyond is dropped from memory (never acked). */
  endAt(endSeq: number): void {
    this.endSeq = endSeq;
    this.caughtUpAsOfMs = undefined;
    if (this.head !== undefined && this.head.lastSeq > endSeq) this.head = undefined;
    this.entries = this.entries.filter((e) => e.seq <= endSeq);
    for (const seq of [...this.ahead.keys()]) if (seq > endSeq) this.ahead.delete(seq);
    for (const seq of [...this.handles.keys()]) if (seq > endSeq) this.handles.delete(seq);
    if (this.receivedThrough > endSeq) this.receivedThrough = endSeq;
  }

  /** The next frame to send (the same object until it is accepted), or undefined while none is closed. */
  nextFrame(gatewayId: string, limits: FrameLimits, graceMs: number): PlannedFrame | undefined {
    if (this.head !== undefined) return this.head;
    const complete = this.endSeq !== undefined && this.receivedThrough >= this.endSeq;
    const count = cutFrame(this.entries, limits, {
      complete,
      caughtUpAsOfMs: this.endSeq === undefined ? this.caughtUpAsOfMs : undefined,
      graceMs,
    });
    if (count === 0) return undefined;
    this.head = planFrame(gatewayId, this.entries.slice(0, count), limits);
    return this.head;
  }

  /** The cloud accepted `frame` (the head): drop it and ack the stream through its last message. */
  accepted(frame: PlannedFrame): void {
    if (frame !== this.head) throw new Error(`lane ${this.name}: accepted a frame that is not its head`);
    this.head = undefined;
    this.entries = this.entries.slice(frame.entries.length);
    this.acceptedThrough = frame.lastSeq;
    this.settleAccepted();
    let target: { seq: number; reply: string } | undefined;
    for (const entry of frame.entries) {
      const reply = this.handles.get(entry.seq);
      if (reply !== undefined) {
        target = { seq: entry.seq, reply };
        this.handles.delete(entry.seq);
      }
    }
    if (target !== undefined) this.ackThrough(target);
    this.deps.events.wake();
    this.wakeLoop?.();
  }

  /**
   * Counts what the stream dropped before this lane received it (`firstSeq` from the stream info) and moves past it.
   */
  accountLoss(firstSeq: number): void {
    const before = this.receivedThrough;
    const { lost, receivedThrough } = lostBeforeFirst(before, firstSeq, this.endSeq);
    if (lost === 0) return;
    this.receivedThrough = receivedThrough;
    this.settleAccepted();
    this.deps.events.lost({ lane: this.name, count: lost, fromSeq: before + 1, toSeq: receivedThrough });
    this.drainAhead();
    this.deps.events.wake();
  }

  /** Waits (bounded) until the last ack was confirmed. */
  async flushAcks(timeoutMs: number): Promise<void> {
    const deadline = this.deps.now() + timeoutMs;
    while (this.acking !== undefined && this.deps.now() < deadline) await sleep(10);
  }

  /** With nothing buffered, everything received (or lost) is done. */
  private settleAccepted(): void {
    if (this.entries.length === 0 && this.acceptedThrough < this.receivedThrough)
      this.acceptedThrough = this.receivedThrough;
  }

  private finishedPulling(): boolean {
    return this.endSeq !== undefined && this.receivedThrough >= this.endSeq && this.ahead.size === 0;
  }

  private async run(): Promise<void> {
    const { log, settings, now } = this.deps;
    while (this.running) {
      if (
        this.paused ||
        this.gapFill !== undefined ||
        this.finishedPulling() ||
        this.buffered >= settings.bufferLimit
      ) {
        await this.waitForWake(this.gapFill === undefined ? 1000 : 20);
        continue;
      }
      this.pulling = true;
      let idle = false;
      try {
        const batch = Math.max(1, Math.min(settings.fetchBatch, settings.bufferLimit - this.buffered));
        const startedAtMs = now();
        const result = await this.pullOnce(batch);
        this.pullFailures = 0;
        const caughtUp =
          !result.timedOut && (result.status === 404 || (result.status === 408 && result.received < batch));
        if (this.live && caughtUp) this.caughtUpAsOfMs = startedAtMs;
        idle = result.received < batch;
        this.deps.events.wake();
      } catch (err) {
        this.pullFailures += 1;
        if (this.pullFailures === 1 || this.pullFailures % 60 === 0) {
          log.warn({ err, lane: this.name, failures: this.pullFailures }, 'pull failed; retrying');
        }
        await sleep(settings.retryMs);
      } finally {
        this.pulling = false;
      }
      if (idle && this.running) await this.waitForWake(settings.pollMs);
    }
  }

  private waitForWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeLoop = undefined;
        resolve();
      }, ms);
      this.wakeLoop = () => {
        clearTimeout(timer);
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  /** One `no_wait` pull: what is there now, up to `batch`; ends with the server's status or our timeout. */
  private pullOnce(batch: number): Promise<PullResult> {
    const { nc, stream, settings } = this.deps;
    return new Promise<PullResult>((resolve) => {
      const timer = setTimeout(
        () => finish({ received: pull.received, status: undefined, timedOut: true }),
        settings.requestTimeoutMs,
      );
      const finish = (result: PullResult): void => {
        clearTimeout(timer);
        if (this.pull === pull) this.pull = undefined;
        resolve(result);
      };
      const pull: Pull = { batch, received: 0, resolve: finish };
      this.pull = pull;
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${this.name}`, JSON.stringify({ batch, no_wait: true }), {
        reply: this.inbox,
      });
    });
  }

  private onInbox(msg: Msg): void {
    const meta = parseAckSubject(msg.reply);
    if (meta === undefined) {
      // A status of the pull request (404 no messages, 408 fewer than asked, 409 …), or something foreign.
      const code = msg.headers?.code;
      if (code !== undefined && code > 0)
        this.pull?.resolve({ received: this.pull.received, status: code, timedOut: false });
      return;
    }
    const pull = this.pull;
    if (pull !== undefined) {
      pull.received += 1;
      if (pull.received >= pull.batch) pull.resolve({ received: pull.received, status: undefined, timedOut: false });
    }
    this.onMessage(meta.streamSeq, meta.storedAtMs, msg.subject, msg.data, msg.reply as string);
  }

  private onMessage(seq: number, storedAtMs: number, subject: string, data: Uint8Array, reply: string): void {
    if (this.endSeq !== undefined && seq > this.endSeq) return; // belongs to the next lane; never acked here
    if (seq <= this.receivedThrough) {
      this.redeliveries += 1;
      if (seq <= this.acceptedThrough)
        this.deps.nc.publish(reply, '+ACK'); // already sent: "ack all" through it is safe
      else if (!this.handles.has(seq)) this.handles.set(seq, reply);
      return;
    }
    if (this.ahead.has(seq)) return;
    const entry = this.toEntry(seq, subject, data, storedAtMs);
    if (seq === this.receivedThrough + 1 && this.gapFill === undefined) {
      this.append(entry, reply);
      this.drainAhead();
      return;
    }
    this.ahead.set(seq, { entry, reply });
    this.gapFill ??= this.fillGaps(undefined).finally(() => {
      this.gapFill = undefined;
      this.deps.events.wake();
      this.wakeLoop?.();
    });
  }

  private append(entry: StreamEntry, reply: string | undefined): void {
    this.entries.push(entry);
    if (reply !== undefined) this.handles.set(entry.seq, reply);
    this.receivedThrough = entry.seq;
  }

  private drainAhead(): void {
    if (this.ahead.size === 0) return;
    for (;;) {
      const next = this.ahead.get(this.receivedThrough + 1);
      if (next === undefined) break;
      this.ahead.delete(next.entry.seq);
      this.append(next.entry, next.reply);
    }
    // Anything at or below receivedThrough is stale now (counted lost or read by sequence).
    for (const seq of [...this.ahead.keys()]) if (seq <= this.receivedThrough) this.ahead.delete(seq);
  }

  /**
   * Closes every gap before the deliveries held beyond one (and up to `throughSeq` when given): what the stream no
   * longer has is counted lost, the rest is read by sequence (a previous run's unacked window, or messages the
   * server holds back for redelivery).
   */
  private async fillGaps(throughSeq: number | undefined): Promise<void> {
    const { jsm, stream, settings, log } = this.deps;
    let failures = 0;
    while (this.running) {
      this.drainAhead();
      const waiting = this.ahead.size === 0 ? undefined : Math.min(...this.ahead.keys()) - 1;
      let target = Math.max(waiting ?? 0, throughSeq ?? 0);
      if (this.endSeq !== undefined) target = Math.min(target, this.endSeq);
      if (target <= this.receivedThrough) return;
      try {
        const info = await jsm.streams.info(stream);
        this.accountLoss(info.state.first_seq);
        const from = this.receivedThrough + 1;
        const to = Math.min(target, from + settings.gapReadConcurrency - 1);
        if (from > to) continue;
        const seqs = Array.from({ length: to - from + 1 }, (_, i) => from + i);
        const stored = await Promise.all(seqs.map((seq) => this.readBySeq(seq)));
        for (let i = 0; i < seqs.length; i += 1) {
          const seq = seqs[i] as number;
          if (seq !== this.receivedThrough + 1) continue; // moved on meanwhile (loss counted)
          const sm = stored[i];
          const held = this.ahead.get(seq);
          if (held !== undefined) {
            this.ahead.delete(seq);
            this.append(held.entry, held.reply);
          } else if (sm === null || sm === undefined) {
            this.receivedThrough = seq;
            this.settleAccepted();
            this.deps.events.lost({ lane: this.name, count: 1, fromSeq: seq, toSeq: seq });
          } else {
            this.append(this.toEntry(seq, sm.subject, sm.data, rfc3339Ms(sm.timestamp)), undefined);
          }
        }
        failures = 0;
        this.deps.events.wake();
      } catch (err) {
        failures += 1;
        if (failures === 1 || failures % 60 === 0) {
          log.warn(
            { err, lane: this.name, fromSeq: this.receivedThrough + 1, toSeq: target, failures },
            'reading a gap failed; retrying',
          );
        }
        await sleep(settings.retryMs);
      }
    }
  }

  private readBySeq(seq: number): Promise<StoredMsg | null> {
    return this.deps.jsm.streams.getMessage(this.deps.stream, { seq });
  }

  private toEntry(seq: number, subject: string, data: Uint8Array, storedAtMs: number): StreamEntry {
    const decoded = decodeReading(subject, data);
    if (decoded.ok) return { seq, storedAtMs, reading: decoded.reading, bytes: decoded.bytes };
    this.deps.events.invalid({ lane: this.name, seq, subject, reason: decoded.reason, detail: decoded.detail });
    return { seq, storedAtMs, reading: undefined, bytes: 0 };
  }

  /** Acks (all) through `target`, confirmed; a newer target replaces an older one that is still waiting. */
  private ackThrough(target: { seq: number; reply: string }): void {
    this.ackTarget = target;
    this.acking ??= this.ackLoop().finally(() => {
      this.acking = undefined;
    });
  }

  private async ackLoop(): Promise<void> {
    const { log, settings, nc } = this.deps;
    let failures = 0;
    while (this.ackTarget !== undefined) {
      const target = this.ackTarget;
      try {
        await nc.request(target.reply, '+ACK', { timeout: settings.requestTimeoutMs });
        if (this.ackTarget === target) this.ackTarget = undefined;
        this.ackedThrough = Math.max(this.ackedThrough, target.seq);
        failures = 0;
      } catch (err) {
        failures += 1;
        if (failures === 1 || failures % 30 === 0)
          log.warn({ err, lane: this.name, seq: target.seq, failures }, 'ack not confirmed; retrying');
        if (!this.running) return; // stopping: the next start acks from the server's ack floor
        await sleep(settings.retryMs);
      }
    }
  }
}
