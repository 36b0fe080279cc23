import { z } from 'zod';
import type { StrategyName } from '@voltimax/contracts';
import { isGridStale, totalBatteryPowerW } from './battery';
import { HISTORY_DAYS, INITIAL_METER_MEMORY, METER_BLOCK_MS, PROFILE_BLOCKS, type MeterMemory, observeMeter } from './meter';
import { notePlanPredictions } from './plan-core';
import { type StrategyConfigs, type StrategyMemories, strategyByName } from './registry';
import type { SiteState } from './site-state';

/** The MeterMemory fields a SiteHistory keeps. */
const LASTING = [
  'monthKey',
  'monthPeakW',
  'profileW',
  'profileAtMs',
  'profileHighW',
  'profilePrevW',
  'profilePrevAtMs',
  'historyW',
  'historyDay',
  'forecastMse',
  'altMse',
  'errorSamples',
] as const satisfies readonly (keyof MeterMemory)[];

/**
 * What the site has taught the planners, kept across restarts: the month's billed peak so far, the learned
 * quarter-hour profiles, the last seven days of readings and how well the forecast has predicted them — the part of
 * a MeterMemory that takes days to build. The block in progress and the pending predictions are not kept: after a
 * restart the meter starts a new block. Plain JSON; validated when read back (a stored value is input like any other).
 */
export type SiteHistory = { readonly v: 1; /** When it was taken, epoch ms. */ readonly savedAtMs: number } & Pick<MeterMemory, (typeof LASTING)[number]>;

const watts = z.number().finite().min(-1e7).max(1e7);
const profile = z.array(watts.nullable()).length(PROFILE_BLOCKS);
const times = z.array(z.number().int().nonnegative()).length(PROFILE_BLOCKS);

/** The stored form of SiteHistory, strict: an unknown key, a wrong length or a non-finite number is refused. */
export const SiteHistorySchema: z.ZodType<SiteHistory> = z.strictObject({
  v: z.literal(1),
  savedAtMs: z.number().int().nonnegative(),
  monthKey: z
    .string()
    .regex(/^\d{4}-\d{2}$/)
    .nullable(),
  monthPeakW: z.number().finite().min(0).max(1e7),
  profileW: profile,
  profileAtMs: times,
  profileHighW: profile,
  profilePrevW: profile,
  profilePrevAtMs: times,
  historyW: z.array(watts.nullable()).length(HISTORY_DAYS * PROFILE_BLOCKS),
  historyDay: z.array(z.number().int().min(-1)).length(HISTORY_DAYS),
  forecastMse: z.number().finite().min(0),
  altMse: z.number().finite().min(0),
  errorSamples: z.number().int().nonnegative(),
});

/** The lasting part of a meter, to store. */
export function siteHistoryOf(meter: MeterMemory, nowMs: number): SiteHistory {
  const lasting = Object.fromEntries(LASTING.map((key) => [key, meter[key]])) as Pick<MeterMemory, (typeof LASTING)[number]>;
  return { v: 1, savedAtMs: Math.max(0, Math.trunc(nowMs)), ...lasting };
}

/**
 * A meter that knows the stored history and starts a new block at its next reading. Old entries need no pruning:
 * profiles carry the time they were measured (too old ones are not used), history rows their day, and the month's
 * peak resets at the first reading of a later month.
 */
export function meterFromHistory(history: SiteHistory): MeterMemory {
  const { v: _v, savedAtMs: _savedAtMs, ...lasting } = history;
  return { ...INITIAL_METER_MEMORY, ...lasting };
}

/** Longest gap between two readings the site recorder integrates, ms (as the planners' default maxSampleGapMs). */
const RECORDER_MAX_GAP_MS = METER_BLOCK_MS;

/**
 * The site recorder's step: the meter observes this tick's readings — net demand and battery power, when the grid
 * reading is fresh — and notes the predictions a planner would make for the block, so it learns exactly what a
 * planner running all along would have learned. The strategy engine runs it every tick, whatever strategy is active,
 * so a planner that starts (a restart, a switch of strategy) is handed the site's history instead of starting blind.
 */
export function recordSiteHistory(meter: MeterMemory, state: SiteState, nowMs: number, maxReadingAgeMs = 15_000): MeterMemory {
  if (isGridStale(state, maxReadingAgeMs)) return meter;
  const batteryW = totalBatteryPowerW(state.batteries);
  const observed = observeMeter(meter, { nowMs, netW: state.gridPowerW + batteryW, batteryW, timezone: state.timezone }, RECORDER_MAX_GAP_MS);
  return notePlanPredictions(observed, state, nowMs);
}

/**
 * The memories `combine` should start from: each active strategy that has no memory yet and learns from the meter
 * (`withSiteMeter`) gets its initial memory with the site's meter; every other memory is passed on unchanged.
 */
export function seedSiteMeter(
  active: readonly StrategyName[],
  configs: StrategyConfigs,
  memories: StrategyMemories,
  meter: MeterMemory,
): { readonly memories: StrategyMemories; readonly seeded: readonly StrategyName[] } {
  const seeded: StrategyName[] = [];
  const next: Partial<Record<StrategyName, unknown>> = { ...memories };
  for (const name of new Set(active)) {
    if (next[name] !== undefined) continue;
    const strategy = strategyByName(name);
    if (!strategy.withSiteMeter) continue;
    const parsed = configs[name] !== undefined ? { success: true as const, data: configs[name] } : strategy.configSchema.safeParse({});
    if (!parsed.success) continue;
    next[name] = strategy.withSiteMeter(strategy.initialMemory(parsed.data), () => meter);
    seeded.push(name);
  }
  return { memories: next as StrategyMemories, seeded };
}

