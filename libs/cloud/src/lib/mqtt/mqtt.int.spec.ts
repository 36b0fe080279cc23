import { randomUUID } from 'node:crypto';
import { CloudReplyEnvelopeSchema, type CloudReplyEnvelope } from '@voltimax/contracts';
import { findBinary, freePort, startMqtt, waitFor, type TestServer } from '@voltimax/testing';
import { connectAsync } from 'mqtt';
import {
  describeTransportBehaviour,
  FAST_RECONNECT,
  makeMqttFixture,
  pingResult,
  type MqttFixtureBroker,
} from '../../testing';
import type { ReceivedCommand, RejectedCommand } from '../port';
import { MqttCommandChannel } from './mqtt-command-channel';
import { mqttTopics } from './topics';

// A local mosquitto lets the suite restart the broker on the same port; MQTT_URL or a container cannot.
const restartable = findBinary('mosquitto') !== undefined;

let server: TestServer;
let broker: MqttFixtureBroker;

beforeAll(async () => {
  if (restartable) {
    const port = await freePort();
    server = await startMqtt({ port });
    broker = {
      url: server.url,
      restart: async () => {
        await server.stop();
        server = await startMqtt({ port });
      },
    };
  } else {
    server = await startMqtt();
    broker = { url: server.url };
  }
});

afterAll(async () => {
  await server.stop();
});

describeTransportBehaviour('MQTT 5 on Mosquitto', (options) => makeMqttFixture(broker, options), {
  restartableBroker: restartable,
});

describe('MQTT 5 command channel on Mosquitto', () => {
  it('refuses a retained command (replayed on every new subscription) with an error reply, and runs live ones', async () => {
    const gatewayId = `gw-retained-${randomUUID().slice(0, 8)}`;
    const topics = mqttTopics();
    const cloud = await connectAsync(server.url, { protocolVersion: 5, clientId: `cloud-${gatewayId}` });
    const replyTopic = topics.replies(`cloud-${gatewayId}`);
    const replies: CloudReplyEnvelope[] = [];
    cloud.on(
      'message',
      (_topic, payload) => void replies.push(CloudReplyEnvelopeSchema.parse(JSON.parse(String(payload)))),
    );
    await cloud.subscribeAsync(replyTopic, { qos: 1 });
    const send = (correlationId: string, retain: boolean) =>
      cloud.publishAsync(
        topics.commands(gatewayId),
        JSON.stringify({
          messageType: 'PingGateway',
          correlationId,
          gatewayId,
          sentAtMs: Date.now(),
          payload: { sentAtMs: 1 },
        }),
        { qos: 1, retain, properties: { responseTopic: replyTopic, correlationData: Buffer.from(correlationId) } },
      );
    await send('corr-retained', true);

    const runs: ReceivedCommand[] = [];
    const rejected: RejectedCommand[] = [];
    const channel = new MqttCommandChannel({ brokerUrl: server.url, gatewayId, ...FAST_RECONNECT });
    channel.onRejected((r) => void rejected.push(r));
    try {
      await channel.start(async (command) => {
        runs.push(command);
        return pingResult(command);
      });
      await waitFor(() => replies.length === 1, { timeoutMs: 5_000, message: 'a reply to the retained command' });
      await send('corr-live', false);
      await waitFor(() => replies.length === 2, { timeoutMs: 5_000, message: 'a reply to the live command' });
    } finally {
      await channel.close();
      await cloud.publishAsync(topics.commands(gatewayId), '', { qos: 1, retain: true }); // clears the retained one
      await cloud.endAsync();
    }

    expect(replies[0]).toMatchObject({
      correlationId: 'corr-retained',
      ok: false,
      error: expect.stringMatching(/^retained command refused/),
    });
    expect(rejected).toEqual([
      expect.objectContaining({ code: 'retained', correlationId: 'corr-retained', messageType: 'PingGateway' }),
    ]);
    expect(runs.map((r) => r.envelope.correlationId)).toEqual(['corr-live']);
    expect(replies[1]).toMatchObject({ correlationId: 'corr-live', ok: true });
  });
});
