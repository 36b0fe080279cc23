import type {
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusSender,
  ServiceBusSessionReceiver,
} from '@azure/service-bus';
import type { CloudReplyEnvelope } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { buildReply, decodeCommand, parseJsonBody, RecentCommands, runHandler } from '../commands';
import { DeferredReplies } from '../deferred-replies';
import { Backoff, describeError, LinkStatusTracker } from '../link-status';
import type { QueuedReply } from '../pending-replies';
import type { CommandChannel, CommandHandler, DeferredReply, LinkStatus, RejectedCommand } from '../port';
import {
  bodyBytes,
  createServiceBusClient,
  InFlight,
  pause,
  SB_DEFAULTS,
  SB_PROPERTY,
  stringId,
  toTransportError,
  type ServiceBusConnectionOptions,
} from './servicebus-common';

/** Options of {@link ServiceBusCommandChannel}. */
export interface ServiceBusCommandChannelOptions extends ServiceBusConnectionOptions {
  readonly gatewayId: string;
  /** Session queue of commands (site settings `commandQueue`); default `gateway-commands`. */
  readonly commandQueue?: string;
  /** Session queue of replies (site settings `replyQueue`); default `cloud-replies`. */
  readonly replyQueue?: string;
  /** How long a reply that cannot be sent (link down) is kept, ms; default 600 000. */
  readonly replyTtlMs?: number;
  readonly maxPendingReplies?: number;
  /** Commands handled at the same time; default 16. */
  readonly maxConcurrentCommands?: number;
}

/** How long the SDK keeps renewing the session lock: in effect for as long as the session is held. */
const RENEW_FOR_MS = 10 * 365 * 24 * 3600_000;

interface OutgoingReply {
  readonly message: ServiceBusMessage;
  readonly correlationId: string;
  readonly messageType: string;
}

/**
 * Cloud commands over Azure Service Bus (gateway side). Accepts the session `<gatewayId>` on the command queue and
 * keeps it: the SDK renews the session lock, and when the session or the connection is lost (a session receiver does
 * not recover by itself) the channel accepts it again with backoff. Each message is routed by its `MessageType`
 * application property, its body is the request payload, its `messageId` the correlation id. The reply goes to the
 * reply queue with `sessionId` = the request's `replyToSessionId` (or the gateway id), `correlationId` = the
 * request's `messageId`, the reply payload as body and `MessageType`, `GatewayId`, `Ok`, `Error`, `SentAtMs` as
 * application properties. A malformed message is dead-lettered with DeadLetterReason (a RejectionCode) and
 * DeadLetterErrorDescription, and answered with `Ok = false` when it names a reply session.
 */
export class ServiceBusCommandChannel implements CommandChannel {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly tracker: LinkStatusTracker;
  private readonly commandQueue: string;
  private readonly replyQueue: string;
  private readonly pending: DeferredReplies<OutgoingReply>;
  private readonly recent = new RecentCommands();
  private readonly rejectedListeners: ((rejected: RejectedCommand) => void)[] = [];
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private readonly handling = new InFlight();
  private client: ServiceBusClient | undefined;
  private replySender: ServiceBusSender | undefined;
  private receiver: ServiceBusSessionReceiver | undefined;
  private handler: CommandHandler | undefined;
  private loop: Promise<void> | undefined;
  private inFlight = 0;
  private flushing = false;

  constructor(private readonly opts: ServiceBusCommandChannelOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.tracker = new LinkStatusTracker(this.now, 'connecting');
    this.commandQueue = opts.commandQueue ?? SB_DEFAULTS.commandQueue;
    this.replyQueue = opts.replyQueue ?? SB_DEFAULTS.replyQueue;
    this.pending = new DeferredReplies(opts.replyTtlMs ?? 600_000, opts.maxPendingReplies ?? 1000, this.now, this.log);
    this.backoff = new Backoff(opts.reconnectInitialMs ?? 500, opts.reconnectMaxMs ?? 30_000);
  }

  start(handler: CommandHandler): Promise<void> {
    if (this.handler !== undefined) return Promise.reject(new Error('command channel already started'));
    if (this.stopping.signal.aborted) return Promise.reject(new Error('command channel is closed'));
    this.handler = handler;
    const client = createServiceBusClient(this.opts);
    this.client = client;
    this.replySender = client.createSender(this.replyQueue);
    return new Promise<void>((resolve) => {
      let first = true;
      this.loop = this.keepSession(client, () => {
        if (first) {
          first = false;
          resolve();
        }
      });
    });
  }

  onRejected(listener: (rejected: RejectedCommand) => void): void {
    this.rejectedListeners.push(listener);
  }

  onDeferredReply(listener: (reply: DeferredReply) => void): void {
    this.pending.onReport(listener);
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.tracker.onStatus(listener);
  }

