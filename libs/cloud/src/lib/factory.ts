import type { CloudSettings } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { HttpTelemetrySink } from './http/http-telemetry-sink';
import { MqttCloudClient } from './mqtt/mqtt-cloud-client';
import { MqttCommandChannel } from './mqtt/mqtt-command-channel';
import type { MqttConnectionOptions, MqttTlsOptions } from './mqtt/mqtt-link';
import { MqttTelemetrySink } from './mqtt/mqtt-telemetry-sink';
import type { CloudCommandClient, CommandChannel, TelemetrySink } from './port';
import { ServiceBusCloudClient } from './servicebus/servicebus-cloud-client';
import { ServiceBusCommandChannel } from './servicebus/servicebus-command-channel';
import type { ServiceBusConnectionOptions } from './servicebus/servicebus-common';
import { ServiceBusTelemetrySink } from './servicebus/servicebus-telemetry-sink';

/** The gateway side of the cloud link, built from the site's `cloud` settings. */
export interface GatewayTransport {
  /** Cloud commands in, replies out. */
  readonly commands: CommandChannel;
  /** Telemetry over the configured transport (MQTT or Service Bus). */
  readonly telemetry: TelemetrySink;
  /** HTTP POST to the Platform API, when `platformApiUrl` is set: the fallback when `telemetry` fails. */
  readonly fallbackTelemetry: TelemetrySink | undefined;
}

/** Environment: the variables the settings name (`connectionStringEnv`, `usernameEnv`, …). Usually `process.env`. */
export type SecretEnv = Readonly<Record<string, string | undefined>>;

/** Tuning for {@link createGatewayTransport} and {@link createCloudClient}; every field has a default. */
export interface TransportOptions {
  /** TLS material for an `mqtts://` / `wss://` broker (system CAs otherwise). */
  readonly mqttTls?: MqttTlsOptions;
  /** Env var holding the Platform API bearer token for the HTTP sink; default `PLATFORM_API_TOKEN` (optional). */
  readonly platformTokenEnv?: string;
  /** MQTT reconnect backoff and timeouts (see MqttConnectionOptions). */
  readonly mqtt?: Pick<
    MqttConnectionOptions,
    'connectTimeoutMs' | 'keepaliveS' | 'reconnectInitialMs' | 'reconnectMaxMs'
  >;
  /** Service Bus timeouts, retries and re-accept backoff (see ServiceBusConnectionOptions). */
  readonly serviceBus?: Pick<
    ServiceBusConnectionOptions,
    'customEndpointAddress' | 'operationTimeoutMs' | 'sdkRetries' | 'reconnectInitialMs' | 'reconnectMaxMs'
  >;
  /** How long a reply that could not be sent is kept, ms (default 600 000). */
  readonly replyTtlMs?: number;
  /** Epoch ms clock (default Date.now). */
  readonly now?: () => number;
}

