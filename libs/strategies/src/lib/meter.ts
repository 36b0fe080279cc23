import { localMonthKey } from './local-time';

// Globals looked up once: inside a vm context (Jest) every global lookup in a hot loop is slow.
const { floor, max, min, round } = Math;
const isFiniteNumber = Number.isFinite;

/** The metering interval of peak-demand charges and of the learned profile, ms (clock-aligned quarter hours). */
export const METER_BLOCK_MS = 900_000;
const DAY_MS = 86_400_000;
/** Blocks per day in the learned profile. */
export const PROFILE_BLOCKS = DAY_MS / METER_BLOCK_MS;

/**
 * What a strategy remembers of the grid meter between ticks: the import and the net demand integrated over
 * clock-aligned 15-min blocks, the month's highest block import (the billed peak) and, per quarter hour of the day,
 * the last completed block's mean net demand (a persistence profile learned from the site's own readings).
 * Plain JSON data.
 */
export interface MeterMemory {
  /** Time of the previous reading, epoch ms, or null before the first. */
  readonly lastAtMs: number | null;
  /** Net demand (load + EV − PV) at the previous reading, W. */
  readonly lastNetW: number;
  /** Start of the block being integrated, epoch ms, or null. */
  readonly blockStartMs: number | null;
  /** Grid import integrated over that block so far, W·ms. */
  readonly blockImportWms: number;
  /** Net demand integrated over that block so far, W·ms. */
  readonly blockNetWms: number;
  /** Time of the block covered by readings, ms. */
  readonly blockCoveredMs: number;
  /** Local month 'YYYY-MM' of monthPeakW, or null. */
  readonly monthKey: string | null;
  /** Highest 15-min mean grid import of that month so far, W (what the peak-demand charge bills). */
  readonly monthPeakW: number;
  /** Mean net demand of the last completed block at each quarter hour of the (UTC) day, W; null = not seen yet. */
  readonly profileW: readonly (number | null)[];
  /** When each profile entry was measured (block start), epoch ms; 0 = never. */
  readonly profileAtMs: readonly number[];
  /**
   * A slowly forgetting high mark of the net demand at each quarter hour of the day, W: a new block above it replaces
   * it, one below it pulls it down by HIGH_MARK_DECAY of the gap (so a spike is remembered for about a week).
   */
  readonly profileHighW: readonly (number | null)[];
  /** The profile entry each current one replaced (the same quarter hour a day earlier), W; null = none. */
  readonly profilePrevW: readonly (number | null)[];
  /** When each previous entry was measured, epoch ms; 0 = never. */
  readonly profilePrevAtMs: readonly number[];
  /**
   * How well two predictions of each block's mean net demand did: the forecast the strategy planned with and the
   * alternative (the same quarter hour one day further back). `predictedBlockStartMs` is the block whose predictions
   * (`forecastW`, `altW`, null = none) wait for its measurement; when it completes, the squared errors enter the
   * exponential means `forecastMse` / `altMse` (about three days of memory, W²) and `errorSamples` counts them.
   */
  /**
   * The last HISTORY_DAYS days of the site's own readings: historyW[row · PROFILE_BLOCKS + quarter hour] is the mean
   * net demand of that (UTC) quarter hour on day historyDay[row] (days since the epoch, −1 = empty row), W; null = not
   * measured. Row = day mod HISTORY_DAYS. The planners use each day as a scenario of how the next day may go.
   */
  readonly historyW: readonly (number | null)[];
  readonly historyDay: readonly number[];
  readonly predictedBlockStartMs: number | null;
  readonly forecastW: number | null;
  readonly altW: number | null;
  readonly forecastMse: number;
  readonly altMse: number;
  readonly errorSamples: number;
}

/** Weight of a new squared error in the exponential means (about three days of quarter hours). */
const ERROR_EMA_ALPHA = 1 / (3 * 96);

/** Days of readings kept in MeterMemory.historyW (a week: every weekday once). */
export const HISTORY_DAYS = 7;

/** Share of the gap between the high mark and a lower new value removed per day. */
const HIGH_MARK_DECAY = 0.2;

