/**
 * A simulated site for the demand estimate (`lib/demand.ts`): the engine ticks on each grid reading (every 100 ms),
 * the battery is read once a poll period at its own moment, 50 ms before a grid reading; a set-point takes effect
 * after the write path's delay, through the arbiter's cap and ramp limit and the battery's own lag. Used by
 * `demand.closed-loop.spec.ts` and `tools/bench/demand-estimate.ts`.
 */
import { buildBattery, buildSiteState } from './testing';
import { combine } from './lib/combine';
import type { DemandMemory } from './lib/demand';
import type { StrategyConfigs, StrategyMemories } from './lib/registry';
import type { StrategyName } from '@voltimax/contracts';

const T0 = 1_700_000_000_000;
export const DEMAND_PLANT_TICK_MS = 100;
const READ_LEAD_MS = 50;
const SIM_MS = 50;

/** A site whose grid meter is read every 100 ms and its battery once a poll period (`driveDemandPlant`). */
export interface DemandPlant {
  /** The battery is read every `batteryPollMs`, `batteryPhaseMs` past the period's start. */
  readonly batteryPollMs: number;
  readonly batteryPhaseMs: number;
  /** From the tick that sends a set-point to its effect, ms. */
  readonly delayMs: number;
  /** The most the battery discharges whatever it is asked (an arbiter limit the strategies do not know), W. */
  readonly dischargeCapW: number;
  /** The building's load at each tick, W. */
  readonly loadW: (t: number) => number;
  /** The share of its set-point the battery delivers (default 1). */
  readonly trackFraction?: number;
  /** The grid connection's export limit (default 10 kW). */
  readonly maxExportW?: number;
  /** The battery's `responseMs` from the site config, if set. */
  readonly responseMs?: number;
  /**
   * The arbiter's ramp limit, W/s, also in the battery's state: |power| grows at most this fast, towards 0 at once
   * (the arbiter's `ramp-rate` rule, the battery written every 50 ms).
   */
  readonly rampWPerS?: number;
  /** A first-order lag of the battery towards what it was written, time constant in ms (default: none). */
  readonly lagMs?: number;
}

/** What a run of `driveDemandPlant` sent and measured. */
export interface DemandPlantRun {
  /** [t, battery set-point] of every tick. */
  readonly setpoints: readonly (readonly [number, number])[];
  readonly gridW: readonly (readonly [number, number])[];
  /** [t, the demand the strategies saw, the true demand] of every tick. */
  readonly demandW: readonly (readonly [number, number, number])[];
}

/**
 * Drives `combine` on the plant tick by tick (every 100 ms, for `durationMs`) with the strategy `active`; with
 * `withEstimate` false it passes no demand memory, so every tick counts the latest readings as they are.
 */
export function driveDemandPlant(
  plant: DemandPlant,
  active: StrategyName,
  configs: StrategyConfigs,
  durationMs: number,
  withEstimate = true,
): DemandPlantRun {
  let memories: StrategyMemories = {};
  let demand: DemandMemory = {};
  const commands: [number, number][] = [[0, 0]];
  const inEffect = (t: number): number => commands.filter(([at]) => at + plant.delayMs <= t).at(-1)?.[1] ?? 0;
  // The battery's power every SIM_MS from 0 (before: 0 W), simulated up to the latest instant asked.
  const history: number[] = [];
  let writtenW = 0;
  let powerW = 0;
  const batteryAt = (at: number): number => {
    const k = Math.floor(at / SIM_MS);
    while (history.length <= k) {
      const asked = Math.min(inEffect(history.length * SIM_MS), plant.dischargeCapW);
      const stepW = ((plant.rampWPerS ?? Number.POSITIVE_INFINITY) * SIM_MS) / 1_000;
      writtenW = Math.min(Math.max(asked, Math.min(0, writtenW - stepW)), Math.max(0, writtenW + stepW));
      powerW =
        plant.lagMs === undefined ? writtenW : powerW + (writtenW - powerW) * (1 - Math.exp(-SIM_MS / plant.lagMs));
      history.push(powerW);
    }
    return k < 0 ? 0 : Math.round((history[k] ?? 0) * (plant.trackFraction ?? 1));
  };
  // As if read one poll before the first tick's poll.
  let battery = { atMs: plant.batteryPhaseMs - plant.batteryPollMs - READ_LEAD_MS, powerW: 0 };
  const setpoints: [number, number][] = [];
  const gridW: [number, number][] = [];
  const demandW: [number, number, number][] = [];
  for (let t = 0; t <= durationMs; t += DEMAND_PLANT_TICK_MS) {
    const batteryW = batteryAt(t);
    // The battery is read 50 ms before the grid reading of its tick (readings of one instant would always pair).
    if (t % plant.batteryPollMs === plant.batteryPhaseMs)
      battery = { atMs: t - READ_LEAD_MS, powerW: batteryAt(t - READ_LEAD_MS) };
    const grid = plant.loadW(t) - batteryW;
    const state = buildSiteState({
      gridPowerW: grid,
      loadPowerW: plant.loadW(t),
      batteries: [
        buildBattery({
          powerW: battery.powerW,
          ageMs: t - battery.atMs,
          maxChargePowerW: 10_000,
          maxDischargePowerW: 10_000,
          ...(plant.responseMs === undefined ? {} : { responseMs: plant.responseMs }),
          ...(plant.rampWPerS === undefined ? {} : { maxRampWPerS: plant.rampWPerS }),
        }),
      ],
    });
    const result = combine(
      state,
      { nowMs: T0 + t },
      { active: [active], configs, memories, ...(withEstimate ? { demand } : {}) },
    );
    memories = result.memories;
    demand = result.demand.memory;
    const sp = result.setpoints['bat-1'];
    const w = sp?.kind === 'battery-power' ? sp.powerW : 0;
    commands.push([t, w]);
    setpoints.push([t, w]);
    gridW.push([t, grid]);
    demandW.push([t, result.demand.netDemandW, plant.loadW(t)]);
  }
  return { setpoints, gridW, demandW };
}

/** The mean |demand seen − true demand| from `fromMs` on, W. */
export const meanDemandError = (run: DemandPlantRun, fromMs: number): number => {
  const rows = run.demandW.filter(([t]) => t >= fromMs);
  return rows.reduce((sum, [, seen, truth]) => sum + Math.abs(seen - truth), 0) / rows.length;
};
/** The energy through the grid connection from `fromMs` on, in W·ticks. */
export const gridExchange = (run: DemandPlantRun, fromMs: number): number =>
  run.gridW.filter(([t]) => t >= fromMs).reduce((sum, [, w]) => sum + Math.abs(w), 0);
