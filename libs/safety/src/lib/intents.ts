import { INTENT_PRIORITY, type ControlIntent, type IntentSource, type Setpoint } from '@voltimax/contracts';
import { SAFE_SETPOINT } from './codes';

/** Default allowance for clocks of other services running ahead of ours, ms. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 2_000;

/** Why an intent was refused before arbitration. */
export type IntentRejectionReason = 'future-dated' | 'expired' | 'invalid-time';

/** An intent refused before arbitration, with its reason. */
export interface RejectedIntent {
  readonly intent: ControlIntent;
  readonly reason: IntentRejectionReason;
  readonly detail: string;
}

/** Options of {@link selectIntent} and the {@link IntentTable} operations. */
export interface IntentSelectionOptions {
  /** An intent issued more than this far in the future (ms) is refused as `future-dated`. Default 2 000 ms. */
  readonly maxClockSkewMs?: number;
  /** Assets that get an entry even without any intent (their entry carries the safe default). */
  readonly assetIds?: readonly string[];
}

/** The winner for one asset: the intent that applies, or none and the safe default. */
export interface AssetIntentSelection {
  readonly assetId: string;
  /** The winning intent; undefined when no live intent exists (then `setpoint` is the safe default). */
  readonly intent?: ControlIntent;
  readonly setpoint: Setpoint;
}

/** The result of {@link selectIntent}. */
export interface IntentSelection {
  /** One entry per asset that had a candidate or was listed in `options.assetIds`. */
  readonly winners: ReadonlyMap<string, AssetIntentSelection>;
  /** Intents whose TTL had run out at `nowMs`. */
  readonly expired: readonly ControlIntent[];
  /** Intents refused (future-dated, non-finite or non-positive times). */
  readonly rejected: readonly RejectedIntent[];
}

/** True if the intent's TTL has run out: `nowMs ≥ issuedAtMs + ttlMs` (a non-finite time counts as expired). */
export function isIntentExpired(intent: Pick<ControlIntent, 'issuedAtMs' | 'ttlMs'>, nowMs: number): boolean {
  return !(nowMs < intent.issuedAtMs + intent.ttlMs);
}

/** Why an intent cannot take part at `nowMs`, or undefined if it can. */
function refusal(
  intent: ControlIntent,
  nowMs: number,
  maxClockSkewMs: number,
): Omit<RejectedIntent, 'intent'> | undefined {
  if (!Number.isFinite(intent.issuedAtMs) || !Number.isFinite(intent.ttlMs) || !(intent.ttlMs > 0)) {
    return { reason: 'invalid-time', detail: `issuedAtMs ${intent.issuedAtMs}, ttlMs ${intent.ttlMs}` };
  }
  if (!(intent.issuedAtMs <= nowMs + maxClockSkewMs)) {
    return {
      reason: 'future-dated',
      detail: `issued ${intent.issuedAtMs - nowMs} ms in the future (allowance ${maxClockSkewMs} ms)`,
    };
  }
  return undefined;
}

/**
 * Orders two intents for the same asset: positive if `a` wins. Higher source priority wins
 * (safety > manual > scheduled > optimization), then the newer `issuedAtMs`, then the greater id so the
 * result never depends on arrival order.
 */
export function compareIntents(a: ControlIntent, b: ControlIntent): number {
  const byPriority = INTENT_PRIORITY[a.source] - INTENT_PRIORITY[b.source];
  if (byPriority !== 0) return byPriority;
  if (a.issuedAtMs !== b.issuedAtMs) return a.issuedAtMs > b.issuedAtMs ? 1 : -1;
  if (a.id === b.id) return 0;
  return a.id > b.id ? 1 : -1;
}

/**
 * Picks, per asset, the intent that applies at `nowMs`: expired intents are dropped, future-dated ones refused,
 * and among the rest the highest priority wins (ties: newest, then greatest id). An asset without a live intent
 * gets the safe default. Independent of the order of `intents`.
 */
