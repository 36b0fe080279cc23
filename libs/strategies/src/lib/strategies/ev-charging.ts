import { z } from 'zod';
import { TimeOfDaySchema, type Setpoint } from '@voltimax/contracts';
import { truncateToStep } from '../arithmetic';
import { ReadingAgeConfigShape, batteryPower, evDrawW, isChargerStale, isGridStale, netDemandW, totalEvPowerW } from '../battery';
import { nextLocalTimeMs } from '../local-time';
import type { StrategyReason } from '../reasons';
import type { EvChargerState, SiteState } from '../site-state';
import { alignedNonEvDemandW, alignedSurplus, type ReadingTrail, type SurplusTrails } from './ev-charging-surplus';
import { finiteValues, type Clock, type Strategy, type StrategyResult, type StrategySetpoints } from '../strategy';

export const EvModeSchema = z.enum(['solar', 'min+solar', 'fast', 'scheduled']);
export type EvMode = z.infer<typeof EvModeSchema>;

export const EvChargingConfigSchema = z.strictObject({
  /**
   * 'solar': PV surplus only (start/stop with hysteresis); 'min+solar': at least the minimum current, more with
   * surplus; 'fast': the largest current the charger and the grid allow; 'scheduled': meet the session's energy
   * target by its departure time, using surplus until the latest start.
   */
  mode: EvModeSchema.default('solar'),
  /** Per-charger mode, by asset id; overrides `mode`. */
  modeByCharger: z.record(z.string(), EvModeSchema).default({}),
  /**
   * Scheduled mode: a recurring departure per charger (asset id) in the site's local time — the energy the car needs by
   * `at` ('HH:MM') on `days` (0 = Sunday; every day when absent), for each session. A session's own departure and
   * energy target, when the charger or a command sets them, win.
   */
  departures: z
    .record(
      z.string(),
      z.strictObject({
        at: TimeOfDaySchema,
        energyWh: z.number().positive().max(1_000_000),
        days: z.array(z.number().int().min(0).max(6)).min(1).max(7).optional(),
      }),
    )
    .default({}),
  /** Solar start: surplus ≥ minimum charging power + startMarginW for startDelayMs, W. */
  startMarginW: z.number().min(0).default(200),
  /** Solar stop: surplus < minimum charging power − stopMarginW for stopDelayMs, W. */
  stopMarginW: z.number().min(0).default(300),
  startDelayMs: z.number().int().min(0).default(60_000),
  stopDelayMs: z.number().int().min(0).default(120_000),
  /** Who gets PV surplus first: the home battery (EV takes what is exported) or the EV (takes battery charging too). */
  surplusPriority: z.enum(['battery', 'ev']).default('battery'),
  /** Let the home battery discharge into the car. Default false: battery discharge is capped at the non-EV demand. */
  allowBatteryDischarge: z.boolean().default(false),
  /** Switch 1 ↔ 3 phases (chargers with canSwitchPhases) to follow the surplus. */
  allowPhaseSwitching: z.boolean().default(true),
  /** Shortest time between two phase switches of one charger, ms (cars dislike frequent switching). */
  phaseSwitchMinIntervalMs: z.number().int().min(0).default(300_000),
  /**
   * While a car charges, the surplus must ask for the other phase count this long before a switch, ms (a car not yet
   * charging switches at once). Before, one tick of a passing cloud switched three phases to one, then locked them
   * for `phaseSwitchMinIntervalMs` while the sun was back (a review: 268 Wh exported that the car would have taken).
   */
  phaseSwitchDelayMs: z.number().int().min(0).default(30_000),
  /** Current resolution of the chargers, A; currents are rounded down to it. */
  currentStepA: z.number().positive().max(1).default(1),
  /** Scheduled: plan for this much more energy than asked, %, so a slow taper does not miss the departure. */
  scheduleMarginPct: z.number().min(0).max(100).default(10),
  /**
   * Rise limit of the surplus modes ('solar', 'min+solar', 'scheduled' before its latest start), A per second (per
   * phase, by clock time: the tick rate does not matter). The current offered follows a falling target at once and a
   * rising one at most this fast; starting at the minimum current is allowed at once. The surplus comes from meters
   * polled separately; even taken at one instant (`alignedSurplus`) it can be off by what changed within a poll while
   * the car's draw and the battery move: limited, such an error moves the car by at most a step before it is gone.
   * 1 A/s = 690 W/s on three phases at 230 V, under NetZero's default rate limit (2 000 W/s), so NetZero keeps up.
   * 'fast' (and the scheduled deadline, departure passed) is not limited: its target is the charger's maximum within
   * the grid limits, not a surplus estimate, and a car starting on it is a load step like any other.
   */
  maxRiseAPerS: z.number().positive().default(1),
  /**
   * After the current offered falls (surplus modes), it does not rise again for this long, ms. With NetZero on the
   * home battery a car that rises on every transient export — NetZero lagging a step behind — overshoots the surplus,
   * falls on the import that follows, and the two controllers cycle (seen in the whole-gateway day: 8–10 A every 7 s,
   * the grid ±300 W). Held, the surplus the fall leaves goes to the home battery until the grid has settled.
   */
  riseHoldMs: z.number().int().min(0).default(10_000),
  /**
   * A pending stop (solar) is dropped only once its condition has been false this long (at most half the stop delay),
   * ms — not on the first tick it is: the engine ticks up to ten times a second, and a surplus hovering below the stop threshold with
   * a moment above it every minute or two (a kettle switching off, a gap in the clouds) restarted the stop delay each
   * time, so the car never stopped and drew its minimum from the grid (a review: 1.55 kWh imported in 30 min).
   */
  pendingClearMs: z.number().int().min(0).default(10_000),
  ...ReadingAgeConfigShape,
}).superRefine((config, ctx) => {
  // A departure for a charger that does not run scheduled would be ignored: say so instead.
  for (const assetId of Object.keys(config.departures)) {
    const mode = config.modeByCharger[assetId] ?? config.mode;
    if (mode !== 'scheduled') {
      ctx.addIssue({
        code: 'custom',
        path: ['departures', assetId],
        message: `charger ${assetId} runs in mode '${mode}'; a departure applies in mode 'scheduled' (set mode or modeByCharger)`,
      });
    }
  }
});
export type EvChargingConfig = z.infer<typeof EvChargingConfigSchema>;

