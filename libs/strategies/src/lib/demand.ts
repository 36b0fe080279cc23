import { totalBatteryPowerW } from './battery';
import type { BatteryState, SiteState } from './site-state';
import type { StrategySetpoints } from './strategy';

/**
 * The site's net demand (load + EV − PV = grid + Σ battery) from readings that agree.
 *
 * The grid meter and the batteries are polled apart, and the engine ticks on the newest reading. A battery
 * set-point that took effect after the battery's latest reading but before the grid's shows in the grid reading
 * only: `grid + battery` then misses the change (a battery that went from 0 to 4 kW leaves the demand 4 kW short), a
 * strategy that follows the demand answers with 0 W, and the next readings swing it back — a battery flipping
 * between 0 and twice the demand each battery poll. The other way round (battery read after the change, the grid
 * before) counts the change twice.
 *
 * - **Epochs.** The set-points `combine` sends that move a battery by more than the tolerance from the last change sent
 *   split time into epochs; a change reached by moves each within the tolerance of the set-point sent before is a
 *   creep and keeps its rate. A reading belongs to the epoch of the last change sent before it was taken. A battery
 *   reading *shows* its epoch's change by its value once it is away from what the battery was last read doing before
 *   the change and has arrived (within 2 % of the step of the set-point, a tenth with a ramp limit, or the tolerance;
 *   a change within twice the tolerance of the reading, none in flight before it: at the set-point) or is approaching
 *   (within half the step; with a ramp limit, anywhere on the way); or by the time passed once the battery's response
 *   time (`responseMs` in the site config, else `settleMs`; plus the ramp time) has passed since the change. A grid
 *   reading shows it after that time or after a battery reading that shows it.
 * - **Paired.** A battery reading pairs with the grid reading when both were taken at one instant; when every change
 *   sent from the response time before the earlier of the two on was a creep and the fastest moves the tolerance in
 *   no less time than lies between them (the latest reading only, one that follows the set-points — within twice the
 *   tolerance of one it can be answering — and only once the change in effect before them is a creep or has
 *   settled); or when both belong to one epoch and show its change — one that has arrived, or a latest reading that
 *   agrees with the one before it in the epoch (stopped), with any grid reading of the epoch; one approaching only
 *   with a grid reading taken at most 250 ms from it (with a ramp limit, at most the time the ramp needs to move the
 *   tolerance) or by the time passed; one that shows it only by the time passed (the battery did not follow, or is
 *   slower than its response time) only with a grid reading taken at most 250 ms after it. A change no set-point
 *   explains (another source at the arbiter, the BMS) shows as two battery readings more than the tolerance apart:
 *   the later one pairs only with grid readings no older than it, the earlier one only with grid readings no newer
 *   than it. Two readings of the epoch that left the old power and agree (a battery stopped short of its set-point),
 *   and do not sit where an earlier set-point put it, pair like a reading shown by time. Each fresh battery pairs its
 *   latest reading, else the one before.
 * - **Held.** When a battery does not pair, the last paired demand is held: a measurement, so the estimate cannot run
 *   away, though a load or PV change during the hold is seen only once the batteries pair again. The hold lasts at
 *   most `maxHoldMs` or, if longer, the slowest battery's response time plus 2.5 of its poll intervals. (Inferring
 *   the unread battery's power instead — its reading or a set-point in flight, whichever puts the demand nearest the
 *   previous tick's — followed load changes at once but fed its own mistakes: with a battery the arbiter held short,
 *   or set-points in flight longer than a battery poll, it ran away by kilowatts.)
 * - **Latest.** With nothing to hold (a first tick after a change, a hold that ran out, a clock that went back) the
 *   latest readings count once and are then held as if paired; with a stale grid reading they count as they are.
 */

/** When a set-point change shows in the readings, and what counts as a change. */
export interface DemandOptions {
  /**
   * From sending a battery set-point to its effect in the readings (write path and device response), ms, for a
   * battery whose site config has no `responseMs`: a reading taken this long after the set-point (plus the ramp time)
   * shows whatever the battery does about it — a battery that did not follow (an arbiter clamp, a BMS limit, a rejected
   * write) is then taken as it is read, with grid readings taken right after it.
   */
  readonly settleMs: number;
  /**
   * The longest a paired demand is held while the readings disagree, ms — or, if longer, the slowest battery's
   * response time plus 2.5 of its poll intervals; after it the latest readings count.
   */
  readonly maxHoldMs: number;
  /** A battery power change smaller than this (or 1 % of the battery's larger power limit, if more) is noise, W. */
  readonly toleranceW: number;
}