export const INITIAL_METER_MEMORY: MeterMemory = {
  lastAtMs: null,
  lastNetW: 0,
  blockStartMs: null,
  blockImportWms: 0,
  blockNetWms: 0,
  blockCoveredMs: 0,
  monthKey: null,
  monthPeakW: 0,
  profileW: new Array<number | null>(PROFILE_BLOCKS).fill(null),
  profileAtMs: new Array<number>(PROFILE_BLOCKS).fill(0),
  profileHighW: new Array<number | null>(PROFILE_BLOCKS).fill(null),
  profilePrevW: new Array<number | null>(PROFILE_BLOCKS).fill(null),
  profilePrevAtMs: new Array<number>(PROFILE_BLOCKS).fill(0),
  historyW: new Array<number | null>(HISTORY_DAYS * PROFILE_BLOCKS).fill(null),
  historyDay: new Array<number>(HISTORY_DAYS).fill(-1),
  predictedBlockStartMs: null,
  forecastW: null,
  altW: null,
  forecastMse: 0,
  altMse: 0,
  errorSamples: 0,
};

/** One reading for the meter. */
export interface MeterReading {
  readonly nowMs: number;
  /** Net demand now (load + EV − PV), W: held until the next reading. */
  readonly netW: number;
  /** Total battery power measured now, W, + = discharge: what the batteries did since the previous reading. */
  readonly batteryW: number;
  readonly timezone: string;
}

function blockIndexOfDay(blockStartMs: number): number {
  const ofDay = ((blockStartMs % DAY_MS) + DAY_MS) % DAY_MS;
  return floor(ofDay / METER_BLOCK_MS) % PROFILE_BLOCKS;
}

/**
 * Integrates the interval since the previous reading and returns the updated memory.
 *
 * Over [previous reading, now) the grid imported `max(0, previous net demand − battery power measured now)`: the net
 * demand is the previous reading's (held), the battery power is what the batteries report now — what they did over
 * that interval. (With 15-min ticks a reading's grid power still shows the previous setpoint, so the grid meter's own
 * value would put the old battery power into the new block.) A gap longer than `maxGapMs` counts only its first
 * `maxGapMs`. The interval is split at block boundaries; each completed block raises the month's peak (month of the
 * block's start, site time) and stores its mean net demand in the profile.
 */