export interface EvChargerMemory {
  /** Solar hysteresis: the charger is in its charging state. */
  readonly charging: boolean;
  /** Since when the start (or stop) condition holds, epoch ms. */
  readonly pendingSinceMs: number | null;
  /** Since when the pending condition has been false, epoch ms (`pendingClearMs`). */
  readonly clearingSinceMs?: number;
  /** The other phase count the surplus has asked for since `phasesWantedSinceMs` (`phaseSwitchDelayMs`). */
  readonly phasesWanted?: 1 | 3;
  readonly phasesWantedSinceMs?: number;
  /** Phases last requested, or null. */
  readonly requestedPhases: 1 | 3 | null;
  readonly lastPhaseSwitchAtMs: number | null;
  /**
   * Rise limit: the current offered at the last decision, A per phase at `offeredPhases`; while the limit holds the
   * offer below its target, the unrounded ramp level instead (so rises smaller than a current step per tick add up).
   * Absent (first decision, a memory written before the limit existed): the limit starts from the charger's readings.
   */
  readonly offeredA?: number;
  /** When `offeredA` was decided, epoch ms. A memory older than `maxReadingAgeMs` is not used. */
  readonly offeredAtMs?: number;
  /** Phases `offeredA` refers to; after a phase switch the level is converted at equal power. */
  readonly offeredPhases?: 1 | 3;
  /** When the offer last fell below the level before it, epoch ms (rise hold, `riseHoldMs`). */
  readonly fellAtMs?: number;
  /**
   * Scheduled mode: the departure (epoch ms) whose latest start was reached. From then on the car charges at full
   * current until the energy target, whatever the latest start recomputed from the energy still wanted says.
   */
  readonly deadlineFor?: number;
  /** When the car last stopped only to leave the batteries their charge (battery priority), epoch ms. */
  readonly yieldedAtMs?: number;
  /** Since when the car, offered at least its minimum, has drawn next to nothing, epoch ms (`ev-not-drawing`). */
  readonly idleSinceMs?: number;
  /** When the offer last rose, epoch ms: the battery guard counts a car still rising to it (`RAISE_WINDOW_MS`). */
  readonly raisedAtMs?: number;
  /** The site's demand without the answering chargers at the last tick this one answered, W (`staleHouseW`). */
  readonly houseW?: number;
  /**
   * While the charger's readings are stale: what it was last allowed to draw before they stopped, W (the offer ×
   * its phases × the nominal voltage). The 0 A sent since may not reach it; the battery guard counts it (`staleEvDrawW`).
   */
  readonly staleDrawW?: number;
  /**
   * The site's demand without the chargers when the charger's readings stopped (`houseW` of its last answering tick),
   * W: the guard counts the car at most at
   * what the grid shows beyond it (a car that finished or left during the outage then counts 0 W; before, it was
   * counted at its offer for as long as the charger stayed silent, and the battery covered nothing of the house).
   */
  readonly staleHouseW?: number;
}

/** When the offer rises, epoch ms (now), else the last rise kept from `mem`. */
function raisedAtMsOf(mem: EvChargerMemory, levelA: number, phases: 1 | 3, nowMs: number): number | undefined {
  const beforeW = Math.max(0, mem.offeredA ?? 0) * (mem.offeredPhases ?? phases);
  return levelA * phases > beforeW + 1e-9 ? nowMs : mem.raisedAtMs;
}

/**
 * For this long after its offer rose, the battery guard counts a charger whose reading is older than the grid's at
 * the offer: the car may be drawing more already, the grid reading shows it and the charger's does not yet (a car
 * going from 6 to 16 A read as 4.1 kW while the grid showed 11 kW: 7.9 kW of "house" the battery could discharge into).
 */
export const RAISE_WINDOW_MS = 30_000;

/** After a stop that only left the batteries their charge, this long a start waits YIELD_START_DELAY_MS at most. */
export const YIELD_RESTART_WINDOW_MS = 900_000;
/** The start delay then: the batteries take what they can, so export is surplus beyond them, not a passing gust. */
export const YIELD_START_DELAY_MS = 10_000;

export interface EvChargingMemory {
  readonly chargers: Readonly<Record<string, EvChargerMemory>>;
  /** The last few seconds of the readings the surplus is built from (see `alignedSurplus`). */
  readonly readings?: SurplusTrails;
  /** Each charger's power readings of the last `GUARD_EV_WINDOW_MS` (the battery guard; see `guardBattery`). */
  readonly guardEv?: Readonly<Record<string, ReadingTrail>>;
}

/**
 * How long the battery guard remembers each charger's power, ms. A meter whose reading lags the charger's (the grid
 * meter still showing the car's earlier, higher draw after its current was lowered) would make that draw look like
 * house load; the guard counts each charger at the highest power it read in this window.
 */
export const GUARD_EV_WINDOW_MS = 5_000;

const FRESH_CHARGER: EvChargerMemory = { charging: false, pendingSinceMs: null, requestedPhases: null, lastPhaseSwitchAtMs: null };

/**
 * A charger's memory through a tick it is paused on stale data (its own reading, or the grid's): the session's state —
 * charging, its phases and when they last switched, the scheduled deadline, the rise hold — outlives it, only the
 * offer is now 0 A (the rise limit starts from there). Before, one stale reading wiped it: the next fresh tick
 * switched phases 7 s after a switch (under a 300 s minimum) and waited a whole start delay again.
 */
function pausedOnStaleData(
  mem: EvChargerMemory | undefined,
  nowMs: number,
  outage: { readonly phases: 1 | 3; readonly voltageV: number; readonly demandW: number } | undefined,
): EvChargerMemory | undefined {
  if (mem === undefined) return undefined;
  const paused: EvChargerMemory = { ...mem, pendingSinceMs: null, offeredA: 0, offeredAtMs: nowMs };
  // Only the charger's own outage (not a stale grid with the charger answering) starts the draw it is counted at.
  if (outage === undefined) return paused;
  const staleDrawW = mem.staleDrawW ?? Math.max(0, mem.offeredA ?? 0) * (mem.offeredPhases ?? outage.phases) * outage.voltageV;
  // The rest of the site's demand: what the grid shows beyond it later is the most the car can be drawing. From the
  // last tick the charger answered (a charger that stops the car when it loses its network would leave the first
  // stale tick's demand without the car, and the bound at 0 W of house), else from this tick's demand.
  const fromDemand = Number.isFinite(outage.demandW) ? Math.max(0, outage.demandW - staleDrawW) : undefined;
  const staleHouseW = mem.staleHouseW ?? (mem.houseW !== undefined && Number.isFinite(mem.houseW) ? Math.max(0, mem.houseW) : fromDemand);
  return { ...paused, staleDrawW, ...(staleHouseW === undefined ? {} : { staleHouseW }) };
}

