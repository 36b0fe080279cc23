import { z } from 'zod';
import { clamp } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  fleetSetpoints,
  fleetSocPct,
  fleetWindow,
  isBatteryStale,
  isGridStale,
  holdAllBatteries,
  limitFleetW,
  netDemandW,
  sumBatterySetpointsW,
} from '../battery';
import { localMonthKey } from '../local-time';
import type { StrategyReason } from '../reasons';
import type { BatteryState, SiteState } from '../site-state';
import type { Clock, Strategy, StrategyResult, StrategySetpoints } from '../strategy';

export const PeakShavingConfigSchema = z.strictObject({
  /**
   * 'fixed': keep grid import under thresholdW. 'monthly-peak': the target is max(thresholdW, the highest
   * interval-average import already reached this month): a peak that has happened is billed anyway, so shaving
   * below it only costs energy.
   */
  mode: z.enum(['fixed', 'monthly-peak']).default('fixed'),
  /** Grid import to stay under, W. */
  thresholdW: z.number({ error: 'thresholdW is required: the grid import (W) to stay under' }).positive(),
  /** Recharge only while import is below target − rechargeMarginW, W. */
  rechargeMarginW: z.number().min(0).default(500),
  /** Largest recharge power, W; default: the batteries' max charge power. */
  rechargePowerW: z.number().positive().optional(),
  /** Recharge up to this SoC, %; default: each battery's maxSocPct. */
  rechargeTargetSocPct: z.number().min(0).max(100).optional(),
  /** Recharge from the grid (below the threshold) or only from PV surplus. */
  rechargeFromGrid: z.boolean().default(true),
  /** Peaks are tracked as average import over aligned intervals of this length (billing uses 15 min), ms. */
  peakIntervalMs: z.number().int().positive().default(900_000),
  ...ReadingAgeConfigShape,
});
export type PeakShavingConfig = z.infer<typeof PeakShavingConfigSchema>;

export interface PeakShavingMemory {
  /** Local month 'YYYY-MM' the peak belongs to (site time zone), or null before the first reading. */
  readonly monthKey: string | null;
  /** Highest interval-average grid import this month, W. */
  readonly monthPeakW: number;
  /** Start of the interval being averaged, epoch ms, or null. */
  readonly intervalStartMs: number | null;
  /** Import energy accumulated in that interval, W·ms. */
  readonly intervalEnergyWms: number;
  /** Time covered by readings in that interval, ms. */
  readonly intervalCoveredMs: number;
  readonly lastAtMs: number | null;
}

const INITIAL_MEMORY: PeakShavingMemory = {
  monthKey: null,
  monthPeakW: 0,
  intervalStartMs: null,
  intervalEnergyWms: 0,
  intervalCoveredMs: 0,
  lastAtMs: null,
};

/** Longest gap between readings that still counts toward an interval average, ms. */
const MAX_SAMPLE_GAP_MS = 60_000;

/** Accumulates the measured import into the interval average; a finished interval may raise the month's peak. */
function trackPeak(memory: PeakShavingMemory, state: SiteState, config: PeakShavingConfig, clock: Clock): PeakShavingMemory {
  const intervalStartMs = Math.floor(clock.nowMs / config.peakIntervalMs) * config.peakIntervalMs;
  let { monthKey, monthPeakW, intervalEnergyWms, intervalCoveredMs } = memory;
  if (memory.intervalStartMs !== null && memory.intervalStartMs !== intervalStartMs) {
    // The interval finished: its average is a candidate for the month's peak (month of the interval's start).
    const finishedMonth = localMonthKey(memory.intervalStartMs, state.timezone) ?? null;
    const averageW = intervalCoveredMs > 0 ? intervalEnergyWms / intervalCoveredMs : 0;
    if (finishedMonth !== monthKey) {
      monthKey = finishedMonth;
      monthPeakW = 0;
    }
    monthPeakW = Math.max(monthPeakW, averageW);
    intervalEnergyWms = 0;
    intervalCoveredMs = 0;
  }
  const currentMonth = localMonthKey(clock.nowMs, state.timezone) ?? null;
  if (currentMonth !== monthKey) {
    monthKey = currentMonth;
    monthPeakW = 0;
  }
  const dtMs = memory.lastAtMs === null ? 0 : clamp(clock.nowMs - memory.lastAtMs, 0, MAX_SAMPLE_GAP_MS);
  const sinceStartMs = clock.nowMs - intervalStartMs;
  const countedMs = Math.min(dtMs, sinceStartMs);
  intervalEnergyWms += Math.max(0, state.gridPowerW) * countedMs;
  intervalCoveredMs += countedMs;
  return { monthKey, monthPeakW, intervalStartMs, intervalEnergyWms, intervalCoveredMs, lastAtMs: clock.nowMs };
}

