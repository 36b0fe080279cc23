import { jetstreamManager } from '@nats-io/jetstream';
import { ensureStream } from '@voltimax/bus';
import { createGatewayTransport, type TelemetrySink } from '@voltimax/cloud';
import { streams } from '@voltimax/contracts';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import { publisherEnvSchema, type PublisherEnv, type ReadTextFile } from './config';
import { startPublisher, type PublisherSettings } from './publisher';
import type { Sinks } from './sender';

/** `health.telemetry-publisher`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'telemetry-publisher';
export const SERVICE_VERSION = '0.1.0';

/** Injectable for tests: file reads. */
export interface TelemetryPublisherOverrides {
  readonly readTextFile?: ReadTextFile;
}

/** The publisher's settings from its environment. */
export function publisherSettings(env: PublisherEnv): PublisherSettings {
  return {
    gatewayId: env.site.gatewayId,
    stream: streams.telemetry.name,
    frame: {
      windowMs: env.FRAME_INTERVAL_MS,
      maxReadings: env.FRAME_MAX_READINGS,
      maxBytes: env.FRAME_MAX_BYTES,
      graceMs: env.FRAME_GRACE_MS,
    },
    gzipMinBytes: env.GZIP_MIN_BYTES,
    backlogRate: { ratePerS: env.BACKLOG_READINGS_PER_S, burst: env.BACKLOG_BURST_READINGS },
    split: { minReadings: env.BACKLOG_SPLIT_READINGS, minAgeMs: env.BACKLOG_SPLIT_AGE_MS, maxLanes: env.MAX_LANES },
    lane: {
      fetchBatch: env.FETCH_BATCH,
      bufferLimit: env.LANE_BUFFER_MESSAGES,
      pollMs: env.PULL_INTERVAL_MS,
      retryMs: env.RETRY_MIN_MS,
      requestTimeoutMs: env.NATS_REQUEST_TIMEOUT_MS,
      gapReadConcurrency: 64,
    },
    consumer: { ackWaitMs: env.ACK_WAIT_MS, maxAckPending: env.MAX_ACK_PENDING },
    sendTimeoutMs: env.SEND_TIMEOUT_MS,
    retryMinMs: env.RETRY_MIN_MS,
    retryMaxMs: env.RETRY_MAX_MS,
    statsIntervalMs: env.STATS_INTERVAL_MS,
    degradedBacklogAgeMs: env.DEGRADED_BACKLOG_AGE_MS,
  };
}

/** The telemetry transports of the site's `cloud` block: the primary and the HTTP fallback (Platform API). */
function cloudSinks(env: PublisherEnv, log: Logger): { sinks: Sinks; close(): Promise<void> } {
  const transport = createGatewayTransport(
    env.site.cloud,
    env.secrets,
    env.site.gatewayId,
    log.child({ component: 'cloud' }),
    {
      mqtt: { reconnectInitialMs: env.MQTT_RECONNECT_MIN_MS, reconnectMaxMs: env.MQTT_RECONNECT_MAX_MS },
    },
  );
  if (transport === null) return { sinks: { primary: undefined, fallback: undefined }, close: async () => undefined };
  const owned: TelemetrySink[] = [
    transport.telemetry,
    ...(transport.fallbackTelemetry === undefined ? [] : [transport.fallbackTelemetry]),
  ];
  return {
    sinks: { primary: transport.telemetry, fallback: transport.fallbackTelemetry },
    // The command channel belongs to cloud-bridge; it was never started here.
    close: async () => {
      await Promise.allSettled([...owned.map((s) => s.close()), transport.commands.close()]);
    },
  };
}

/**
 * The telemetry-publisher service: ensures stream TELEMETRY (file storage, retention and byte cap from the
 * environment, discard old), then runs the publisher over the site's cloud transports.
 */
export function telemetryPublisherService(overrides: TelemetryPublisherOverrides = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: publisherEnvSchema(overrides.readTextFile),
    async start({ env, log, bus, connection, health, now, restart, reloadEnv }) {
      const jsm = await jetstreamManager(connection.nc);
      const { action, info } = await ensureStream(
        jsm,
        {
          name: streams.telemetry.name,
          subjects: streams.telemetry.subjects,
          storage: 'file',
          maxAgeMs: env.TELEMETRY_MAX_AGE_MS,
          maxBytes: env.TELEMETRY_MAX_BYTES,
        },
        log.child({ component: 'stream' }),
      );
      const settings = publisherSettings(env);
      log.info(
        {
          siteFile: env.SITE_FILE,
          gatewayId: settings.gatewayId,
          cloud: {
            transport: env.site.cloud.transport,
            fallback: env.site.cloud.transport !== 'none' && env.site.cloud.platformApiUrl !== undefined,
          },
          stream: {
            name: streams.telemetry.name,
            action,
            // As the stream has them (`kept`: as provisioned, which may differ from this service's env).
            maxAgeMs: info.config.max_age / 1e6,
            maxBytes: info.config.max_bytes,
            messages: info.state.messages,
            bytes: info.state.bytes,
          },
          settings,
        },
        'stream and settings',
      );
      const cloud = cloudSinks(env, log);
      const publisher = await startPublisher({
        nc: connection.nc,
        log: log.child({ component: 'publisher' }),
        health,
        now,
        sinks: cloud.sinks,
        settings,
      });
      // It reads cloud and gatewayId of the site only at start: a changed site restarts it (exit 75) to load them.
      restartOnSiteChange({ bus, log, env, connection, restart, reloadEnv }, (e) => ({
        cloud: e.site.cloud,
        gatewayId: e.site.gatewayId,
      }));
      return {
        async stop() {
          await publisher.stop();
          await cloud.close();
        },
      };
    },
  });
}
