import { z } from 'zod';
import {
  ReadingAgeConfigShape,
  dischargeFloorSocPct,
  raiseFleet,
  settleFleet,
  fleetSocPct,
  fleetWindow,
  isBatteryStale,
  isGridStale,
  holdAllBatteries,
  limitFleetW,
  netDemandW,
  roundDischargeUpW,
  sumBatterySetpointsW,
  totalBatteryPowerW,
} from '../battery';
import {
  INITIAL_METER_MEMORY,
  METER_BLOCK_MS,
  type MeterMemory,
  alternativeWeight,
  blockCapW,
  notePredictions,
  observeMeter,
  profileHighNetW,
  profileNetW,
  profilePrevNetW,
} from '../meter';
import { lowestFeasibleCapW, type PlanBattery } from '../planner';
import type { StrategyReason } from '../reasons';
import type { BatteryState, SiteState } from '../site-state';
import type { Clock, Strategy, StrategyResult, StrategySetpoints } from '../strategy';

// Globals looked up once: inside a vm context (Jest) every global lookup in a hot loop is slow.
const { floor, max, min, round } = Math;
const INFINITY = Number.POSITIVE_INFINITY;
const isFiniteNumber = Number.isFinite;

const DAY_MS = 86_400_000;
/** Learned-profile entries older than this are not used, ms. */
const PROFILE_MAX_AGE_MS = 2 * DAY_MS;
/** Previous-day profile entries older than this are not used, ms. */
const PROFILE_PREV_MAX_AGE_MS = 3 * DAY_MS;
/** Only the quarter hour's own high mark counts for it (a wider window stacks the worst of neighbours), ms. */
const HIGH_MARK_WINDOW_MS = 0;

export const PeakShavingConfigSchema = z
  .strictObject({
    /**
     * 'fixed': keep grid import under thresholdW. 'monthly-peak': the target is max(thresholdW, the highest 15-min
     * import already reached this month): a peak that has happened is billed anyway, so shaving below it only costs
     * energy. 'forecast': as 'monthly-peak', and never below the lowest import the batteries can hold over the
     * forecast horizon from their present energy, sized on the worse of the forecast and the highest net demand the
     * site drew recently around each time of day (a high mark learned from its own readings); thresholdW is then
     * optional (a floor, default 0).
     */
    mode: z.enum(['fixed', 'monthly-peak', 'forecast']).default('fixed'),
    /** Grid import to stay under, W (in 'forecast' mode the lowest target, default 0). */
    thresholdW: z.number().positive().optional(),
    /**
     * Recharge only while import is below target − rechargeMarginW, W. Default 500 in 'fixed' and 'monthly-peak'
     * mode; 0 in 'forecast' mode, whose target is sized assuming the batteries recharge up to it.
     */
    rechargeMarginW: z.number().min(0).optional(),
    /** Largest recharge power, W; default: the batteries' max charge power. */
    rechargePowerW: z.number().positive().optional(),
    /** Recharge up to this SoC, %; default: each battery's maxSocPct. */
    rechargeTargetSocPct: z.number().min(0).max(100).optional(),
    /** Recharge from the grid (below the target) or only from PV surplus. */
    rechargeFromGrid: z.boolean().default(true),
    /**
     * 'forecast' mode: hedge the sizing toward the learned high mark as far as the forecast has been wrong (true), or
     * size on the forecast alone (false). The hedge is learned like the planner's second scenario: the forecast and
     * the day further back are scored against every measured quarter hour; a forecast that has been exact sizes on
     * itself, one no better than yesterday's profile sizes on the high mark.
     */
    sizeOnHighMark: z.boolean().default(true),
    /** Horizon of the 'forecast' target, ms. */
    forecastHorizonMs: z.number().int().min(METER_BLOCK_MS).max(7 * DAY_MS).default(2 * DAY_MS),
    /** Stored energy per grid energy when recharging / grid energy per stored energy when discharging ('forecast' sizing). */
    chargeEfficiency: z.number().gt(0).max(1).default(0.95),
    dischargeEfficiency: z.number().gt(0).max(1).default(0.95),
    /**
     * Longest gap between two readings that still counts toward the measured 15-min import, ms. Each reading holds
     * until the next; a longer gap counts only this much (the rest is unknown).
     */
    maxSampleGapMs: z.number().int().positive().default(METER_BLOCK_MS),
    ...ReadingAgeConfigShape,
  })
  .superRefine((c, ctx) => {
    if (c.mode !== 'forecast' && c.thresholdW === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['thresholdW'],
        message: `thresholdW is required in mode '${c.mode}': the grid import (W) to stay under (only mode 'forecast' sizes it itself)`,
      });
    }
  });
