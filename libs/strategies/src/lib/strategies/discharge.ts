import { z } from 'zod';
import {
  ReadingAgeConfigShape,
  dischargeFloorSocPct,
  reasonForSent,
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

export const DischargeConfigSchema = z.strictObject({
  /** Discharge down to this SoC, %; each battery stops at max(targetSocPct, minSocPct, reserveSocPct). */
  targetSocPct: z.number().min(0).max(100).optional(),
  /** Cap on the total discharge power, W; default: the batteries' max discharge power. */
  maxPowerW: z.number().positive().optional(),
  /** When false, discharge only covers the site's own demand (no export). */
  allowExport: z.boolean().default(true),
  ...ReadingAgeConfigShape,
});
export type DischargeConfig = z.infer<typeof DischargeConfigSchema>;
export type DischargeMemory = Readonly<Record<string, never>>;

/** Discharge: every battery to its floor SoC at the largest rate the battery and grid export limit allow. */
export const dischargeStrategy: Strategy<DischargeConfig, DischargeMemory> = {
  name: 'discharge',
  role: 'primary',
  configSchema: DischargeConfigSchema,
  initialMemory: () => ({}),
  decide(state, config, _clock, memory): StrategyResult<DischargeMemory> {
    const demandW = netDemandW(state);
    const inputs = { gridPowerW: state.gridPowerW, socPct: fleetSocPct(state.batteries), netDemandW: demandW };
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const fresh = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(fresh)) {
      return {
        setpoints: holdAllBatteries(state.batteries),
        metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'stale-data' },
        memory,
      };
    }
    const usable = (b: BatteryState): boolean => fresh(b) && b.socPct > dischargeFloorSocPct(b, config.targetSocPct);
    const fleet = fleetWindow(state.batteries, usable);
    const exportCapW = config.allowExport ? Number.POSITIVE_INFINITY : Math.max(0, demandW);
    const wantedW = Math.min(fleet.maxDischargeW, config.maxPowerW ?? Number.POSITIVE_INFINITY, exportCapW);
    const limited = limitFleetW(wantedW, state, usable);
    const { setpoints, powerW } = settleFleet(limited.powerW, state.batteries, usable);
    // Stopped by the target above a battery's floor: say so (it said battery-empty at 50 %).
    const atTarget = state.batteries.some((b) => fresh(b) && b.socPct > dischargeFloorSocPct(b) && !usable(b));
    const reason: StrategyReason =
      fleet.maxDischargeW === 0
        ? atTarget
          ? 'discharge-target-reached'
          : 'battery-empty'
        : limited.limitedBy === 'grid'
          ? 'grid-export-limit'
          : wantedW < fleet.maxDischargeW && !config.allowExport && wantedW === exportCapW
            ? 'no-export'
            : 'discharging';
    return {
      setpoints,
      metrics: { inputs, outputs: { batteryPowerW: powerW }, terms: { wantedW, fleetMaxDischargeW: fleet.maxDischargeW }, reason: reasonForSent(reason, powerW) },
      memory,
    };
  },
};