/**
 * Every connected charger's memory through a stale tick (a charger without a car starts afresh). A charger whose own
 * reading is stale keeps it too: whether its car is still plugged in is not known (the engine reports it unplugged),
 * and the battery guard counts on that memory (`staleEvDrawW`).
 */
function keptOnStaleData(
  state: SiteState,
  memory: EvChargingMemory,
  nowMs: number,
  maxReadingAgeMs: number,
): Record<string, EvChargerMemory> {
  const kept: Record<string, EvChargerMemory> = {};
  for (const charger of state.evChargers) {
    const unknown = isChargerStale(charger, maxReadingAgeMs);
    // A charger answering keeps its memory as it is; one stale too starts its outage (the grid being stale, the
    // site's demand is not known: the bound by it starts at the first tick with a fresh grid reading).
    const outage = unknown ? { phases: charger.phases, voltageV: state.limits.nominalVoltageV, demandW: Number.NaN } : undefined;
    const mem = charger.connected || unknown ? pausedOnStaleData(memory.chargers[charger.assetId], nowMs, outage) : undefined;
    if (mem !== undefined) kept[charger.assetId] = mem;
  }
  return kept;
}

interface Pool {
  /** PV surplus still unallocated, W. */
  surplusW: number;
  /** Import still allowed by the grid connection, W. */
  importHeadroomW: number;
  /** Current still allowed on the most loaded phase, A (Infinity when unknown). */
  phaseHeadroomA: number;
}

interface ChargerDecision {
  readonly currentA: number;
  /** What the surplus and the limits allow before the rise limit, A; what the charger reserves from the pool. */
  readonly targetA: number;
  readonly phases: 1 | 3;
  readonly reason: StrategyReason;
  readonly memory: EvChargerMemory;
  readonly latestStartMs?: number;
  readonly requiredA?: number;
  /** Scheduled: the departure planned for (the session's, else the configured recurring one), epoch ms. */
  readonly departureAtMs?: number;
}

