import { randomUUID } from 'node:crypto';
import type {
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusSender,
  ServiceBusSessionReceiver,
} from '@azure/service-bus';
import { CloudReplyEnvelopeSchema, cloudMessages, type CloudReplyEnvelope } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { isCloudMessageType, parseJsonBody } from '../commands';
import { Backoff, describeError } from '../link-status';
import { TransportError, type CloudCommandClient } from '../port';
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

/** Options of {@link ServiceBusCloudClient}. */
export interface ServiceBusCloudClientOptions extends ServiceBusConnectionOptions {
  readonly commandQueue?: string;
  readonly replyQueue?: string;
  /** This client's session on the reply queue (sent as `replyToSessionId`); default `cloud-<uuid>`. */
  readonly replySessionId?: string;
}

interface Waiter {
  readonly resolve: (reply: CloudReplyEnvelope) => void;
  readonly reject: (err: TransportError) => void;
}

const RENEW_FOR_MS = 10 * 365 * 24 * 3600_000;

/**
 * The cloud side over Service Bus (CLI, tests, benchmarks): sends a command to the command queue with `sessionId` =
 * gateway id, `messageId` = correlation id, `replyToSessionId` = this client's session, `MessageType` and
 * `SentAtMs` as application properties and the payload as body; receives replies on its own session of the reply
 * queue (accepted on first use, accepted again after a loss) and matches them by `correlationId`.
 */
export class ServiceBusCloudClient implements CloudCommandClient {
  readonly replySessionId: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly client: ServiceBusClient;
  private readonly sender: ServiceBusSender;
  private readonly waiters = new Map<string, Waiter>();
  private readonly acceptedListeners: ((correlationId: string) => void)[] = [];
  private readonly stopping = new AbortController();
  private readonly backoff: Backoff;
  private readonly settling = new InFlight();
  private receiving: Promise<void> | undefined;
  private receiver: ServiceBusSessionReceiver | undefined;
  private ready: Promise<void> | undefined;
  private markReady: (() => void) | undefined;

  constructor(private readonly opts: ServiceBusCloudClientOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.replySessionId = opts.replySessionId ?? `cloud-${randomUUID()}`;
    this.client = createServiceBusClient(opts);
    this.sender = this.client.createSender(opts.commandQueue ?? SB_DEFAULTS.commandQueue);
    this.backoff = new Backoff(opts.reconnectInitialMs ?? 500, opts.reconnectMaxMs ?? 30_000);
  }

