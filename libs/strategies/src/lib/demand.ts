import type { BatteryState, SiteState } from './site-state';
import type { StrategySetpoints } from './strategy';

/**
 * The site's net demand (load + EV − PV = grid + Σ battery) from readings that agree.
 *
 * The grid meter and the batteries are polled apart, and the engine ticks on the newest reading. A battery
 * set-point that took effect after the battery's latest reading but before the grid's shows in the grid reading
 * only: `grid + battery` then misses the change (a battery that went from 0 to 6 kW leaves the demand 6 kW short), a
 * strategy that sets the battery to the demand answers with 0 W, and the next readings swing it back — a battery
 * flipping between 0 and twice the demand each battery poll. The other way round (battery read after the change, the
 * grid before) counts the change twice.
 *
 * `combine` therefore measures the demand from readings of one *epoch*: the set-points it sent that change a battery
 * by more than the tolerance split time into epochs. A reading belongs to the epoch of the last change sent before
 * it was taken, and counts once the change has taken effect: a battery reading once it is within the tolerance of
 * the set-point or `settleMs` (plus a ramp's time, where the battery has a ramp limit) have passed; a grid reading
 * once that time has passed or a battery reading no later than it shows the set-point. A change no set-point explains
 * (another source at the arbiter, the BMS) shows as two battery readings more than the tolerance apart: the later one
 * pairs only with grid readings no older than it, the earlier one only with grid readings no newer than it.
 *
 * Each fresh battery pairs its latest reading, else the one before, with the grid reading. When every fresh battery
 * pairs, that is the demand (`paired`); otherwise the last paired demand is held (`held`) for at most `maxHoldMs`,
 * then the latest readings count as they are (`latest`, as without this estimate). A stale grid or a first tick
 * counts the latest readings. A change no set-point explains that happens after the battery's latest reading stays
 * unseen until the battery is read again.
 */

/** When a set-point change shows in the readings, and what counts as a change. */
export interface DemandOptions {
  /** From sending a battery set-point to its effect in the readings (write path and device response), ms. */
  readonly settleMs: number;
  /** The longest a paired demand is held while the readings disagree, ms; after it the latest readings count. */
  readonly maxHoldMs: number;
  /** A battery power change smaller than this (or 1 % of the battery's larger power limit, if more) is noise, W. */
  readonly toleranceW: number;
}

export const DEFAULT_DEMAND_OPTIONS: DemandOptions = { settleMs: 3_000, maxHoldMs: 10_000, toleranceW: 100 };

/** How the tick's demand was measured. */
export type DemandSource = 'paired' | 'held' | 'latest';

/** A set-point that changed a battery's power: when it was sent, the power asked, and by when it has taken effect. */
type Change = readonly [sentAtMs: number, powerW: number, settledByMs: number];
/** A reading: when it was taken, and the power, W. */
type Reading = readonly [atMs: number, powerW: number];

interface BatteryTrack {
  /** The set-point changes sent, oldest first (the last `MAX_CHANGES`, none older than `KEEP_CHANGES_MS`). */
  readonly changes: readonly Change[];
  /** The latest reading seen. */
  readonly latest?: Reading;
  /** The reading before it. */
  readonly previous?: Reading;
}

/** The estimate's memory (plain JSON, kept by the engine between ticks; not worth saving across a restart). */
export interface DemandMemory {
  readonly batteries?: Readonly<Record<string, BatteryTrack>>;
  /** The last paired demand: the grid reading's time and the demand, W. */
  readonly lastPaired?: Reading;
}

export interface DemandEstimate {
  readonly netDemandW: number;
  readonly source: DemandSource;
  /** The memory with this tick's readings (the set-points are added by `recordBatterySetpoints`). */
  readonly memory: DemandMemory;
}

const MAX_CHANGES = 16;
const KEEP_CHANGES_MS = 120_000;

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