  status(): LinkStatus {
    return this.tracker.status();
  }

  pendingReplies(): number {
    return this.pending.size + this.inFlight;
  }

  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    this.pending.close();
    this.tracker.set('closed');
    // Let commands being handled settle their messages before the link goes (bounded: a handler may hang).
    await this.handling.drain(2_000);
    await this.receiver?.close().catch(() => undefined);
    await this.loop;
    await this.client?.close().catch(() => undefined);
  }

  /** Accepts the gateway's session, serves it until it is lost, and accepts it again (with backoff) until closed. */
  private async keepSession(client: ServiceBusClient, attempted: () => void): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let receiver: ServiceBusSessionReceiver;
      try {
        receiver = await client.acceptSession(this.commandQueue, this.opts.gatewayId, {
          receiveMode: 'peekLock',
          maxAutoLockRenewalDurationInMs: RENEW_FOR_MS,
          skipParsingBodyAsJson: true,
          abortSignal: signal,
        });
      } catch (err: unknown) {
        if (signal.aborted) break;
        const reason = describeError(err);
        if (this.tracker.status().state === 'online') this.log.warn({ reason }, 'service bus session lost');
        this.tracker.set('offline', reason);
        attempted();
        await pause(this.backoff.next(), signal);
        continue;
      }
      if (signal.aborted) {
        await receiver.close().catch(() => undefined);
        break;
      }
      this.receiver = receiver;
      this.backoff.reset();
      this.log.info({ queue: this.commandQueue, sessionId: this.opts.gatewayId }, 'service bus session accepted');
      this.tracker.set('online');
      attempted();
      void this.flushPending();
      const lost = await this.serve(receiver, signal);
      this.receiver = undefined;
      await receiver.close().catch(() => undefined);
      if (signal.aborted) break;
      this.log.warn({ reason: lost }, 'service bus session lost');
      this.tracker.set('offline', lost);
      await pause(this.backoff.next(), signal);
    }
  }

  /** Receives until the session or its connection is lost; resolves with the reason. */
  private serve(receiver: ServiceBusSessionReceiver, signal: AbortSignal): Promise<string> {
    return new Promise<string>((resolve) => {
      let done = false;
      const finish = (reason: string): void => {
        if (done) return;
        done = true;
        clearInterval(watchdog);
        signal.removeEventListener('abort', onAbort);
        resolve(reason);
      };
      const onAbort = (): void => finish('closed');
      signal.addEventListener('abort', onAbort);
      // The SDK closes a session receiver whose link or connection went away; notice it even without an error event.
      const watchdog = setInterval(() => {
        if (receiver.isClosed) finish('session receiver closed');
      }, 1_000);
      watchdog.unref();
      receiver.subscribe(
        {
          processMessage: (message) => this.handling.track(this.onMessage(receiver, message)),
          processError: async (args: ProcessErrorArgs) => {
            this.log.debug({ err: args.error, source: args.errorSource }, 'service bus receive error');
            const code = (args.error as { code?: unknown }).code;
            if (code === 'SessionLockLost' || receiver.isClosed) finish(describeError(args.error));
          },
        },
        { autoCompleteMessages: false, maxConcurrentCalls: this.opts.maxConcurrentCommands ?? 16 },
      );
    });
  }

  private async onMessage(receiver: ServiceBusSessionReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    const receivedAtMs = this.now();
    const props = message.applicationProperties ?? {};
    const messageType = props[SB_PROPERTY.messageType];
    const correlationId = stringId(message.messageId);
    const bytes = bodyBytes(message.body);
    const body = bytes === undefined ? ({ ok: true, value: message.body } as const) : parseJsonBody(bytes);
    const sentAtMs =
      typeof props[SB_PROPERTY.sentAtMs] === 'number'
        ? props[SB_PROPERTY.sentAtMs]
        : (message.enqueuedTimeUtc?.getTime() ?? receivedAtMs);
    const decoded = body.ok
      ? decodeCommand(
          {
            ...(typeof messageType === 'string' ? { messageType } : {}),
            correlationId: correlationId ?? message.messageId,
            gatewayId: message.sessionId,
            sentAtMs,
            payload: body.value,
          },
          this.opts.gatewayId,
        )
      : ({
          ...body,
          ...(correlationId === undefined ? {} : { correlationId }),
          ...(typeof messageType === 'string' ? { messageType } : {}),
        } as const);
    if (!decoded.ok) {
      const { ok: _ok, ...rejected } = decoded;
      await this.reject(receiver, message, rejected);
      return;
    }
    const { envelope } = decoded;
    let reply = this.recent.get(envelope.correlationId);
    if (reply === undefined) {
      const handler = this.handler;
      if (handler === undefined) return;
      reply = runHandler(handler, envelope, receivedAtMs, this.log).then((result) =>
        buildReply(envelope, result, this.now(), this.log),
      );
      this.recent.remember(envelope.correlationId, reply);
    } else {
      this.log.info(
        { correlationId: envelope.correlationId, messageType: envelope.messageType },
        'duplicate command answered with its first reply',
      );
    }
    const answer = await reply;
    await this.sendReply(replyMessage(answer, message.replyToSessionId ?? this.opts.gatewayId));
    // With the session gone the settlement cannot arrive (the SDK would wait out its 60 s disposition timer); the
    // message comes back when the session is accepted again and is answered from RecentCommands.
    if (receiver.isClosed) return;
    await receiver.completeMessage(message).catch((err: unknown) => {
      // The lock went with the session: the command comes back once the session is accepted again, and is then
      // answered from RecentCommands without running twice.
      this.log.warn({ err, correlationId: envelope.correlationId }, 'could not complete a command message');
    });
  }

  private async reject(
    receiver: ServiceBusSessionReceiver,
    message: ServiceBusReceivedMessage,
    rejected: RejectedCommand,
  ): Promise<void> {
    this.log.warn({ ...rejected }, 'rejected cloud command');
    for (const listener of [...this.rejectedListeners]) listener(rejected);
    const correlationId = stringId(message.messageId);
    if (correlationId !== undefined && message.replyToSessionId !== undefined) {
      await this.sendReply({
        correlationId,
        messageType: rejected.messageType ?? '',
        message: {
          body: null,
          contentType: 'application/json',
          correlationId,
          sessionId: message.replyToSessionId,
          applicationProperties: {
            [SB_PROPERTY.messageType]: rejected.messageType ?? '',
            [SB_PROPERTY.gatewayId]: this.opts.gatewayId,
            [SB_PROPERTY.ok]: false,
            [SB_PROPERTY.error]: rejected.reason.slice(0, 1000),
            [SB_PROPERTY.sentAtMs]: this.now(),
          },
        },
      });
    }
    if (receiver.isClosed) return;
    await receiver
      .deadLetterMessage(message, {
        deadLetterReason: rejected.code ?? 'invalid-envelope',
        deadLetterErrorDescription: rejected.reason.slice(0, 1000),
      })
      .catch((err: unknown) => this.log.warn({ err }, 'could not dead-letter a malformed command'));
  }

  /** Sends a reply, or queues it while the session is down; true when it went out. */
  private async sendReply(reply: OutgoingReply, queued?: QueuedReply<OutgoingReply>): Promise<boolean> {
    const sender = this.replySender;
    if (
      sender === undefined ||
      (queued === undefined && (this.tracker.status().state !== 'online' || this.pending.size > 0 || this.flushing))
    ) {
      this.pending.add(reply, reply);
      return false;
    }
    this.inFlight += 1;
    try {
      await sender.sendMessages({ ...reply.message, timeToLive: this.pending.remainingMs(queued) });
      if (queued !== undefined) this.pending.delivered(queued);
      return true;
    } catch (err: unknown) {
      this.log.warn(
        { err: toTransportError(err, 'reply send'), correlationId: reply.correlationId },
        'reply could not be sent; queued',
      );
      if (queued === undefined) this.pending.add(reply, reply);
      else this.pending.requeue(queued);
      return false;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Sends what was queued while offline, oldest first, until the queue is empty or a send fails. */
  private async flushPending(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    let sent = 0;
    try {
      for (;;) {
        const fresh = this.pending.takeFresh();
        if (fresh.length === 0) break;
        let failed = false;
        for (const queued of fresh) {
          if (failed) this.pending.requeue(queued);
          else if (await this.sendReply(queued.item, queued)) sent += 1;
          else failed = true;
        }
        if (failed || this.tracker.status().state !== 'online') break;
      }
    } finally {
      this.flushing = false;
    }
    if (sent > 0) this.log.info({ replies: sent }, 'sent replies queued while offline');
  }
}

/** The Service Bus message of a reply envelope. */
export function replyMessage(reply: CloudReplyEnvelope, sessionId: string): OutgoingReply {
  return {
    correlationId: reply.correlationId,
    messageType: reply.messageType,
    message: {
      body: reply.payload ?? null,
      contentType: 'application/json',
      correlationId: reply.correlationId,
      sessionId,
      subject: reply.messageType,
      applicationProperties: {
        [SB_PROPERTY.messageType]: reply.messageType,
        [SB_PROPERTY.gatewayId]: reply.gatewayId,
        [SB_PROPERTY.ok]: reply.ok,
        [SB_PROPERTY.sentAtMs]: reply.sentAtMs,
        ...(reply.error === undefined ? {} : { [SB_PROPERTY.error]: reply.error }),
      },
    },
  };
}