export type PeakShavingConfig = z.infer<typeof PeakShavingConfigSchema>;

export interface PeakShavingMemory {
  /** The grid meter as the strategy integrates it: the month's peak (15-min mean import), the learned profile. */
  readonly meter: MeterMemory;
}

const INITIAL_MEMORY: PeakShavingMemory = { meter: INITIAL_METER_MEMORY };

/**
 * The lowest grid import (W) the fresh batteries can hold over the forecast horizon from their present energy: the
 * net demand of each quarter hour is the larger of the forecast (else the learned profile) and the learned high mark
 * around that time of day. Undefined when neither forecast nor profile covers the next hours.
 */
export function forecastTargetW(state: SiteState, config: PeakShavingConfig, meter: MeterMemory, nowMs: number, usable: (b: BatteryState) => boolean): number | undefined {
  const fleet = state.batteries.filter(usable);
  if (fleet.length === 0) return undefined;
  const battery: PlanBattery = {
    minEnergyWh: fleet.reduce((s, b) => s + (dischargeFloorSocPct(b) / 100) * b.capacityWh, 0),
    maxEnergyWh: fleet.reduce((s, b) => s + (max(min(config.rechargeTargetSocPct ?? b.maxSocPct, b.maxSocPct), dischargeFloorSocPct(b)) / 100) * b.capacityWh, 0),
    maxChargeW: min(config.rechargePowerW ?? INFINITY, fleet.reduce((s, b) => s + max(0, b.maxChargePowerW), 0)),
    maxDischargeW: fleet.reduce((s, b) => s + max(0, b.maxDischargePowerW), 0),
    chargeEfficiency: config.chargeEfficiency,
    dischargeEfficiency: config.dischargeEfficiency,
  };
  const energyWh = fleet.reduce((s, b) => s + (b.socPct / 100) * b.capacityWh, 0);
  // How far toward the high mark: 0 for a forecast that has been exact, 1 for one no better than the day before.
  const hedge = config.sizeOnHighMark ? min(1, 2 * alternativeWeight(meter, 0.5)) : 0;
  const slots: { startMs: number; endMs: number; netW: number }[] = [];
  let known = 0;
  const endMs = nowMs + config.forecastHorizonMs;
  for (let startMs = nowMs; startMs < endMs; ) {
    const slotEnd = min(endMs, (floor(startMs / METER_BLOCK_MS) + 1) * METER_BLOCK_MS);
    let netW: number | undefined;
    if (slots.length === 0) netW = netDemandW(state);
    else {
      netW = forecastNet(state, startMs, slotEnd) ?? profileNetW(meter, startMs, slotEnd, nowMs, PROFILE_MAX_AGE_MS);
      const high = profileHighNetW(meter, startMs, slotEnd, nowMs, PROFILE_MAX_AGE_MS, HIGH_MARK_WINDOW_MS);
      if (netW !== undefined || high !== undefined) known++;
      const expected = netW ?? high ?? 0;
      netW = expected + hedge * max(0, (high ?? expected) - expected);
    }
    slots.push({ startMs, endMs: slotEnd, netW });
    startMs = slotEnd;
  }
  if (known === 0) return undefined;
  return lowestFeasibleCapW(slots, energyWh, battery, { allowGridCharge: config.rechargeFromGrid }, 0);
}

