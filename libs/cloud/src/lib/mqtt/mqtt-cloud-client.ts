import { randomUUID } from 'node:crypto';
import {
  CloudCommandEnvelopeSchema,
  CloudReplyEnvelopeSchema,
  cloudMessages,
  type CloudReplyEnvelope,
} from '@voltimax/contracts';
import type { IPublishPacket } from 'mqtt';
import { pino, type Logger } from 'pino';
import { CommandRejectionSchema, parseJsonBody } from '../commands';
import { describeError } from '../link-status';
import { TransportError, type CloudCommandClient, type LinkStatus } from '../port';
import { MqttLink, type MqttConnectionOptions } from './mqtt-link';
import { DEFAULT_TOPIC_PREFIX, mqttTopics, type MqttTopics } from './topics';

/** Options of {@link MqttCloudClient}. */
export interface MqttCloudClientOptions extends MqttConnectionOptions {
  /** Default `voltimax-cloud-<uuid>`; its response topic is `<prefix>/cloud/<clientId>/replies`. */
  readonly clientId?: string;
  /**
   * Keep a persistent session for this many seconds, so replies published while this client's own link is briefly
   * down are delivered after it reconnects. Default: a clean session (right for the CLI).
   */
  readonly sessionExpiryS?: number;
}

interface Waiter {
  readonly resolve: (reply: CloudReplyEnvelope) => void;
  readonly reject: (err: TransportError) => void;
}

/**
 * The cloud side over MQTT 5 (CLI, tests, benchmarks): publishes a CloudCommandEnvelope to the gateway's command
 * topic with this client's response topic and the correlation id as correlation data, and resolves with the reply
 * whose correlation data matches.
 */
export class MqttCloudClient implements CloudCommandClient {
  readonly clientId: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly topics: MqttTopics;
  private readonly replyTopic: string;
  private readonly link: MqttLink;
  private readonly waiters = new Map<string, Waiter>();
  private readonly acceptedListeners: ((correlationId: string) => void)[] = [];
  private closed = false;

  constructor(opts: MqttCloudClientOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.now = opts.now ?? Date.now;
    this.clientId = opts.clientId ?? `voltimax-cloud-${randomUUID()}`;
    this.topics = mqttTopics(opts.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
    this.replyTopic = this.topics.replies(this.clientId);
    const link: MqttLink = new MqttLink({
      ...opts,
      clientId: this.clientId,
      clean: opts.sessionExpiryS === undefined,
      ...(opts.sessionExpiryS === undefined ? {} : { sessionExpiryS: opts.sessionExpiryS }),
      log: this.log,
      now: this.now,
      onConnect: async (connack) => {
        if (connack.sessionPresent) return;
        const granted = await link.client.subscribeAsync(this.replyTopic, { qos: 1 });
        if (granted.some((g) => g.qos === 128))
          throw new Error(`broker refused the subscription to ${this.replyTopic}`);
      },
    });
    link.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    this.link = link;
  }

  status(): LinkStatus {
    return this.link.status();
  }

  async send(request: Parameters<CloudCommandClient['send']>[0]): Promise<CloudReplyEnvelope> {
    if (this.closed) throw new TransportError('cloud client is closed', 'offline', false);
    const startedAtMs = performance.now();
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
    const envelope = CloudCommandEnvelopeSchema.parse({
      messageType: request.messageType,
      correlationId,
      gatewayId: request.gatewayId,
      sentAtMs: this.now(),
      payload: payload.data,
    });
    try {
      await this.link.whenOnline(request.timeoutMs);
    } catch (err: unknown) {
      throw new TransportError(`MQTT broker not reachable: ${describeError(err)}`, 'offline', true, { cause: err });
    }
    const leftMs = Math.max(1, request.timeoutMs - (performance.now() - startedAtMs));
    return new Promise<CloudReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(correlationId);
        reject(
          new TransportError(
            `no reply from gateway ${request.gatewayId} to ${request.messageType} ${correlationId} within ${request.timeoutMs} ms`,
            'timeout',
            true,
          ),
        );
      }, leftMs);
      this.waiters.set(correlationId, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.link.client.publish(
        this.topics.commands(request.gatewayId),
        JSON.stringify(envelope),
        {
          qos: 1,
          properties: {
            responseTopic: this.replyTopic,
            correlationData: Buffer.from(correlationId, 'utf8'),
            contentType: 'application/json',
            payloadFormatIndicator: true,
            // The broker drops a command the gateway could not fetch before the caller stopped waiting.
            messageExpiryInterval: Math.max(1, Math.ceil(request.timeoutMs / 1000)),
          },
        },
        (err) => {
          if (!err) {
            for (const listener of [...this.acceptedListeners]) listener(correlationId);
            return;
          }
          const waiter = this.waiters.get(correlationId);
          this.waiters.delete(correlationId);
          waiter?.reject(
            new TransportError(`command not accepted by the broker: ${describeError(err)}`, 'rejected', true, {
              cause: err,
            }),
          );
        },
      );
    });
  }

  /** Called with the correlation id once the broker acknowledged a command (PUBACK), before any reply. */
  onCommandAccepted(listener: (correlationId: string) => void): void {
    this.acceptedListeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, waiter] of this.waiters)
      waiter.reject(new TransportError(`cloud client closed while ${id} waited for its reply`, 'offline', false));
    this.waiters.clear();
    await this.link.close();
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic !== this.replyTopic) return;
    const correlationId = packet.properties?.correlationData?.toString('utf8');
    const waiter = correlationId === undefined ? undefined : this.waiters.get(correlationId);
    if (correlationId === undefined || waiter === undefined) {
      this.log.debug({ correlationId }, 'reply for no waiting command (late or duplicate)');
      return;
    }
    this.waiters.delete(correlationId);
    const body = parseJsonBody(payload);
    if (!body.ok)
      return waiter.reject(new TransportError(`reply to ${correlationId}: ${body.reason}`, 'protocol', false));
    const reply = CloudReplyEnvelopeSchema.safeParse(body.value);
    if (reply.success) return waiter.resolve(reply.data);
    const rejection = CommandRejectionSchema.safeParse(body.value);
    if (rejection.success)
      return waiter.reject(
        new TransportError(`gateway rejected the command: ${rejection.data.error}`, 'rejected', false),
      );
    waiter.reject(
      new TransportError(
        `reply to ${correlationId} is not a CloudReplyEnvelope: ${reply.error.issues.map((i) => i.message).join('; ')}`,
        'protocol',
        false,
      ),
    );
  }
}
