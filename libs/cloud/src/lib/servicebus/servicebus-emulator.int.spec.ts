import type { StartedNetwork, StartedTestContainer } from 'testcontainers';
import { describeTransportBehaviour } from '../../testing/behaviour';
import { makeServiceBusFixture, type ServiceBusFixtureBroker } from '../../testing/servicebus-fixture';

// Opt-in: runs only where a Docker engine answers (libs/cloud/jest.config.cjs probes it the way libs/testing does,
// with testcontainers' getContainerRuntimeClient, and leaves this file out otherwise). Microsoft's Service Bus
// emulator needs SQL Server next to it; both come up in a private network. The emulator speaks plain AMQP, so the
// gateway goes through the test's LinkProxy and the whole suite runs, except the broker restart (the emulator
// keeps nothing across a restart).
const EMULATOR_IMAGE = 'mcr.microsoft.com/azure-messaging/servicebus-emulator:latest';
const SQL_IMAGE = 'mcr.microsoft.com/mssql/server:2022-latest';
const SQL_PASSWORD = 'Voltimax-Test-1!';
const ENTITIES = {
  commandQueue: 'gateway-commands',
  replyQueue: 'cloud-replies',
  telemetryTopic: 'telemetry',
  telemetrySubscription: 'cloud',
};

const sessionQueue = (name: string) => ({
  Name: name,
  Properties: {
    DeadLetteringOnMessageExpiration: false,
    DefaultMessageTimeToLive: 'PT1H',
    LockDuration: 'PT1M',
    MaxDeliveryCount: 10,
    RequiresDuplicateDetection: false,
    RequiresSession: true,
  },
});
const CONFIG = {
  UserConfig: {
    Namespaces: [
      {
        Name: 'sbemulatorns',
        Queues: [sessionQueue(ENTITIES.commandQueue), sessionQueue(ENTITIES.replyQueue)],
        Topics: [
          {
            Name: ENTITIES.telemetryTopic,
            Properties: { DefaultMessageTimeToLive: 'PT1H', RequiresDuplicateDetection: false },
            Subscriptions: [
              {
                Name: ENTITIES.telemetrySubscription,
                Properties: { MaxDeliveryCount: 10, LockDuration: 'PT1M', RequiresSession: false },
                Rules: [],
              },
            ],
          },
        ],
      },
    ],
    Logging: { Type: 'Console' },
  },
};

let network: StartedNetwork;
let sql: StartedTestContainer;
let emulator: StartedTestContainer;
let broker: ServiceBusFixtureBroker;

beforeAll(async () => {
  const { GenericContainer, Network, Wait } = await import('testcontainers');
  network = await new Network().start();
  sql = await new GenericContainer(SQL_IMAGE)
    .withNetwork(network)
    .withNetworkAliases('sqlserver')
    .withEnvironment({ ACCEPT_EULA: 'Y', MSSQL_SA_PASSWORD: SQL_PASSWORD })
    .withWaitStrategy(Wait.forLogMessage(/SQL Server is now ready for client connections/))
    .start();
  emulator = await new GenericContainer(EMULATOR_IMAGE)
    .withNetwork(network)
    .withEnvironment({ ACCEPT_EULA: 'Y', SQL_SERVER: 'sqlserver', MSSQL_SA_PASSWORD: SQL_PASSWORD })
    .withCopyContentToContainer([
      { content: JSON.stringify(CONFIG), target: '/ServiceBus_Emulator/ConfigFiles/Config.json' },
    ])
    .withExposedPorts(5672)
    .withWaitStrategy(Wait.forLogMessage(/Emulator Service is Successfully Up/))
    .withStartupTimeout(180_000)
    .start();
  const host = emulator.getHost();
  const port = emulator.getMappedPort(5672);
  const connectionStringFor = (p: number) =>
    `Endpoint=sb://${host}:${p};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`;
  broker = {
    connectionString: connectionStringFor(port),
    proxied: { amqp: { host, port }, gatewayConnectionString: (proxy) => connectionStringFor(proxy.port) },
    entities: ENTITIES,
  };
}, 300_000);

afterAll(async () => {
  await emulator?.stop();
  await sql?.stop();
  await network?.stop();
}, 60_000);

describeTransportBehaviour(
  'Azure Service Bus emulator (testcontainers)',
  (options) => makeServiceBusFixture(broker, options),
  {
    testTimeoutMs: 60_000,
    waitMs: 40_000,
  },
);
