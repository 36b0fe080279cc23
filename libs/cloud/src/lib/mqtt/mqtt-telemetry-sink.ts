import type { TelemetryFrame } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { encodeFrame } from '../encode';
import { describeError, LinkStatusTracker } from '../link-status';
import { TransportError, type LinkStatus, type TelemetrySendOptions, type TelemetrySink } from '../port';
import { MqttLink, type MqttConnectionOptions } from './mqtt-link';
import { DEFAULT_TOPIC_PREFIX, mqttTopics } from './topics';

/** Options of {@link MqttTelemetrySink}. */
export interface MqttTelemetrySinkOptions extends MqttConnectionOptions {
  readonly gatewayId: string;
  /** Default `voltimax-gw-<gatewayId>-telemetry` (a different client id from the command channel's). */
  readonly clientId?: string;
  /** A send without PUBACK within this long rejects (retryable); default 10 000 ms. */
  readonly ackTimeoutMs?: number;
  /** Largest encoded frame, bytes; default 256 KiB, lowered to the broker's Maximum Packet Size when it announces one. */
  readonly maxFrameBytes?: number;
}

/** Room for the fixed header, topic and properties inside the broker's Maximum Packet Size. */
const PACKET_OVERHEAD_BYTES = 1024;
const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;

/** MQTT 5 PUBACK reason codes ≥ 0x80 that mean "this packet can never be accepted". */
const FINAL_REFUSALS: Readonly<Record<number, TransportError['code']>> = { 0x95: 'too-large', 0x99: 'rejected' };

/**
 * TelemetryFrames to `<prefix>/gateways/<gatewayId>/telemetry` with QoS 1; `send` resolves on the broker's PUBACK.
 * Connects on the first send (a service that never sends telemetry opens no connection). While the link is down,
 * `send` rejects at once with a retryable `offline` error: the caller's store keeps the frame.
 */
export class MqttTelemetrySink implements TelemetrySink {
  readonly kind = 'mqtt' as const;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly tracker: LinkStatusTracker;
  private readonly topic: string;
  private readonly offlineWaiters = new Set<(reason: string) => void>();
  private link: MqttLink | undefined;
  private closed = false;

  constructor(private readonly opts: MqttTelemetrySinkOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.tracker = new LinkStatusTracker(this.now, 'connecting');
    this.topic = mqttTopics(opts.topicPrefix ?? DEFAULT_TOPIC_PREFIX).telemetry(opts.gatewayId);
  }

  get maxFrameBytes(): number {
    const configured = this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const broker = this.link?.maxPacketBytes();
    return broker === undefined ? configured : Math.min(configured, broker - PACKET_OVERHEAD_BYTES);
  }

  /** The topic frames are published on. */
  get telemetryTopic(): string {
    return this.topic;
  }

  async send(frame: TelemetryFrame, options: TelemetrySendOptions = {}): Promise<void> {
    if (this.closed) throw new TransportError('telemetry sink is closed', 'offline', false);
    const link = this.connect();
    if (link.status().state === 'connecting') {
      try {
        await link.whenOnline(this.opts.connectTimeoutMs ?? 10_000);
      } catch (err: unknown) {
        throw new TransportError(`MQTT broker not reachable: ${describeError(err)}`, 'offline', true, { cause: err });
      }
    }
    const encoded = await encodeFrame(frame, this.opts.gatewayId, options.gzip === true, this.maxFrameBytes);
    if (!link.isOnline()) {
      throw new TransportError(
        `MQTT link is ${link.status().state}: ${link.status().reason ?? 'not connected'}`,
        'offline',
        true,
      );
    }
    const ackTimeoutMs = this.opts.ackTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: TransportError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.offlineWaiters.delete(onOffline);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () =>
          finish(
            new TransportError(`no PUBACK for frame ${encoded.frameId} within ${ackTimeoutMs} ms`, 'timeout', true),
          ),
        ackTimeoutMs,
      );
      // QoS 1 in flight when the link drops is resent by the client after reconnect (the cloud de-duplicates by
      // frameId), but the caller learns now that this send did not complete.
      const onOffline = (reason: string): void =>
        finish(new TransportError(`MQTT link lost before PUBACK: ${reason}`, 'offline', true));
      this.offlineWaiters.add(onOffline);
      link.client.publish(
        this.topic,
        encoded.body,
        {
          qos: 1,
          properties: {
            contentType: 'application/json',
            payloadFormatIndicator: !encoded.gzip,
            userProperties: { 'frame-id': encoded.frameId, ...(encoded.gzip ? { 'content-encoding': 'gzip' } : {}) },
          },
        },
        (err) => {
          if (!err) return finish();
          const reasonCode =
            typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : undefined;
          const final = reasonCode === undefined ? undefined : FINAL_REFUSALS[reasonCode];
          finish(
            new TransportError(
              `broker refused frame ${encoded.frameId}: ${describeError(err)}`,
              final ?? 'rejected',
              final === undefined,
              { cause: err },
            ),
          );
        },
      );
    });
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
    for (const waiter of [...this.offlineWaiters]) waiter('sink closed');
    await this.link?.close();
  }

  private connect(): MqttLink {
    if (this.link !== undefined) return this.link;
    const link = new MqttLink({
      ...this.opts,
      clientId: this.opts.clientId ?? `voltimax-gw-${this.opts.gatewayId}-telemetry`,
      clean: true,
      log: this.log,
      now: this.now,
    });
    link.onStatus((status) => {
      this.tracker.set(status.state, status.reason);
      if (status.state === 'offline')
        for (const waiter of [...this.offlineWaiters]) waiter(status.reason ?? 'connection closed');
    });
    this.link = link;
    return link;
  }
}
