import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { ServiceBusClient, ServiceBusReceiver } from '@azure/service-bus';
import { TelemetryFrameSchema } from '@voltimax/contracts';
import { waitFor } from '@voltimax/testing';
import type { Logger } from 'pino';
import { ServiceBusCloudClient } from '../lib/servicebus/servicebus-cloud-client';
import { ServiceBusCommandChannel } from '../lib/servicebus/servicebus-command-channel';
import { bodyBytes, createServiceBusClient, SB_PROPERTY } from '../lib/servicebus/servicebus-common';
import { ServiceBusTelemetrySink } from '../lib/servicebus/servicebus-telemetry-sink';
import type { FixtureOptions, MalformedKind, ReceivedFrame, RejectionEvidence, TransportFixture } from './behaviour';
import { startLinkProxy, type LinkProxy } from './link-proxy';

const gunzipAsync = promisify(gunzip);

/** Entity names a Service Bus fixture works with. */
export interface ServiceBusEntities {
  readonly commandQueue: string;
  readonly replyQueue: string;
  readonly telemetryTopic: string;
  /** A subscription of the telemetry topic the fixture reads frames from. */
  readonly telemetrySubscription: string;
}

/** A Service Bus namespace for {@link makeServiceBusFixture}: the stand-in, the emulator, or a live namespace. */
export interface ServiceBusFixtureBroker {
  /** What the cloud side (client, observers) connects with, directly. */
  readonly connectionString: string;
  /**
   * The plain-AMQP endpoint the gateway's LinkProxy forwards to, and how the gateway reaches the namespace through
   * that proxy; absent for a namespace only reachable over TLS (the gateway then connects directly, without `link`).
   */
  readonly proxied?: {
    readonly amqp: { readonly host: string; readonly port: number };
    gatewayConnectionString(proxy: LinkProxy): string;
  };
  readonly entities: ServiceBusEntities;
  /** Restarts the namespace on the same address; absent where a test cannot. */
  readonly restart?: () => Promise<void>;
}

export interface ServiceBusFixtureOptions extends FixtureOptions {
  readonly log?: Logger;
}

let fixtureCounter = 0;

/** Settings that make a test's reconnects quick. */
const FAST = { reconnectInitialMs: 50, reconnectMaxMs: 400, operationTimeoutMs: 5_000 } as const;

/**
 * A fresh gateway (unique id = session id) on `broker`: the gateway's command channel and telemetry sink connect
 * through a LinkProxy; the cloud client and the observers (telemetry subscription, dead-letter queue, a sender of
 * malformed commands) connect directly.
 */
