import { startServiceBusStandIn, type ServiceBusStandIn } from '@voltimax/testing';
import { describeTransportBehaviour } from '../../testing/behaviour';
import { makeServiceBusFixture, type ServiceBusFixtureBroker } from '../../testing/servicebus-fixture';

const ENTITIES = {
  commandQueue: 'gateway-commands',
  replyQueue: 'cloud-replies',
  telemetryTopic: 'telemetry',
  telemetrySubscription: 'cloud',
};

let standIn: ServiceBusStandIn;
let broker: ServiceBusFixtureBroker;

beforeAll(async () => {
  standIn = await startServiceBusStandIn({
    queues: [
      { name: ENTITIES.commandQueue, requiresSession: true },
      { name: ENTITIES.replyQueue, requiresSession: true },
    ],
    topics: [{ name: ENTITIES.telemetryTopic, subscriptions: [ENTITIES.telemetrySubscription] }],
  });
  broker = {
    connectionString: standIn.connectionString,
    proxied: {
      amqp: { host: standIn.host, port: standIn.port },
      gatewayConnectionString: (proxy) => standIn.connectionStringFor(proxy.port),
    },
    entities: ENTITIES,
    restart: async () => {
      await standIn.stop();
      await standIn.start();
    },
  };
});

afterAll(async () => {
  await standIn.close();
});

describeTransportBehaviour(
  'Azure Service Bus SDK on the stand-in',
  (options) => makeServiceBusFixture(broker, options),
  { restartableBroker: true },
);
