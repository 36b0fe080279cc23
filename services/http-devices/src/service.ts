import { natsTransport } from '@voltimax/bus';
import { AssetErrorTracker } from '@voltimax/driver-sdk/plumbing';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import type { OwnedAsset } from './assets';
import { startCommands } from './commands';
import { httpDevicesEnvSchema, type ReadTextFile } from './config';
import { HttpDeviceClient } from './http-client';
import { startHttpPoller } from './http-poller';
import { startMqttListener, type ConnectBroker, type MqttListener } from './mqtt-listener';
import { redactUrl } from './redact';

/** `health.http-devices`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'http-devices';
export const SERVICE_VERSION = '0.1.0';

/**
 * The http-devices service: drives the site's `http` and `mqtt` assets with their JSON profiles — polls HTTP
 * devices, listens to MQTT devices, publishes `telemetry.<assetId>`, and executes `device.<assetId>.write` for them.
 * `readTextFile` and `connectBroker` are injectable for tests.
 */
export function httpDevicesService(
  deps: { readonly readTextFile?: ReadTextFile; readonly connectBroker?: ConnectBroker } = {},
) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: httpDevicesEnvSchema(deps.readTextFile),
    start({ env, log, bus, connection, health, now, instanceId, restart, reloadEnv }) {
      const { plan } = env;
      const http = plan.owned.filter((a) => a.protocol === 'http');
      const mqtt = plan.owned.filter((a) => a.protocol === 'mqtt');
      log.info(
        {
          siteFile: env.SITE_FILE,
          gatewayId: env.site.gatewayId,
          http: {
            timeoutMs: env.HTTP_TIMEOUT_MS,
            attempts: env.HTTP_RETRY_ATTEMPTS,
            breakerFailures: env.HTTP_BREAKER_FAILURES,
            breakerHalfOpenMs: env.HTTP_BREAKER_HALF_OPEN_MS,
          },
          brokers: plan.brokers.map((b) => ({
            url: redactUrl(b.url),
            mqttVersion: b.protocolVersion === 5 ? '5.0' : '3.1.1',
            auth: b.username !== undefined,
          })),
          staleAfterIntervals: env.STALE_AFTER_INTERVALS,
          owned: plan.owned.map((a) => ({
            assetId: a.id,
            kind: a.kind,
            profile: a.config.profile,
            driver: a.driver.kind,
            where:
              a.driver.kind === 'http'
                ? redactUrl(a.driver.baseUrl)
                : a.driver.kind === 'mqtt'
                  ? `${redactUrl(a.driver.brokerUrl)} ${a.driver.prefix}`
                  : undefined,
            pollIntervalMs: a.pollIntervalMs,
          })),
          notOurs: plan.notOurs,
        },
        'assets planned',
      );
      for (const asset of plan.owned) {
        if (asset.driver.kind === 'unusable')
          log.error(
            { assetId: asset.id, reason: asset.driver.reason },
            'asset cannot be driven; publishing error readings',
          );
      }
      // The arbiter takes a silent driver as a fault: the heartbeat names every asset this service answers for.
      health.setAssets(plan.owned.map((a) => a.id));

      const clients = new Map<string, HttpDeviceClient>();
      const clientFor = (asset: OwnedAsset): HttpDeviceClient => {
        let client = clients.get(asset.id);
        if (client === undefined) {
          client = new HttpDeviceClient(asset.id, {
            timeoutMs: env.HTTP_TIMEOUT_MS,
            attempts: env.HTTP_RETRY_ATTEMPTS,
            maxBodyBytes: env.HTTP_MAX_BODY_BYTES,
            breaker: { consecutiveFailures: env.HTTP_BREAKER_FAILURES, halfOpenAfterMs: env.HTTP_BREAKER_HALF_OPEN_MS },
            log: log.child({ component: 'http' }),
          });
          clients.set(asset.id, client);
        }
        return client;
      };
      const errors = new AssetErrorTracker(health);
      const poller = startHttpPoller({
        bus,
        log: log.child({ component: 'http-poller' }),
        health,
        errors,
        assets: http,
        clientFor,
        now,
        staleAfterIntervals: env.STALE_AFTER_INTERVALS,
      });
      const listener: MqttListener | undefined =
        mqtt.length === 0
          ? undefined
          : startMqttListener({
              bus,
              log: log.child({ component: 'mqtt' }),
              health,
              errors,
              assets: mqtt,
              brokers: plan.brokers,
              instanceId,
              connectTimeoutMs: env.MQTT_CONNECT_TIMEOUT_MS,
              reconnectMs: env.MQTT_RECONNECT_MS,
              now,
              staleAfterIntervals: env.STALE_AFTER_INTERVALS,
              ...(deps.connectBroker === undefined ? {} : { connectBroker: deps.connectBroker }),
            });
      const commands = startCommands({
        transport: natsTransport(connection.nc),
        log: log.child({ component: 'commands' }),
        health,
        assets: plan.owned,
        httpClientFor: clientFor,
        mqtt: listener,
        mqttConfirmTimeoutMs: env.MQTT_CONFIRM_TIMEOUT_MS,
        now,
      });
      // It reads its assets only at start: a change to one it drives (or a new one) restarts it (exit 75).
      restartOnSiteChange({ bus, log, env, connection, restart, reloadEnv }, (e) => ({
        assets: e.plan.owned.map((a) => a.config),
      }));
      return {
        async stop() {
          await commands.stop();
          await poller.stop();
          await listener?.stop();
        },
      };
    },
  });
}
