import { natsTransport } from '@voltimax/bus';
import { endpointKey, ModbusPool } from '@voltimax/modbus';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import { planAssets } from './assets';
import { startCommands } from './commands';
import { pollerEnvSchema, type ReadTextFile } from './config';
import { startPoller } from './poller';

/** `health.modbus-poller`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'modbus-poller';
export const SERVICE_VERSION = '0.1.0';

/**
 * The modbus-poller service: reads the site, takes its shard of the Modbus assets, polls them into
 * `telemetry.<assetId>` and executes `device.<assetId>.write` for them. `readTextFile` is injectable for tests.
 */
export function modbusPollerService(readTextFile?: ReadTextFile) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: pollerEnvSchema(readTextFile),
    start({ env, log, bus, connection, health, now, restart, reloadEnv }) {
      const plan = planAssets(env.site, env.POLLER_SHARD);
      log.info(
        {
          siteFile: env.SITE_FILE,
          gatewayId: env.site.gatewayId,
          shard: `${env.POLLER_SHARD.index}/${env.POLLER_SHARD.count}`,
          modbus: {
            timeoutMs: env.MODBUS_TIMEOUT_MS,
            attempts: env.MODBUS_RETRY_ATTEMPTS,
            breakerFailures: env.MODBUS_BREAKER_FAILURES,
            breakerHalfOpenMs: env.MODBUS_BREAKER_HALF_OPEN_MS,
            reconnectMaxMs: env.MODBUS_RECONNECT_MAX_MS,
          },
          staleAfterIntervals: env.STALE_AFTER_INTERVALS,
          owned: plan.owned.map((a) => ({
            assetId: a.id,
            kind: a.kind,
            profile: a.config.profile,
            driver: a.driver.kind,
            endpoint: endpointKey(a.endpoint),
            unitId: a.unitId,
            pollIntervalMs: a.pollIntervalMs,
          })),
          otherShards: plan.otherShards,
          notModbus: plan.notModbus,
        },
        'assets planned',
      );
      for (const asset of plan.owned) {
        if (asset.driver.kind === 'unusable') {
          log.error(
            { assetId: asset.id, reason: asset.driver.reason },
            'asset cannot be driven; publishing error readings',
          );
        }
      }
      health.setAssets(plan.owned.map((a) => a.id));

      const pool = new ModbusPool({
        log: log.child({ component: 'modbus' }),
        timeoutMs: env.MODBUS_TIMEOUT_MS,
        retry: { attempts: env.MODBUS_RETRY_ATTEMPTS },
        breaker: { consecutiveFailures: env.MODBUS_BREAKER_FAILURES, halfOpenAfterMs: env.MODBUS_BREAKER_HALF_OPEN_MS },
        reconnect: { maxDelayMs: env.MODBUS_RECONNECT_MAX_MS },
      });
      const poller = startPoller({
        bus,
        log: log.child({ component: 'poller' }),
        health,
        assets: plan.owned,
        clientFor: (asset) => pool.client(asset.endpoint, asset.unitId),
        now,
        staleAfterIntervals: env.STALE_AFTER_INTERVALS,
      });
      const commands = startCommands({
        transport: natsTransport(connection.nc),
        log: log.child({ component: 'commands' }),
        health,
        assets: plan.owned,
        // One attempt: the arbiter waits for the reply, and a retry after a timeout could land late.
        clientFor: (asset) => pool.client(asset.endpoint, asset.unitId, { attempts: 1 }),
        scaleFactors: (assetId) => poller.scaleFactors(assetId),
        now,
      });
      // It reads its assets only at start: a change to one it drives (or a new one) restarts it (exit 75).
      restartOnSiteChange({ bus, log, env, connection, restart, reloadEnv }, (e) => ({
        assets: planAssets(e.site, e.POLLER_SHARD).owned.map((a) => a.config),
      }));
      return {
        async stop() {
          await commands.stop();
          const polling = poller.stop();
          await pool.close(); // fails reads still queued, so the loops end at once
          await polling;
        },
      };
    },
  });
}
