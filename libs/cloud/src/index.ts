export {
  TransportError,
  type CloudCommandClient,
  type CommandChannel,
  type CommandHandler,
  type CommandResult,
  type DeferredReply,
  type LinkState,
  type LinkStatus,
  type ReceivedCommand,
  type RejectedCommand,
  type RejectionCode,
  type TelemetrySendOptions,
  type TelemetrySink,
} from './lib/port';
export {
  CloudConfigError,
  createCloudClient,
  createGatewayTransport,
  type GatewayTransport,
  type SecretEnv,
  type TransportOptions,
} from './lib/factory';
export { CommandRejectionSchema, decodeCommand, type CommandRejection, type DecodedCommand } from './lib/commands';
export { MqttCommandChannel, type MqttCommandChannelOptions } from './lib/mqtt/mqtt-command-channel';
export { MqttTelemetrySink, type MqttTelemetrySinkOptions } from './lib/mqtt/mqtt-telemetry-sink';
export { MqttCloudClient, type MqttCloudClientOptions } from './lib/mqtt/mqtt-cloud-client';
export type { MqttConnectionOptions, MqttTlsOptions } from './lib/mqtt/mqtt-link';
export { DEFAULT_TOPIC_PREFIX, mqttTopics, type MqttTopics } from './lib/mqtt/topics';
export { HttpTelemetrySink, telemetryUrl, type HttpTelemetrySinkOptions } from './lib/http/http-telemetry-sink';
export {
  ServiceBusCommandChannel,
  type ServiceBusCommandChannelOptions,
} from './lib/servicebus/servicebus-command-channel';
export {
  ServiceBusTelemetrySink,
  type ServiceBusTelemetrySinkOptions,
} from './lib/servicebus/servicebus-telemetry-sink';
export { ServiceBusCloudClient, type ServiceBusCloudClientOptions } from './lib/servicebus/servicebus-cloud-client';
export { SB_DEFAULTS, SB_PROPERTY, type ServiceBusConnectionOptions } from './lib/servicebus/servicebus-common';
