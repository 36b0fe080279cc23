import { z } from 'zod';
import { clamp } from '../arithmetic';
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
  roundDischargeUpW,
  totalBatteryPowerW,
} from '../battery';
import { forecastPvSurplusWh } from '../forecast';
import { toLocalTime } from '../local-time';
import { INITIAL_METER_MEMORY, type MeterMemory, observeMeter } from '../meter';
import { PlanConfigShape, type PlanMemory, planDecision, planSettings } from '../plan-core';
import { touPriceAt } from '../prices';
import type { StrategyReason } from '../reasons';
import type { BatteryState, SiteState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';
import { localClock, peakChargeEurPerKw, touEnergyAt } from '../tariff-prices';

const HOUR_MS = 3_600_000;
const QUARTER_MS = 900_000;

export const TimeOfUseConfigSchema = z.strictObject({
  /**
   * 'plan' (default): plan the batteries over the tariff's ToU prices with the planner Arbitrage uses (expected net
   * demand, import/feed-in prices, wear, peak charge): it charges from the grid in cheap periods only as much as the
   * expensive ones need beyond the PV surplus expected in between, stores surplus in any period and holds the
   * month's peak. 'rules': the fixed rules below (cheap → charge to a target, expensive → cover demand).
   */
  mode: z.enum(['plan', 'rules']).default('plan'),
  ...PlanConfigShape,
  /** May the battery discharge into export? (plan and rules mode; rules: in expensive periods at full power) */
  allowExport: z.boolean().default(false),
  /** Rules: a period priced at or below this is cheap (charge), EUR/MWh. Default: the lowest price in the schedule. */
  cheapAtOrBelowEurPerMwh: z.number().finite().optional(),
  /** Rules: a period priced at or above this is expensive (discharge), EUR/MWh. Default: the highest price in the schedule. */
  expensiveAtOrAboveEurPerMwh: z.number().finite().optional(),
  /** Charge up to this SoC, %; default: each battery's maxSocPct (rules: the cheap-period target; plan: the highest planned SoC). */
  chargeTargetSocPct: z.number().min(0).max(100).optional(),
  /** Rules: cap on the charge power in cheap periods, W. */
  chargePowerW: z.number().positive().optional(),
  /** Rules: what to do in periods that are neither cheap nor expensive (and when the schedule is missing). */
  neutralMode: z.enum(['idle', 'self-consumption']).default('idle'),
  /** Rules: charge from PV surplus in neutral and expensive periods instead of exporting it (only with a schedule that has dearer periods). */
  storeSurplus: z.boolean().default(true),
  /**
   * Rules: with a peak-demand charge in the tariff, charge in cheap periods no harder than keeps import under the
   * month's peak so far, unless the target could not be reached by the end of the cheap window otherwise.
   */
  peakAwareCharging: z.boolean().default(true),
  /**
   * Rules: lower the cheap-period charge target by the PV surplus the forecast expects over `forecastHorizonMs`, so
   * the sun fills the rest. A forecast that does not cover now is ignored.
   */
  usePvForecast: z.boolean().default(true),
  forecastHorizonMs: z.number().int().positive().default(24 * HOUR_MS),
  ...ReadingAgeConfigShape,
});
export type TimeOfUseConfig = z.infer<typeof TimeOfUseConfigSchema>;

export interface TimeOfUseMemory {
  /** The grid meter as the strategy integrates it (month's peak, learned profile). */
  readonly meter: MeterMemory;
  /** Plan mode: the current plan, or null. */
  readonly plan: PlanMemory | null;
}

const INITIAL_MEMORY: TimeOfUseMemory = { meter: INITIAL_METER_MEMORY, plan: null };

/** Which kind of period `priceEurPerMwh` is. */
export type TouPeriodClass = 'cheap' | 'expensive' | 'neutral';

/** Classifies a ToU price against the configured (or schedule-derived) thresholds. */
export function classifyTouPrice(
  priceEurPerMwh: number,
  schedulePrices: readonly number[],
  config: Pick<TimeOfUseConfig, 'cheapAtOrBelowEurPerMwh' | 'expensiveAtOrAboveEurPerMwh'>,
): TouPeriodClass {
  const lowest = Math.min(...schedulePrices);
  const highest = Math.max(...schedulePrices);
  const cheap = config.cheapAtOrBelowEurPerMwh ?? lowest;
  const expensive = config.expensiveAtOrAboveEurPerMwh ?? highest;
  const isFlat = config.cheapAtOrBelowEurPerMwh === undefined && config.expensiveAtOrAboveEurPerMwh === undefined && lowest === highest;
  if (isFlat) return 'neutral';
  if (priceEurPerMwh <= cheap) return 'cheap';
  if (priceEurPerMwh >= expensive) return 'expensive';
  return 'neutral';
}

interface Context {
  readonly state: SiteState;
  readonly config: TimeOfUseConfig;
  readonly fresh: (b: BatteryState) => boolean;
  readonly inputs: Record<string, number>;
  readonly memory: TimeOfUseMemory;
}

function result(ctx: Context, powerW: number, usable: (b: BatteryState) => boolean, terms: Record<string, number>, reason: StrategyReason): StrategyResult<TimeOfUseMemory> {
  const sent = settleFleet(powerW, ctx.state.batteries, usable);
  return {
    setpoints: sent.setpoints,
    metrics: { inputs: ctx.inputs, outputs: { batteryPowerW: sent.powerW }, terms, reason: reasonForSent(reason, sent.powerW) },
    memory: ctx.memory,
  };
}

/** Charge from PV surplus only (no grid), W ≤ 0; 0 without surplus. */
function surplusChargeW(ctx: Context): number {
  const demandW = netDemandW(ctx.state);
  if (demandW >= 0) return 0;
  return limitFleetW(demandW, ctx.state, ctx.fresh).powerW;
}

/**
 * The neutral mode. `noDischarge` in a cheap period (the charge target reached, or nothing to charge under the peak):
 * self-consumption there only stores surplus — discharging to cover the demand at the cheapest price and charging it
 * back from the grid cycled the battery around the target every tick (80 % → +2 kW, 79.9 % → −5 kW).
 */
function neutral(ctx: Context, reasonIdle: StrategyReason, terms: Record<string, number>, noDischarge = false): StrategyResult<TimeOfUseMemory> {
  const { state, config, fresh } = ctx;
  if (config.neutralMode === 'idle') {
    // Stored surplus pays only where a schedule has dearer periods to spend it in (not without one, not when flat).
    if (config.storeSurplus && reasonIdle === 'neutral-idle') {
      const chargeW = surplusChargeW(ctx);
      if (chargeW < 0) return result(ctx, chargeW, fresh, terms, 'storing-surplus');
    }
    return result(ctx, 0, fresh, terms, reasonIdle);
  }
  // Self-consumption: charge from PV surplus, discharge to cover demand, never to or from the grid.
  const demandW = netDemandW(state);
  const limited = limitFleetW(clamp(demandW, Math.min(0, demandW), noDischarge ? 0 : Math.max(0, demandW)), state, fresh);
  const reason: StrategyReason = reasonIdle === 'neutral-idle' ? 'neutral-self-consumption' : reasonIdle;
  return result(ctx, limited.powerW, fresh, terms, reason);
}

/** End of the cheap stretch that contains now (at most a day ahead), epoch ms, by the tariff's ToU schedule. */
function cheapUntilMs(state: SiteState, config: TimeOfUseConfig, nowMs: number, schedule: readonly number[]): number {
  const clock = localClock(nowMs, nowMs + 24 * HOUR_MS, state.timezone);
  if (!clock) return nowMs;
  let at = (Math.floor(nowMs / QUARTER_MS) + 1) * QUARTER_MS;
  while (at < nowMs + 24 * HOUR_MS) {
    const price = touEnergyAt(state.tariff, clock, at);
    if (price === undefined || classifyTouPrice(price, schedule, config) !== 'cheap') return at;
    at += QUARTER_MS;
  }
  return at;
}

/**
 * The grid import level (W) that charges `energyWh` (AC) over the quarter hours from now to `untilMs` when each
 * charges max(0, min(maxChargeW, level − expected demand)): bisection. The last quarter hour of the window takes
 * what is still missing, so the level can be as high as demand + maxChargeW.
 */
function valleyLevelW(state: SiteState, nowMs: number, untilMs: number, demandNowW: number, energyWh: number, maxChargeW: number): number {
  const slots: { hours: number; demandW: number }[] = [];
  for (let at = nowMs; at < untilMs; ) {
    const end = Math.min(untilMs, (Math.floor(at / QUARTER_MS) + 1) * QUARTER_MS);
    const expected = slots.length === 0 ? demandNowW : forecastDemandW(state, at, end) ?? demandNowW;
    slots.push({ hours: (end - at) / HOUR_MS, demandW: expected });
    at = end;
  }
  if (slots.length === 0 || !(energyWh > 0)) return -Infinity;
  const charged = (level: number): number => slots.reduce((s, x) => s + Math.max(0, Math.min(maxChargeW, level - x.demandW)) * x.hours, 0);
  let lo = Math.min(...slots.map((x) => x.demandW));
  let hi = Math.max(...slots.map((x) => x.demandW)) + maxChargeW;
  if (charged(hi) < energyWh) return hi;
  while (hi - lo > 10) {
    const mid = (lo + hi) / 2;
    if (charged(mid) >= energyWh) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Mean forecast net demand (load − PV) over [startMs, endMs), W, if the forecast covers it. */
function forecastDemandW(state: SiteState, startMs: number, endMs: number): number | undefined {
  const f = state.forecast;
  if (!f || !(f.stepMs > 0)) return undefined;
  const i = Math.floor((startMs - f.startMs) / f.stepMs);
  const j = Math.floor((endMs - 1 - f.startMs) / f.stepMs);
  if (i < 0 || j >= Math.min(f.loadW.length, f.pvW.length)) return undefined;
  let sum = 0;
  for (let k = i; k <= j; k++) sum += (f.loadW[k] ?? 0) - (f.pvW[k] ?? 0);
  const mean = sum / (j - i + 1);
  return Number.isFinite(mean) ? mean : undefined;
}

function decideRules(ctx: Context, nowMs: number): StrategyResult<TimeOfUseMemory> {
  const { state, config, fresh } = ctx;
  const local = toLocalTime(nowMs, state.timezone);
  if (!local) return { setpoints: holdAllBatteries(state.batteries), metrics: { inputs: ctx.inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'invalid-timezone' }, memory: ctx.memory };
  const periods = state.tariff?.touPeriods ?? [];
  if (periods.length === 0) return neutral(ctx, 'no-tou-schedule', {});
  const priceEurPerMwh = touPriceAt(state.tariff, local);
  if (priceEurPerMwh === undefined) return neutral(ctx, 'no-tou-period', {});
  const schedule = periods.map((p) => p.eurPerMwh);
  const periodClass = classifyTouPrice(priceEurPerMwh, schedule, config);
  const terms: Record<string, number> = { priceEurPerMwh, minuteOfDay: Math.floor(local.minuteOfDay) };
  const demandW = netDemandW(state);

  if (periodClass === 'cheap') {
    const surplusWh = config.usePvForecast ? forecastPvSurplusWh(state.forecast, nowMs, config.forecastHorizonMs) : undefined;
    const capacityWh = state.batteries.filter(fresh).reduce((s, b) => s + b.capacityWh, 0);
    const forecastReductionPct = surplusWh !== undefined && capacityWh > 0 ? (surplusWh / capacityWh) * 100 : 0;
    const target = (b: BatteryState): number =>
      Math.max(dischargeFloorSocPct(b), Math.min(config.chargeTargetSocPct ?? b.maxSocPct, b.maxSocPct) - forecastReductionPct);
    const usable = (b: BatteryState): boolean => fresh(b) && b.socPct < target(b);
    const fleet = fleetWindow(state.batteries, usable);
    const cheapTerms: Record<string, number> = { ...terms, forecastPvSurplusWh: surplusWh ?? -1, forecastReductionPct };
    if (fleet.maxChargeW === 0) return neutral(ctx, 'charge-target-reached', cheapTerms, true);
    let chargeW = Math.min(fleet.maxChargeW, config.chargePowerW ?? Number.POSITIVE_INFINITY);
    if (config.peakAwareCharging && peakChargeEurPerKw(state.tariff) > 0) {
      // Valley filling: the lowest grid import level L at which charging (L − demand) in every quarter hour left in
      // the cheap window still reaches the target, the expected demand of each from the forecast (else the demand
      // now). Charging below the month's peak so far costs nothing extra, so L is at least that peak.
      const missingWh = state.batteries.filter(usable).reduce((s, b) => s + ((target(b) - b.socPct) / 100) * b.capacityWh, 0);
      const levelW = valleyLevelW(state, nowMs, cheapUntilMs(state, config, nowMs, schedule), demandW, missingWh / config.chargeEfficiency, chargeW);
      const importLevelW = Math.max(levelW, ctx.memory.meter.monthPeakW);
      chargeW = Math.min(chargeW, Math.max(0, importLevelW - demandW));
      cheapTerms['valleyLevelW'] = Math.round(levelW);
      cheapTerms['importLevelW'] = Math.round(importLevelW);
      if (chargeW === 0) return neutral(ctx, 'neutral-idle', cheapTerms, true);
    }
    const limited = limitFleetW(-chargeW, state, usable);
    const reason: StrategyReason = limited.limitedBy === 'grid' ? 'grid-import-limit' : 'cheap-charging';
    return result(ctx, limited.powerW, usable, cheapTerms, reason);
  }
  if (periodClass === 'expensive') {
    const fleet = fleetWindow(state.batteries, fresh);
    if (demandW < 0 && config.storeSurplus && !config.allowExport) {
      const chargeW = surplusChargeW(ctx);
      if (chargeW < 0) return result(ctx, chargeW, fresh, terms, 'storing-surplus');
    }
    const wantedW = config.allowExport ? fleet.maxDischargeW : Math.max(0, demandW);
    const limited = limitFleetW(wantedW, state, fresh);
    const reason: StrategyReason = fleet.maxDischargeW === 0 ? 'battery-empty' : 'expensive-discharging';
    return result(ctx, limited.powerW, fresh, terms, reason);
  }
  const isFlat = new Set(schedule).size === 1 && config.cheapAtOrBelowEurPerMwh === undefined && config.expensiveAtOrAboveEurPerMwh === undefined;
  return neutral(ctx, isFlat ? 'flat-tariff' : 'neutral-idle', terms);
}

function decidePlan(ctx: Context, nowMs: number): StrategyResult<TimeOfUseMemory> {
  const { state, config, fresh } = ctx;
  if ((state.tariff?.touPeriods?.length ?? 0) === 0) return neutral(ctx, 'no-tou-schedule', {});
  const demandW = netDemandW(state);
  const decision = planDecision({
    state,
    nowMs,
    batteries: state.batteries.filter(fresh),
    meter: ctx.memory.meter,
    previous: ctx.memory.plan,
    settings: { ...planSettings(config), maxPlanSocPct: config.chargeTargetSocPct ?? config.maxPlanSocPct },
    priceSource: 'tou',
    netNowW: demandW,
  });
  if ('missing' in decision) {
    const next = { ...ctx, memory: { meter: decision.meter, plan: null } };
    return decision.missing === 'timezone'
      ? { setpoints: holdAllBatteries(state.batteries), metrics: { inputs: ctx.inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'invalid-timezone' }, memory: next.memory }
      : neutral(next, 'no-tou-period', {});
  }
  const noExportAboveW = config.allowExport ? undefined : Math.max(0, demandW);
  const limited = limitFleetW(roundDischargeUpW(decision.powerW, state.batteries, fresh, noExportAboveW), state, fresh);
  const sent = settleFleet(limited.powerW, state.batteries, fresh);
  let reason: StrategyReason;
  if (sent.powerW < 0) reason = demandW < 0 && -sent.powerW <= -demandW + 1e-6 ? 'storing-surplus' : 'tou-plan-charging';
  else if (sent.powerW > 0) reason = 'tou-plan-discharging';
  else reason = 'tou-plan-idle';
  return {
    setpoints: sent.setpoints,
    metrics: {
      inputs: ctx.inputs,
      outputs: { batteryPowerW: sent.powerW },
      terms: { ...decision.terms, wantedW: Math.round(decision.powerW), replanned: decision.replanned ? 1 : 0 },
      reason,
    },
    memory: { meter: decision.meter, plan: decision.plan },
  };
}

/**
 * TimeOfUse: from the tariff's ToU schedule (site-local time). 'plan' mode (default) plans the batteries over the
 * schedule's prices like Arbitrage — charging in cheap periods only what the expensive ones need beyond the expected
 * PV surplus, at a power that respects the month's peak, storing surplus in any period. 'rules' mode charges in cheap
 * periods to a target SoC and discharges in expensive ones to cover the site's demand (or at full power with
 * allowExport), storing PV surplus in the other periods.
 */
export const timeOfUseStrategy: Strategy<TimeOfUseConfig, TimeOfUseMemory> = {
  name: 'time-of-use',
  role: 'primary',
  configSchema: TimeOfUseConfigSchema,
  initialMemory: () => INITIAL_MEMORY,
  withSiteMeter: (memory, update) => ({ ...memory, meter: update(memory.meter) }),
  decide(state, config, clock, memory): StrategyResult<TimeOfUseMemory> {
    const demandW = netDemandW(state);
    const inputs = { gridPowerW: state.gridPowerW, netDemandW: demandW, socPct: fleetSocPct(state.batteries) };
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const fresh = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(fresh)) {
      return { setpoints: holdAllBatteries(state.batteries), metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'stale-data' }, memory };
    }
    const meter = observeMeter(
      memory.meter,
      { nowMs: clock.nowMs, netW: demandW, batteryW: totalBatteryPowerW(state.batteries), timezone: state.timezone },
      config.maxSampleGapMs,
    );
    const ctx: Context = { state, config, fresh, inputs, memory: { ...memory, meter } };
    return config.mode === 'plan' ? decidePlan(ctx, clock.nowMs) : decideRules(ctx, clock.nowMs);
  },
};
