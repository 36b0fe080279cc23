import type { NatsConnection } from '@voltimax/bus';
import { ensureKv } from '@voltimax/bus';
import { kvBuckets } from '@voltimax/contracts';
import type { SiteHistory } from '@voltimax/strategies';
import type { Logger } from 'pino';

/**
 * Where the site's meter history lives between starts (KV `strategy-history`, file storage): unlike the 5-minute
 * memories in Redis it survives a long outage and a reboot, because it took days to learn. Every call resolves;
 * failures are logged and reported as `undefined` / `false`. The value is validated by the engine, not here.
 */
export interface HistoryStore {
  readonly kind: 'kv' | 'memory' | 'none';
  /**
   * The stored value as parsed JSON (not yet validated), `absent` when there is none, `failed` when the store could
   * not be asked (the engine then does not overwrite it with a fresh history, and asks again later).
   */
  load(): Promise<HistoryLoad>;
  save(history: SiteHistory): Promise<boolean>;
}

/** What `load` found. */
export type HistoryLoad = { readonly status: 'found'; readonly value: unknown } | { readonly status: 'absent' } | { readonly status: 'failed' };

export const noHistoryStore: HistoryStore = { kind: 'none', load: async () => ({ status: 'absent' }), save: async () => true };

/** A store in this process (tests; a restart simulated in one process). */
export function inMemoryHistoryStore(initial?: unknown): HistoryStore & { value: unknown; saves: number; failing: boolean } {
  const store = {
    kind: 'memory' as const,
    value: initial,
    saves: 0,
    /** While true, load and save fail (a store that cannot be reached). */
    failing: false,
    load: async (): Promise<HistoryLoad> => {
      if (store.failing) return { status: 'failed' };
      return store.value === undefined ? { status: 'absent' } : { status: 'found', value: JSON.parse(JSON.stringify(store.value)) as unknown };
    },
    save: async (history: SiteHistory) => {
      if (store.failing) return false;
      store.value = JSON.parse(JSON.stringify(history)) as unknown;
      store.saves++;
      return true;
    },
  };
  return store;
}

/** The bucket: one value per gateway, the latest only; about 10 kB each. */
export const HISTORY_BUCKET = { name: kvBuckets.strategyHistory, history: 1, maxBytes: 4 * 1024 * 1024 } as const;

/** KV `strategy-history`, key = the gateway id. The bucket is created on first use (the engine owns it). */
export function kvHistoryStore(nc: NatsConnection, opts: { readonly log: Logger; readonly key: string }): HistoryStore {
  const { log, key } = opts;
  let bucket: ReturnType<typeof ensureKv> | undefined;
  const open = (): ReturnType<typeof ensureKv> => {
    bucket ??= ensureKv(nc, HISTORY_BUCKET, log).catch((err: unknown) => {
      bucket = undefined; // try again next time
      throw err;
    });
    return bucket;
  };
  return {
    kind: 'kv',
    async load() {
      try {
        const entry = await (await open()).kv.get(key);
        if (!entry || entry.operation !== 'PUT' || entry.length === 0) return { status: 'absent' };
        try {
          return { status: 'found', value: JSON.parse(entry.string()) as unknown };
        } catch {
          return { status: 'found', value: entry.string() }; // not JSON: the engine's validation refuses it and says why
        }
      } catch (err) {
        log.warn({ err, bucket: HISTORY_BUCKET.name, key }, 'site history could not be read');
        return { status: 'failed' };
      }
    },
    async save(history) {
      try {
        await (await open()).kv.put(key, JSON.stringify(history));
        return true;
      } catch (err) {
        log.warn({ err, bucket: HISTORY_BUCKET.name, key }, 'site history could not be saved');
        return false;
      }
    },
  };
}