function chargerDecision(
  charger: EvChargerState,
  mode: EvMode,
  pool: Pool,
  state: SiteState,
  config: EvChargingConfig,
  mem: EvChargerMemory,
  nowMs: number,
  ahead: { readonly riseW: number; readonly fallW: number } = { riseW: 0, fallW: 0 },
  batteryRoomW = 0,
): ChargerDecision {
  const voltageV = state.limits.nominalVoltageV;
  // The surplus may be short by a rise, or too high by a fall, of this car that the grid already shows and its own
  // reading not yet (`Surplus.riseAheadW`, `fallAheadW`). Falls, stops and a switch down to one phase need it short
  // even counting the rise; starts, rises, a switch up and the end of a pending stop need it enough even without
  // the fall (a car pausing on its own made the surplus jump by its draw, and a pending stop started over).
  const fallSurplusW = pool.surplusW + ahead.riseW;
  const riseSurplusW = pool.surplusW - ahead.fallW;
  const canSwitch = charger.canSwitchPhases === true && config.allowPhaseSwitching;
  let phases: 1 | 3 = canSwitch ? (mem.requestedPhases ?? charger.phases) : charger.phases;
  let lastPhaseSwitchAtMs = mem.lastPhaseSwitchAtMs;
  let phasesWanted: { readonly phases: 1 | 3; readonly sinceMs: number } | undefined;
  const minPowerW = (p: number): number => charger.minCurrentA * p * voltageV;

  // Scheduled: the latest start and the current that meets the target by departure (the session's own, else the
  // charger's recurring departure from the configuration).
  const session = charger.session;
  const planned = config.departures[charger.assetId];
  const departureAtMs =
    session?.departureAtMs ??
    (planned === undefined ? undefined : nextLocalTimeMs(nowMs, state.timezone, planned.at, planned.days));
  const wantedWh = session?.energyWantedWh ?? planned?.energyWh;
  let effectiveMode: EvMode = mode;
  let scheduleReason: StrategyReason | undefined;
  let latestStartMs: number | undefined;
  let requiredA: number | undefined;
  let deadlineFor: number | undefined;
  let yieldedAtMs = mem.yieldedAtMs;
  if (mode === 'scheduled') {
    if (departureAtMs === undefined || wantedWh === undefined) {
      effectiveMode = 'solar';
      scheduleReason = 'no-departure-fallback-solar';
    } else {
      const stillWantedWh = Math.max(0, wantedWh - (session?.energyDeliveredWh ?? 0));
      const remainingWh = stillWantedWh * (1 + config.scheduleMarginPct / 100);
      const hoursLeft = (departureAtMs - nowMs) / 3_600_000;
      const schedulePhases: 1 | 3 = canSwitch ? 3 : charger.phases;
      // What this charger can take now: its maximum within the import and fuse headroom left to it (a busy house
      // or another car leaves less, and the latest start moves earlier).
      const maxPowerW = Math.max(
        0,
        Math.min(
          charger.maxCurrentA * schedulePhases * voltageV,
          pool.importHeadroomW,
          pool.phaseHeadroomA * schedulePhases * voltageV,
        ),
      );
      if (remainingWh <= 0) {
        const memory = { ...mem, charging: false, pendingSinceMs: null, offeredA: 0, offeredAtMs: nowMs, offeredPhases: phases };
        return { currentA: 0, targetA: 0, phases, reason: 'energy-target-reached', memory };
      }
      if (hoursLeft <= 0) {
        effectiveMode = 'fast';
        scheduleReason = 'departure-passed';
      } else {
        // No headroom at all this moment: the latest start from the charger's own maximum (the reason then says
        // whether the target is at risk), not the departure itself (which never latched the deadline).
        const planW = maxPowerW > 0 ? maxPowerW : charger.maxCurrentA * schedulePhases * voltageV;
        latestStartMs = planW > 0 ? departureAtMs - (remainingWh / planW) * 3_600_000 : departureAtMs;
        requiredA = remainingWh / hoursLeft / (schedulePhases * voltageV);
        // Latched: charging at full current makes the energy still wanted, and so the latest start recomputed from
        // it, move later than now again — without the latch the car flipped between full current and the surplus.
        if (nowMs >= latestStartMs || mem.deadlineFor === departureAtMs) {
          effectiveMode = 'fast';
          // Even at the most it can take now the energy wanted does not fit before the departure: say so.
          scheduleReason = stillWantedWh / hoursLeft > maxPowerW ? 'departure-unreachable' : 'scheduled-deadline';
          deadlineFor = departureAtMs;
        } else {
          effectiveMode = 'solar';
        }
      }
    }
  }

  // Phase switching follows the surplus (solar modes) or goes to 3 phases (fast).
  if (canSwitch) {
    const isSwitchAllowed = lastPhaseSwitchAtMs === null || nowMs - lastPhaseSwitchAtMs >= config.phaseSwitchMinIntervalMs;
    let desired: 1 | 3 = phases;
    if (effectiveMode === 'fast') desired = 3;
    else if (riseSurplusW >= minPowerW(3) + config.startMarginW) desired = 3;
    else if (fallSurplusW < minPowerW(3) - config.stopMarginW) desired = 1;
    if (desired !== phases) {
      phasesWanted =
        mem.phasesWanted === desired && mem.phasesWantedSinceMs !== undefined && mem.phasesWantedSinceMs <= nowMs
          ? { phases: desired, sinceMs: mem.phasesWantedSinceMs }
          : { phases: desired, sinceMs: nowMs };
      // (At most half the stop delay: a short stop delay would otherwise stop a car a switch down would have kept.)
      const delayMs = Math.min(config.phaseSwitchDelayMs, config.stopDelayMs / 2);
      const held = effectiveMode === 'fast' || !mem.charging || nowMs - phasesWanted.sinceMs >= delayMs;
      if (isSwitchAllowed && held) {
        phases = desired;
        lastPhaseSwitchAtMs = nowMs;
        phasesWanted = undefined;
      }
    }
  }
  const wPerA = phases * voltageV;
  const surplusA = riseSurplusW / wPerA;

  let wantedA: number;
  let reason: StrategyReason;
  let charging = mem.charging;
  let pendingSinceMs = mem.pendingSinceMs;
  let clearingSinceMs: number | undefined;
  /**
   * The pending condition is false this tick: drop it once that has lasted `pendingClearMs`, at most half the delay
   * (with a 5 s stop delay, two dips 6 s apart would otherwise stop the car).
   */
  const clearPending = (delayMs: number): void => {
    if (pendingSinceMs === null) return;
    clearingSinceMs = mem.clearingSinceMs !== undefined && mem.clearingSinceMs <= nowMs ? mem.clearingSinceMs : nowMs;
    if (nowMs - clearingSinceMs >= Math.min(config.pendingClearMs, delayMs / 2)) {
      pendingSinceMs = null;
      clearingSinceMs = undefined;
    }
  };
  if (effectiveMode === 'fast') {
    wantedA = charger.maxCurrentA;
    reason = scheduleReason ?? 'fast';
    charging = true;
    pendingSinceMs = null;
  } else if (effectiveMode === 'min+solar') {
    wantedA = Math.max(charger.minCurrentA, surplusA);
    reason = 'min-plus-solar';
    charging = true;
    pendingSinceMs = null;
  } else if (!charging) {
    if (riseSurplusW >= minPowerW(phases) + config.startMarginW) {
      pendingSinceMs = pendingSinceMs ?? nowMs;
      const yielded = yieldedAtMs !== undefined && yieldedAtMs <= nowMs && nowMs - yieldedAtMs <= YIELD_RESTART_WINDOW_MS;
      const startDelayMs = yielded ? Math.min(config.startDelayMs, YIELD_START_DELAY_MS) : config.startDelayMs;
      if (nowMs - pendingSinceMs >= startDelayMs) {
        charging = true;
        pendingSinceMs = null;
      }
    } else {
      // A start needs the surplus to hold through its delay: reset at once (a grace here let a moment of sun every
      // few seconds count as a surplus held, and a car started on 1.5 kW).
      pendingSinceMs = null;
    }
    wantedA = charging ? Math.max(charger.minCurrentA, surplusA) : 0;
    reason = charging ? 'solar' : pendingSinceMs !== null ? 'solar-waiting' : 'solar-insufficient';
  } else if (fallSurplusW < minPowerW(phases) - config.stopMarginW) {
    pendingSinceMs = pendingSinceMs ?? nowMs;
    if (nowMs - pendingSinceMs >= config.stopDelayMs) {
      charging = false;
      pendingSinceMs = null;
      wantedA = 0;
      // Stopped only for the batteries' charge (the surplus with it would have kept the car): a quick restart later.
      if (fallSurplusW + batteryRoomW >= minPowerW(phases) - config.stopMarginW) yieldedAtMs = nowMs;
      reason = 'solar-insufficient';
    } else {
      wantedA = charger.minCurrentA;
      reason = 'solar-stopping';
    }
  } else {
    // A pending stop the rise ahead alone covers is postponed, its timer kept (a car that pauses and resumes on its
    // own would otherwise restart it at every resume and never stop).
    const stopping = pendingSinceMs !== null && riseSurplusW < minPowerW(phases) - config.stopMarginW;
    if (!stopping) clearPending(config.stopDelayMs);
    // Within pendingClearMs of a surplus that would end the pending stop: still stopping, at the minimum current.
    wantedA = pendingSinceMs !== null && !stopping ? charger.minCurrentA : Math.max(charger.minCurrentA, surplusA);
    reason = pendingSinceMs !== null ? 'solar-stopping' : 'solar';
  }
  if (mode === 'scheduled' && effectiveMode === 'solar' && scheduleReason === undefined) {
    reason = wantedA > 0 ? 'scheduled-solar' : 'scheduled-waiting';
  } else if (scheduleReason === 'no-departure-fallback-solar') {
    reason = scheduleReason;
  }

  if (ahead.riseW > 0 && charging && effectiveMode !== 'fast' && Number.isFinite(charger.powerW)) {
    // Not below what the car draws now (after that rise) while the surplus counting the rise still covers it; never
    // above it either (the surplus counting a rise the grid does not show yet would be its own draw counted twice).
    wantedA = Math.max(wantedA, Math.min(Math.max(0, charger.powerW) / wPerA, fallSurplusW / wPerA));
  }

  // Limits: the charger, the grid import limit, the most loaded phase. Below the minimum current: pause.
  const capA = Math.min(charger.maxCurrentA, pool.importHeadroomW / wPerA, pool.phaseHeadroomA);
  let currentA = truncateToStep(Math.max(0, Math.min(wantedA, capA)), config.currentStepA);
  if (currentA < charger.minCurrentA) {
    if (wantedA >= charger.minCurrentA) reason = 'grid-limit-pause';
    currentA = 0;
  }

  // Rise limit (surplus modes): a lower target is taken at once, a higher one at most maxRiseAPerS from the last
  // level; the minimum current (the start) is always allowed.
  const targetA = currentA;
  let levelA = targetA;
  let fellAtMs = mem.fellAtMs !== undefined && mem.fellAtMs <= nowMs ? mem.fellAtMs : undefined;
  if (effectiveMode !== 'fast' && targetA > 0) {
    const { baseA, elapsedS } = riseBase(charger, phases, config, mem, nowMs, voltageV);
    const isHeld = fellAtMs !== undefined && nowMs - fellAtMs < config.riseHoldMs;
    const ceilingA = Math.max(charger.minCurrentA, isHeld ? baseA : baseA + config.maxRiseAPerS * elapsedS);
    if (targetA > ceilingA) {
      const startA = ceilToStep(charger.minCurrentA, config.currentStepA);
      currentA = Math.min(targetA, Math.max(startA, truncateToStep(ceilingA, config.currentStepA)));
      levelA = Math.max(ceilingA, currentA);
    }
    // A fall from a level it was charging at starts the hold (a start from 0 is no fall).
    if (baseA > 0 && currentA < truncateToStep(baseA, config.currentStepA) - 1e-9) fellAtMs = nowMs;
  }
  const raisedAtMs = raisedAtMsOf(mem, levelA, phases, nowMs);
  return {
    currentA,
    targetA,
    phases,
    reason,
    memory: {
      charging,
      pendingSinceMs,
      ...(clearingSinceMs !== undefined ? { clearingSinceMs } : {}),
      ...(phasesWanted !== undefined ? { phasesWanted: phasesWanted.phases, phasesWantedSinceMs: phasesWanted.sinceMs } : {}),
      requestedPhases: canSwitch ? phases : null,
      lastPhaseSwitchAtMs,
      offeredA: levelA,
      offeredAtMs: nowMs,
      offeredPhases: phases,
      ...(raisedAtMs === undefined ? {} : { raisedAtMs }),
      ...(fellAtMs !== undefined ? { fellAtMs } : {}),
      ...(deadlineFor !== undefined ? { deadlineFor } : {}),
      ...(yieldedAtMs !== undefined ? { yieldedAtMs } : {}),
    },
    ...(latestStartMs !== undefined ? { latestStartMs } : {}),
    ...(requiredA !== undefined ? { requiredA } : {}),
    ...(mode === 'scheduled' && departureAtMs !== undefined ? { departureAtMs } : {}),
  };
}