  async send(request: Parameters<CloudCommandClient['send']>[0]): Promise<CloudReplyEnvelope> {
    if (this.stopping.signal.aborted) throw new TransportError('cloud client is closed', 'offline', false);
    const correlationId = request.correlationId ?? randomUUID();
    if (this.waiters.has(correlationId))
      throw new TransportError(`correlation id ${correlationId} is already waiting for a reply`, 'protocol', false);
    const payload = cloudMessages[request.messageType].request.safeParse(request.payload);
    if (!payload.success) {
      throw new TransportError(
        `invalid ${request.messageType} request: ${payload.error.issues.map((i) => i.message).join('; ')}`,
        'protocol',
        false,
      );
    }
    this.startReceiving();
    const reply = new Promise<CloudReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(correlationId);
        reject(
          new TransportError(
            `no reply from gateway ${request.gatewayId} to ${request.messageType} ${correlationId} within ${request.timeoutMs} ms`,
            'timeout',
            true,
          ),
        );
      }, request.timeoutMs);
      this.waiters.set(correlationId, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    try {
      await this.sender.sendMessages({
        body: payload.data,
        messageId: correlationId,
        sessionId: request.gatewayId,
        replyTo: this.opts.replyQueue ?? SB_DEFAULTS.replyQueue,
        replyToSessionId: this.replySessionId,
        contentType: 'application/json',
        subject: request.messageType,
        // Service Bus drops a command the gateway did not fetch before the caller stopped waiting.
        timeToLive: request.timeoutMs,
        applicationProperties: { [SB_PROPERTY.messageType]: request.messageType, [SB_PROPERTY.sentAtMs]: this.now() },
      });
    } catch (err: unknown) {
      const waiter = this.waiters.get(correlationId);
      this.waiters.delete(correlationId);
      waiter?.reject(toTransportError(err, `command ${correlationId}`));
      return reply;
    }
    for (const listener of [...this.acceptedListeners]) listener(correlationId);
    return reply;
  }

  /** Called with the correlation id once Service Bus accepted a command, before any reply. */
  onCommandAccepted(listener: (correlationId: string) => void): void {
    this.acceptedListeners.push(listener);
  }

  /** Resolves once this client's reply session is accepted (the first send starts accepting it). */
  whenReceiving(): Promise<void> {
    this.startReceiving();
    return this.ready ?? Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    for (const [id, waiter] of this.waiters)
      waiter.reject(new TransportError(`cloud client closed while ${id} waited for its reply`, 'offline', false));
    this.waiters.clear();
    await this.settling.drain(2_000);
    await this.receiver?.close().catch(() => undefined);
    await this.receiving;
    await this.client.close().catch(() => undefined);
  }

  private startReceiving(): void {
    if (this.receiving !== undefined) return;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.receiving = this.keepSession();
  }

  private async keepSession(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let receiver: ServiceBusSessionReceiver;
      try {
        receiver = await this.client.acceptSession(
          this.opts.replyQueue ?? SB_DEFAULTS.replyQueue,
          this.replySessionId,
          {
            maxAutoLockRenewalDurationInMs: RENEW_FOR_MS,
            skipParsingBodyAsJson: true,
            abortSignal: signal,
          },
        );
      } catch (err: unknown) {
        if (signal.aborted) break;
        this.log.debug({ err }, 'could not accept the reply session');
        await pause(this.backoff.next(), signal);
        continue;
      }
      this.receiver = receiver;
      this.backoff.reset();
      this.markReady?.();
      await new Promise<void>((resolve) => {
        const watchdog = setInterval(() => {
          if (receiver.isClosed || signal.aborted) {
            clearInterval(watchdog);
            resolve();
          }
        }, 500);
        watchdog.unref();
        receiver.subscribe(
          {
            processMessage: async (message) => {
              this.onReply(message);
              if (receiver.isClosed) return;
              await this.settling
                .track(receiver.completeMessage(message))
                .catch((err: unknown) => this.log.debug({ err }, 'could not complete a reply'));
            },
            processError: async (args) => {
              this.log.debug({ err: args.error }, 'reply receive error');
              if ((args.error as { code?: unknown }).code === 'SessionLockLost' || receiver.isClosed) {
                clearInterval(watchdog);
                resolve();
              }
            },
          },
          { autoCompleteMessages: false, maxConcurrentCalls: 16 },
        );
      });
      this.receiver = undefined;
      await receiver.close().catch(() => undefined);
      if (!signal.aborted) await pause(this.backoff.next(), signal);
    }
  }

  private onReply(message: ServiceBusReceivedMessage): void {
    const correlationId = stringId(message.correlationId);
    const waiter = correlationId === undefined ? undefined : this.waiters.get(correlationId);
    if (correlationId === undefined || waiter === undefined) {
      this.log.debug({ correlationId }, 'reply for no waiting command (late or duplicate)');
      return;
    }
    this.waiters.delete(correlationId);
    const props = message.applicationProperties ?? {};
    const bytes = bodyBytes(message.body);
    const body = bytes === undefined ? ({ ok: true, value: message.body } as const) : parseJsonBody(bytes);
    if (!body.ok)
      return waiter.reject(new TransportError(`reply to ${correlationId}: ${body.reason}`, 'protocol', false));
    const messageType = props[SB_PROPERTY.messageType];
    const ok = props[SB_PROPERTY.ok] === true;
    const error = typeof props[SB_PROPERTY.error] === 'string' ? props[SB_PROPERTY.error] : undefined;
    if (!isCloudMessageType(messageType)) {
      return waiter.reject(
        new TransportError(
          `gateway rejected the command: ${error ?? `reply without a known MessageType (${String(messageType)})`}`,
          'rejected',
          false,
        ),
      );
    }
    const envelope = CloudReplyEnvelopeSchema.safeParse({
      messageType,
      correlationId,
      gatewayId: props[SB_PROPERTY.gatewayId],
      sentAtMs: props[SB_PROPERTY.sentAtMs],
      ok,
      ...(body.value === null || body.value === undefined ? {} : { payload: body.value }),
      ...(error === undefined ? {} : { error }),
    });
    if (envelope.success) return waiter.resolve(envelope.data);
    waiter.reject(
      new TransportError(
        `reply to ${correlationId} is not a valid reply: ${describeError(envelope.error)}`,
        'protocol',
        false,
      ),
    );
  }
}