export function observeMeter(memory: MeterMemory, reading: MeterReading, maxGapMs: number): MeterMemory {
  let { blockStartMs, blockImportWms, blockNetWms, blockCoveredMs, monthKey, monthPeakW } = memory;
  let profileW: (number | null)[] | undefined;
  let profileAtMs: number[] | undefined;
  let profileHighW: (number | null)[] | undefined;
  let profilePrevW: (number | null)[] | undefined;
  let profilePrevAtMs: number[] | undefined;
  let historyW: (number | null)[] | undefined;
  let historyDay: number[] | undefined;
  let { forecastMse, altMse, errorSamples } = memory;
  const finishBlock = (): void => {
    if (blockStartMs === null) return;
    if (blockCoveredMs > 0 && memory.predictedBlockStartMs === blockStartMs && memory.forecastW !== null && memory.altW !== null) {
      const actualW = blockNetWms / blockCoveredMs;
      const ef = (memory.forecastW - actualW) ** 2;
      const ea = (memory.altW - actualW) ** 2;
      const a = errorSamples === 0 ? 1 : ERROR_EMA_ALPHA;
      forecastMse += a * (ef - forecastMse);
      altMse += a * (ea - altMse);
      errorSamples++;
    }
    if (blockCoveredMs > 0) {
      const month = localMonthKey(blockStartMs, reading.timezone) ?? null;
      if (month !== monthKey) {
        monthKey = month;
        monthPeakW = 0;
      }
      monthPeakW = max(monthPeakW, blockImportWms / blockCoveredMs);
      profileW ??= [...memory.profileW];
      profileAtMs ??= [...memory.profileAtMs];
      profileHighW ??= [...memory.profileHighW];
      profilePrevW ??= [...memory.profilePrevW];
      profilePrevAtMs ??= [...memory.profilePrevAtMs];
      const i = blockIndexOfDay(blockStartMs);
      const meanW = tenths(blockNetWms / blockCoveredMs);
      const high = profileHighW[i];
      if ((profileAtMs[i] ?? 0) > 0 && profileAtMs[i] !== blockStartMs) {
        profilePrevW[i] = profileW[i] ?? null;
        profilePrevAtMs[i] = profileAtMs[i] ?? 0;
      }
      profileW[i] = meanW;
      profileAtMs[i] = blockStartMs;
      profileHighW[i] = high === null || high === undefined || meanW >= high ? meanW : tenths(high - HIGH_MARK_DECAY * (high - meanW));
      historyW ??= [...memory.historyW];
      historyDay ??= [...memory.historyDay];
      const day = floor(blockStartMs / DAY_MS);
      const row = ((day % HISTORY_DAYS) + HISTORY_DAYS) % HISTORY_DAYS;
      if (historyDay[row] !== day) {
        historyDay[row] = day;
        historyW.fill(null, row * PROFILE_BLOCKS, (row + 1) * PROFILE_BLOCKS);
      }
      historyW[row * PROFILE_BLOCKS + i] = meanW;
    }
    blockImportWms = 0;
    blockNetWms = 0;
    blockCoveredMs = 0;
  };

  if (memory.lastAtMs !== null && reading.nowMs > memory.lastAtMs) {
    const importW = max(0, memory.lastNetW - reading.batteryW);
    const untilMs = min(reading.nowMs, memory.lastAtMs + max(0, maxGapMs));
    let fromMs = memory.lastAtMs;
    while (fromMs < untilMs) {
      const start = floor(fromMs / METER_BLOCK_MS) * METER_BLOCK_MS;
      if (blockStartMs !== start) {
        finishBlock();
        blockStartMs = start;
      }
      const toMs = min(untilMs, start + METER_BLOCK_MS);
      blockImportWms += importW * (toMs - fromMs);
      blockNetWms += memory.lastNetW * (toMs - fromMs);
      blockCoveredMs += toMs - fromMs;
      fromMs = toMs;
    }
  }
  // A block that ended before now is complete.
  const currentStart = floor(reading.nowMs / METER_BLOCK_MS) * METER_BLOCK_MS;
  if (blockStartMs !== null && blockStartMs < currentStart) {
    finishBlock();
    blockStartMs = null;
  }
  // A new month starts with no peak.
  const nowMonth = localMonthKey(reading.nowMs, reading.timezone) ?? null;
  if (nowMonth !== monthKey && nowMonth !== null && (monthKey === null || nowMonth > monthKey)) {
    monthKey = nowMonth;
    monthPeakW = 0;
  }
  return {
    lastAtMs: reading.nowMs,
    lastNetW: isFiniteNumber(reading.netW) && reading.netW !== 0 ? reading.netW : 0,
    blockStartMs,
    blockImportWms,
    blockNetWms,
    blockCoveredMs,
    monthKey,
    monthPeakW,
    profileW: profileW ?? memory.profileW,
    profileAtMs: profileAtMs ?? memory.profileAtMs,
    profileHighW: profileHighW ?? memory.profileHighW,
    profilePrevW: profilePrevW ?? memory.profilePrevW,
    profilePrevAtMs: profilePrevAtMs ?? memory.profilePrevAtMs,
    historyW: historyW ?? memory.historyW,
    historyDay: historyDay ?? memory.historyDay,
    predictedBlockStartMs: memory.predictedBlockStartMs,
    forecastW: memory.forecastW,
    altW: memory.altW,
    forecastMse: round1(forecastMse),
    altMse: round1(altMse),
    errorSamples,
  };
}

function round1(value: number): number {
  return tenths(value);
}

/** Rounded to 0.1, never −0 (memory must survive a JSON round trip unchanged). */
function tenths(value: number): number {
  const r = round(value * 10) / 10;
  return r === 0 ? 0 : r;
}

/**
 * Records the predictions for the block in progress (once, at its first reading), so that its measurement can score
 * them when it completes. A block already recorded is left alone.
 */
export function notePredictions(memory: MeterMemory, nowMs: number, forecastW: number | undefined, altW: number | undefined): MeterMemory {
  const start = floor(nowMs / METER_BLOCK_MS) * METER_BLOCK_MS;
  if (memory.predictedBlockStartMs === start) return memory;
  const clean = (w: number | undefined): number | null => (w === undefined || !isFiniteNumber(w) ? null : w === 0 ? 0 : w);
  return { ...memory, predictedBlockStartMs: start, forecastW: clean(forecastW), altW: clean(altW) };
}

/**
 * Weight of the alternative prediction by inverse mean squared errors, 0..1: msef / (msef + msea), so a forecast
 * that has been exact gets ~0 and two equally good ones 0.5. `fallback` until a day of blocks has been scored.
 */
export function alternativeWeight(memory: MeterMemory, fallback: number): number {
  if (memory.errorSamples < PROFILE_BLOCKS) return fallback;
  const total = memory.forecastMse + memory.altMse;
  return total > 0 ? memory.forecastMse / total : fallback;
}

/**
 * The grid import still allowed over the rest of the current block so that the block's mean stays at or under
 * `capW`, W (≥ 0), given what the block has imported so far. `capW` itself when the block has just begun.
 */
