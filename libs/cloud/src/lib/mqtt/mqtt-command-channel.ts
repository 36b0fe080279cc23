import type { CloudReplyEnvelope } from '@voltimax/contracts';
import type { IPublishPacket } from 'mqtt';
import { pino, type Logger } from 'pino';
import {
  buildReply,
  decodeCommand,
  parseJsonBody,
  RecentCommands,
  rejectionReply,
  runHandler,
  type CommandRejection,
} from '../commands';
import { LinkStatusTracker } from '../link-status';
import { DeferredReplies } from '../deferred-replies';
import type { QueuedReply } from '../pending-replies';
import type { CommandChannel, CommandHandler, DeferredReply, LinkStatus, RejectedCommand } from '../port';
import { MqttLink, type MqttConnectionOptions } from './mqtt-link';
import { DEFAULT_TOPIC_PREFIX, mqttTopics } from './topics';

/** Options of {@link MqttCommandChannel}. */
export interface MqttCommandChannelOptions extends MqttConnectionOptions {
  readonly gatewayId: string;
  /** Default `voltimax-gw-<gatewayId>-commands`: stable, so the broker resumes the session after a restart. */
  readonly clientId?: string;
  /**
   * How long the broker keeps this gateway's session (subscription and QoS 1 commands) while it is offline, seconds;
   * default 3600. Commands older than that are dropped by the broker (and the cloud's own expiry is shorter anyway).
   */
  readonly sessionExpiryS?: number;
  /** How long a reply that cannot be sent (link down) is kept for a later send, ms; default 600 000. */
  readonly replyTtlMs?: number;
  /** Most replies kept while offline (the oldest expire first); default 1000. */
  readonly maxPendingReplies?: number;
}

interface OutgoingReply {
  readonly topic: string;
  readonly correlationData: Buffer | undefined;
  readonly body: CloudReplyEnvelope | CommandRejection;
}

/**
 * Cloud commands over MQTT 5 (gateway side). Subscribes `<prefix>/gateways/<gatewayId>/commands` with QoS 1 on a
 * persistent session; each request carries a response topic and correlation data, and its reply (a
 * CloudReplyEnvelope) goes to that topic with the correlation data echoed. Malformed messages, and retained ones
 * (replayed by the broker on every new subscription), get an error reply when they have a response topic, and are
 * reported to `onRejected`; they are never run.
 */
export class MqttCommandChannel implements CommandChannel {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly tracker: LinkStatusTracker;
  private readonly topic: string;
  private readonly pending: DeferredReplies<OutgoingReply>;
  private readonly recent = new RecentCommands();
  private readonly rejectedListeners: ((rejected: RejectedCommand) => void)[] = [];
  private readonly replyTtlMs: number;
  private link: MqttLink | undefined;
  private handler: CommandHandler | undefined;
  private inFlight = 0;
  private closed = false;

  constructor(private readonly opts: MqttCommandChannelOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.tracker = new LinkStatusTracker(this.now, 'connecting');
    this.topic = mqttTopics(opts.topicPrefix ?? DEFAULT_TOPIC_PREFIX).commands(opts.gatewayId);
    this.replyTtlMs = opts.replyTtlMs ?? 600_000;
    this.pending = new DeferredReplies(this.replyTtlMs, opts.maxPendingReplies ?? 1000, this.now, this.log);
  }

  /** The topic this channel receives commands on. */
  get commandTopic(): string {
    return this.topic;
  }

