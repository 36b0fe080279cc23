import type { KV } from '@nats-io/kv';
import { typedKv } from '@voltimax/bus';
import { PriceSeriesSchema, type SiteConfig } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { ConfigStore } from './config-sync';
import type { PriceStore } from './prices';

/** KV `config` as the config sync uses it: one key, the value with its write time. */
export function natsConfigStore(kv: KV, key: string): ConfigStore {
  return {
    async get() {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== 'PUT') return undefined;
      let raw: unknown;
      try {
        raw = JSON.parse(entry.string()) as unknown;
      } catch {
        raw = entry.string(); // not JSON: validation refuses it and says why
      }
      return { raw, createdMs: entry.created.getTime() };
    },
    async put(site: SiteConfig) {
      await kv.put(key, JSON.stringify(site));
    },
  };
}

/** KV `prices`: a PriceSeries per zone, validated both ways; an invalid stored value reads as missing. */
export function natsPriceStore(kv: KV, log: Logger): PriceStore {
  const typed = typedKv({ kv, bucket: 'prices', schema: PriceSeriesSchema });
  return {
    async get(zone) {
      try {
        return (await typed.get(zone))?.value;
      } catch (err) {
        log.warn({ err, zone }, 'stored prices are invalid; treating them as missing');
        return undefined;
      }
    },
    async put(zone, series) {
      await typed.put(zone, series);
    },
  };
}