export const DEFAULT_DEMAND_OPTIONS: DemandOptions = { settleMs: 3_000, maxHoldMs: 5_000, toleranceW: 100 };

/** How the tick's demand was measured. */
export type DemandSource = 'paired' | 'held' | 'latest';

/**
 * A set-point that changed a battery's power: when it was sent, the power asked, by when it has surely taken effect,
 * and what the battery was last read doing when it was sent.
 */
type Change = readonly [sentAtMs: number, powerW: number, settledByMs: number, fromW: number, creepWPerS?: number];
/** A reading: when it was taken, and the power, W. */
type Reading = readonly [atMs: number, powerW: number];

interface BatteryTrack {
  /** The set-point changes sent, oldest first (the last `MAX_CHANGES`, none older than `KEEP_CHANGES_MS`). */
  readonly changes: readonly Change[];
  /** The latest reading seen. */
  readonly latest?: Reading;
  /** The reading before it. */
  readonly previous?: Reading;
  /** The last interval between two of its readings, ms (kept while the battery is stale or starts afresh). */
  readonly pollMs?: number;
  /** The last set-point sent, W, whether or not it started an epoch, and when. */
  readonly sentW?: number;
  readonly sentAtMs?: number;
  /** The fastest a set-point moved from one sent to the next since the last change, W/s (a creep's rate). */
  readonly sentRateWPerS?: number;
}

/** The estimate's memory (plain JSON, kept by the engine between ticks; not worth saving across a restart). */
export interface DemandMemory {
  readonly batteries?: Readonly<Record<string, BatteryTrack>>;
  /** The last paired demand: the tick's time and the demand, W. */
  readonly lastPaired?: Reading;
}

export interface DemandEstimate {
  readonly netDemandW: number;
  readonly source: DemandSource;
  /** The memory with this tick's readings (the set-points are added by `recordBatterySetpoints`). */
  readonly memory: DemandMemory;
}

const MAX_CHANGES = 16;
/** A battery reading that shows a change only by the time passed pairs with grid readings at most this much newer, ms. */
const TIME_SHOWN_PAIRS_MS = 250;
const KEEP_CHANGES_MS = 120_000;

/** From a set-point to its effect in the battery's readings, ms: its site config's `responseMs`, else `settleMs`. */
function responseMsOf(battery: BatteryState, options: DemandOptions): number {
  return battery.responseMs !== undefined && battery.responseMs > 0 ? battery.responseMs : options.settleMs;
}

function toleranceFor(battery: BatteryState, options: DemandOptions): number {
  const larger = Math.max(battery.maxChargePowerW, battery.maxDischargePowerW);
  return Math.max(options.toleranceW, Number.isFinite(larger) ? 0.01 * larger : 0);
}

/** The number of changes sent before `atMs` (a reading taken at the tick's own time predates its set-points). */
function epochOf(changes: readonly Change[], atMs: number): number {
  let k = 0;
  while (k < changes.length && (changes[k]?.[0] ?? Number.POSITIVE_INFINITY) < atMs) k++;
  return k;
}

/**
 * Whether a battery reading of the change's epoch shows the change, and how. By its value: away from what the battery
 * did before, and either `arrived` — within 2 % of the step of the set-point (a tenth with a ramp limit: the ramp's
 * end, a noisy meter; or the tolerance) — or `approaching` —
 * within half the step (a battery still catching up, one the arbiter or its BMS holds short of the set-point), with a
 * ramp limit anywhere between the old power and the set-point (the arbiter moving it there step by step). By the time
 * passed: taken after `settledByMs`.
 */
function shows(
  reading: Reading,
  change: Change,
  toleranceW: number,
  ramped: boolean,
  earlier?: Change,
): 'arrived' | 'approaching' | 'time' | false {
  const [, powerW, settledByMs, fromW] = change;
  const stepW = Math.abs(powerW - fromW);
  const movedW = (reading[1] - fromW) * Math.sign(powerW - fromW);
  const offW = Math.abs(reading[1] - powerW);
  // A change too small to tell from the battery's own reading (the end of a creep, a jitter): at the set-point is
  // arrived, whether or not it has left the old power — unless the change before it may not have shown yet when the
  // reading was taken (a set-point sent back within the write delay).
  const quiet = earlier === undefined || earlier[2] <= reading[0];
  if (quiet && stepW <= 2 * toleranceW && offW <= toleranceW) return 'arrived';
  if (Math.abs(reading[1] - fromW) > toleranceW) {
    if (offW <= Math.max(toleranceW, (ramped ? 0.1 : 0.02) * stepW)) return 'arrived';
    if (ramped ? movedW > 0 && movedW < stepW : offW <= 0.5 * stepW) return 'approaching';
  }
  return reading[0] >= settledByMs ? 'time' : false;
}