export function blockCapW(memory: MeterMemory, nowMs: number, capW: number): number {
  const start = floor(nowMs / METER_BLOCK_MS) * METER_BLOCK_MS;
  if (memory.blockStartMs !== start || memory.blockCoveredMs <= 0) return capW;
  const remainingMs = start + METER_BLOCK_MS - nowMs;
  if (remainingMs <= 0) return capW;
  return max(0, (capW * METER_BLOCK_MS - memory.blockImportWms) / remainingMs);
}

/**
 * The learned net demand for [startMs, endMs), W: the profile's mean over the quarter hours the interval covers,
 * using entries measured within `maxAgeMs` before `nowMs`. Undefined when none is usable.
 */
export function profileNetW(memory: MeterMemory, startMs: number, endMs: number, nowMs: number, maxAgeMs: number): number | undefined {
  let sum = 0;
  let weight = 0;
  for (let from = startMs; from < endMs; ) {
    const block = floor(from / METER_BLOCK_MS) * METER_BLOCK_MS;
    const to = min(endMs, block + METER_BLOCK_MS);
    const i = blockIndexOfDay(block);
    const value = memory.profileW[i];
    const atMs = memory.profileAtMs[i] ?? 0;
    if (value !== null && value !== undefined && atMs > 0 && nowMs - atMs <= maxAgeMs) {
      sum += value * (to - from);
      weight += to - from;
    }
    from = to;
  }
  return weight > 0 ? sum / weight : undefined;
}

/**
 * The highest high mark (profileHighW) over the quarter hours within `windowMs` of [startMs, endMs), W, from entries
 * measured within `maxAgeMs` before `nowMs`: what the site has recently drawn around that time of day at worst.
 */
export function profileHighNetW(memory: MeterMemory, startMs: number, endMs: number, nowMs: number, maxAgeMs: number, windowMs: number): number | undefined {
  let best: number | undefined;
  for (let from = floor((startMs - windowMs) / METER_BLOCK_MS) * METER_BLOCK_MS; from < endMs + windowMs; from += METER_BLOCK_MS) {
    const i = blockIndexOfDay(from);
    const value = memory.profileHighW[i];
    const atMs = memory.profileAtMs[i] ?? 0;
    if (value === null || value === undefined || atMs <= 0 || nowMs - atMs > maxAgeMs) continue;
    best = best === undefined ? value : max(best, value);
  }
  return best;
}

/**
 * The net demand the site drew over [startMs, endMs) one day before the profile's latest entries (the quarter hours'
 * previous values), W, from entries measured within `maxAgeMs` before `nowMs`; undefined unless all are known.
 */
export function profilePrevNetW(memory: MeterMemory, startMs: number, endMs: number, nowMs: number, maxAgeMs: number): number | undefined {
  let sum = 0;
  let weight = 0;
  for (let from = startMs; from < endMs; ) {
    const block = floor(from / METER_BLOCK_MS) * METER_BLOCK_MS;
    const to = min(endMs, block + METER_BLOCK_MS);
    const i = blockIndexOfDay(block);
    const value = memory.profilePrevW[i];
    const atMs = memory.profilePrevAtMs[i] ?? 0;
    if (value === null || value === undefined || atMs <= 0 || nowMs - atMs > maxAgeMs) return undefined;
    sum += value * (to - from);
    weight += to - from;
    from = to;
  }
  return weight > 0 ? sum / weight : undefined;
}

/**
 * The net demand the site drew over [startMs, endMs) shifted `daysBack` whole days into the past, W, from the day
 * history (MeterMemory.historyW); undefined unless every quarter hour of it was measured and is still kept.
 */
export function historyNetW(memory: MeterMemory, startMs: number, endMs: number, daysBack: number): number | undefined {
  const shiftMs = daysBack * DAY_MS;
  let sum = 0;
  let weight = 0;
  for (let from = startMs - shiftMs; from < endMs - shiftMs; ) {
    const block = floor(from / METER_BLOCK_MS) * METER_BLOCK_MS;
    const to = min(endMs - shiftMs, block + METER_BLOCK_MS);
    const day = floor(block / DAY_MS);
    const row = ((day % HISTORY_DAYS) + HISTORY_DAYS) % HISTORY_DAYS;
    if (memory.historyDay[row] !== day) return undefined;
    const value = memory.historyW[row * PROFILE_BLOCKS + blockIndexOfDay(block)];
    if (value === null || value === undefined) return undefined;
    sum += value * (to - from);
    weight += to - from;
    from = to;
  }
  return weight > 0 ? sum / weight : undefined;
}
