import { z } from 'zod';
import {
  ReadingAgeConfigShape,
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

export const ChargeConfigSchema = z.strictObject({
  /** Charge up to this SoC, %; each battery stops at min(targetSocPct, its maxSocPct). Default: its maxSocPct. */
  targetSocPct: z.number().min(0).max(100).optional(),
  /** Cap on the total charge power, W; default: the batteries' max charge power. */
  maxPowerW: z.number().positive().optional(),
  ...ReadingAgeConfigShape,
});
export type ChargeConfig = z.infer<typeof ChargeConfigSchema>;
export type ChargeMemory = Readonly<Record<string, never>>;

/** Charge: every battery to its max SoC (or the target) at the largest rate the battery and grid import limit allow. */
export const chargeStrategy: Strategy<ChargeConfig, ChargeMemory> = {
  name: 'charge',
  role: 'primary',
  configSchema: ChargeConfigSchema,
  initialMemory: () => ({}),
  decide(state, config, _clock, memory): StrategyResult<ChargeMemory> {
    const inputs = { gridPowerW: state.gridPowerW, socPct: fleetSocPct(state.batteries), netDemandW: netDemandW(state) };
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
    const target = (b: BatteryState): number => Math.min(config.targetSocPct ?? b.maxSocPct, b.maxSocPct);
    const usable = (b: BatteryState): boolean => fresh(b) && b.socPct < target(b);
    const fleet = fleetWindow(state.batteries, usable);
    const wantedW = -Math.min(fleet.maxChargeW, config.maxPowerW ?? Number.POSITIVE_INFINITY);
    const limited = limitFleetW(wantedW, state, usable);
    const { setpoints, powerW } = settleFleet(limited.powerW, state.batteries, usable);
    // Stopped by the target below a battery's max SoC: say so (it said battery-full at 50 %).
    const atTarget = state.batteries.some((b) => fresh(b) && b.socPct < b.maxSocPct && !usable(b));
    const reason: StrategyReason =
      fleet.maxChargeW === 0
        ? atTarget
          ? 'charge-target-reached'
          : 'battery-full'
        : limited.limitedBy === 'grid'
          ? 'grid-import-limit'
          : 'charging';
    return {
      setpoints,
      metrics: { inputs, outputs: { batteryPowerW: powerW }, terms: { wantedW, fleetMaxChargeW: fleet.maxChargeW }, reason: reasonForSent(reason, powerW) },
      memory,
    };
  },
};