/** The battery reading this battery pairs with the grid reading taken at `gridAtMs`, if any. */
function pairedReading(
  track: BatteryTrack,
  gridAtMs: number,
  toleranceW: number,
  rampWPerS: number | undefined,
  responseMs: number,
): Reading | undefined {
  const { changes, latest, previous } = track;
  const ramped = rampWPerS !== undefined;
  if (!latest) return undefined;
  // One instant (a hybrid inverter reports its grid and battery ports in one reading).
  if (latest[0] === gridAtMs) return latest;
  // Set-points that only crept (each within the tolerance of the one before) since the response time before the
  // earlier of the two readings: the battery moves at most at their rate, so its latest reading pairs with grid
  // readings no further from it than the fastest creep needs to move the tolerance — if it follows them (within twice
  // the tolerance of a set-point it can be answering: a clamp, a derate, a BMS stop are no creep) and no step sent
  // before them is still settling.
  const fromMs = Math.min(latest[0], gridAtMs) - responseMs;
  const moves = changes.filter((c) => c[0] > fromMs && c[0] <= Math.max(latest[0], gridAtMs));
  if (moves.length > 0 && moves.every((c) => c[4] !== undefined)) {
    const prior = changes.filter((c) => c[0] <= fromMs).at(-1);
    const settled = prior === undefined || prior[4] !== undefined || prior[2] <= Math.min(latest[0], gridAtMs);
    const answerFromMs = latest[0] - responseMs;
    const answering = changes.filter((c) => c[0] > answerFromMs && c[0] <= latest[0]);
    const inEffect = changes.filter((c) => c[0] <= answerFromMs).at(-1);
    const follows = [...answering, ...(inEffect ? [inEffect] : [])].some(
      (c) => Math.abs(latest[1] - c[1]) <= 2 * toleranceW,
    );
    const rateWPerS = Math.max(...moves.map((c) => c[4] ?? 0));
    if (settled && follows && rateWPerS * Math.abs(gridAtMs - latest[0]) <= 1_000 * toleranceW) return latest;
  }
  const gridEpoch = epochOf(changes, gridAtMs);
  const change = changes[gridEpoch - 1];
  const readings = previous ? [latest, previous] : [latest];
  // Two readings of the grid's epoch that left the old power and agree: the battery has stopped short of its set-point
  // (an arbiter clamp, a BMS limit); it may still creep on, so like a reading shown by time it pairs only right after.
  // Not where an earlier set-point put it: that is the earlier change arriving late, not this one stopping short.
  const before = changes[gridEpoch - 2];
  // The last two readings are of the grid's epoch, agree, and do not sit where the change before put the battery.
  const stopped =
    previous !== undefined &&
    epochOf(changes, previous[0]) === gridEpoch &&
    epochOf(changes, latest[0]) === gridEpoch &&
    Math.abs(latest[1] - previous[1]) <= toleranceW &&
    (before === undefined || Math.abs(latest[1] - before[1]) > toleranceW);
  const steady =
    stopped &&
    change !== undefined &&
    Math.abs(latest[1] - change[3]) > toleranceW &&
    Math.abs(previous[1] - change[3]) > toleranceW &&
    gridAtMs >= latest[0] &&
    gridAtMs <= latest[0] + TIME_SHOWN_PAIRS_MS;
  if (steady) return latest;
  const gridShows =
    change === undefined ||
    gridAtMs >= change[2] ||
    readings.some(
      (r) => r[0] <= gridAtMs && epochOf(changes, r[0]) === gridEpoch && shows(r, change, toleranceW, ramped, before),
    );
  if (!gridShows) return undefined;
  // A change between the two readings that no set-point sent explains.
  const unexplained =
    previous !== undefined &&
    epochOf(changes, previous[0]) === epochOf(changes, latest[0]) &&
    Math.abs(latest[1] - previous[1]) > toleranceW;
  for (const reading of readings) {
    if (epochOf(changes, reading[0]) !== gridEpoch) continue;
    const how = change === undefined ? 'arrived' : shows(reading, change, toleranceW, ramped, before);
    if (!how) continue;
    // Shown only by the time passed (the battery has not moved, or not far): it may still move — a battery slower
    // than its response time — so it pairs only with a grid reading taken right after it.
    if (how === 'time' && gridAtMs > reading[0] + TIME_SHOWN_PAIRS_MS) continue;
    // Still on its way (a lag, a ramp): it pairs only with a grid reading taken near it — with a ramp limit, no
    // further from it than the battery needs to move by the tolerance. A latest reading that has stopped (a battery
    // settled a few per cent short, a noisy meter) pairs as one that has arrived.
    if (how === 'approaching' && !(stopped && reading === latest)) {
      const nearMs = ramped ? Math.min(TIME_SHOWN_PAIRS_MS, (1_000 * toleranceW) / rampWPerS) : TIME_SHOWN_PAIRS_MS;
      const byTime =
        reading[0] >= (change?.[2] ?? Number.POSITIVE_INFINITY) && gridAtMs <= reading[0] + TIME_SHOWN_PAIRS_MS;
      if (Math.abs(gridAtMs - reading[0]) > nearMs && !byTime) continue;
    }
    if (unexplained && reading === latest && gridAtMs < latest[0]) continue;
    if (unexplained && reading === previous && gridAtMs > previous[0]) continue;
    return reading;
  }
  return undefined;
}

