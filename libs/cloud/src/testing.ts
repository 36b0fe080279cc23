export {
  describeTransportBehaviour,
  gate,
  pingResult,
  statusLog,
  telemetryFrame,
  type BehaviourSuiteOptions,
  type FixtureOptions,
  type MakeTransportFixture,
  type MalformedKind,
  type ReceivedFrame,
  type RejectionEvidence,
  type TransportFixture,
} from './testing/behaviour';
export { startLinkProxy, type LinkProxy } from './testing/link-proxy';
export {
  FAST_RECONNECT,
  makeMqttFixture,
  type MqttFixtureBroker,
  type MqttFixtureOptions,
} from './testing/mqtt-fixture';
export {
  makeServiceBusFixture,
  type ServiceBusEntities,
  type ServiceBusFixtureBroker,
  type ServiceBusFixtureOptions,
} from './testing/servicebus-fixture';