/** A car offered at least its minimum that draws under this share of its minimum power does not take the offer. */
export const NOT_DRAWING_FRACTION = 0.25;
/** ... for this long, ms: then it is full or paused by the car (`ev-not-drawing`). */
export const NOT_DRAWING_MS = 60_000;

/**
 * A car that has not drawn what it was offered for NOT_DRAWING_MS (full, or paused by the car): offered only its
 * minimum current (so it can resume), and marked idle so the pool reserves only that of the headroom and nothing of
 * the surplus beyond what it draws. Before, a full car kept its whole share: with two cars on 8.5 kW of sun the
 * first, full, sat on 12 A and the second got nothing.
 */
function notDrawing(
  charger: EvChargerState,
  mem: EvChargerMemory,
  decided: ChargerDecision,
  nowMs: number,
  voltageV: number,
  stepA: number,
): { readonly decision: ChargerDecision; readonly isIdle: boolean } {
  const minA = ceilToStep(charger.minCurrentA, stepA);
  const wasOffered = (mem.offeredA ?? 0) >= charger.minCurrentA - 1e-9 && decided.currentA >= minA;
  const isLow = Math.max(0, charger.powerW) < NOT_DRAWING_FRACTION * charger.minCurrentA * charger.phases * voltageV;
  if (!wasOffered || !isLow) {
    const { idleSinceMs: _, ...memory } = decided.memory;
    return { decision: { ...decided, memory }, isIdle: false };
  }
  const idleSinceMs = mem.idleSinceMs !== undefined && mem.idleSinceMs <= nowMs ? mem.idleSinceMs : nowMs;
  if (nowMs - idleSinceMs < NOT_DRAWING_MS) {
    return { decision: { ...decided, memory: { ...decided.memory, idleSinceMs } }, isIdle: false };
  }
  return {
    decision: {
      ...decided,
      currentA: minA,
      targetA: minA,
      reason: 'ev-not-drawing',
      memory: { ...decided.memory, idleSinceMs, offeredA: minA },
    },
    isIdle: true,
  };
}

/** `value` rounded up to a multiple of `step` (a hair of floating-point noise does not add a step). */
function ceilToStep(value: number, step: number): number {
  return Math.max(0, Math.ceil(value / step - 1e-9) * step);
}

/**
 * Where the rise limit starts: the level of the last decision, converted to the phases now at equal power, with the
 * time since. Without a usable memory (the first decision, a restarted engine, a memory older than maxReadingAgeMs or
 * from a later time) it starts from what the charger does now — the current the car draws, rounded up to the step,
 * at most the limit the charger offers when it reports one — with no time elapsed: neither from 0 (the car would be
 * cut back to the minimum) nor from the maximum (the car would jump to the target).
 */
