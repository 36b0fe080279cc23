import { stat } from 'node:fs/promises';
import { ensureKv } from '@voltimax/bus';
import { createGatewayTransport, type CommandChannel } from '@voltimax/cloud';
import { configBucket, pricesBucket, strategyHistoryBucket, subjects, type SiteConfig } from '@voltimax/contracts';
import { defineService } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import { NODE_FS, removeStaleTemps, writeFileAtomic, type AtomicFs } from './atomic-file';
import { bridgeHealth } from './bridge-health';
import { createCommandHandler } from './commands';
import { bridgeEnvSchema, type ReadTextFile } from './config';
import { createConfigSync } from './config-sync';
import { fetchEnergyCharts } from './energy-charts';
import { answerGatewayRequests } from './gateway-requests';
import type { FetchLike } from './http-json';
import { watchLink } from './link';
import { platformApi } from './platform-api';
import { createPriceSync, type PriceSource } from './prices';
import { REAL_SCHEDULER, type Scheduler } from './scheduler';
import { createServiceHealthTracker } from './service-health';
import { natsConfigStore, natsPriceStore } from './stores';

/** `health.cloud-bridge`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'cloud-bridge';
export const SERVICE_VERSION = '0.1.0';

/** What the bridge needs to build its cloud command channel. */
export interface ChannelContext {
  readonly site: SiteConfig;
  /** The environment (the cloud block names its secrets' variables). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly now: () => number;
}

/** Injectable for tests: file reads and writes, HTTP, timers and the cloud transport. */
export interface CloudBridgeOverrides {
  readonly readTextFile?: ReadTextFile;
  readonly scheduler?: Scheduler;
  readonly fetch?: FetchLike;
  readonly fs?: AtomicFs;
  /** Default: libs/cloud's `createGatewayTransport` for the site's `cloud` block (null for `none`). */
  readonly commandChannel?: (ctx: ChannelContext) => CommandChannel | null;
}

function defaultChannel(ctx: ChannelContext): CommandChannel | null {
  return (
    createGatewayTransport(ctx.site.cloud, ctx.env, ctx.site.gatewayId, ctx.log, { now: ctx.now })?.commands ?? null
  );
}

const zoneOf = (site: SiteConfig): string | undefined => site.tariff.priceZone || undefined;

/**
 * The cloud-bridge: cloud commands → manual intents and replies; configuration sync (Platform API → assets.json,
 * KV `config`, `config.updated`); day-ahead prices → KV `prices`; the gateway's own requests on the bus; offline mode
 * (link state in the heartbeat, everything local keeps running).
 */
export function cloudBridgeService(overrides: CloudBridgeOverrides = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: bridgeEnvSchema(overrides.readTextFile),
    async start({ env, log, bus, connection, health: control, settings, version }) {
      const scheduler = overrides.scheduler ?? REAL_SCHEDULER;
      const now = (): number => scheduler.now();
      const fs = overrides.fs ?? NODE_FS;
      const health = bridgeHealth(control);
      const startedAtMs = now();
      const site = env.initial.site;
      const gatewayId = site.gatewayId;

      const services = createServiceHealthTracker(now);
      const offHealth = bus.subscribe(subjects.health, (heartbeat) => services.update(heartbeat));

      const kvLog = log.child({ component: 'kv' });
      // Under docker/nats/nats.conf the provisioner (`voltimax bus init`) creates the buckets and these only open
      // them (a missing one ends the start with StreamNotProvisionedError); on a server without users they are
      // created here. KV strategy-history's values are the strategy-engine's (the site's meter history).
      const { kv: configKv } = await ensureKv(connection.nc, configBucket, kvLog);
      const { kv: pricesKv } = await ensureKv(connection.nc, pricesBucket, kvLog);
      await ensureKv(connection.nc, strategyHistoryBucket, kvLog);

      const stale = await removeStaleTemps(env.SITE_FILE, fs);
      if (stale.length > 0) log.warn({ files: stale }, 'removed temp files of an interrupted write');

      const platform =
        env.platformApiUrl === undefined
          ? undefined
          : platformApi({
              baseUrl: env.platformApiUrl,
              gatewayId,
              timeoutMs: env.PLATFORM_API_TIMEOUT_MS,
              ...(env.PLATFORM_API_TOKEN === undefined ? {} : { token: env.PLATFORM_API_TOKEN }),
              ...(overrides.fetch === undefined ? {} : { fetch: overrides.fetch }),
            });
      const sources: PriceSource[] = env.PRICE_SOURCES.flatMap((name): PriceSource[] => {
        if (name === 'platform')
          return platform === undefined ? [] : [{ name, fetch: (zone, s, e) => platform.fetchPrices(zone, s, e) }];
        return [
          {
            name,
            fetch: (zone, s, e) =>
              fetchEnergyCharts(
                {
                  baseUrl: env.ENERGY_CHARTS_URL,
                  timeoutMs: env.PLATFORM_API_TIMEOUT_MS,
                  now,
                  ...(overrides.fetch === undefined ? {} : { fetch: overrides.fetch }),
                },
                zone,
                s,
                e,
              ),
          },
        ];
      });

      const prices = createPriceSync({
        log: log.child({ component: 'prices' }),
        health,
        scheduler,
        store: natsPriceStore(pricesKv, log.child({ component: 'prices' })),
        sources,
        settings: {
          publication: env.PRICE_PUBLICATION_TIME,
          retryMinMs: env.PRICE_RETRY_MIN_MS,
          retryMaxMs: env.PRICE_RETRY_MAX_MS,
        },
      });

      const config = createConfigSync({
        bus,
        log: log.child({ component: 'config' }),
        health,
        scheduler,
        gatewayId,
        siteFile: env.SITE_FILE,
        env: env.secrets,
        initial: env.initial,
        initialProblems: env.initialProblems,
        fileModifiedMs: async () => (await stat(env.SITE_FILE)).mtimeMs,
        writeFile: (path, text) => writeFileAtomic(path, text, { fs }),
        store: natsConfigStore(configKv, env.CONFIG_KV_KEY),
        ...(platform === undefined
          ? {}
          : { fetchConfiguration: (etag: string | undefined) => platform.fetchConfiguration(etag) }),
        pollMs: env.configPollMs,
        onApplied: (next) => prices.setZone(zoneOf(next)),
      });

      log.info(
        {
          gatewayId,
          siteFile: env.SITE_FILE,
          configHash: env.initial.hash,
          transport: site.cloud.transport,
          platformApiUrl: env.platformApiUrl ?? 'none',
          platformToken: env.PLATFORM_API_TOKEN === undefined ? 'none' : 'set',
          configPollMs: platform === undefined ? 'off' : env.configPollMs,
          priceSources: sources.map((s) => s.name),
          priceZone: zoneOf(site) ?? 'none',
          pricePublication: `${String(env.PRICE_PUBLICATION_TIME.hour).padStart(2, '0')}:${String(env.PRICE_PUBLICATION_TIME.minute).padStart(2, '0')} Europe/Berlin`,
          intentTimeoutMs: env.INTENT_TIMEOUT_MS,
          maxClockSkewMs: env.MAX_CLOCK_SKEW_MS,
        },
        'cloud bridge configuration',
      );

      await config.start();
      prices.setZone(zoneOf(config.current().site));

      const offRequests = answerGatewayRequests({
        bus,
        log: log.child({ component: 'gateway' }),
        health,
        config,
        services,
        gatewayId,
        version,
        startedAtMs,
        now,
      });

      const channel = (overrides.commandChannel ?? defaultChannel)({
        site,
        env: env.secrets,
        log: log.child({ component: 'cloud' }),
        now,
      });
      let counters: ReturnType<typeof setInterval> | undefined;
      if (channel) {
        const link = watchLink(channel, { log: log.child({ component: 'cloud' }), health });
        const handler = createCommandHandler({
          bus,
          log: log.child({ component: 'commands' }),
          health,
          config,
          services,
          gatewayId,
          version,
          startedAtMs,
          now,
          intentTimeoutMs: env.INTENT_TIMEOUT_MS,
          maxClockSkewMs: env.MAX_CLOCK_SKEW_MS,
        });
        await channel.start(handler);
        // Sampling for the heartbeat only (no time semantics): the wall-clock timer is right even under a test clock.
        counters = setInterval(() => link.refresh(), settings.HEARTBEAT_MS);
      } else {
        log.info('cloud transport none: no cloud commands (configuration sync and prices still run if configured)');
      }

      return {
        async stop() {
          if (counters) clearInterval(counters);
          prices.stop();
          config.stop();
          offRequests();
          offHealth();
          await channel?.close();
        },
      };
    },
  });
}
