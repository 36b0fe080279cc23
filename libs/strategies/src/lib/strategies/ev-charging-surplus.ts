import { batteryWindow, isBatteryStale } from '../battery';
import type { EvChargerState, SiteState } from '../site-state';

/** Recent readings of one meter, oldest first: [reading time (epoch ms), power (W)]. */
export type ReadingTrail = readonly (readonly [atMs: number, powerW: number])[];

/** The readings EVCharging's surplus was built from on earlier ticks (memory). */
export interface SurplusTrails {
  readonly grid: ReadingTrail;
  /** By charger asset id: measured charging power. */
  readonly chargers: Readonly<Record<string, ReadingTrail>>;
  /** By battery asset id: measured power, + = discharge. */
  readonly batteries: Readonly<Record<string, ReadingTrail>>;
  /**
   * By battery asset id, with battery priority behind a surplus follower: the charge it has shown it takes, W, and when
   * it last charged that much (or the value was last lowered), epoch ms.
   */
  readonly accepted?: Readonly<Record<string, readonly [atMs: number, chargeW: number]>>;
  /**
   * Since when the grid has exported (by more than EXPORT_TOLERANCE_W) at the instant of the surplus with the
   * batteries charging no more than then, epoch ms, and what they charged then, W.
   */
  readonly exportSince?: readonly [atMs: number, chargeW: number];
}

/** A charge a battery showed within this long stands for what it accepts. */
export const ACCEPTED_FOR_MS = 300_000;
/**
 * Export lasting this long while the batteries charge no more: they take no more than they do. Longer than
 * SelfConsumption's hold (10 s) and NetZero's lag behind a PV ramp, during which export is no proof.
 */
export const EXPORT_PROOF_MS = 30_000;
/** Export or charge differences below this are noise (above NetZero's default dead band). */
const EXPORT_TOLERANCE_W = 200;

/** PV surplus for the chargers, W, and the instant the readings it is built from stand for. */
export interface Surplus {
  /**
   * `−grid + EV (+ battery charging when the EV has priority) (− battery discharge unless allowed) (− the charge rate
   * the batteries do not use, when they have priority and follow the surplus)`, W.
   */
  readonly surplusW: number;
  /** The same from each meter's latest reading, W (differs while the meters' readings are of different ages). */
  readonly latestSurplusW: number;
  /** The instant the surplus stands for: the time of the oldest reading it uses, epoch ms. */
  readonly atMs: number;
  /** The charge rate left to the batteries (taken off the surplus), W; 0 unless they have priority and follow it. */
  readonly batteryRoomW: number;
  /**
   * The batteries' charge in their readings after the instant against the ones held there, while room is left to
   * them: `shortW` how much more they charge (the grid may already show it, the room does not: the surplus may be
   * short by it), `overW` how much less (it may be too high by it). For every charger, as riseAheadW / fallAheadW.
   */
  readonly roomAheadW: { readonly shortW: number; readonly overW: number };
  /**
   * By charger: how much more its next reading after the instant shows it drawing than the reading held there, W
   * (≥ 0). A car that rose after its held reading may already be in the grid's reading at the instant: the surplus
   * is then short by up to this much, so it must not make that charger fall.
   */
  readonly riseAheadW: Readonly<Record<string, number>>;
  /**
   * By charger: how much less its next reading after the instant shows it drawing than the reading held there, W
   * (≥ 0): a car that paused or fell may already be in the grid's reading at the instant, and the surplus then too
   * high by up to this much, so it must not make that charger start, rise or end a pending stop.
   */
  readonly fallAheadW: Readonly<Record<string, number>>;
  readonly trails: SurplusTrails;
}

export interface SurplusOptions {
  readonly surplusPriority: 'battery' | 'ev';
  readonly allowBatteryDischarge: boolean;
  readonly maxReadingAgeMs: number;
}

/** Longest trail kept per meter (≈ 6 s of grid readings at ten a second); older readings are dropped first. */
const MAX_TRAIL = 64;