export function selectIntent(
  intents: readonly ControlIntent[],
  nowMs: number,
  options: IntentSelectionOptions = {},
): IntentSelection {
  const maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const best = new Map<string, ControlIntent>();
  const expired: ControlIntent[] = [];
  const rejected: RejectedIntent[] = [];
  for (const intent of intents) {
    const refused = refusal(intent, nowMs, maxClockSkewMs);
    if (refused !== undefined) {
      rejected.push({ intent, ...refused });
      continue;
    }
    if (isIntentExpired(intent, nowMs)) {
      expired.push(intent);
      continue;
    }
    const current = best.get(intent.assetId);
    if (current === undefined || compareIntents(intent, current) > 0) best.set(intent.assetId, intent);
  }
  const assetIds = new Set<string>([...(options.assetIds ?? []), ...intents.map((intent) => intent.assetId)]);
  const winners = new Map<string, AssetIntentSelection>();
  for (const assetId of [...assetIds].sort()) {
    const intent = best.get(assetId);
    winners.set(
      assetId,
      intent === undefined ? { assetId, setpoint: SAFE_SETPOINT } : { assetId, intent, setpoint: intent.setpoint },
    );
  }
  return { winners, expired, rejected };
}

/**
 * The live intents of the arbiter: at most one per (asset, source). A newer intent from the same source for
 * the same asset supersedes the older one; intents of other sources stay and take over again when a
 * higher-priority intent expires. Immutable: every operation returns a new table.
 */
export interface IntentTable {
  readonly intents: readonly ControlIntent[];
}

/** A table with no intents. */
export const EMPTY_INTENT_TABLE: IntentTable = { intents: [] };

/** The result of an {@link IntentTable} operation; `superseded`, `expired` and `rejected` are for the audit. */
export interface IntentTableUpdate {
  readonly table: IntentTable;
  /** True if the offered intent is now in the table. */
  readonly accepted: boolean;
  /** Intents replaced by a newer one from the same source (or an offered intent older than its slot's). */
  readonly superseded: readonly ControlIntent[];
  readonly expired: readonly ControlIntent[];
  readonly rejected: readonly RejectedIntent[];
}

/** Drops every intent whose TTL has run out at `nowMs`. */
export function expireIntents(table: IntentTable, nowMs: number): IntentTableUpdate {
  const live: ControlIntent[] = [];
  const expired: ControlIntent[] = [];
  for (const intent of table.intents) (isIntentExpired(intent, nowMs) ? expired : live).push(intent);
  return {
    table: expired.length === 0 ? table : { intents: live },
    accepted: false,
    superseded: [],
    expired,
    rejected: [],
  };
}

/**
 * Offers an intent to the table at `nowMs`. Expired entries are dropped first. The intent is refused if it is
 * future-dated, has invalid times or is already expired; it supersedes the entry of its (asset, source) slot
 * if it is at least as new, and is itself superseded if it is older (a late delivery). Re-offering the same
 * id is a no-op.
 */
export function addIntent(
  table: IntentTable,
  intent: ControlIntent,
  nowMs: number,
  options: Pick<IntentSelectionOptions, 'maxClockSkewMs'> = {},
): IntentTableUpdate {
  const swept = expireIntents(table, nowMs);
  const base = { expired: swept.expired, rejected: [] as RejectedIntent[] };
  const refused = refusal(intent, nowMs, options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
  if (refused !== undefined) {
    return { ...base, table: swept.table, accepted: false, superseded: [], rejected: [{ intent, ...refused }] };
  }
  if (isIntentExpired(intent, nowMs)) {
    const detail = `expired at ${intent.issuedAtMs + intent.ttlMs}, now ${nowMs}`;
    return {
      ...base,
      table: swept.table,
      accepted: false,
      superseded: [],
      rejected: [{ intent, reason: 'expired', detail }],
    };
  }
  const slot = swept.table.intents.find((held) => held.assetId === intent.assetId && held.source === intent.source);
  if (slot === undefined) {
    return { ...base, table: { intents: [...swept.table.intents, intent] }, accepted: true, superseded: [] };
  }
  if (slot.id === intent.id) return { ...base, table: swept.table, accepted: true, superseded: [] };
  if (intent.issuedAtMs < slot.issuedAtMs) {
    return { ...base, table: swept.table, accepted: false, superseded: [intent] };
  }
  const intents = swept.table.intents.map((held) => (held === slot ? intent : held));
  return { ...base, table: { intents }, accepted: true, superseded: [slot] };
}

/**
 * Removes the intents of one asset (optionally of one source only), e.g. when an operator hands control back;
 * they are reported as superseded.
 */
export function supersedeIntents(table: IntentTable, assetId: string, source?: IntentSource): IntentTableUpdate {
  const superseded: ControlIntent[] = [];
  const intents: ControlIntent[] = [];
  for (const held of table.intents) {
    const matches = held.assetId === assetId && (source === undefined || held.source === source);
    (matches ? superseded : intents).push(held);
  }
  return {
    table: superseded.length === 0 ? table : { intents },
    accepted: false,
    superseded,
    expired: [],
    rejected: [],
  };
}