  start(handler: CommandHandler): Promise<void> {
    if (this.handler !== undefined) return Promise.reject(new Error('command channel already started'));
    if (this.closed) return Promise.reject(new Error('command channel is closed'));
    this.handler = handler;
    const link = new MqttLink({
      ...this.opts,
      clientId: this.opts.clientId ?? `voltimax-gw-${this.opts.gatewayId}-commands`,
      clean: false,
      sessionExpiryS: this.opts.sessionExpiryS ?? 3600,
      log: this.log,
      now: this.now,
      onConnect: async (connack) => {
        // With a resumed session the broker still has the subscription (and has queued commands for us).
        if (connack.sessionPresent) return;
        const granted = await link.client.subscribeAsync(this.topic, { qos: 1 });
        const refused = granted.find((g) => g.qos === 128);
        if (refused) throw new Error(`broker refused the subscription to ${this.topic}`);
      },
      onOnline: () => this.flushPending(),
    });
    // Attached in the same tick as the connect: the broker may deliver queued commands right after CONNACK.
    link.client.on('message', (topic, payload, packet) => void this.onMessage(topic, payload, packet));
    link.onStatus((status) => this.tracker.set(status.state, status.reason));
    this.link = link;
    return new Promise<void>((resolve) => {
      const settle = (status: LinkStatus): void => {
        if (status.state !== 'connecting') resolve();
      };
      link.onStatus(settle);
      settle(link.status());
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
    if (this.closed) return;
    this.closed = true;
    this.pending.close();
    this.tracker.set('closed');
    await this.link?.close();
  }

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    if (topic !== this.topic) {
      this.log.debug({ topic }, 'ignored message on an unexpected topic');
      return;
    }
    const receivedAtMs = this.now();
    const responseTopic = packet.properties?.responseTopic;
    const correlationData = packet.properties?.correlationData;
    const body = parseJsonBody(payload);
    const decoded = body.ok ? decodeCommand(body.value, this.opts.gatewayId) : body;
    if (packet.retain) {
      // The broker replays a retained message to every new subscription (first start, an expired session, a
      // broker that lost its state): run it and an old command would run again at each of those.
      this.reject(
        {
          code: 'retained',
          reason:
            'retained command refused: a retained message is replayed on every new subscription, publish commands without retain',
          ...(decoded.ok
            ? { correlationId: decoded.envelope.correlationId, messageType: decoded.envelope.messageType }
            : {}),
        },
        responseTopic,
        correlationData,
      );
      return;
    }
    if (!decoded.ok) {
      const { ok: _ok, ...rejected } = decoded;
      this.reject(rejected, responseTopic, correlationData);
      return;
    }
    const { envelope } = decoded;
    if (responseTopic === undefined) {
      this.reject(
        {
          code: 'no-reply-address',
          reason: 'command has no MQTT 5 response topic, so no reply could be sent',
          correlationId: envelope.correlationId,
          messageType: envelope.messageType,
        },
        undefined,
        undefined,
      );
      return;
    }
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
    this.sendReply({ topic: responseTopic, correlationData, body: await reply });
  }

  private reject(
    rejected: RejectedCommand,
    responseTopic: string | undefined,
    correlationData: Buffer | undefined,
  ): void {
    this.log.warn({ ...rejected, canReply: responseTopic !== undefined }, 'rejected cloud command');
    for (const listener of [...this.rejectedListeners]) listener(rejected);
    if (responseTopic !== undefined) {
      this.sendReply({
        topic: responseTopic,
        correlationData,
        body: rejectionReply(this.opts.gatewayId, rejected, this.now()),
      });
    }
  }

  private sendReply(reply: OutgoingReply): void {
    const link = this.link;
    if (link !== undefined && link.isOnline() && this.pending.size === 0) {
      this.publish(link, reply, undefined);
      return;
    }
    this.pending.add(replyMeta(reply), reply);
  }

  private publish(link: MqttLink, reply: OutgoingReply, queued: QueuedReply<OutgoingReply> | undefined): void {
    this.inFlight += 1;
    const remainingMs = this.pending.remainingMs(queued);
    link.client.publish(
      reply.topic,
      JSON.stringify(reply.body),
      {
        qos: 1,
        properties: {
          contentType: 'application/json',
          payloadFormatIndicator: true,
          messageExpiryInterval: Math.ceil(remainingMs / 1000),
          ...(reply.correlationData === undefined ? {} : { correlationData: reply.correlationData }),
        },
      },
      (err) => {
        this.inFlight -= 1;
        if (err) {
          this.log.warn({ err, ...replyMeta(reply) }, 'reply could not be sent');
          return;
        }
        if (queued !== undefined) this.pending.delivered(queued);
      },
    );
  }

  private flushPending(): void {
    const link = this.link;
    if (link === undefined) return;
    const fresh = this.pending.takeFresh();
    for (const queued of fresh) this.publish(link, queued.item, queued);
    if (fresh.length > 0) this.log.info({ replies: fresh.length }, 'sent replies queued while offline');
  }
}

function replyMeta(reply: OutgoingReply): { correlationId: string; messageType: string } {
  return {
    correlationId: reply.body.correlationId ?? reply.correlationData?.toString('utf8') ?? '',
    messageType: 'messageType' in reply.body ? reply.body.messageType : 'rejected',
  };
}
