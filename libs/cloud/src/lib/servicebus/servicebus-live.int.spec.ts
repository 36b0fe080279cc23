import { describeTransportBehaviour } from '../../testing/behaviour';
import { makeServiceBusFixture, type ServiceBusFixtureBroker } from '../../testing/servicebus-fixture';

// Opt-in: runs only when SERVICEBUS_CONNECTION_STRING is set (libs/cloud/jest.config.cjs leaves this file out
// otherwise). The namespace needs the session queues `gateway-commands` and `cloud-replies` and the topic `telemetry`
// with the subscription SERVICEBUS_TELEMETRY_SUBSCRIPTION (default `voltimax-tests`); see libs/cloud/README.md.
// A live namespace speaks AMQP over TLS, which the test's TCP proxy cannot carry with a valid host name, so the link
// tests (cut, hold, reconnect) are left out here; they run against the stand-in and the emulator.
const connectionString = process.env['SERVICEBUS_CONNECTION_STRING'] ?? '';

const broker: ServiceBusFixtureBroker = {
  connectionString,
  entities: {
    commandQueue: 'gateway-commands',
    replyQueue: 'cloud-replies',
    telemetryTopic: 'telemetry',
    telemetrySubscription: process.env['SERVICEBUS_TELEMETRY_SUBSCRIPTION'] ?? 'voltimax-tests',
  },
};

describeTransportBehaviour('Azure Service Bus (live namespace)', (options) => makeServiceBusFixture(broker, options), {
  linkControl: false,
  testTimeoutMs: 60_000,
  waitMs: 40_000,
});
