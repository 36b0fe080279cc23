import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@voltimax/bus';
import { kvBuckets } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { ReadTextFile } from './config';

/** A configuration as read, before validation. */
export interface RawConfig {
  readonly raw: unknown;
  /** 'kv' or 'file'. */
  readonly source: string;
}

export interface KvFeedsOptions {
  readonly nc: NatsConnection;
  readonly log: Logger;
  /** Key of the site configuration in KV `config`. */
  readonly configKey: string;
  /** assets.json: the configuration when KV `config` has none. */
  readonly siteFile: string;
  readonly readTextFile: ReadTextFile;
  /** A configuration value was put (the watch also delivers the current one when it starts). */
  readonly onConfig: (config: RawConfig) => void;
  /** A prices value was put (raw JSON) or deleted (undefined). */
  readonly onPrices: (key: string, raw: unknown) => void;
  /** How often to look again for a bucket that does not exist yet (cloud-bridge creates them), ms. */
  readonly retryMs?: number;
}

/** KV `config` and `prices`, read-only: the engine may read and watch them, never write (docker/nats/nats.conf). */
export interface KvFeeds {
  /** The site configuration from KV `config`, or undefined when the bucket or key does not exist. */
  readKvConfig(): Promise<RawConfig | undefined>;
  /** KV `config` if it has the key, else SITE_FILE (used on `config.updated`). */
  readConfig(): Promise<RawConfig | undefined>;
  /** Start watching both buckets (retrying until they exist). */
  start(): void;
  stop(): Promise<void>;
}

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array): unknown {
  const text = decoder.decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // not JSON: validation refuses it and says why
  }
}

/** Watches on KV `config` (one key) and KV `prices` (every key), with the engine's read-only permissions. */
export function createKvFeeds(opts: KvFeedsOptions): KvFeeds {
  const { nc, log } = opts;
  const kvm = new Kvm(nc);
  const retryMs = opts.retryMs ?? 30_000;
  const buckets = new Map<string, KV>();
  const watches: { stop(): void }[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let stopped = false;

  /** The bucket if it exists (`open` only binds; `status` asks the server). */
  async function bucket(name: string): Promise<KV | undefined> {
    const known = buckets.get(name);
    if (known) return known;
    try {
      const kv = await kvm.open(name);
      await kv.status();
      buckets.set(name, kv);
      return kv;
    } catch (err) {
      log.debug({ err, bucket: name }, 'kv bucket not available');
      return undefined;
    }
  }

  async function readKvConfig(): Promise<RawConfig | undefined> {
    const kv = await bucket(kvBuckets.config);
    if (!kv) return undefined;
    const entry = await kv.get(opts.configKey);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { raw: parseJson(entry.value), source: 'kv' };
  }

  function later(fn: () => void): void {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, retryMs);
    timers.add(timer);
  }

  /** Watch `key` (or every key) of a bucket until stopped; retries while the bucket is missing or the watch ends. */
  function watch(name: string, key: string | undefined, onEntry: (entry: KvWatchEntry) => void): void {
    if (stopped) return;
    void (async () => {
      const kv = await bucket(name);
      if (!kv) {
        later(() => watch(name, key, onEntry));
        return;
      }
      try {
        const iterator = await kv.watch(key === undefined ? {} : { key });
        watches.push(iterator);
        log.info({ bucket: name, key: key ?? '>' }, 'watching kv');
        for await (const entry of iterator) onEntry(entry);
      } catch (err) {
        log.warn({ err, bucket: name }, 'kv watch failed');
      }
      if (!stopped) {
        buckets.delete(name);
        later(() => watch(name, key, onEntry));
      }
    })();
  }

  return {
    readKvConfig,
    async readConfig() {
      const fromKv = await readKvConfig();
      if (fromKv) return fromKv;
      try {
        return { raw: JSON.parse(opts.readTextFile(opts.siteFile)) as unknown, source: 'file' };
      } catch (err) {
        log.warn({ err, file: opts.siteFile }, 'cannot read the site file; keeping the current configuration');
        return undefined;
      }
    },
    start() {
      watch(kvBuckets.config, opts.configKey, (entry) => {
        if (entry.operation === 'PUT') opts.onConfig({ raw: parseJson(entry.value), source: 'kv' });
        else log.warn({ key: entry.key, operation: entry.operation }, 'kv configuration deleted; keeping the current one');
      });
      watch(kvBuckets.prices, undefined, (entry) => {
        opts.onPrices(entry.key, entry.operation === 'PUT' ? parseJson(entry.value) : undefined);
      });
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const w of watches.splice(0)) w.stop();
    },
  };
}