function riseBase(
  charger: EvChargerState,
  phases: 1 | 3,
  config: EvChargingConfig,
  mem: EvChargerMemory,
  nowMs: number,
  voltageV: number,
): { readonly baseA: number; readonly elapsedS: number } {
  const { offeredA, offeredAtMs, offeredPhases } = mem;
  const sinceMs = offeredAtMs === undefined ? Number.NaN : nowMs - offeredAtMs;
  if (offeredA !== undefined && Number.isFinite(offeredA) && sinceMs >= 0 && sinceMs <= config.maxReadingAgeMs) {
    return { baseA: (Math.max(0, offeredA) * (offeredPhases ?? phases)) / phases, elapsedS: sinceMs / 1_000 };
  }
  const drawW = evDrawW(charger);
  const drawA = voltageV > 0 ? ceilToStep(drawW / (phases * voltageV), config.currentStepA) : 0;
  const offeredLimitA = charger.currentLimitA > 0 ? (charger.currentLimitA * charger.phases) / phases : Number.POSITIVE_INFINITY;
  return { baseA: Math.min(drawA, offeredLimitA), elapsedS: 0 };
}

/** The pool before the first charger: the surplus of one instant (`alignedSurplus`), the grid limits from the latest readings. */
function initialPool(state: SiteState, surplusW: number, fresh: readonly EvChargerState[]): Pool {
  const voltageV = state.limits.nominalVoltageV;
  const evW = totalEvPowerW(fresh);
  const importHeadroomW = Math.max(0, state.limits.maxImportW - state.gridPowerW + evW - (state.plannedExtraImportW ?? 0));
  let phaseHeadroomA = Number.POSITIVE_INFINITY;
  const phasePowers = state.gridPhasePowersW ?? [];
  if (state.limits.maxPhaseCurrentA !== undefined && phasePowers.length > 0 && voltageV > 0) {
    const worstPhaseA = Math.max(...phasePowers.map((w) => Math.max(0, w) / voltageV));
    const evA = fresh.reduce((s, c) => s + Math.max(0, c.powerW) / (c.phases * voltageV), 0);
    // The batteries' planned extra import, spread over the site's phases (a three-phase inverter's charge).
    const plannedA = (state.plannedExtraImportW ?? 0) / (Math.max(1, state.limits.phases) * voltageV);
    phaseHeadroomA = Math.max(0, state.limits.maxPhaseCurrentA - worstPhaseA + evA - plannedA);
  }
  return { surplusW, importHeadroomW, phaseHeadroomA };
}

function evSetpoint(currentA: number, phases: 1 | 3, canSwitch: boolean): Setpoint {
  return canSwitch ? { kind: 'ev-current', currentA, phases } : { kind: 'ev-current', currentA };
}

/**
 * EVCharging: sets the current of every connected charger by its mode, in charger order (the first charger gets
 * surplus and grid headroom first). Below the minimum current a charger pauses (0 A). As a layer it caps the home
 * battery's discharge at the non-EV demand while a car charges (unless allowBatteryDischarge).
 */
export const evChargingStrategy: Strategy<EvChargingConfig, EvChargingMemory> = {
  name: 'ev-charging',
  role: 'ev',
  configSchema: EvChargingConfigSchema,
  initialMemory: () => ({ chargers: {} }),
  decide(state, config, clock, memory): StrategyResult<EvChargingMemory> {
    const inputs = finiteValues({ gridPowerW: state.gridPowerW, evPowerW: totalEvPowerW(state.evChargers), pvPowerW: state.pvPowerW });
    if (state.evChargers.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-charger' }, memory };
    }
    const setpoints: Record<string, Setpoint> = {};
    if (isGridStale(state, config.maxReadingAgeMs)) {
      for (const c of state.evChargers) setpoints[c.assetId] = { kind: 'ev-current', currentA: 0 };
      return {
        setpoints,
        metrics: { inputs, outputs: { totalCurrentA: 0 }, terms: {}, reason: 'stale-data' },
        memory: {
          chargers: keptOnStaleData(state, memory, clock.nowMs, config.maxReadingAgeMs),
          // What the batteries showed they take outlives a stale grid (alignedSurplus drops it when too old).
          ...(memory.readings?.accepted
            ? { readings: { grid: [], chargers: {}, batteries: {}, accepted: memory.readings.accepted } }
            : {}),
          ...(memory.guardEv === undefined ? {} : { guardEv: memory.guardEv }),
        },
      };
    }
    const fresh = state.evChargers.filter((c) => !isChargerStale(c, config.maxReadingAgeMs));
    // The site's demand without the answering chargers now: an outage's bound starts from it (`staleHouseW`).
    const nonEvNowW = Math.round(netDemandW(state) - totalEvPowerW(fresh));
    const surplus = alignedSurplus(state, fresh, config, clock.nowMs, memory.readings);
    const pool = initialPool(state, surplus.surplusW, fresh);
    const startPool = { ...pool };
    const chargers: Record<string, EvChargerMemory> = {};
    const outputs: Record<string, number> = {};
    const terms: Record<string, number> = {};
    let overall: StrategyReason | undefined;
    let firstReason: StrategyReason | undefined;
    const assetReasons: Record<string, StrategyReason> = {};
    let totalCurrentA = 0;
    let totalPowerW = 0;

    state.evChargers.forEach((charger, index) => {
      let reason: StrategyReason;
      if (isChargerStale(charger, config.maxReadingAgeMs)) {
        setpoints[charger.assetId] = { kind: 'ev-current', currentA: 0 };
        const kept = pausedOnStaleData(memory.chargers[charger.assetId], clock.nowMs, {
          phases: charger.phases,
          voltageV: state.limits.nominalVoltageV,
          demandW: netDemandW(state),
        });
        if (kept !== undefined) chargers[charger.assetId] = kept;
        reason = 'stale-data';
      } else if (!charger.connected) {
        setpoints[charger.assetId] = { kind: 'ev-current', currentA: 0 };
        reason = 'not-connected';
      } else {
        const mode = config.modeByCharger[charger.assetId] ?? config.mode;
        const mem = memory.chargers[charger.assetId] ?? FRESH_CHARGER;
        const ahead = {
          riseW: (surplus.riseAheadW[charger.assetId] ?? 0) + surplus.roomAheadW.shortW,
          fallW: (surplus.fallAheadW[charger.assetId] ?? 0) + surplus.roomAheadW.overW,
        };
        const decided = chargerDecision(charger, mode, pool, state, config, mem, clock.nowMs, ahead, surplus.batteryRoomW);
        const idle = notDrawing(charger, mem, decided, clock.nowMs, state.limits.nominalVoltageV, config.currentStepA);
        const d = idle.decision;
        const canSwitch = charger.canSwitchPhases === true && config.allowPhaseSwitching;
        setpoints[charger.assetId] = evSetpoint(d.currentA, d.phases, canSwitch);
        // Read again: what it was allowed before an outage no longer counts.
        const { staleDrawW: _answering, staleHouseW: _house, ...answering } = d.memory;
        chargers[charger.assetId] = { ...answering, houseW: nonEvNowW };
        // The pool gives up the target, not the offer: a charger still rising to its share keeps it, so the next
        // charger does not take it now and have to hand it back step by step. A car that does not draw gives the
        // surplus what it does not take, and keeps only its minimum of the import and fuse headroom (what it takes
        // at once if it resumes).
        const reservedW = d.targetA * d.phases * state.limits.nominalVoltageV;
        pool.surplusW -= idle.isIdle ? Math.max(0, charger.powerW) : reservedW;
        pool.importHeadroomW = Math.max(0, pool.importHeadroomW - reservedW);
        pool.phaseHeadroomA = Math.max(0, pool.phaseHeadroomA - d.targetA);
        const drawW = d.currentA * d.phases * state.limits.nominalVoltageV;
        totalCurrentA += d.currentA;
        totalPowerW += drawW;
        if (index < 8) {
          outputs[`ev${index}CurrentA`] = d.currentA;
          outputs[`ev${index}Phases`] = d.phases;
          terms[`ev${index}TargetA`] = d.targetA;
          if (d.latestStartMs !== undefined) terms[`ev${index}LatestStartMs`] = Math.round(d.latestStartMs);
          if (d.departureAtMs !== undefined) terms[`ev${index}DepartureAtMs`] = d.departureAtMs;
          if (d.requiredA !== undefined) terms[`ev${index}RequiredA`] = Math.round(d.requiredA * 100) / 100;
        }
        reason = d.reason;
        overall = overall ?? reason;
      }
      firstReason = firstReason ?? reason;
      assetReasons[charger.assetId] = reason;
    });

    return {
      setpoints,
      metrics: {
        inputs,
        outputs: { ...outputs, totalCurrentA, totalPowerW },
        terms: finiteValues({
          ...terms,
          surplusW: startPool.surplusW,
          latestSurplusW: surplus.latestSurplusW,
          surplusAgeMs: clock.nowMs - surplus.atMs,
          batteryRoomW: surplus.batteryRoomW,
          importHeadroomW: startPool.importHeadroomW,
          phaseHeadroomA: startPool.phaseHeadroomA,
        }),
        reason: overall ?? firstReason ?? 'not-connected',
        assetReasons,
      },
      memory: { chargers, readings: surplus.trails, ...(memory.guardEv === undefined ? {} : { guardEv: memory.guardEv }) },
    };
  },
  constrain(proposal, state, config, clock, memory) {
    return guardBattery(proposal, state, config, clock, memory);
  },
};

