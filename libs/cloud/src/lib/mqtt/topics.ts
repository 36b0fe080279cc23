import { AssetIdSchema } from '@voltimax/contracts';

/** Default topic prefix (site settings `topicPrefix`). */
export const DEFAULT_TOPIC_PREFIX = 'voltimax';

/** The MQTT topics of the cloud link, all under one prefix. */
export interface MqttTopics {
  /** `<prefix>/gateways/<gatewayId>/commands`: cloud → gateway, QoS 1, with response topic and correlation data. */
  commands(gatewayId: string): string;
  /** `<prefix>/gateways/<gatewayId>/telemetry`: gateway → cloud TelemetryFrames, QoS 1. */
  telemetry(gatewayId: string): string;
  /** `<prefix>/cloud/<clientId>/replies`: the response topic of one cloud client. */
  replies(clientId: string): string;
}

const TOPIC_LEVEL = /^[^/+#]+$/;

/** Topic builders for `prefix` (may itself have several levels, e.g. `acme/prod`). */
export function mqttTopics(prefix: string = DEFAULT_TOPIC_PREFIX): MqttTopics {
  if (prefix.split('/').some((level) => !TOPIC_LEVEL.test(level))) {
    throw new RangeError(`MQTT topic prefix '${prefix}' must be non-empty levels without '+', '#' or empty levels`);
  }
  const gateway = (gatewayId: string): string => `${prefix}/gateways/${AssetIdSchema.parse(gatewayId)}`;
  return {
    commands: (gatewayId) => `${gateway(gatewayId)}/commands`,
    telemetry: (gatewayId) => `${gateway(gatewayId)}/telemetry`,
    replies: (clientId) => {
      if (!TOPIC_LEVEL.test(clientId)) throw new RangeError(`client id '${clientId}' cannot be a topic level`);
      return `${prefix}/cloud/${clientId}/replies`;
    },
  };
}