/** The tick's net demand, W (see above); `nowMs` is the tick's time. */
export function estimateDemand(
  state: SiteState,
  nowMs: number,
  memory: DemandMemory,
  options: DemandOptions = DEFAULT_DEMAND_OPTIONS,
): DemandEstimate {
  const latestW = state.gridPowerW + totalBatteryPowerW(state.batteries);
  const gridAtMs = nowMs - state.gridAgeMs;
  const gridFresh = state.gridQuality === 'good' && Number.isFinite(gridAtMs) && Number.isFinite(state.gridPowerW);
  const tracks: Record<string, BatteryTrack> = {};
  let knownW = state.gridPowerW;
  let allPaired = true;
  // A hold lasts until the slowest battery has been read again after its response time.
  let holdMs = options.maxHoldMs;
  for (const battery of state.batteries) {
    const stored = memory.batteries?.[battery.assetId];
    // Nothing from the future: a clock that went back starts the battery afresh.
    const changes = (stored?.changes ?? []).filter((c) => c[0] <= nowMs);
    const pollMs = stored?.pollMs;
    const keepPoll = pollMs === undefined ? {} : { pollMs };
    const keepSent = {
      ...(stored?.sentW === undefined ? {} : { sentW: stored.sentW }),
      ...(stored?.sentAtMs === undefined || stored.sentAtMs > nowMs ? {} : { sentAtMs: stored.sentAtMs }),
      ...(stored?.sentRateWPerS === undefined ? {} : { sentRateWPerS: stored.sentRateWPerS }),
    };
    if (battery.quality !== 'good' || !Number.isFinite(battery.ageMs) || !Number.isFinite(battery.powerW)) {
      tracks[battery.assetId] = { changes, ...keepPoll, ...keepSent };
      if (Number.isFinite(battery.powerW)) knownW += battery.powerW;
      continue;
    }
    const reading: Reading = [nowMs - battery.ageMs, battery.powerW];
    const known = stored?.latest;
    let track: BatteryTrack;
    if (known === undefined || known[0] > nowMs || reading[0] < known[0])
      track =
        known === undefined
          ? { changes, latest: reading, ...keepPoll, ...keepSent }
          : { changes: [], latest: reading, ...keepPoll };
    else if (reading[0] > known[0])
      track = { changes, latest: reading, previous: known, pollMs: reading[0] - known[0], ...keepSent };
    else track = { ...stored, changes };
    tracks[battery.assetId] = track;
    if (track.pollMs !== undefined) holdMs = Math.max(holdMs, responseMsOf(battery, options) + 2.5 * track.pollMs);
    const tolerance = toleranceFor(battery, options);
    const rampWPerS = battery.maxRampWPerS !== undefined && battery.maxRampWPerS > 0 ? battery.maxRampWPerS : undefined;
    const paired = gridFresh
      ? pairedReading(track, gridAtMs, tolerance, rampWPerS, responseMsOf(battery, options))
      : undefined;
    if (paired) knownW += paired[1];
    else allPaired = false;
  }
  const held = memory.lastPaired;
  const holdable = held !== undefined && held[0] <= nowMs && nowMs - held[0] <= holdMs && Number.isFinite(held[1]);
  const done = (netDemandW: number, source: DemandSource): DemandEstimate => {
    const lastPaired = source === 'paired' ? ([nowMs, netDemandW] as const) : holdable ? held : undefined;
    return { netDemandW, source, memory: { batteries: tracks, ...(lastPaired ? { lastPaired } : {}) } };
  };
  if (!gridFresh) return done(latestW, 'latest');
  if (allPaired) return done(knownW, 'paired');
  if (holdable) return done(held[1], 'held');
  // Nothing to hold (a first tick after a change, a hold that ran out): the latest readings count, once, and are held
  // from here as if paired — taking them tick after tick would bring back the swing the hold is there to stop.
  return { netDemandW: latestW, source: 'latest', memory: { batteries: tracks, lastPaired: [nowMs, latestW] } };
}