/**
 * Each charger's readings of the last GUARD_EV_WINDOW_MS with this tick's one, and the one still standing at the
 * window's start (a charger polled every 5 s or slower would otherwise have no earlier reading in it) while younger
 * than `maxReadingAgeMs`. Only a running maximum is kept (a reading a later one equals or exceeds adds nothing), so a
 * trail stays a few entries long however often the charger is read.
 */
function recentEvTrails(
  previous: Readonly<Record<string, ReadingTrail>> | undefined,
  state: SiteState,
  nowMs: number,
  maxReadingAgeMs: number,
): Record<string, ReadingTrail> {
  const trails: Record<string, ReadingTrail> = {};
  const windowStartMs = nowMs - GUARD_EV_WINDOW_MS;
  for (const c of state.evChargers) {
    const kept = (previous?.[c.assetId] ?? []).filter(([at]) => at <= nowMs && at >= nowMs - maxReadingAgeMs);
    const standing = kept.filter(([at]) => at < windowStartMs).at(-1);
    const entries = [...(standing === undefined ? [] : [standing]), ...kept.filter(([at]) => at >= windowStartMs)];
    if (Number.isFinite(c.powerW) && Number.isFinite(c.ageMs)) {
      const atMs = nowMs - Math.max(0, c.ageMs);
      const reading = [atMs, Math.max(0, c.powerW)] as const;
      const index = entries.findIndex(([t]) => t >= atMs);
      if (index < 0) entries.push(reading);
      else if (entries[index]?.[0] === atMs) entries[index] = reading;
      else entries.splice(index, 0, reading);
    }
    // newest first: keep an entry only if it is higher than every newer one
    const maxima: (readonly [number, number])[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i];
      if (entry !== undefined && maxima.every(([, w]) => entry[1] > w)) maxima.unshift(entry);
    }
    if (maxima.length > 0) trails[c.assetId] = maxima;
  }
  return trails;
}

/**
 * What the chargers whose readings are stale may be drawing, W. A charger that had a car plugged in when it was last
 * read (it still has a session memory: `pausedOnStaleData`) is counted at the most it was allowed: the current limit
 * it last reported on its phases, or what it was offered before its readings stopped (`staleDrawW`: a driver's error
 * reading carries no limit) — the 0 A sent to it may not arrive while it does not answer, and the car goes on drawing
 * what the charger last allowed. The engine reports such a charger at 0 W, unplugged; counting it so would let the home battery cover
 * the car through the outage (the grid meter still shows the car's draw, which then looks like house load).
 */
export function staleEvDrawW(state: SiteState, memory: EvChargingMemory, maxReadingAgeMs: number): Record<string, number> {
  const draws: Record<string, number> = {};
  for (const c of state.evChargers) {
    const mem = memory.chargers[c.assetId];
    if (!isChargerStale(c, maxReadingAgeMs) || mem === undefined) continue;
    const limitA = Math.min(Number.isFinite(c.currentLimitA) ? Math.max(0, c.currentLimitA) : c.maxCurrentA, c.maxCurrentA);
    const allowedW = Math.max(limitA * c.phases * state.limits.nominalVoltageV, mem.staleDrawW ?? 0);
    // No more than the grid shows beyond the rest of the site's demand when the outage began.
    const shownW = mem.staleHouseW === undefined ? Number.POSITIVE_INFINITY : Math.max(0, netDemandW(state) - mem.staleHouseW);
    draws[c.assetId] = Math.max(evDrawW(c), Math.min(allowedW, shownW));
  }
  return draws;
}

