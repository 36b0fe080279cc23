import { AssetIdSchema, SetpointSchema, StrategyNameSchema, type Setpoint, type SiteConfig, type StrategyName } from '@voltimax/contracts';
import type { AutomationMemory, ExportLimitMemory } from '@voltimax/strategies';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';

/** How long memories and last setpoints survive in the cache (DESIGN § Data at rest): 5 minutes. */
export const MEMORY_TTL_MS = 5 * 60_000;

/**
 * The engine's memory between ticks: what a restart must not lose. Plain JSON. Members it does not know are dropped,
 * not refused: a snapshot of a newer version (read after a rollback) still restores the rest.
 */
export const MemorySnapshotSchema = z.object({
  v: z.literal(1),
  savedAtMs: z.number().int().nonnegative(),
  /** Strategy memories (each strategy's own JSON shape), by strategy name. */
  memories: z.partialRecord(StrategyNameSchema, z.unknown()),
  /** Hash of the parsed config each memory was made with; a memory is restored only under the same config. */
  configHashes: z.partialRecord(StrategyNameSchema, z.string()),
  /**
   * The rules' `forMs` holds, and what each held for (`ruleHoldKey` of the rule when saved): a hold is restored only
   * for a rule whose `when`, `forMs` and `enabled` are the same at the restart. Snapshots without `holdKeys` (older
   * versions) restore no hold.
   */
  automation: z.object({ conditionSinceMs: z.record(z.string(), z.number()), holdKeys: z.record(z.string(), z.string()).optional() }),
  /**
   * The feed-in limit sent last and when (libs/strategies `ExportLimitMemory`): a restart within its intents' TTL goes
   * on from it instead of letting the PV run unlimited until the export passes the limit again. Absent while not
   * curtailing, and in snapshots of older versions (which refuse it: a rollback while curtailing starts fresh once).
   */
  exportLimit: z
    .object({
      limitW: z.number().nonnegative().finite().optional(),
      sentAtMs: z.number().int().nonnegative().optional(),
      changedAtMs: z.number().int().nonnegative().optional(),
      boundAtMs: z.number().int().nonnegative().optional(),
    })
    .optional(),
});
export type MemorySnapshot = z.infer<typeof MemorySnapshotSchema>;

/** The last setpoint the engine asked for, per asset. */
export const LastSetpointSchema = z.strictObject({
  v: z.literal(1),
  assetId: AssetIdSchema,
  setpoint: SetpointSchema,
  atMs: z.number().int().nonnegative(),
  reason: z.string().max(500),
});
export type LastSetpoint = z.infer<typeof LastSetpointSchema>;

/** What a store gives back on start. */
export interface RestoredMemory {
  readonly snapshot: MemorySnapshot | undefined;
  readonly setpoints: readonly LastSetpoint[];
}

