// Composition root: env (exit 78 on a bad SITE_FILE) → NATS (service-kit) → KV feeds → Redis, KV history → engine.
import { readFileSync } from 'node:fs';
import { defineService, runService } from '@voltimax/service-kit';
import { Redis } from 'ioredis';
import { engineEnvSchema, parseEngineConfig, type EngineConfig } from './config';
import { createEngine } from './engine';
import { kvHistoryStore } from './history-store';
import { createKvFeeds } from './kv-feeds';
import { noMemoryStore, redisMemoryStore, type MemoryStore } from './memory-store';

const readTextFile = (path: string): string => readFileSync(path, 'utf8');

const strategyEngineService = defineService({
  name: 'strategy-engine',
  version: '0.1.0',
  env: engineEnvSchema(readTextFile),
  async start({ env, log, bus, connection, health }) {
    const feeds = createKvFeeds({
      nc: connection.nc,
      log: log.child({ component: 'kv' }),
      configKey: env.CONFIG_KV_KEY,
      siteFile: env.SITE_FILE,
      readTextFile,
      // Called only after feeds.start(), which runs once the engine exists.
      onConfig: ({ raw, source }) => engine.applyConfig(raw, source),
      onPrices: (key, raw) => engine.setPrices(key, raw),
    });

    // KV `config` wins over the file when it holds a valid configuration.
    let config: EngineConfig = env.engineConfig;
    let configSource = 'file';
    const fromKv = await feeds.readKvConfig().catch((err: unknown) => {
      log.warn({ err }, 'reading KV config failed; using SITE_FILE');
      return undefined;
    });
    if (fromKv) {
      const parsed = parseEngineConfig(fromKv.raw);
      if (parsed.ok) {
        config = parsed.config;
        configSource = 'kv';
      } else {
        log.error({ problems: parsed.problems }, 'KV configuration invalid; using SITE_FILE');
        health.incrementCounter('configRejected');
      }
    }

    let store: MemoryStore = noMemoryStore;
    if (env.REDIS_URL) {
      const redis = new Redis(env.REDIS_URL, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 2_000,
        retryStrategy: (attempt) => Math.min(attempt * 500, 5_000),
      });
      let redisUp = true;
      redis.on('error', (err: Error) => {
        if (redisUp) log.warn({ err }, 'redis connection error');
        redisUp = false;
      });
      redis.on('ready', () => {
        if (!redisUp) log.info('redis connected');
        redisUp = true;
      });
      store = redisMemoryStore(redis, { log: log.child({ component: 'memory' }) });
    } else {
      log.warn('REDIS_URL not set: memories are not persisted; every start is a fresh start');
    }

    const engine = createEngine({
      bus,
      log: log.child({ component: 'engine' }),
      health,
      store,
      history: kvHistoryStore(connection.nc, { log: log.child({ component: 'history' }), key: config.site.gatewayId }),
      config,
      configSource,
      settings: { intentTtlMs: env.INTENT_TTL_MS, maxTelemetryAgeMs: env.MAX_TELEMETRY_AGE_MS },
      readConfig: () => feeds.readConfig(),
    });
    await engine.start();
    feeds.start();

    return {
      async stop() {
        await feeds.stop();
        await engine.stop();
        await store.close();
      },
    };
  },
});

void runService(strategyEngineService);