function forecastNet(state: SiteState, startMs: number, endMs: number): number | undefined {
  const f = state.forecast;
  if (!f || !(f.stepMs > 0)) return undefined;
  const steps = min(f.loadW.length, f.pvW.length);
  let sum = 0;
  let covered = 0;
  for (let i = max(0, floor((startMs - f.startMs) / f.stepMs)); i < steps; i++) {
    const s = f.startMs + i * f.stepMs;
    if (s >= endMs) break;
    const overlap = min(endMs, s + f.stepMs) - max(startMs, s);
    if (overlap <= 0) continue;
    const net = (f.loadW[i] ?? 0) - (f.pvW[i] ?? 0);
    if (!isFiniteNumber(net)) return undefined;
    sum += net * overlap;
    covered += overlap;
  }
  return covered >= (endMs - startMs) * 0.999 ? sum / covered : undefined;
}

/** The import target for this tick, W, and what set it. */
export function peakTargetW(
  config: PeakShavingConfig,
  monthPeakW: number,
  forecastW?: number,
): { readonly targetW: number; readonly source: 'threshold' | 'month-peak' | 'forecast' } {
  const thresholdW = config.thresholdW ?? 0;
  if (config.mode === 'fixed') return { targetW: thresholdW, source: 'threshold' };
  let targetW = thresholdW;
  let source: 'threshold' | 'month-peak' | 'forecast' = 'threshold';
  if (monthPeakW > targetW) {
    targetW = monthPeakW;
    source = 'month-peak';
  }
  if (config.mode === 'forecast' && forecastW !== undefined && forecastW > targetW) {
    targetW = forecastW;
    source = 'forecast';
  }
  return { targetW, source };
}

/** The recharge margin in effect, W. */
export function rechargeMarginOf(config: PeakShavingConfig): number {
  return config.rechargeMarginW ?? (config.mode === 'forecast' ? 0 : 500);
}

function baseInputs(state: SiteState): Record<string, number> {
  return { gridPowerW: state.gridPowerW, netDemandW: netDemandW(state), socPct: fleetSocPct(state.batteries) };
}

