import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { ExponentialBackoff, TaskCancelledError, TimeoutStrategy, timeout, type IBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import type { ModbusTransport, ResolvedEndpoint } from './endpoint';
import { ModbusConnectionError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError } from './errors';
import type { LinkOpener, ModbusLink } from './link';
import type { ModbusOperation } from './requests';

/** Backoff between failed connect attempts to one endpoint (exponential with decorrelated jitter). */
export interface ReconnectOptions {
  /** Scale of the first delay, ms (default 250; the first delay is jittered around it). */
  readonly initialDelayMs: number;
  /** Upper bound of any delay, ms (default 10 000). */
  readonly maxDelayMs: number;
}

/** What {@link ModbusConnection} needs. */
export interface ConnectionOptions {
  readonly endpoint: ResolvedEndpoint;
  readonly log: Logger;
  readonly openLink: LinkOpener;
  readonly reconnect: ReconnectOptions;
  /** Close the link after a timeout so a late or partial answer cannot be taken for the next response. */
  readonly resetOnTimeout: boolean;
}

/** Observable state of one endpoint's connection, for health reporting. */
export interface ModbusConnectionHealth {
  /** Endpoint key (`host:port` or serial path). */
  readonly endpoint: string;
  readonly transport: ModbusTransport;
  /** A socket or serial port is open right now. */
  readonly connected: boolean;
  /** Transactions waiting for their turn (not counting the one in flight). */
  readonly queued: number;
  /** A transaction is on the wire right now. */
  readonly inFlight: boolean;
  /** Connect attempts that failed in a row (0 after a completed transaction). */
  readonly connectFailures: number;
  /** How long until the next connect attempt is allowed, ms (0 = now). */
  readonly reconnectInMs: number;
}

interface Job {
  readonly op: ModbusOperation;
  readonly timeoutMs: number;
  readonly resolve: (words: readonly number[]) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One physical connection shared by every unit behind it, with a strictly serial transaction queue: one request on
 * the wire at a time, in arrival order, with a quiet gap between transactions and a settle time after writes. The
 * transport is (re)opened on demand; a dead one is dropped at once and reopened by the next request, with an
 * exponential backoff while connecting keeps failing.
 */
export class ModbusConnection {
  private link: ModbusLink | undefined;
  /** The current link completed at least one transaction (so it was a real connection, not an accept-and-drop). */
  private linkUsed = false;
  private readonly queue: Job[] = [];
  private pumping = false;
  private inFlight = false;
  private lastEndAtMs = Number.NEGATIVE_INFINITY;
  private lastWasWrite = false;
  private connectFailures = 0;
  private backoff: IBackoff<unknown> | undefined;
  private nextConnectAtMs = 0;
  private lastConnectError: unknown;
  private closed = false;
  private readonly reconnectBackoff: ExponentialBackoff<unknown>;

  constructor(private readonly options: ConnectionOptions) {
    this.reconnectBackoff = new ExponentialBackoff({
      initialDelay: options.reconnect.initialDelayMs,
      maxDelay: options.reconnect.maxDelayMs,
    });
  }

  /** Endpoint key. */
  get key(): string {
    return this.options.endpoint.key;
  }

  /** The resolved endpoint this connection serves. */
  get endpoint(): ResolvedEndpoint {
    return this.options.endpoint;
  }

  /**
   * Queue one transaction; resolves with the response words. `timeoutMs` bounds the time on the wire (from sending
   * the request to the complete response), not the wait in the queue or the connect.
   */
  run(op: ModbusOperation, timeoutMs: number): Promise<readonly number[]> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<readonly number[]>((resolve, reject) => {
      this.queue.push({ op, timeoutMs, resolve, reject });
      void this.pump();
    });
  }

  health(): ModbusConnectionHealth {
    return {
      endpoint: this.key,
      transport: this.options.endpoint.transport,
      connected: this.link?.isOpen ?? false,
      queued: this.queue.length,
      inFlight: this.inFlight,
      connectFailures: this.connectFailures,
      reconnectInMs: Math.max(0, Math.ceil(this.nextConnectAtMs - performance.now())),
    };
  }

  /** Fail everything queued, close the transport; later calls fail with a `closed` ModbusConnectionError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(this.closedError());
    const link = this.link;
    this.link = undefined;
    if (link) await link.close();
  }

  private closedError(): ModbusConnectionError {
    return new ModbusConnectionError(this.key, 'closed', 'the Modbus pool is closed');
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let job = this.queue.shift(); job !== undefined; job = this.queue.shift()) await this.runJob(job);
    } finally {
      this.pumping = false;
    }
  }

  private quietUntilMs(): number {
    const { interFrameGapMs, settleAfterWriteMs } = this.options.endpoint;
    return this.lastEndAtMs + (this.lastWasWrite ? Math.max(interFrameGapMs, settleAfterWriteMs) : interFrameGapMs);
  }

  /** Wait out the gap; loops because timers run on libuv's millisecond loop clock and may fire ~1 ms early. */
  private async quiet(): Promise<void> {
    let waitMs = this.quietUntilMs() - performance.now();
    while (waitMs > 0) {
      await delay(Math.ceil(waitMs));
      waitMs = this.quietUntilMs() - performance.now();
    }
  }

  private async runJob(job: Job): Promise<void> {
    try {
      await this.quiet();
      if (this.closed) throw this.closedError();
      const link = await this.ensureLink();
      this.inFlight = true;
      try {
        job.resolve(await this.transact(link, job));
      } finally {
        this.inFlight = false;
        this.lastEndAtMs = performance.now();
        this.lastWasWrite = job.op.kind === 'write';
      }
    } catch (err) {
      job.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async transact(link: ModbusLink, job: Job): Promise<readonly number[]> {
    try {
      const words = await timeout(job.timeoutMs, TimeoutStrategy.Aggressive).execute(() => link.execute(job.op));
      this.transactionCompleted();
      return words;
    } catch (err) {
      if (err instanceof TaskCancelledError) {
        if (this.options.resetOnTimeout) this.dropLink(link, 'timeout');
        throw new ModbusTimeoutError(this.key, job.op.unitId, job.timeoutMs, { cause: err });
      }
      if (err instanceof ModbusExceptionError) {
        this.transactionCompleted();
      } else if (err instanceof ModbusProtocolError || err instanceof ModbusConnectionError) {
        this.dropLink(link, err.name);
      }
      throw err;
    }
  }

  private transactionCompleted(): void {
    this.linkUsed = true;
    if (this.connectFailures > 0) {
      this.options.log.info(
        { endpoint: this.key, connectFailures: this.connectFailures },
        'modbus connection recovered',
      );
    }
    this.connectFailures = 0;
    this.backoff = undefined;
    this.nextConnectAtMs = 0;
    this.lastConnectError = undefined;
  }

  private async ensureLink(): Promise<ModbusLink> {
    const current = this.link;
    if (current?.isOpen) return current;
    if (current) this.dropLink(current, 'not-open');
    const waitMs = Math.ceil(this.nextConnectAtMs - performance.now());
    if (waitMs > 0) {
      throw new ModbusConnectionError(
        this.key,
        'reconnect-backoff',
        `not connected; next connect attempt in ${waitMs} ms after ${this.connectFailures} failure(s)`,
        { retryInMs: waitMs, cause: this.lastConnectError },
      );
    }
    let link: ModbusLink;
    try {
      link = await this.options.openLink(this.options.endpoint);
    } catch (err) {
      this.connectFailed(err);
      throw err instanceof ModbusConnectionError
        ? err
        : new ModbusConnectionError(this.key, 'connect-failed', 'connect failed', { cause: err });
    }
    if (this.closed) {
      await link.close();
      throw this.closedError();
    }
    this.link = link;
    this.linkUsed = false;
    link.onClose((cause) => this.linkClosed(link, cause));
    this.options.log.debug({ endpoint: this.key, transport: this.options.endpoint.transport }, 'modbus connected');
    return link;
  }

  /** The transport died by itself (peer closed, reset, serial error). Our own drops are not reported here. */
  private linkClosed(link: ModbusLink, cause: unknown): void {
    if (this.link !== link) return;
    this.link = undefined;
    if (this.closed) return;
    if (this.linkUsed) {
      this.options.log.warn({ endpoint: this.key, err: cause }, 'modbus connection lost');
    } else {
      // closed before it ever answered (e.g. a one-connection device accepting and dropping a second client)
      this.connectFailed(cause);
    }
  }

  private dropLink(link: ModbusLink, reason: string): void {
    if (this.link === link) this.link = undefined;
    this.options.log.debug({ endpoint: this.key, reason }, 'modbus connection reset');
    void link.close();
  }

  private connectFailed(cause: unknown): void {
    this.connectFailures += 1;
    this.lastConnectError = cause;
    this.backoff = this.backoff ? this.backoff.next(undefined) : this.reconnectBackoff.next();
    this.nextConnectAtMs = performance.now() + this.backoff.duration;
    const fields = {
      endpoint: this.key,
      err: cause,
      connectFailures: this.connectFailures,
      retryInMs: Math.round(this.backoff.duration),
    };
    // the first failure is news; the repeats while the device stays away are not
    if (this.connectFailures === 1) this.options.log.warn(fields, 'modbus connect failed');
    else this.options.log.debug(fields, 'modbus connect failed');
  }
}