/**
 * `previous` with the reading taken at `atMs`, without readings taken before `oldestMs` (they would be stale: a memory
 * restored after a restart does not mix minutes-old values in); a reading older than the last one starts over.
 */
function extend(previous: ReadingTrail | undefined, atMs: number, powerW: number, oldestMs: number): ReadingTrail {
  const reading = [atMs, powerW] as const;
  const kept = (previous ?? []).filter(([at]) => at >= oldestMs);
  const last = kept[kept.length - 1];
  if (last === undefined || atMs < last[0]) return [reading];
  if (atMs === last[0]) return [...kept.slice(0, -1), reading];
  return [...kept, reading].slice(-MAX_TRAIL);
}

/** Index of the reading that holds at `atMs`: the last one taken at or before it, else (trail starts later) the first. */
function indexAt(trail: ReadingTrail, atMs: number): number {
  for (let i = trail.length - 1; i >= 0; i--) if ((trail[i]?.[0] ?? Number.POSITIVE_INFINITY) <= atMs) return i;
  return 0;
}

interface Meter {
  readonly trail: ReadingTrail;
  readonly atMs: number;
  readonly latestW: number;
}

function meter(previous: ReadingTrail | undefined, nowMs: number, ageMs: number, powerW: number, maxReadingAgeMs: number): Meter {
  const atMs = nowMs - ageMs;
  return { trail: extend(previous, atMs, powerW, nowMs - maxReadingAgeMs), atMs, latestW: powerW };
}

/**
 * The PV surplus the chargers may use, from readings of one instant. The grid meter, the chargers and the batteries
 * are polled separately, so on a tick their readings are of different ages; summed as they are, a change one of them
 * already shows and another does not yet is counted twice. NetZero moving the battery against the car's draw is such
 * a change: on the tick after the car starts, the grid reading shows the battery charging less while the battery
 * reading does not yet, and the surplus grows by the car's own draw — the car is asked more, the battery charges
 * less again, and so on. So every meter's reading is kept for a few seconds (memory), and the surplus is evaluated at
 * the time of the oldest latest reading it needs, each meter at its reading held at that time (the last one taken at
 * or before it). It lags the newest reading by up to a poll; the grid limits do not (they use the latest grid reading).
 * Without earlier readings (first tick, a restart, readings older than maxReadingAgeMs) it falls back to each
 * meter's latest reading.
 */
