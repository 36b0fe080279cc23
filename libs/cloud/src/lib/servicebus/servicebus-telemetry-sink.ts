import type { ServiceBusClient, ServiceBusSender } from '@azure/service-bus';
import type { TelemetryFrame } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { encodeFrame } from '../encode';
import { LinkStatusTracker } from '../link-status';
import { TransportError, type LinkStatus, type TelemetrySendOptions, type TelemetrySink } from '../port';
import {
  createServiceBusClient,
  SB_DEFAULTS,
  SB_PROPERTY,
  toTransportError,
  type ServiceBusConnectionOptions,
} from './servicebus-common';

/** Options of {@link ServiceBusTelemetrySink}. */
export interface ServiceBusTelemetrySinkOptions extends ServiceBusConnectionOptions {
  readonly gatewayId: string;
  /** Topic (site settings `telemetryTopic`); default `telemetry`. */
  readonly topic?: string;
  /**
   * Largest encoded frame, bytes; default 252 KiB: the standard tier's 256 KiB message limit less room for the
   * properties (premium namespaces take up to 100 MB).
   */
  readonly maxFrameBytes?: number;
}

/**
 * TelemetryFrames to a Service Bus topic: one message per frame, `messageId` = frameId (so the topic's duplicate
 * detection, where enabled, drops resends), the encoded frame as body, `GatewayId` and `content-encoding: gzip` as
 * application properties. `send` resolves when Service Bus accepted (settled) the message. The SDK reconnects by
 * itself; a send while the namespace is unreachable rejects with a retryable TransportError.
 */
export class ServiceBusTelemetrySink implements TelemetrySink {
  readonly kind = 'servicebus' as const;
  readonly maxFrameBytes: number;
  private readonly log: Logger;
  private readonly tracker: LinkStatusTracker;
  private client: ServiceBusClient | undefined;
  private sender: ServiceBusSender | undefined;
  private closed = false;

  constructor(private readonly opts: ServiceBusTelemetrySinkOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.tracker = new LinkStatusTracker(opts.now ?? Date.now, 'connecting');
    this.maxFrameBytes = opts.maxFrameBytes ?? 252 * 1024;
  }

  async send(frame: TelemetryFrame, options: TelemetrySendOptions = {}): Promise<void> {
    if (this.closed) throw new TransportError('telemetry sink is closed', 'offline', false);
    const encoded = await encodeFrame(frame, this.opts.gatewayId, options.gzip === true, this.maxFrameBytes);
    if (this.sender === undefined) {
      this.client = createServiceBusClient(this.opts);
      this.sender = this.client.createSender(this.opts.topic ?? SB_DEFAULTS.telemetryTopic);
    }
    try {
      await this.sender.sendMessages({
        body: encoded.body,
        messageId: encoded.frameId,
        contentType: 'application/json',
        subject: 'TelemetryFrame',
        applicationProperties: {
          [SB_PROPERTY.gatewayId]: this.opts.gatewayId,
          ...(encoded.gzip ? { [SB_PROPERTY.contentEncoding]: 'gzip' } : {}),
        },
      });
    } catch (err: unknown) {
      const failure = this.closed
        ? new TransportError('telemetry sink closed during the send', 'offline', false, { cause: err })
        : toTransportError(err, `frame ${encoded.frameId}`);
      if (failure.retryable) this.tracker.set('offline', failure.message);
      this.log.debug({ err: failure, frameId: encoded.frameId }, 'telemetry send failed');
      throw failure;
    }
    if (this.tracker.status().state !== 'online')
      this.log.info({ topic: this.opts.topic ?? SB_DEFAULTS.telemetryTopic }, 'service bus telemetry link online');
    this.tracker.set('online');
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.tracker.onStatus(listener);
  }

  status(): LinkStatus {
    return this.tracker.status();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tracker.set('closed');
    await this.sender?.close().catch(() => undefined);
    await this.client?.close().catch(() => undefined);
  }
}