/** The import target for this tick, W. */
export function peakTargetW(config: PeakShavingConfig, memory: PeakShavingMemory): number {
  return config.mode === 'monthly-peak' ? Math.max(config.thresholdW, memory.monthPeakW) : config.thresholdW;
}

function baseInputs(state: SiteState): Record<string, number> {
  return { gridPowerW: state.gridPowerW, netDemandW: netDemandW(state), socPct: fleetSocPct(state.batteries) };
}

/**
 * PeakShaving: discharge so that grid import stays at or under the target; recharge while import is below
 * target − margin. As a layer it puts a floor under the primary's battery power: battery ≥ netDemand − target.
 */
export const peakShavingStrategy: Strategy<PeakShavingConfig, PeakShavingMemory> = {
  name: 'peak-shaving',
  role: 'layer',
  configSchema: PeakShavingConfigSchema,
  initialMemory: () => INITIAL_MEMORY,
  decide(state, config, clock, memory): StrategyResult<PeakShavingMemory> {
    const inputs = baseInputs(state);
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
    const next = trackPeak(memory, state, config, clock);
    const targetW = peakTargetW(config, next);
    const demandW = netDemandW(state);
    const rechargeBelowW = targetW - config.rechargeMarginW;
    const rechargeTarget = (b: BatteryState): number => Math.min(config.rechargeTargetSocPct ?? b.maxSocPct, b.maxSocPct);
    const fleet = fleetWindow(state.batteries, fresh);

    let wantedW = 0;
    let reason: StrategyReason = 'below-threshold';
    let usable = fresh;
    if (demandW > targetW) {
      wantedW = demandW - targetW;
      reason = fleet.maxDischargeW < wantedW ? 'peak-exceeded' : 'shaving-peak';
    } else if (demandW < rechargeBelowW && state.batteries.some((b) => fresh(b) && b.socPct < rechargeTarget(b))) {
      usable = (b) => fresh(b) && b.socPct < rechargeTarget(b);
      const roomW = config.rechargeFromGrid ? rechargeBelowW - demandW : Math.max(0, -demandW);
      wantedW = -Math.min(config.rechargePowerW ?? Number.POSITIVE_INFINITY, roomW);
      reason = wantedW < 0 ? 'recharging' : 'below-threshold';
    }
    const limited = limitFleetW(wantedW, state, usable);
    if (wantedW > 0 && limited.powerW <= 0 && fleet.maxDischargeW === 0) reason = 'peak-exceeded';
    return {
      setpoints: fleetSetpoints(limited.powerW, state.batteries, usable),
      metrics: {
        inputs,
        outputs: { batteryPowerW: limited.powerW },
        terms: { targetW, monthPeakW: next.monthPeakW, rechargeBelowW, wantedW },
        reason,
      },
      memory: next,
    };
  },
  constrain(proposal, state, config, clock, memory) {
    return constrainPeak(proposal, state, config, clock, memory);
  },
};

function constrainPeak(
  proposal: StrategySetpoints,
  state: SiteState,
  config: PeakShavingConfig,
  clock: Clock,
  memory: PeakShavingMemory,
): StrategyResult<PeakShavingMemory> {
  const inputs = baseInputs(state);
  const fresh = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
  if (state.batteries.length === 0 || isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(fresh)) {
    const reason: StrategyReason = state.batteries.length === 0 ? 'no-battery' : 'stale-data';
    return { setpoints: proposal, metrics: { inputs, outputs: {}, terms: {}, reason }, memory };
  }
  const next = trackPeak(memory, state, config, clock);
  const targetW = peakTargetW(config, next);
  const floorW = netDemandW(state) - targetW;
  const proposedW = sumBatterySetpointsW(proposal);
  const terms = { targetW, monthPeakW: next.monthPeakW, floorW, proposedW };
  if (proposedW >= floorW) {
    return { setpoints: proposal, metrics: { inputs, outputs: { batteryPowerW: proposedW }, terms, reason: 'peak-ok' }, memory: next };
  }
  // Raise the total to the floor (as far as the batteries allow, never past the grid export limit).
  const fleet = fleetWindow(state.batteries, fresh);
  const raisedW = limitFleetW(Math.min(floorW, fleet.maxDischargeW), state, fresh).powerW;
  if (raisedW <= proposedW) {
    return { setpoints: proposal, metrics: { inputs, outputs: { batteryPowerW: proposedW }, terms, reason: 'peak-exceeded' }, memory: next };
  }
  const setpoints: Record<string, StrategySetpoints[string]> = { ...proposal, ...fleetSetpoints(raisedW, state.batteries, fresh) };
  const reason: StrategyReason = raisedW < floorW ? 'peak-exceeded' : floorW > 0 ? 'shaving-peak' : 'charge-capped-by-peak';
  return { setpoints, metrics: { inputs, outputs: { batteryPowerW: raisedW }, terms, reason }, memory: next };
}