export function alignedSurplus(
  state: SiteState,
  fresh: readonly EvChargerState[],
  options: SurplusOptions,
  nowMs: number,
  previous: SurplusTrails | undefined,
): Surplus {
  const maxAgeMs = options.maxReadingAgeMs;
  const grid = meter(previous?.grid, nowMs, state.gridAgeMs, state.gridPowerW, maxAgeMs);
  const chargers = new Map<string, Meter>();
  for (const c of fresh) chargers.set(c.assetId, meter(previous?.chargers[c.assetId], nowMs, c.ageMs, Math.max(0, c.powerW), maxAgeMs));
  // Battery priority behind a primary that charges the batteries with the surplus: while a car draws what the
  // batteries could still take, the primary sees no surplus to give them, so the car keeps it — battery priority
  // would hold at the start only. The charge rate they do not use is taken off the surplus instead. Not when the
  // batteries may discharge into the car: the car then comes first whatever the surplus.
  const leavesRoom = options.surplusPriority === 'battery' && !options.allowBatteryDischarge && state.batteriesFollowSurplus === true;
  const batteries = new Map<string, Meter & { readonly maxChargeW: number }>();
  let staleBatteryW = 0;
  for (const b of state.batteries) {
    if (!Number.isFinite(b.powerW)) continue;
    if (isBatteryStale(b, options.maxReadingAgeMs)) staleBatteryW += surplusOfBattery(b.powerW, options);
    else {
      const maxChargeW = leavesRoom ? batteryWindow(b).maxChargeW : 0;
      batteries.set(b.assetId, { ...meter(previous?.batteries[b.assetId], nowMs, b.ageMs, b.powerW, maxAgeMs), maxChargeW });
    }
  }

  const meters = [grid, ...chargers.values(), ...batteries.values()];
  const atMs = Math.min(...meters.map((m) => m.atMs));
  let surplusW = staleBatteryW;
  let latestSurplusW = staleBatteryW;
  const held = (m: Meter): { readonly valueW: number; readonly nextW: number | undefined; readonly trail: ReadingTrail } => {
    const index = indexAt(m.trail, atMs);
    const reading = m.trail[index];
    const next = m.trail[index + 1];
    // A rise ahead only from a reading held at the instant (a trail starting after it holds its first reading).
    const nextW = reading !== undefined && reading[0] <= atMs && next !== undefined && next[0] > atMs ? next[1] : undefined;
    return { valueW: reading?.[1] ?? m.latestW, nextW, trail: m.trail.slice(index) };
  };
  const gridAt = held(grid);
  surplusW -= gridAt.valueW;
  latestSurplusW -= grid.latestW;
  const chargerTrails: Record<string, ReadingTrail> = {};
  const riseAheadW: Record<string, number> = {};
  const fallAheadW: Record<string, number> = {};
  for (const [assetId, m] of chargers) {
    const at = held(m);
    surplusW += at.valueW;
    latestSurplusW += m.latestW;
    chargerTrails[assetId] = at.trail;
    const aheadW = (at.nextW ?? at.valueW) - at.valueW;
    riseAheadW[assetId] = Math.max(0, aheadW);
    fallAheadW[assetId] = Math.max(0, -aheadW);
  }
  const batteryTrails: Record<string, ReadingTrail> = {};
  // What each battery showed it takes outlives a tick it is left out of (a reading not good, a gap, a tick behind
  // another primary): forgetting it would switch battery priority off until the battery showed it again.
  const accepted: Record<string, readonly [number, number]> = {};
  for (const [assetId, shown] of Object.entries(previous?.accepted ?? {})) {
    if (Array.isArray(shown) && shown[0] <= nowMs && nowMs - shown[0] <= ACCEPTED_FOR_MS) accepted[assetId] = shown;
  }
  const counted = [...batteries].map(([assetId, m]) => ({ assetId, m, at: held(m) }));
  const chargingW = counted.reduce((sum, b) => sum + Math.max(0, -b.at.valueW), 0);
  // The export window: restarted when export stops, when the batteries charge more than when it began (they still
  // take more: the primary is ramping or holding), and after a gap in the ticks (a restart: what it did not see
  // proves nothing).
  const exporting = leavesRoom && -gridAt.valueW > EXPORT_TOLERANCE_W;
  // (A memory restored from an older or damaged store may lack the grid trail.)
  const lastTickMs = Array.isArray(previous?.grid) ? previous.grid[previous.grid.length - 1]?.[0] : undefined;
  const window = Array.isArray(previous?.exportSince) ? previous.exportSince : undefined;
  const continues =
    window !== undefined && window[0] <= nowMs && lastTickMs !== undefined && nowMs - lastTickMs <= options.maxReadingAgeMs;
  const exportSince: readonly [number, number] | undefined = !exporting
    ? undefined
    : continues && chargingW <= window[1] + EXPORT_TOLERANCE_W
      ? [window[0], Math.min(window[1], chargingW)]
      : [nowMs, chargingW];
  const exportProven = exportSince !== undefined && nowMs - exportSince[0] >= EXPORT_PROOF_MS;
  let batteryRoomW = 0;
  let shortW = 0;
  let overW = 0;
  for (const { assetId, m, at } of counted) {
    let roomW = 0;
    let latestRoomW = 0;
    if (leavesRoom) {
      const chargeW = Math.max(0, -at.valueW);
      // (A primary exporting on purpose — a target below −EXPORT_TOLERANCE_W — proves it all the time: battery
      // priority then holds at the start only.)
      const shown = acceptedCharge(accepted[assetId], chargeW, exportProven, nowMs);
      accepted[assetId] = shown;
      const takesW = Math.min(m.maxChargeW, shown[1]);
      roomW = Math.max(0, takesW - chargeW);
      latestRoomW = Math.max(0, takesW - Math.max(0, -m.latestW));
      if (roomW > 0 && at.nextW !== undefined) {
        const aheadW = Math.min(takesW, Math.max(0, -at.nextW)) - Math.min(takesW, chargeW);
        shortW += Math.max(0, aheadW);
        overW += Math.max(0, -aheadW);
      }
    }
    batteryRoomW += roomW;
    surplusW += surplusOfBattery(at.valueW, options) - roomW;
    latestSurplusW += surplusOfBattery(m.latestW, options) - latestRoomW;
    batteryTrails[assetId] = at.trail;
  }
  const trails: SurplusTrails = {
    grid: gridAt.trail,
    chargers: chargerTrails,
    batteries: batteryTrails,
    ...(Object.keys(accepted).length > 0 ? { accepted } : {}),
    ...(exportSince !== undefined ? { exportSince } : {}),
  };
  return { surplusW, latestSurplusW, atMs, batteryRoomW, roomAheadW: { shortW, overW }, riseAheadW, fallAheadW, trails };
}