/**
 * Chargers whose offer rose within `RAISE_WINDOW_MS` and whose reading is older than the grid's, at the offer, W
 * (never below their reading): the car may already draw it, the grid shows it and the charger's reading not yet.
 */
export function risingEvDrawW(state: SiteState, memory: EvChargingMemory, nowMs: number, maxReadingAgeMs: number): Record<string, number> {
  const draws: Record<string, number> = {};
  for (const c of state.evChargers) {
    const mem = memory.chargers[c.assetId];
    if (mem?.raisedAtMs === undefined || isChargerStale(c, maxReadingAgeMs) || !(c.ageMs > state.gridAgeMs)) continue;
    if (nowMs - mem.raisedAtMs > RAISE_WINDOW_MS) continue;
    // The car may rise to the offer, or to the limit the charger reported applying (an offer raised before).
    const limitA = Number.isFinite(c.currentLimitA) ? Math.min(Math.max(0, c.currentLimitA), c.maxCurrentA) : 0;
    const offerW = Math.max(
      Math.max(0, mem.offeredA ?? 0) * (mem.offeredPhases ?? c.phases),
      limitA * c.phases,
    ) * state.limits.nominalVoltageV;
    if (offerW > evDrawW(c)) draws[c.assetId] = offerW;
  }
  return draws;
}

/**
 * The EV layer: while a car charges, the home battery discharges at most the non-EV demand (load − PV). A charger
 * whose reading is stale counts at what it may be drawing (`staleEvDrawW`), and one still rising to a raised offer at
 * that offer while its reading is older than the grid's (`risingEvDrawW`).
 */
function guardBattery(
  proposal: StrategySetpoints,
  state: SiteState,
  config: EvChargingConfig,
  clock: Clock,
  previous: EvChargingMemory,
): StrategyResult<EvChargingMemory> {
  const guardEv = recentEvTrails(previous.guardEv, state, clock.nowMs, config.maxReadingAgeMs);
  const memory: EvChargingMemory = { ...previous, guardEv };
  const stale = staleEvDrawW(state, previous, config.maxReadingAgeMs);
  const rising = risingEvDrawW(state, previous, clock.nowMs, config.maxReadingAgeMs);
  const staleDraws = { ...rising, ...stale };
  const extraOf = (draws: Readonly<Record<string, number>>): number => {
    let extraW = 0;
    for (const c of state.evChargers) {
      const assumedW = draws[c.assetId];
      if (assumedW !== undefined) extraW += assumedW - evDrawW(c);
    }
    return extraW;
  };
  const staleExtraW = extraOf(stale);
  const risingExtraW = extraOf(rising);
  const evW = totalEvPowerW(state.evChargers) + staleExtraW + risingExtraW;
  // The smallest of the demand from the latest readings, from the readings of one instant (the surplus's), and with
  // each charger at the highest power it read in the last GUARD_EV_WINDOW_MS: a meter whose reading is newer than
  // another's must not make room for a discharge that is not there.
  const latestNonEvW = netDemandW(state) - evW;
  const alignedNonEvW = alignedNonEvDemandW(state, previous.readings);
  let recentEvW = 0;
  for (const c of state.evChargers) {
    const trailW = Math.max(0, ...(guardEv[c.assetId] ?? []).map(([, w]) => w));
    recentEvW += Math.max(trailW, staleDraws[c.assetId] ?? 0);
  }
  const windowNonEvW = netDemandW(state) - Math.max(evW, recentEvW);
  // The one-instant demand corrects a battery reading newer than the grid's (it would count the battery's new
  // discharge as demand). With the grid reading the newer one it errs the other way — the grid already shows a
  // discharge the battery's held reading does not — and it is not used: taken then too, the guard alternated between
  // covering the house and 0 W every few seconds while a car charged (a live run: 1.79 kW, 35 W, 1.79 kW, …).
  const batteryNewer = state.batteries.some((b) => Number.isFinite(b.powerW) && b.ageMs < state.gridAgeMs);
  const capW = Math.max(0, Math.min(latestNonEvW, batteryNewer ? alignedNonEvW : Number.POSITIVE_INFINITY, windowNonEvW));
  let dischargeW = 0;
  for (const sp of Object.values(proposal)) if (sp.kind === 'battery-power' && sp.powerW > 0) dischargeW += sp.powerW;
  const inputs = {
    evPowerW: evW,
    nonEvDemandW: latestNonEvW,
    alignedNonEvDemandW: alignedNonEvW,
    recentEvPowerW: recentEvW,
    ...(Object.keys(stale).length > 0 ? { staleEvAssumedW: staleExtraW } : {}),
    ...(Object.keys(rising).length > 0 ? { risingEvAssumedW: risingExtraW } : {}),
  };
  const pass = (reason: StrategyReason): StrategyResult<EvChargingMemory> => ({
    setpoints: proposal,
    metrics: { inputs, outputs: { batteryDischargeW: dischargeW }, terms: { capW }, reason },
    memory,
  });
  if (config.allowBatteryDischarge || evW <= 0 || isGridStale(state, config.maxReadingAgeMs) || dischargeW <= capW) {
    return pass('ev-battery-ok');
  }
  const scale = capW / dischargeW;
  const setpoints: Record<string, Setpoint> = { ...proposal };
  const stepOf = (assetId: string): number => state.batteries.find((b) => b.assetId === assetId)?.powerStepW ?? 1;
  for (const [assetId, sp] of Object.entries(proposal)) {
    if (sp.kind === 'battery-power' && sp.powerW > 0) setpoints[assetId] = batteryPower(truncateToStep(sp.powerW * scale, stepOf(assetId)));
  }
  return {
    setpoints,
    metrics: { inputs, outputs: { batteryDischargeW: capW }, terms: { capW, requestedDischargeW: dischargeW }, reason: 'battery-guard' },
    memory,
  };
}