/**
 * Adds the battery set-points `combine` sends this tick to the memory: one that moves a battery by more than the
 * tolerance from the last change sent (or, without one, from its latest reading) starts a new epoch — a creep, with
 * its rate, when it moved within the tolerance of the set-point sent before it (jitter within the tolerance of the
 * last change opens none).
 */
export function recordBatterySetpoints(
  memory: DemandMemory,
  state: SiteState,
  setpoints: StrategySetpoints,
  nowMs: number,
  options: DemandOptions = DEFAULT_DEMAND_OPTIONS,
): DemandMemory {
  const batteries: Record<string, BatteryTrack> = {};
  for (const battery of state.batteries) {
    const track = memory.batteries?.[battery.assetId] ?? { changes: [] };
    const sp = setpoints[battery.assetId];
    const recent = track.changes.filter((c) => c[0] >= nowMs - KEEP_CHANGES_MS && c[0] <= nowMs);
    const kept = recent.length > 0 ? recent : track.changes.slice(-1).filter((c) => c[0] <= nowMs);
    let next = kept;
    let sent: Pick<BatteryTrack, 'sentW' | 'sentAtMs' | 'sentRateWPerS'> = {};
    if (sp?.kind === 'battery-power' && Number.isFinite(sp.powerW)) {
      const tolerance = toleranceFor(battery, options);
      const shownW = track.latest?.[1] ?? (Number.isFinite(battery.powerW) ? battery.powerW : 0);
      const lastAskedW = kept.at(-1)?.[1] ?? shownW;
      // How fast the set-point moves from one sent to the next (a creep's rate, whatever the pauses between changes).
      const stepRateWPerS =
        track.sentW !== undefined && track.sentAtMs !== undefined && nowMs > track.sentAtMs
          ? (1_000 * Math.abs(sp.powerW - track.sentW)) / (nowMs - track.sentAtMs)
          : 0;
      let sentRateWPerS = Math.max(track.sentRateWPerS ?? 0, stepRateWPerS);
      if (Math.abs(sp.powerW - lastAskedW) > tolerance) {
        // The arbiter ramps |power| up only (towards 0 at once; across 0 from 0).
        const growW =
          Math.sign(sp.powerW) * Math.sign(shownW) < 0
            ? Math.abs(sp.powerW)
            : Math.max(0, Math.abs(sp.powerW) - Math.abs(shownW));
        const rampMs =
          battery.maxRampWPerS !== undefined && battery.maxRampWPerS > 0 ? (growW / battery.maxRampWPerS) * 1_000 : 0;
        // Reached by moves each within the tolerance of the set-point sent before (NetZero following a slow load): a
        // creep, at the fastest of its rate since the last change and its moves from one set-point to the next.
        const last = kept.at(-1);
        const creepWPerS =
          track.sentW !== undefined && Math.abs(sp.powerW - track.sentW) <= tolerance && last
            ? Math.max((1_000 * Math.abs(sp.powerW - last[1])) / Math.max(nowMs - last[0], 1), sentRateWPerS)
            : undefined;
        const settledByMs = nowMs + responseMsOf(battery, options) + rampMs;
        const change: Change =
          creepWPerS === undefined
            ? [nowMs, sp.powerW, settledByMs, shownW]
            : [nowMs, sp.powerW, settledByMs, shownW, creepWPerS];
        next = [...kept, change].slice(-MAX_CHANGES);
        sentRateWPerS = 0;
      }
      sent = { sentW: sp.powerW, sentAtMs: nowMs, sentRateWPerS };
    }
    batteries[battery.assetId] = { ...track, changes: next, ...sent };
  }
  return { ...memory, batteries };
}