/**
 * The charge a battery has shown it takes, [since, W]: the most it charged within ACCEPTED_FOR_MS (a charge at or
 * above it renews it), else what it charges now; what it charges now as soon as export has lasted EXPORT_PROOF_MS
 * (the primary would have charged it more if it took more). Not its nominal rate: a battery held by a manual
 * set-point, a temperature or current rule of the arbiter, or a BMS tapering near full takes less, and room left to
 * it would only be exported while the car waits. `previous` is one still within ACCEPTED_FOR_MS (alignedSurplus keeps
 * only those).
 */
function acceptedCharge(
  previous: readonly [number, number] | undefined,
  chargeW: number,
  exportProven: boolean,
  nowMs: number,
): readonly [number, number] {
  if (previous === undefined || exportProven) return [nowMs, chargeW];
  return chargeW >= previous[1] - EXPORT_TOLERANCE_W ? [nowMs, Math.max(previous[1], chargeW)] : previous;
}

/**
 * The site's demand without the chargers, `grid + Σ battery − Σ charger` (= load − PV), W, from the readings the
 * trails of this tick's `alignedSurplus` start with: each meter's reading held at the one instant the surplus stands
 * for. A meter without a trail (a stale battery, a charger left out, no trails at all) counts with its latest reading.
 * The latest readings alone double-count a change one meter already shows and another does not yet: a battery
 * reading newer than the grid's adds the battery's new discharge to the demand once more, and the EV guard would let
 * exactly that discharge go on into the car.
 */
export function alignedNonEvDemandW(state: SiteState, trails: SurplusTrails | undefined): number {
  const heldW = (trail: ReadingTrail | undefined, latestW: number): number => trail?.[0]?.[1] ?? latestW;
  let demandW = heldW(trails?.grid, state.gridPowerW);
  for (const b of state.batteries) if (Number.isFinite(b.powerW)) demandW += heldW(trails?.batteries[b.assetId], b.powerW);
  for (const c of state.evChargers) if (Number.isFinite(c.powerW)) demandW -= heldW(trails?.chargers[c.assetId], Math.max(0, c.powerW));
  return demandW;
}

/**
 * What a battery adds to the surplus: its charging when the EV has priority, minus its discharge — always: battery
 * energy is not PV surplus. `allowBatteryDischarge` lifts the battery guard (the battery may cover the car in fast,
 * min+solar, a deadline, a stop delay); counted as surplus it kept a car in solar mode charging from the battery all
 * night behind NetZero (a review: 3.8 kWh in an hour, SoC 80 → 59.5 %, reason `solar` throughout).
 */
function surplusOfBattery(powerW: number, options: SurplusOptions): number {
  if (powerW < 0) return options.surplusPriority === 'ev' ? -powerW : 0;
  return -powerW;
}