/** Meter update and target for one tick (shared by decide and constrain). */
function track(
  state: SiteState,
  config: PeakShavingConfig,
  clock: Clock,
  memory: PeakShavingMemory,
  fresh: (b: BatteryState) => boolean,
): { readonly meter: MeterMemory; readonly targetW: number; readonly blockTargetW: number; readonly terms: Record<string, number> } {
  const observed = observeMeter(
    memory.meter,
    { nowMs: clock.nowMs, netW: netDemandW(state), batteryW: totalBatteryPowerW(state.batteries), timezone: state.timezone },
    config.maxSampleGapMs,
  );
  // Score the forecast for this quarter hour (as the planners do), for the sizing's hedge.
  const blockMs = floor(clock.nowMs / METER_BLOCK_MS) * METER_BLOCK_MS;
  const meter =
    config.mode !== 'forecast' || observed.predictedBlockStartMs === blockMs
      ? observed
      : notePredictions(
          observed,
          clock.nowMs,
          forecastNet(state, blockMs, blockMs + METER_BLOCK_MS) ?? profileNetW(observed, blockMs, blockMs + METER_BLOCK_MS, clock.nowMs, PROFILE_MAX_AGE_MS),
          profilePrevNetW(observed, blockMs, blockMs + METER_BLOCK_MS, clock.nowMs, PROFILE_PREV_MAX_AGE_MS),
        );
  const monthPeakW = meter.monthPeakW;
  const forecastW = config.mode === 'forecast' ? forecastTargetW(state, config, meter, clock.nowMs, fresh) : undefined;
  const { targetW, source } = peakTargetW(config, monthPeakW, forecastW);
  // Within the quarter hour: what the rest of it may still import so that its mean stays at the target.
  const blockTargetW = config.mode === 'fixed' ? targetW : blockCapW(meter, clock.nowMs, targetW);
  return {
    meter,
    targetW,
    blockTargetW,
    terms: {
      targetW: round(targetW),
      blockTargetW: round(blockTargetW),
      monthPeakW: round(monthPeakW),
      forecastTargetW: forecastW === undefined ? -1 : round(forecastW),
      highMarkHedge: config.mode === 'forecast' && config.sizeOnHighMark ? round(min(1, 2 * alternativeWeight(meter, 0.5)) * 1000) / 1000 : 0,
      targetSource: source === 'threshold' ? 0 : source === 'month-peak' ? 1 : 2,
    },
  };
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
  withSiteMeter: (memory, update) => ({ ...memory, meter: update(memory.meter) }),
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
    const { meter, blockTargetW, terms } = track(state, config, clock, memory, fresh);
    const demandW = netDemandW(state);
    const rechargeBelowW = blockTargetW - rechargeMarginOf(config);
    const rechargeTarget = (b: BatteryState): number => min(config.rechargeTargetSocPct ?? b.maxSocPct, b.maxSocPct);
    const fleet = fleetWindow(state.batteries, fresh);

    let wantedW = 0;
    let reason: StrategyReason = 'below-threshold';
    let usable = fresh;
    if (demandW > blockTargetW) {
      wantedW = demandW - blockTargetW;
      reason = fleet.maxDischargeW < wantedW ? 'peak-exceeded' : 'shaving-peak';
    } else if (demandW < rechargeBelowW && state.batteries.some((b) => fresh(b) && b.socPct < rechargeTarget(b))) {
      usable = (b) => fresh(b) && b.socPct < rechargeTarget(b);
      const roomW = config.rechargeFromGrid ? rechargeBelowW - demandW : max(0, -demandW);
      wantedW = -min(config.rechargePowerW ?? INFINITY, roomW);
      reason = wantedW < 0 ? 'recharging' : 'below-threshold';
    }
    const limited = limitFleetW(roundDischargeUpW(wantedW, state.batteries, usable), state, usable);
    if (wantedW > 0 && limited.powerW <= 0 && fleet.maxDischargeW === 0) reason = 'peak-exceeded';
    const sent = settleFleet(limited.powerW, state.batteries, usable);
    if (reason === 'recharging' && sent.powerW === 0) reason = 'below-threshold';
    // The steps of several batteries (or the grid's export limit) can leave part of the excess to the grid.
    if (reason === 'shaving-peak' && sent.powerW < wantedW - 1e-6) reason = 'peak-exceeded';
    return {
      setpoints: sent.setpoints,
      metrics: {
        inputs,
        outputs: { batteryPowerW: sent.powerW },
        terms: { ...terms, rechargeBelowW: round(rechargeBelowW), wantedW: round(wantedW) },
        reason,
      },
      memory: { meter },
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
  const { meter, blockTargetW, terms } = track(state, config, clock, memory, fresh);
  const floorW = netDemandW(state) - blockTargetW;
  const proposedW = sumBatterySetpointsW(proposal);
  const allTerms = { ...terms, floorW: round(floorW), proposedW };
  if (proposedW >= floorW) {
    return { setpoints: proposal, metrics: { inputs, outputs: { batteryPowerW: proposedW }, terms: allTerms, reason: 'peak-ok' }, memory: { meter } };
  }
  // Raise the total to the floor (as far as the batteries allow, never past the grid export limit).
  const fleet = fleetWindow(state.batteries, fresh);
  const raisedW = limitFleetW(min(roundDischargeUpW(floorW, state.batteries, fresh), fleet.maxDischargeW), state, fresh).powerW;
  // What the batteries are really asked after their steps: a layer only ever raises the total it is given, and moves
  // the batteries the proposal charges before those it left alone.
  const raised = raiseFleet(proposal, raisedW, state.batteries, fresh);
  if (raised.powerW <= proposedW) {
    return { setpoints: proposal, metrics: { inputs, outputs: { batteryPowerW: proposedW }, terms: allTerms, reason: 'peak-exceeded' }, memory: { meter } };
  }
  const setpoints: Record<string, StrategySetpoints[string]> = raised.setpoints;
  const reason: StrategyReason = raised.powerW < floorW - 1e-6 ? 'peak-exceeded' : floorW > 0 ? 'shaving-peak' : 'charge-capped-by-peak';
  return { setpoints, metrics: { inputs, outputs: { batteryPowerW: sumBatterySetpointsW(setpoints) }, terms: allTerms, reason }, memory: { meter } };
}