/** A secret the settings refer to is missing from the environment; `problems` names each variable (never a value). */
export class CloudConfigError extends Error {
  override readonly name = 'CloudConfigError';
  readonly retryable = false;
  constructor(readonly problems: readonly { readonly variable: string; readonly message: string }[]) {
    super(`cloud link: invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
  }
}

/**
 * The gateway's transports for `settings` (site config `cloud`), or `null` for transport `none`. Secrets are read
 * from the environment variables the settings name; a missing one throws CloudConfigError. Nothing connects here:
 * the command channel connects on `start`, the telemetry sinks on their first `send`.
 */
export function createGatewayTransport(
  settings: CloudSettings,
  env: SecretEnv,
  gatewayId: string,
  logger?: Logger,
  options: TransportOptions = {},
): GatewayTransport | null {
  const log = logger ?? pino({ level: 'silent' });
  switch (settings.transport) {
    case 'none':
      return null;
    case 'mqtt': {
      const connection = mqttConnection(settings, env, log, options);
      return {
        commands: new MqttCommandChannel({
          ...connection,
          gatewayId,
          log: log.child({ component: 'cloud-commands' }),
          ...(options.replyTtlMs === undefined ? {} : { replyTtlMs: options.replyTtlMs }),
        }),
        telemetry: new MqttTelemetrySink({
          ...connection,
          gatewayId,
          log: log.child({ component: 'cloud-telemetry' }),
        }),
        fallbackTelemetry: httpSink(settings.platformApiUrl, env, gatewayId, log, options),
      };
    }
    case 'servicebus': {
      const connection = serviceBusConnection(settings, env, log, options);
      return {
        commands: new ServiceBusCommandChannel({
          ...connection,
          gatewayId,
          commandQueue: settings.commandQueue,
          replyQueue: settings.replyQueue,
          log: log.child({ component: 'cloud-commands' }),
          ...(options.replyTtlMs === undefined ? {} : { replyTtlMs: options.replyTtlMs }),
        }),
        telemetry: new ServiceBusTelemetrySink({
          ...connection,
          gatewayId,
          topic: settings.telemetryTopic,
          log: log.child({ component: 'cloud-telemetry' }),
        }),
        fallbackTelemetry: httpSink(settings.platformApiUrl, env, gatewayId, log, options),
      };
    }
  }
}

/** The cloud side (CLI, tests) for `settings`, or `null` for transport `none`. */
export function createCloudClient(
  settings: CloudSettings,
  env: SecretEnv,
  logger?: Logger,
  options: TransportOptions = {},
): CloudCommandClient | null {
  const log = logger ?? pino({ level: 'silent' });
  switch (settings.transport) {
    case 'none':
      return null;
    case 'mqtt':
      return new MqttCloudClient({
        ...mqttConnection(settings, env, log, options),
        log: log.child({ component: 'cloud-client' }),
      });
    case 'servicebus':
      return new ServiceBusCloudClient({
        ...serviceBusConnection(settings, env, log, options),
        commandQueue: settings.commandQueue,
        replyQueue: settings.replyQueue,
        log: log.child({ component: 'cloud-client' }),
      });
  }
}

function serviceBusConnection(
  settings: Extract<CloudSettings, { transport: 'servicebus' }>,
  env: SecretEnv,
  log: Logger,
  options: TransportOptions,
): ServiceBusConnectionOptions {
  const variable = settings.connectionStringEnv;
  const connectionString = env[variable];
  if (connectionString === undefined || connectionString === '') {
    throw new CloudConfigError([{ variable, message: 'is not set (named by the site settings cloud block)' }]);
  }
  if (!/(^|;)\s*Endpoint\s*=\s*sb:\/\//i.test(connectionString)) {
    throw new CloudConfigError([{ variable, message: 'is not a Service Bus connection string (no Endpoint=sb://…)' }]);
  }
  return { connectionString, log, ...(options.now === undefined ? {} : { now: options.now }), ...options.serviceBus };
}

function mqttConnection(
  settings: Extract<CloudSettings, { transport: 'mqtt' }>,
  env: SecretEnv,
  log: Logger,
  options: TransportOptions,
): MqttConnectionOptions {
  const problems: { variable: string; message: string }[] = [];
  const secret = (variable: string | undefined): string | undefined => {
    if (variable === undefined) return undefined;
    const value = env[variable];
    if (value === undefined || value === '')
      problems.push({ variable, message: 'is not set (named by the site settings cloud block)' });
    return value;
  };
  const username = secret(settings.usernameEnv);
  const password = secret(settings.passwordEnv);
  if (problems.length > 0) throw new CloudConfigError(problems);
  return {
    brokerUrl: settings.brokerUrl,
    topicPrefix: settings.topicPrefix,
    log,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(options.mqttTls === undefined ? {} : { tls: options.mqttTls }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...options.mqtt,
  };
}

function httpSink(
  platformApiUrl: string | undefined,
  env: SecretEnv,
  gatewayId: string,
  log: Logger,
  options: TransportOptions,
): TelemetrySink | undefined {
  if (platformApiUrl === undefined) return undefined;
  const token = env[options.platformTokenEnv ?? 'PLATFORM_API_TOKEN'];
  return new HttpTelemetrySink({
    platformApiUrl,
    gatewayId,
    log: log.child({ component: 'cloud-telemetry-http' }),
    ...(token === undefined || token === '' ? {} : { token }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}
