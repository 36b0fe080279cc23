import type { NatsConnection } from '@voltimax/bus';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { strategyHistoryBucket } from '@voltimax/contracts';
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

/** The bucket (created by the provisioner, `voltimax bus init`: the engine may not create streams). */
export const HISTORY_BUCKET = strategyHistoryBucket;

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * KV `strategy-history`, key = the gateway id. The provisioner creates the bucket: until it exists there is no
 * history (`absent`) and a save fails (logged once), then it is used as soon as it appears.
 */
export function kvHistoryStore(nc: NatsConnection, opts: { readonly log: Logger; readonly key: string }): HistoryStore {
  const { log, key } = opts;
  let bucket: KV | undefined;
  let reportedMissing = false;
  /** The bucket, or undefined when it does not exist (yet); throws when the server cannot be asked. */
  const open = async (): Promise<KV | undefined> => {
    if (bucket) return bucket;
    try {
      const kv = await new Kvm(nc).open(HISTORY_BUCKET.name);
      await kv.status(); // `open` only binds; this asks the server
      bucket = kv;
      return kv;
    } catch (err) {
      if (isStreamNotFound(err)) {
        if (!reportedMissing) log.info({ bucket: HISTORY_BUCKET.name }, 'no site history bucket yet (`voltimax bus init` creates it)');
        reportedMissing = true;
        return undefined;
      }
      throw err;
    }
  };
  return {
    kind: 'kv',
    async load() {
      try {
        const kv = await open();
        const entry = kv ? await kv.get(key) : null;
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
        const kv = await open();
        if (!kv) return false;
        await kv.put(key, JSON.stringify(history));
        return true;
      } catch (err) {
        log.warn({ err, bucket: HISTORY_BUCKET.name, key }, 'site history could not be saved');
        return false;
      }
    },
  };
}
