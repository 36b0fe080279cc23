/**
 * A simulated site for the demand estimate (`lib/demand.ts`): the engine ticks on each grid reading (every 100 ms),
 * the battery is read once a poll period at its own moment, 50 ms before a grid reading; a set-point takes effect
 * after the write path's delay, through the arbiter's cap and ramp limit and the battery's own lag. Used by
 * `demand.closed-loop.spec.ts` and `tools/bench/demand-estimate.ts`.
 */
import { buildBattery, buildSiteState } from './testing';
import { batteryPower } from './lib/battery';
import { combine } from './lib/combine';
import { estimateDemand, recordBatterySetpoints, type DemandMemory } from './lib/demand';
import type { BatteryState } from './lib/site-state';
import type { StrategyConfigs, StrategyMemories } from './lib/registry';
import type { StrategyName } from '@voltimax/contracts';

const T0 = 1_700_000_000_000;
/** The engine's tick (a grid reading), ms. */
export const DEMAND_PLANT_TICK_MS = 100;
const READ_LEAD_MS = 50;
const SIM_MS = 50;

/** A battery of the plant: how it is read and how it answers its set-points. */
export interface DemandPlantBattery {
  /** The battery is read every `batteryPollMs`, `batteryPhaseMs` past the period's start. */
  readonly batteryPollMs: number;
  readonly batteryPhaseMs: number;
  /** From the tick that sends a set-point to its effect, ms. */
  readonly delayMs: number;
  /** The most the battery discharges whatever it is asked (an arbiter limit the strategies do not know), W. */
  readonly dischargeCapW: number;
  /** A cap that changes with time (a BMS derate coming and going), W; `dischargeCapW` still applies. */
  readonly dischargeCapAt?: (t: number) => number;
  /** The share of its set-point the battery delivers (default 1). */
  readonly trackFraction?: number;
  /** The battery's `responseMs` from the site config, if set. */
  readonly responseMs?: number;
  /**
   * The arbiter's ramp limit, W/s, also in the battery's state: |power| grows at most this fast, towards 0 at once
   * (the arbiter's `ramp-rate` rule, the battery written every 50 ms).
   */
  readonly rampWPerS?: number;
  /** A first-order lag of the battery towards what it was written, time constant in ms (default: none). */
  readonly lagMs?: number;
  /** Meter noise on the battery's readings, up to ± this, W (deterministic; default none). */
  readonly readingNoiseW?: number;
}

/** A site whose grid meter is read every 100 ms and its batteries once a poll period each (`driveDemandPlant`). */
export interface DemandPlant extends DemandPlantBattery {
  /** The building's load at each tick, W. */
  readonly loadW: (t: number) => number;
  /** The grid connection's export limit (default 10 kW). */
  readonly maxExportW?: number;
  /** Several batteries (`bat-1`, `bat-2`, …): each the plant's battery with these changes. Default: one. */
  readonly batteries?: readonly Partial<DemandPlantBattery>[];
}

/**
 * Instead of a strategy, a controller that sets the batteries' total from the demand it sees and the total it sent
 * last, W (shared out equally): for a follower no strategy is, such as one limited to a step a tick.
 */
export type DemandPlantController = (demandW: number, lastSentW: number) => number;

/** What a run of `driveDemandPlant` sent and measured. */
export interface DemandPlantRun {
  /** [t, the batteries' total set-point] of every tick. */
  readonly setpoints: readonly (readonly [number, number])[];
  readonly gridW: readonly (readonly [number, number])[];
  /** [t, the demand the strategies saw, the true demand] of every tick. */
  readonly demandW: readonly (readonly [number, number, number])[];
  /** [t, 'paired' | 'held' | 'latest'] of every tick. */
  readonly sources: readonly (readonly [number, string])[];
}

/** One simulated battery: its commands, its power every SIM_MS from 0 (before: 0 W), its latest reading. */
class SimulatedBattery {
  private readonly commands: [number, number][] = [[0, 0]];
  private readonly history: number[] = [];
  private writtenW = 0;
  private powerW = 0;
  reading: { atMs: number; powerW: number };

  constructor(readonly params: DemandPlantBattery) {
    // As if read one poll before the first tick's poll.
    this.reading = { atMs: params.batteryPhaseMs - params.batteryPollMs - READ_LEAD_MS, powerW: 0 };
  }

  command(t: number, powerW: number): void {
    this.commands.push([t, powerW]);
  }

  private inEffect(t: number): number {
    for (let i = this.commands.length - 1; i >= 0; i--) {
      const command = this.commands[i];
      if (command !== undefined && command[0] + this.params.delayMs <= t) return command[1];
    }
    return 0;
  }

  /** The battery's power at `at`, W (as its meter would read it). */
  powerAt(at: number): number {
    const k = Math.floor(at / SIM_MS);
    const { rampWPerS, lagMs, dischargeCapW } = this.params;
    while (this.history.length <= k) {
      const at = this.history.length * SIM_MS;
      const asked = Math.min(this.inEffect(at), dischargeCapW, this.params.dischargeCapAt?.(at) ?? dischargeCapW);
      const stepW = ((rampWPerS ?? Number.POSITIVE_INFINITY) * SIM_MS) / 1_000;
      this.writtenW = Math.min(Math.max(asked, Math.min(0, this.writtenW - stepW)), Math.max(0, this.writtenW + stepW));
      this.powerW =
        lagMs === undefined
          ? this.writtenW
          : this.powerW + (this.writtenW - this.powerW) * (1 - Math.exp(-SIM_MS / lagMs));
      this.history.push(this.powerW);
    }
    return k < 0 ? 0 : Math.round((this.history[k] ?? 0) * (this.params.trackFraction ?? 1));
  }