export async function makeServiceBusFixture(
  broker: ServiceBusFixtureBroker,
  options: ServiceBusFixtureOptions,
): Promise<TransportFixture> {
  fixtureCounter += 1;
  const gatewayId = `gw-${fixtureCounter}-${randomUUID().slice(0, 8)}`;
  const { entities } = broker;
  const link = broker.proxied === undefined ? undefined : await startLinkProxy(broker.proxied.amqp);
  const log = options.log === undefined ? {} : { log: options.log };
  const viaLink = {
    connectionString:
      link === undefined || broker.proxied === undefined
        ? broker.connectionString
        : broker.proxied.gatewayConnectionString(link),
    ...FAST,
    ...log,
  };

  const commands = new ServiceBusCommandChannel({
    ...viaLink,
    gatewayId,
    commandQueue: entities.commandQueue,
    replyQueue: entities.replyQueue,
    replyTtlMs: options.replyTtlMs,
  });
  const telemetry = new ServiceBusTelemetrySink({ ...viaLink, gatewayId, topic: entities.telemetryTopic });
  const cloud = new ServiceBusCloudClient({
    connectionString: broker.connectionString,
    commandQueue: entities.commandQueue,
    replyQueue: entities.replyQueue,
    ...FAST,
    ...log,
  });
  const accepted = new Set<string>();
  cloud.onCommandAccepted((id) => accepted.add(id));

  const observer: ServiceBusClient = createServiceBusClient({ connectionString: broker.connectionString, ...FAST });
  const frames: ReceivedFrame[] = [];
  const telemetryReceiver = observer.createReceiver(entities.telemetryTopic, entities.telemetrySubscription, {
    skipParsingBodyAsJson: true,
    receiveMode: 'receiveAndDelete',
  });
  telemetryReceiver.subscribe(
    {
      processMessage: async (message) => {
        if (message.applicationProperties?.[SB_PROPERTY.gatewayId] !== gatewayId) return;
        const gzip = message.applicationProperties[SB_PROPERTY.contentEncoding] === 'gzip';
        const bytes = bodyBytes(message.body) ?? Buffer.alloc(0);
        const body = gzip ? await gunzipAsync(bytes) : bytes;
        frames.push({ frame: TelemetryFrameSchema.parse(JSON.parse(body.toString('utf8'))), gzip });
      },
      processError: async () => undefined,
    },
    {},
  );
  const deadLetters = new Map<string, RejectionEvidence>();
  const deadLetterReceiver: ServiceBusReceiver = observer.createReceiver(entities.commandQueue, {
    subQueueType: 'deadLetter',
    skipParsingBodyAsJson: true,
    receiveMode: 'receiveAndDelete',
  });
  deadLetterReceiver.subscribe(
    {
      processMessage: async (message) => {
        if (typeof message.messageId === 'string') {
          deadLetters.set(message.messageId, {
            reason: `${message.deadLetterReason ?? ''}: ${message.deadLetterErrorDescription ?? ''}`,
          });
        }
      },
      processError: async () => undefined,
    },
    {},
  );
  const malformedSender = observer.createSender(entities.commandQueue);

  return {
    gatewayId,
    commands,
    telemetry,
    cloud,
    ...(link === undefined ? {} : { link }),
    malformedKinds: ['not-json', 'not-an-envelope', 'unknown-message-type', 'invalid-payload'],
    async sendMalformed(kind: MalformedKind): Promise<RejectionEvidence> {
      const messageId = `malformed-${kind}-${randomUUID()}`;
      const base = {
        messageId,
        sessionId: gatewayId,
        replyTo: entities.replyQueue,
        replyToSessionId: cloud.replySessionId,
        contentType: 'application/json',
      };
      const typed = (type: string) => ({ [SB_PROPERTY.messageType]: type, [SB_PROPERTY.sentAtMs]: Date.now() });
      switch (kind) {
        case 'not-json':
          await malformedSender.sendMessages({
            ...base,
            body: Buffer.from('this is not json {'),
            applicationProperties: typed('PingGateway'),
          });
          break;
        case 'not-an-envelope':
          await malformedSender.sendMessages({ ...base, body: { sentAtMs: Date.now() } });
          break;
        case 'unknown-message-type':
          await malformedSender.sendMessages({ ...base, body: {}, applicationProperties: typed('SelfDestruct') });
          break;
        case 'invalid-payload':
          await malformedSender.sendMessages({
            ...base,
            body: { assetId: 'bat-1', powerW: 'lots' },
            applicationProperties: typed('SetBatterySetpoint'),
          });
          break;
        case 'other-gateway':
          throw new Error('Service Bus routes by session: a command for another gateway never reaches this one');
      }
      return waitFor(() => deadLetters.get(messageId), {
        timeoutMs: 15_000,
        message: `the ${kind} command in the dead-letter queue`,
      });
    },
    brokerAccepted: (correlationId) =>
      waitFor(() => accepted.has(correlationId), {
        timeoutMs: 15_000,
        message: `Service Bus to accept ${correlationId}`,
      }).then(() => undefined),
    receivedFrames: () => frames,
    ...(broker.restart === undefined ? {} : { restartBroker: broker.restart }),
    async close() {
      await Promise.all([commands.close(), telemetry.close(), cloud.close()]);
      await Promise.all([telemetryReceiver.close(), deadLetterReceiver.close(), malformedSender.close()]).catch(
        () => undefined,
      );
      await observer.close();
      await link?.close();
    },
  };
}