/** Where memories live between restarts. Every call resolves; failures are reported through the logger. */
export interface MemoryStore {
  /** 'redis', or 'none' (fresh memory on every start), or 'memory' (tests). */
  readonly kind: 'redis' | 'none' | 'memory';
  /** The last snapshot and setpoints of this gateway, or nothing (absent, expired, invalid or unreachable). */
  load(gatewayId: string, assetIds: readonly string[]): Promise<RestoredMemory>;
  /**
   * Store the snapshot and the setpoints with the store's TTL, or `ttlMs` when longer (a site ticking slower than the
   * TTL: `memoryTtlMs`); resolves false when the store could not take them.
   */
  save(gatewayId: string, snapshot: MemorySnapshot, setpoints: readonly LastSetpoint[], ttlMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Redis keys, prefixed per gateway so several gateways may share one Redis. */
export function memoryKeys(gatewayId: string): { readonly memory: string; setpoint(assetId: string): string } {
  const prefix = `voltimax:${gatewayId}:strategy-engine:`;
  return { memory: `${prefix}memory`, setpoint: (assetId) => `${prefix}setpoint:${assetId}` };
}

const NOTHING: RestoredMemory = { snapshot: undefined, setpoints: [] };

function parseJson<S extends z.ZodType>(schema: S, text: string | null | undefined): z.output<S> | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** No cache: every start is a fresh start. */
export const noMemoryStore: MemoryStore = {
  kind: 'none',
  load: async () => NOTHING,
  save: async () => true,
  close: async () => undefined,
};

/**
 * How long a save must live: the store's 5 minutes, or two ticks on a site ticking slower (`strategy.tickMs` up to
 * 15 min). Before, with 10-min ticks the memory and the last set-points were gone from Redis 5 min after each tick,
 * and a restart then bumped the battery from a fresh memory.
 */
export function memoryTtlMs(tickMs: number): number {
  return Math.max(MEMORY_TTL_MS, 2 * tickMs);
}

/** A store in this process with the same TTL semantics as Redis (tests, and a restart simulated in one process). */
export function inMemoryMemoryStore(now: () => number, ttlMs = MEMORY_TTL_MS): MemoryStore & { readonly entries: Map<string, { text: string; expiresAtMs: number }> } {
  const entries = new Map<string, { text: string; expiresAtMs: number }>();
  const read = (key: string): string | undefined => {
    const entry = entries.get(key);
    return entry && entry.expiresAtMs > now() ? entry.text : undefined;
  };
  return {
    kind: 'memory',
    entries,
    async load(gatewayId, assetIds) {
      const keys = memoryKeys(gatewayId);
      return {
        snapshot: parseJson(MemorySnapshotSchema, read(keys.memory)),
        setpoints: assetIds.flatMap((id) => parseJson(LastSetpointSchema, read(keys.setpoint(id))) ?? []),
      };
    },
    async save(gatewayId, snapshot, setpoints, atLeastMs) {
      const keys = memoryKeys(gatewayId);
      const expiresAtMs = now() + Math.max(ttlMs, atLeastMs ?? 0);
      entries.set(keys.memory, { text: JSON.stringify(snapshot), expiresAtMs });
      for (const sp of setpoints) entries.set(keys.setpoint(sp.assetId), { text: JSON.stringify(sp), expiresAtMs });
      return true;
    },
    close: async () => undefined,
  };
}

/** Options of the Redis store. */
export interface RedisMemoryStoreOptions {
  readonly log: Logger;
  readonly ttlMs?: number;
  /** How long `load` waits for the first connection before starting fresh, ms. */
  readonly readyTimeoutMs?: number;
}

function waitReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}

/**
 * Memories in Redis (`SET … PX ttl`). The client should be created with `enableOfflineQueue: false`, so a save while
 * Redis is away fails at once instead of queueing without bound; the engine then simply saves again next tick.
 */
export function redisMemoryStore(redis: Redis, opts: RedisMemoryStoreOptions): MemoryStore {
  const ttlMs = opts.ttlMs ?? MEMORY_TTL_MS;
  const log = opts.log;
  return {
    kind: 'redis',
    async load(gatewayId, assetIds) {
      if (!(await waitReady(redis, opts.readyTimeoutMs ?? 2_000))) {
        log.warn({ status: redis.status }, 'redis not reachable; starting with fresh memory');
        return NOTHING;
      }
      const keys = memoryKeys(gatewayId);
      try {
        const [memoryText, ...setpointTexts] = await redis.mget([keys.memory, ...assetIds.map((id) => keys.setpoint(id))]);
        const snapshot = parseJson(MemorySnapshotSchema, memoryText);
        if (memoryText && !snapshot) log.warn({ key: keys.memory }, 'stored memory is invalid; starting fresh');
        return { snapshot, setpoints: setpointTexts.flatMap((text) => parseJson(LastSetpointSchema, text) ?? []) };
      } catch (err) {
        log.warn({ err }, 'reading memory from redis failed; starting with fresh memory');
        return NOTHING;
      }
    },
    async save(gatewayId, snapshot, setpoints, atLeastMs) {
      const keys = memoryKeys(gatewayId);
      const px = Math.max(ttlMs, atLeastMs ?? 0);
      try {
        const pipeline = redis.pipeline().set(keys.memory, JSON.stringify(snapshot), 'PX', px);
        for (const sp of setpoints) pipeline.set(keys.setpoint(sp.assetId), JSON.stringify(sp), 'PX', px);
        const results = (await pipeline.exec()) ?? [];
        const failed = results.find(([err]) => err !== null);
        if (failed) throw failed[0];
        return true;
      } catch (err) {
        log.debug({ err }, 'saving memory to redis failed');
        return false;
      }
    },
    async close() {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}

/** What a rule's `forMs` hold holds for: its condition, hold time and whether it is enabled. */
export function ruleHoldKey(rule: Pick<SiteConfig['rules'][number], 'when' | 'forMs' | 'enabled'>): string {
  return JSON.stringify([rule.when, rule.forMs, rule.enabled]);
}

/**
 * The holds of a snapshot that may go on under `rules`: those whose rule still exists with the hold key it was saved
 * with. Before, a rule edited while the engine was down (soc-below 30 → 26, 50 s into a 60 s hold) fired 1 s after
 * the restart; the same edit as a live configuration switch started the hold over.
 */
export function restorableHolds(automation: MemorySnapshot['automation'] | undefined, rules: SiteConfig['rules']): AutomationMemory {
  const keys = automation?.holdKeys ?? {};
  return {
    conditionSinceMs: Object.fromEntries(
      Object.entries(automation?.conditionSinceMs ?? {}).filter(([id]) => {
        const rule = rules.find((r) => r.id === id);
        return rule !== undefined && keys[id] === ruleHoldKey(rule);
      }),
    ),
  };
}

/** A snapshot of the engine's memory. */
export function toSnapshot(
  nowMs: number,
  memories: Readonly<Partial<Record<StrategyName, unknown>>>,
  configHashes: Readonly<Partial<Record<StrategyName, string>>>,
  automation: AutomationMemory,
  exportLimit: ExportLimitMemory = {},
  rules: SiteConfig['rules'] = [],
): MemorySnapshot {
  const hashes: Partial<Record<StrategyName, string>> = {};
  for (const name of Object.keys(memories) as StrategyName[]) {
    const hash = configHashes[name];
    if (hash !== undefined) hashes[name] = hash;
  }
  return {
    v: 1,
    savedAtMs: Math.max(0, Math.round(nowMs)),
    memories: { ...memories },
    configHashes: hashes,
    automation: {
      conditionSinceMs: { ...automation.conditionSinceMs },
      holdKeys: Object.fromEntries(rules.filter((r) => r.id in automation.conditionSinceMs).map((r) => [r.id, ruleHoldKey(r)])),
    },
    ...(exportLimit.limitW === undefined
      ? {}
      : {
          exportLimit: {
            limitW: exportLimit.limitW,
            ...epochMs('sentAtMs', exportLimit.sentAtMs),
            ...epochMs('changedAtMs', exportLimit.changedAtMs),
            ...epochMs('boundAtMs', exportLimit.boundAtMs),
          },
        }),
  };
}

/** `{ [key]: ms }` as a whole non-negative number, or nothing when absent. */
function epochMs<K extends string>(key: K, ms: number | undefined): Partial<Record<K, number>> {
  return ms === undefined ? {} : ({ [key]: Math.max(0, Math.round(ms)) } as Record<K, number>);
}

/** The restored memories that were made under the configs in use now (a changed config starts fresh). */
export function restorableMemories(
  snapshot: MemorySnapshot | undefined,
  configHashes: Readonly<Partial<Record<StrategyName, string>>>,
): { readonly memories: Partial<Record<StrategyName, unknown>>; readonly dropped: StrategyName[] } {
  const memories: Partial<Record<StrategyName, unknown>> = {};
  const dropped: StrategyName[] = [];
  if (!snapshot) return { memories, dropped };
  for (const [key, memory] of Object.entries(snapshot.memories)) {
    const name = key as StrategyName;
    if (memory !== undefined && snapshot.configHashes[name] !== undefined && snapshot.configHashes[name] === configHashes[name]) {
      memories[name] = memory;
    } else {
      dropped.push(name);
    }
  }
  return { memories, dropped };
}

/** The `LastSetpoint` record for an asset. */
export function lastSetpoint(assetId: string, setpoint: Setpoint, atMs: number, reason: string): LastSetpoint {
  return { v: 1, assetId, setpoint, atMs: Math.max(0, Math.round(atMs)), reason: reason.slice(0, 500) };
}
