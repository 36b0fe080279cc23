import { dirname, resolve } from 'node:path';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { natsTransport } from '@voltimax/bus';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import { driverHostEnvSchema, type ReadTextFile } from './config';
import { startHost } from './host';
import { planHost } from './plan';
import type { WorkerInit } from './protocol';
import { RUNNING_TYPESCRIPT, WORKSPACE_TSCONFIG, spawnDriverWorker } from './worker-spawn';

/** `health.driver-host`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'driver-host';
export const SERVICE_VERSION = '0.1.0';

/**
 * The driver-host service: runs the protocol plugins the site's `drivers` list names (libs/driver-sdk), each in its
 * own worker thread, for every enabled asset whose connection is `plugin`; publishes their validated readings on
 * `telemetry.<assetId>` and executes `device.<assetId>.write` for them. `readTextFile` and `spawn` are injectable.
 */
export function driverHostService(
  deps: {
    readonly readTextFile?: ReadTextFile;
    readonly spawn?: (init: WorkerInit, resourceLimits: ResourceLimits) => Worker;
  } = {},
) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: driverHostEnvSchema(deps.readTextFile),
    start({ env, log, bus, connection, health, now, restart, reloadEnv }) {
      const siteFile = resolve(env.SITE_FILE.path);
      const plan = planHost(env.SITE_FILE.site, {
        siteDir: dirname(siteFile),
        hostFile: __filename,
        typescript: RUNNING_TYPESCRIPT,
        workspaceTsconfig: WORKSPACE_TSCONFIG,
      });
      log.info(
        {
          siteFile,
          gatewayId: env.SITE_FILE.site.gatewayId,
          typescriptSources: RUNNING_TYPESCRIPT,
          drivers: plan.drivers.map((d) => ({
            name: d.name,
            module: d.module,
            resolved: d.resolution.ok ? d.resolution.path : undefined,
            problem: d.resolution.ok ? undefined : d.resolution.reason,
            assets: d.assets.map((a) => a.id),
          })),
          idleDrivers: plan.idle,
          unusable: Object.fromEntries(plan.unusable),
          timeouts: {
            readMs: env.READ_TIMEOUT_MS,
            writeMs: env.WRITE_TIMEOUT_MS,
            startMs: env.START_TIMEOUT_MS,
            closeMs: env.CLOSE_TIMEOUT_MS,
            hangMs: env.HANG_TIMEOUT_MS,
          },
          restart: { minMs: env.RESTART_MIN_MS, maxMs: env.RESTART_MAX_MS },
          driverMaxHeapMb: env.DRIVER_MAX_HEAP_MB,
        },
        'drivers planned',
      );
      const host = startHost({
        plan,
        bus,
        transport: natsTransport(connection.nc),
        log,
        health,
        now,
        spawn: deps.spawn ?? ((init, resourceLimits) => spawnDriverWorker({ init, resourceLimits })),
        settings: {
          readTimeoutMs: env.READ_TIMEOUT_MS,
          writeTimeoutMs: env.WRITE_TIMEOUT_MS,
          staleAfterIntervals: env.STALE_AFTER_INTERVALS,
          resourceLimits: { maxOldGenerationSizeMb: env.DRIVER_MAX_HEAP_MB },
          timing: {
            startTimeoutMs: env.START_TIMEOUT_MS,
            closeTimeoutMs: env.CLOSE_TIMEOUT_MS,
            pingIntervalMs: env.PING_INTERVAL_MS,
            hangTimeoutMs: env.HANG_TIMEOUT_MS,
            hungAfterTimeouts: env.HUNG_AFTER_TIMEOUTS,
            restartMinMs: env.RESTART_MIN_MS,
            restartMaxMs: Math.max(env.RESTART_MIN_MS, env.RESTART_MAX_MS),
          },
        },
      });
      // It reads its plugin assets and the drivers list only at start: a change to them restarts it (exit 75).
      restartOnSiteChange({ bus, log, env, connection, restart, reloadEnv }, (e) => ({
        assets: e.SITE_FILE.site.assets.filter((a) => a.connection.protocol === 'plugin'),
        drivers: e.SITE_FILE.site.drivers,
      }));
      return { stop: () => host.stop() };
    },
  });
}