/** The battery reading this battery pairs with the grid reading taken at `gridAtMs`, if any. */
function pairedReading(track: BatteryTrack, gridAtMs: number, toleranceW: number): Reading | undefined {
  const { changes, latest, previous } = track;
  if (!latest) return undefined;
  const gridEpoch = epochOf(changes, gridAtMs);
  const inEffect = (reading: Reading, change: Change): boolean =>
    reading[0] >= change[2] || Math.abs(reading[1] - change[1]) <= toleranceW;
  const readings = previous ? [latest, previous] : [latest];
  const gridChange = changes[gridEpoch - 1];
  const gridSettled =
    gridChange === undefined ||
    gridAtMs >= gridChange[2] ||
    readings.some(
      (r) => r[0] <= gridAtMs && epochOf(changes, r[0]) === gridEpoch && Math.abs(r[1] - gridChange[1]) <= toleranceW,
    );
  if (!gridSettled) return undefined;
  // A change between the two readings that no set-point sent explains.
  const unexplained =
    previous !== undefined &&
    epochOf(changes, previous[0]) === epochOf(changes, latest[0]) &&
    Math.abs(latest[1] - previous[1]) > toleranceW;
  for (const reading of readings) {
    if (epochOf(changes, reading[0]) !== gridEpoch) continue;
    const change = changes[gridEpoch - 1];
    if (change !== undefined && !inEffect(reading, change)) continue;
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
  const latestW =
    state.gridPowerW + state.batteries.reduce((s, b) => s + (Number.isFinite(b.powerW) ? b.powerW : 0), 0);
  const gridAtMs = nowMs - state.gridAgeMs;
  const tracks: Record<string, BatteryTrack> = {};
  let pairedW: number | undefined =
    Number.isFinite(gridAtMs) && state.gridQuality === 'good' ? state.gridPowerW : undefined;
  for (const battery of state.batteries) {
    const known = memory.batteries?.[battery.assetId] ?? { changes: [] };
    if (battery.quality !== 'good' || !Number.isFinite(battery.ageMs) || !Number.isFinite(battery.powerW)) {
      tracks[battery.assetId] = { changes: known.changes };
      if (pairedW !== undefined && Number.isFinite(battery.powerW)) pairedW += battery.powerW;
      continue;
    }
    const reading: Reading = [nowMs - battery.ageMs, battery.powerW];
    const isNew = known.latest === undefined || reading[0] > known.latest[0];
    const track: BatteryTrack = isNew
      ? { changes: known.changes, latest: reading, ...(known.latest ? { previous: known.latest } : {}) }
      : known;
    tracks[battery.assetId] = track;
    if (pairedW === undefined) continue;
    const paired = pairedReading(track, gridAtMs, toleranceFor(battery, options));
    pairedW = paired === undefined ? undefined : pairedW + paired[1];
  }
  if (pairedW !== undefined) {
    return { netDemandW: pairedW, source: 'paired', memory: { batteries: tracks, lastPaired: [gridAtMs, pairedW] } };
  }
  const lastPaired = memory.lastPaired;
  const gridFresh = state.gridQuality === 'good' && Number.isFinite(gridAtMs);
  if (gridFresh && lastPaired !== undefined && nowMs - lastPaired[0] <= options.maxHoldMs && nowMs >= lastPaired[0]) {
    return { netDemandW: lastPaired[1], source: 'held', memory: { batteries: tracks, lastPaired } };
  }
  return { netDemandW: latestW, source: 'latest', memory: { batteries: tracks } };
}

/**
 * Adds the battery set-points `combine` sends this tick to the memory: one that moves a battery by more than the
 * tolerance from the last change sent (or, without one, from its latest reading) starts a new epoch.
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
    const changes = track.changes.filter((c) => c[0] >= nowMs - KEEP_CHANGES_MS && c[0] <= nowMs);
    const kept = changes.length > 0 ? changes : track.changes.slice(-1).filter((c) => c[0] <= nowMs);
    let next = kept;
    if (sp?.kind === 'battery-power' && Number.isFinite(sp.powerW)) {
      const fromW = kept.at(-1)?.[1] ?? track.latest?.[1] ?? (Number.isFinite(battery.powerW) ? battery.powerW : 0);
      if (Math.abs(sp.powerW - fromW) > toleranceFor(battery, options)) {
        const rampMs =
          battery.maxRampWPerS !== undefined && battery.maxRampWPerS > 0
            ? (Math.abs(sp.powerW - fromW) / battery.maxRampWPerS) * 1_000
            : 0;
        next = [...kept, [nowMs, sp.powerW, nowMs + options.settleMs + rampMs] as Change].slice(-MAX_CHANGES);
      }
    }
    batteries[battery.assetId] = { ...track, changes: next };
  }
  return { ...memory, batteries };
}
