import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { TelemetryFrameSchema } from '@voltimax/contracts';
import { waitFor } from '@voltimax/testing';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { MqttCloudClient } from '../lib/mqtt/mqtt-cloud-client';
import { MqttCommandChannel } from '../lib/mqtt/mqtt-command-channel';
import { MqttTelemetrySink } from '../lib/mqtt/mqtt-telemetry-sink';
import { mqttTopics } from '../lib/mqtt/topics';
import type { FixtureOptions, MalformedKind, ReceivedFrame, RejectionEvidence, TransportFixture } from './behaviour';
import { startLinkProxy } from './link-proxy';

const gunzipAsync = promisify(gunzip);

/** A broker for {@link makeMqttFixture}: its URL and, where the test can, a restart on the same address. */
export interface MqttFixtureBroker {
  readonly url: string;
  readonly restart?: () => Promise<void>;
}

/** Options of {@link makeMqttFixture}. */
export interface MqttFixtureOptions extends FixtureOptions {
  readonly topicPrefix?: string;
  readonly log?: Logger;
}

let fixtureCounter = 0;

/** Connection settings that make a test's reconnects quick. */
export const FAST_RECONNECT = {
  reconnectInitialMs: 50,
  reconnectMaxMs: 400,
  connectTimeoutMs: 3_000,
  keepaliveS: 10,
} as const;

/**
 * A fresh gateway (unique id) on `broker`: the gateway's command channel and telemetry sink connect through a
 * LinkProxy; the cloud client and an observer (raw mqtt.js: receives telemetry, sends malformed commands) connect
 * to the broker directly.
 */
export async function makeMqttFixture(
  broker: MqttFixtureBroker,
  options: MqttFixtureOptions,
): Promise<TransportFixture> {
  fixtureCounter += 1;
  const gatewayId = `gw-${fixtureCounter}-${randomUUID().slice(0, 8)}`;
  const topicPrefix = options.topicPrefix ?? 'voltimax';
  const topics = mqttTopics(topicPrefix);
  const target = new URL(broker.url);
  const link = await startLinkProxy({ host: target.hostname, port: Number(target.port || 1883) });
  const gatewayUrl = `mqtt://${link.host}:${link.port}`;
  const common = { topicPrefix, ...FAST_RECONNECT, ...(options.log === undefined ? {} : { log: options.log }) };

  const commands = new MqttCommandChannel({
    ...common,
    brokerUrl: gatewayUrl,
    gatewayId,
    replyTtlMs: options.replyTtlMs,
  });
  const telemetry = new MqttTelemetrySink({ ...common, brokerUrl: gatewayUrl, gatewayId, ackTimeoutMs: 5_000 });
  const cloud = new MqttCloudClient({ ...common, brokerUrl: broker.url });
  const accepted = new Set<string>();
  cloud.onCommandAccepted((id) => accepted.add(id));

  const observerId = `observer-${randomUUID()}`;
  const replyTopic = topics.replies(observerId);
  const observer: MqttClient = await connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: observerId,
    reconnectPeriod: 100,
  });
  const frames: ReceivedFrame[] = [];
  const replies = new Map<string, unknown>();
  observer.on('message', (topic, payload, packet) => {
    if (topic === replyTopic) {
      const id = packet.properties?.correlationData?.toString('utf8');
      if (id !== undefined) replies.set(id, JSON.parse(payload.toString('utf8')) as unknown);
      return;
    }
    void (async () => {
      const gzip = packet.properties?.userProperties?.['content-encoding'] === 'gzip';
      const body = gzip ? await gunzipAsync(payload) : payload;
      frames.push({ frame: TelemetryFrameSchema.parse(JSON.parse(body.toString('utf8'))), gzip });
    })();
  });
  await observer.subscribeAsync([topics.telemetry(gatewayId), replyTopic], { qos: 1 });

  const malformedBody = (kind: MalformedKind, correlationId: string): string => {
    const envelope = { correlationId, gatewayId, sentAtMs: Date.now() };
    switch (kind) {
      case 'not-json':
        return 'this is not json {';
      case 'not-an-envelope':
        return JSON.stringify({ hello: 'world' });
      case 'unknown-message-type':
        return JSON.stringify({ ...envelope, messageType: 'SelfDestruct', payload: {} });
      case 'other-gateway':
        return JSON.stringify({
          ...envelope,
          gatewayId: 'gw-someone-else',
          messageType: 'PingGateway',
          payload: { sentAtMs: Date.now() },
        });
      case 'invalid-payload':
        return JSON.stringify({
          ...envelope,
          messageType: 'SetBatterySetpoint',
          payload: { assetId: 'bat-1', powerW: 'lots' },
        });
    }
  };

  return {
    gatewayId,
    commands,
    telemetry,
    cloud,
    link,
    malformedKinds: ['not-json', 'not-an-envelope', 'unknown-message-type', 'other-gateway', 'invalid-payload'],
    async sendMalformed(kind): Promise<RejectionEvidence> {
      const correlationId = `malformed-${kind}-${randomUUID()}`;
      await observer.publishAsync(topics.commands(gatewayId), malformedBody(kind, correlationId), {
        qos: 1,
        properties: { responseTopic: replyTopic, correlationData: Buffer.from(correlationId, 'utf8') },
      });
      const reply = await waitFor(() => replies.get(correlationId), {
        timeoutMs: 10_000,
        message: `the error reply to the ${kind} command`,
      });
      const error = (reply as { error?: unknown }).error;
      return { reason: typeof error === 'string' ? error : JSON.stringify(reply) };
    },
    brokerAccepted: (correlationId) =>
      waitFor(() => accepted.has(correlationId), {
        timeoutMs: 10_000,
        message: `the broker to accept ${correlationId}`,
      }).then(() => undefined),
    receivedFrames: () => frames,
    ...(broker.restart === undefined ? {} : { restartBroker: broker.restart }),
    async close() {
      await Promise.all([commands.close(), telemetry.close(), cloud.close(), observer.endAsync(true)]);
      await link.close();
    },
  };
}
