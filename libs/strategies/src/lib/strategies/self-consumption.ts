import { z } from 'zod';
import { clamp } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  settleFleet,
  fleetSocPct,
  fleetWindow,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  limitFleetW,
  netDemandW,
} from '../battery';
import type { StrategyReason } from '../reasons';
import type { BatteryState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';

export const SelfConsumptionConfigSchema = z.strictObject({
  /** Grid power to aim for, W, + = import. The battery still never charges from nor discharges into the grid. */
  targetGridW: z.number().finite().default(0),
  /** A new target closer than this to the last one is ignored, W. */
  deadbandW: z.number().min(0).default(50),
  /** A new setpoint is held at least this long before changing again, ms (SoC and grid limits still apply). */
  minHoldMs: z.number().int().min(0).default(10_000),
  ...ReadingAgeConfigShape,
});
export type SelfConsumptionConfig = z.infer<typeof SelfConsumptionConfigSchema>;

export interface SelfConsumptionMemory {
  /** The total battery power last decided, W (+ = discharge), before each battery's setpoint step (the hold compares against it). */
  readonly lastTargetW: number;
  /** When it last chose a change, epoch ms; null before the first decision and after stale data (free to change). */
  readonly lastChangeMs: number | null;
}

/**
 * SelfConsumption: store PV surplus, cover the site's demand from the battery. The battery power stays inside
 * [min(0, demand), max(0, demand)] (demand = load + EV − PV): no charging from the grid, no discharging into export.
 */
export const selfConsumptionStrategy: Strategy<SelfConsumptionConfig, SelfConsumptionMemory> = {
  name: 'self-consumption',
  role: 'primary',
  followsSurplus: true,
  configSchema: SelfConsumptionConfigSchema,
  initialMemory: () => ({ lastTargetW: 0, lastChangeMs: null }),
  decide(state, config, clock, memory): StrategyResult<SelfConsumptionMemory> {
    const demandW = netDemandW(state);
    const inputs = { gridPowerW: state.gridPowerW, netDemandW: demandW, socPct: fleetSocPct(state.batteries) };
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const usable = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(usable)) {
      return {
        setpoints: holdAllBatteries(state.batteries),
        metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'stale-data' },
        // A forced 0 W: it starts no hold, so the battery covers the house again on the first good data.
        memory: { lastTargetW: 0, lastChangeMs: null },
      };
    }
    // The feasible set this tick: SoC window, power limits, grid limits, and the no-grid rule.
    const lowW = Math.min(0, demandW);
    const highW = Math.max(0, demandW);
    const within = (w: number): number => limitFleetW(clamp(w, lowW, highW), state, usable).powerW;

    const wantedW = demandW - config.targetGridW;
    const targetW = within(wantedW);
    const heldW = within(memory.lastTargetW);
    const isSmallChange = Math.abs(targetW - memory.lastTargetW) < config.deadbandW;
    const isHolding = memory.lastChangeMs !== null && clock.nowMs - memory.lastChangeMs < config.minHoldMs;
    const keep = memory.lastChangeMs !== null && (isSmallChange || isHolding);
    const outW = keep ? heldW : targetW;

    const fleet = fleetWindow(state.batteries, usable);
    let reason: StrategyReason;
    if (keep && heldW === memory.lastTargetW) reason = isSmallChange ? 'deadband' : 'min-hold';
    else if (outW === 0 && wantedW > 0 && fleet.maxDischargeW === 0) reason = 'battery-empty';
    else if (outW === 0 && wantedW < 0 && fleet.maxChargeW === 0) reason = 'battery-full';
    else if (keep) reason = 'hold-limited';
    else reason = 'self-consumption';

    const changed = outW !== memory.lastTargetW;
    const sent = settleFleet(outW, state.batteries, usable);
    return {
      setpoints: sent.setpoints,
      metrics: {
        inputs,
        outputs: { batteryPowerW: sent.powerW },
        terms: { wantedW, targetW, heldW, lowW, highW },
        reason,
      },
      memory: {
        lastTargetW: outW,
        // A forced change (limits) does not restart the hold; a chosen change does.
        lastChangeMs: changed && !keep ? clock.nowMs : (memory.lastChangeMs ?? clock.nowMs),
      },
    };
  },
};