  /** Reads the battery if its poll is due at tick `t`: 50 ms before the grid reading (one instant would always pair). */
  poll(t: number): void {
    const { batteryPollMs, batteryPhaseMs, readingNoiseW } = this.params;
    if (t % batteryPollMs !== batteryPhaseMs) return;
    // A fixed pseudo-random sequence in ±readingNoiseW: the same noise on every run.
    const noiseW = Math.round((readingNoiseW ?? 0) * Math.sin(t * 12.9898 + batteryPhaseMs * 78.233) * 0.999);
    this.reading = { atMs: t - READ_LEAD_MS, powerW: this.powerAt(t - READ_LEAD_MS) + noiseW };
  }

  state(assetId: string, t: number): BatteryState {
    const { responseMs, rampWPerS } = this.params;
    return buildBattery({
      assetId,
      powerW: this.reading.powerW,
      ageMs: t - this.reading.atMs,
      maxChargePowerW: 10_000,
      maxDischargePowerW: 10_000,
      ...(responseMs === undefined ? {} : { responseMs }),
      ...(rampWPerS === undefined ? {} : { maxRampWPerS: rampWPerS }),
    });
  }
}

/**
 * Drives the plant tick by tick (every 100 ms, for `durationMs`): `combine` with the strategy `active`, or a
 * `controller` with the estimate alone. With `withEstimate` false no demand memory is kept, so every tick counts the
 * latest readings as they are.
 */
export function driveDemandPlant(
  plant: DemandPlant,
  active: StrategyName | DemandPlantController,
  configs: StrategyConfigs,
  durationMs: number,
  withEstimate = true,
): DemandPlantRun {
  let memories: StrategyMemories = {};
  let demand: DemandMemory = {};
  let lastSentW = 0;
  const { loadW, maxExportW, batteries: variants, ...common } = plant;
  const batteries = (variants ?? [{}]).map((v, i) => ({
    id: `bat-${i + 1}`,
    sim: new SimulatedBattery({ ...common, ...v }),
  }));
  const setpoints: [number, number][] = [];
  const gridW: [number, number][] = [];
  const demandW: [number, number, number][] = [];
  const sources: [number, string][] = [];
  for (let t = 0; t <= durationMs; t += DEMAND_PLANT_TICK_MS) {
    let batteryW = 0;
    for (const b of batteries) {
      batteryW += b.sim.powerAt(t);
      b.sim.poll(t);
    }
    const grid = loadW(t) - batteryW;
    const state = buildSiteState({
      gridPowerW: grid,
      loadPowerW: loadW(t),
      ...(maxExportW === undefined ? {} : { limits: { ...buildSiteState().limits, maxExportW } }),
      batteries: batteries.map((b) => b.sim.state(b.id, t)),
    });
    let sent: Record<string, number>;
    let seenW: number;
    let source: string;
    if (typeof active === 'function') {
      const estimate = estimateDemand(state, T0 + t, withEstimate ? demand : {});
      const totalW = active(estimate.netDemandW, lastSentW);
      sent = Object.fromEntries(batteries.map((b) => [b.id, Math.round(totalW / batteries.length)]));
      demand = recordBatterySetpoints(
        estimate.memory,
        state,
        Object.fromEntries(Object.entries(sent).map(([id, w]) => [id, batteryPower(w)])),
        T0 + t,
      );
      seenW = estimate.netDemandW;
      source = estimate.source;
    } else {
      const result = combine(
        state,
        { nowMs: T0 + t },
        { active: [active], configs, memories, ...(withEstimate ? { demand } : {}) },
      );
      memories = result.memories;
      demand = result.demand.memory;
      sent = Object.fromEntries(
        batteries.map((b) => {
          const sp = result.setpoints[b.id];
          return [b.id, sp?.kind === 'battery-power' ? sp.powerW : 0];
        }),
      );
      seenW = result.demand.netDemandW;
      source = result.demand.source;
    }
    let totalW = 0;
    for (const b of batteries) {
      const w = sent[b.id] ?? 0;
      b.sim.command(t, w);
      totalW += w;
    }
    lastSentW = totalW;
    setpoints.push([t, totalW]);
    gridW.push([t, grid]);
    demandW.push([t, seenW, loadW(t)]);
    sources.push([t, source]);
  }
  return { setpoints, gridW, demandW, sources };
}

/** The longest run of ticks without a paired demand from `fromMs` on, ms. */
export const longestHoldMs = (run: DemandPlantRun, fromMs: number): number => {
  let longest = 0;
  let run0: number | undefined;
  for (const [t, source] of run.sources) {
    if (t < fromMs) continue;
    if (source === 'paired') run0 = undefined;
    else {
      run0 ??= t;
      longest = Math.max(longest, t - run0 + DEMAND_PLANT_TICK_MS);
    }
  }
  return longest;
};

/** The mean |demand seen − true demand| from `fromMs` on, W. */
export const meanDemandError = (run: DemandPlantRun, fromMs: number): number => {
  const rows = run.demandW.filter(([t]) => t >= fromMs);
  return rows.reduce((sum, [, seen, truth]) => sum + Math.abs(seen - truth), 0) / rows.length;
};
/** The energy through the grid connection from `fromMs` on, in W·ticks. */
export const gridExchange = (run: DemandPlantRun, fromMs: number): number =>
  run.gridW.filter(([t]) => t >= fromMs).reduce((sum, [, w]) => sum + Math.abs(w), 0);
