import { findBinary, freePort, startMqtt, type TestServer } from '@voltimax/testing';
import { describeTransportBehaviour, makeMqttFixture, type MqttFixtureBroker } from '../../testing';

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