/**
 * How long a past reading holds at most when the next one is later, ms: exports come every 15 min, 30 min or hour
 * (each then covers its whole interval); a longer gap is missing data and counts only these two hours.
 */
export const PAST_READING_MAX_HOLD_MS = 2 * 3_600_000;

/** A past reading of the site, e.g. one interval of a utility's meter export. */
export interface PastSiteReading {
  /** Start of the interval, epoch ms; the reading holds until the next one. */
  readonly atMs: number;
  /** Net demand (load + EV − PV), W. */
  readonly netW: number;
  /** Grid power, W (+ import); default netW (no battery at the time). */
  readonly gridW?: number;
}

/**
 * A site meter learned from past readings — commissioning a gateway with the history the utility or the home's
 * energy monitor kept, so the planners do not start blind. The readings are replayed in time order as the recorder
 * would have seen them, each held until the next (at most `maxHoldMs`, so 30-min and hourly exports fill every
 * quarter hour); the last one holds for as long as the one before it. There are no predictions to score, so the planners start
 * with the hedge they use before a day has been scored.
 */
export function meterFromPastReadings(
  readings: readonly PastSiteReading[],
  timezone: string,
  meter: MeterMemory = INITIAL_METER_MEMORY,
  maxHoldMs: number = PAST_READING_MAX_HOLD_MS,
): MeterMemory {
  const sorted = [...readings].filter((r) => Number.isFinite(r.atMs) && Number.isFinite(r.netW)).sort((a, b) => a.atMs - b.atMs);
  let out = meter;
  // observeMeter integrates the previous net demand up to now, with the battery power it is given: the previous one.
  let batteryW = 0;
  const observe = (atMs: number, r: PastSiteReading): void => {
    out = observeMeter(out, { nowMs: atMs, netW: r.netW, batteryW, timezone }, maxHoldMs);
    batteryW = r.netW - (r.gridW ?? r.netW);
  };
  for (const r of sorted) observe(r.atMs, r);
  const last = sorted[sorted.length - 1];
  const before = sorted[sorted.length - 2];
  if (last && before) observe(last.atMs + Math.min(maxHoldMs, last.atMs - before.atMs), last);
  return out;
}

/**
 * Two meters' lasting parts together, the transient part (the block in progress, the pending predictions) of `live`:
 * history days from both (the same day from `prefer`), the seven most recent kept; per quarter hour the profile entry
 * measured later; the higher high mark; the month's peak of the later month (the higher one within the same month —
 * a billed peak never goes down); the error scores that rest on more samples. So a stored history read late, or an
 * import, adds what the running meter lacks without wiping what it measured meanwhile.
 */
export function mergeSiteMeters(live: MeterMemory, other: MeterMemory, prefer: 'live' | 'other'): MeterMemory {
  const first = prefer === 'live' ? live : other;
  const second = prefer === 'live' ? other : live;
  const perDay = PROFILE_BLOCKS;
  const days = new Map<number, readonly (number | null)[]>();
  for (const meter of [second, first]) {
    meter.historyDay.forEach((day, row) => {
      if (day >= 0) days.set(day, meter.historyW.slice(row * perDay, (row + 1) * perDay));
    });
  }
  const historyDay = new Array<number>(HISTORY_DAYS).fill(-1);
  const historyW = new Array<number | null>(HISTORY_DAYS * perDay).fill(null);
  for (const day of [...days.keys()].sort((a, b) => b - a).slice(0, HISTORY_DAYS)) {
    const row = day % HISTORY_DAYS;
    if ((historyDay[row] ?? -1) >= day) continue;
    historyDay[row] = day;
    (days.get(day) ?? []).forEach((w, q) => (historyW[row * perDay + q] = w));
  }
  const later = (a: readonly number[], b: readonly number[], q: number): boolean => (b[q] ?? 0) > (a[q] ?? 0);
  const profileW = [...first.profileW];
  const profileAtMs = [...first.profileAtMs];
  const profilePrevW = [...first.profilePrevW];
  const profilePrevAtMs = [...first.profilePrevAtMs];
  const profileHighW = [...first.profileHighW];
  for (let q = 0; q < PROFILE_BLOCKS; q++) {
    if (later(first.profileAtMs, second.profileAtMs, q)) {
      profileW[q] = second.profileW[q] ?? null;
      profileAtMs[q] = second.profileAtMs[q] ?? 0;
    }
    if (later(first.profilePrevAtMs, second.profilePrevAtMs, q)) {
      profilePrevW[q] = second.profilePrevW[q] ?? null;
      profilePrevAtMs[q] = second.profilePrevAtMs[q] ?? 0;
    }
    const a = first.profileHighW[q] ?? null;
    const b = second.profileHighW[q] ?? null;
    profileHighW[q] = a === null ? b : b === null ? a : Math.max(a, b);
  }
  const months = [live, other].filter((m) => m.monthKey !== null).sort((a, b) => ((a.monthKey ?? '') < (b.monthKey ?? '') ? 1 : -1));
  const monthKey = months[0]?.monthKey ?? null;
  const monthPeakW = Math.max(0, ...months.filter((m) => m.monthKey === monthKey).map((m) => m.monthPeakW));
  const scores = other.errorSamples > live.errorSamples ? other : live;
  return {
    ...live,
    monthKey,
    monthPeakW,
    profileW,
    profileAtMs,
    profileHighW,
    profilePrevW,
    profilePrevAtMs,
    historyW,
    historyDay,
    forecastMse: scores.forecastMse,
    altMse: scores.altMse,
    errorSamples: scores.errorSamples,
  };
}
