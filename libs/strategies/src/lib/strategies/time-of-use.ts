import { z } from 'zod';
import { clamp } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  dischargeFloorSocPct,
  fleetSetpoints,
  fleetSocPct,
  fleetWindow,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  limitFleetW,
  netDemandW,
} from '../battery';
import { forecastPvSurplusWh } from '../forecast';
import { toLocalTime } from '../local-time';
import { touPriceAt } from '../prices';
import type { StrategyReason } from '../reasons';
import type { BatteryState, SiteState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';

export const TimeOfUseConfigSchema = z.strictObject({
  /** A period priced at or below this is cheap (charge), EUR/MWh. Default: the lowest price in the schedule. */
  cheapAtOrBelowEurPerMwh: z.number().finite().optional(),
  /** A period priced at or above this is expensive (discharge), EUR/MWh. Default: the highest price in the schedule. */
  expensiveAtOrAboveEurPerMwh: z.number().finite().optional(),
  /** Charge up to this SoC in cheap periods, %; default: each battery's maxSocPct. */
  chargeTargetSocPct: z.number().min(0).max(100).optional(),
  /** Cap on the charge power in cheap periods, W. */
  chargePowerW: z.number().positive().optional(),
  /** In expensive periods discharge at full power, exporting the excess; default: only cover the site's demand. */
  allowExport: z.boolean().default(false),
  /** What to do in periods that are neither cheap nor expensive (and when the schedule is missing). */
  neutralMode: z.enum(['idle', 'self-consumption']).default('idle'),
  /**
   * Lower the cheap-period charge target by the PV surplus the forecast expects over `forecastHorizonMs`, so the
   * sun fills the rest. A forecast that does not cover now is ignored.
   */
  usePvForecast: z.boolean().default(true),
  forecastHorizonMs: z.number().int().positive().default(24 * 3_600_000),
  ...ReadingAgeConfigShape,
});
export type TimeOfUseConfig = z.infer<typeof TimeOfUseConfigSchema>;
export type TimeOfUseMemory = Readonly<Record<string, never>>;

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

function neutral(
  state: SiteState,
  config: TimeOfUseConfig,
  usable: (b: BatteryState) => boolean,
  reasonIdle: StrategyReason,
  terms: Record<string, number>,
  memory: TimeOfUseMemory,
): StrategyResult<TimeOfUseMemory> {
  const inputs = { gridPowerW: state.gridPowerW, netDemandW: netDemandW(state), socPct: fleetSocPct(state.batteries) };
  if (config.neutralMode === 'idle') {
    return { setpoints: fleetSetpoints(0, state.batteries, usable), metrics: { inputs, outputs: { batteryPowerW: 0 }, terms, reason: reasonIdle }, memory };
  }
  // Self-consumption: charge from PV surplus, discharge to cover demand, never to or from the grid.
  const demandW = netDemandW(state);
  const limited = limitFleetW(clamp(demandW, Math.min(0, demandW), Math.max(0, demandW)), state, usable);
  const reason: StrategyReason = reasonIdle === 'neutral-idle' ? 'neutral-self-consumption' : reasonIdle;
  return {
    setpoints: fleetSetpoints(limited.powerW, state.batteries, usable),
    metrics: { inputs, outputs: { batteryPowerW: limited.powerW }, terms, reason },
    memory,
  };
}

/**
 * TimeOfUse: from the tariff's ToU schedule (site-local time), charge in cheap periods to a target SoC and
 * discharge in expensive ones to cover the site's demand (or at full power with allowExport).
 */
export const timeOfUseStrategy: Strategy<TimeOfUseConfig, TimeOfUseMemory> = {
  name: 'time-of-use',
  role: 'primary',
  configSchema: TimeOfUseConfigSchema,
  initialMemory: () => ({}),
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
    const local = toLocalTime(clock.nowMs, state.timezone);
    if (!local) {
      return { setpoints: holdAllBatteries(state.batteries), metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'invalid-timezone' }, memory };
    }
    const periods = state.tariff?.touPeriods ?? [];
    if (periods.length === 0) return neutral(state, config, fresh, 'no-tou-schedule', {}, memory);
    const priceEurPerMwh = touPriceAt(state.tariff, local);
    if (priceEurPerMwh === undefined) return neutral(state, config, fresh, 'no-tou-period', {}, memory);
    const periodClass = classifyTouPrice(priceEurPerMwh, periods.map((p) => p.eurPerMwh), config);
    const terms: Record<string, number> = { priceEurPerMwh, minuteOfDay: Math.floor(local.minuteOfDay) };

    if (periodClass === 'cheap') {
      const surplusWh = config.usePvForecast ? forecastPvSurplusWh(state.forecast, clock.nowMs, config.forecastHorizonMs) : undefined;
      const capacityWh = state.batteries.filter(fresh).reduce((s, b) => s + b.capacityWh, 0);
      const forecastReductionPct = surplusWh !== undefined && capacityWh > 0 ? (surplusWh / capacityWh) * 100 : 0;
      const target = (b: BatteryState): number =>
        Math.max(dischargeFloorSocPct(b), Math.min(config.chargeTargetSocPct ?? b.maxSocPct, b.maxSocPct) - forecastReductionPct);
      const usable = (b: BatteryState): boolean => fresh(b) && b.socPct < target(b);
      const fleet = fleetWindow(state.batteries, usable);
      const cheapTerms = { ...terms, forecastPvSurplusWh: surplusWh ?? -1, forecastReductionPct };
      if (fleet.maxChargeW === 0) return neutral(state, config, fresh, 'charge-target-reached', cheapTerms, memory);
      const limited = limitFleetW(-Math.min(fleet.maxChargeW, config.chargePowerW ?? Number.POSITIVE_INFINITY), state, usable);
      const reason: StrategyReason = limited.limitedBy === 'grid' ? 'grid-import-limit' : 'cheap-charging';
      return {
        setpoints: fleetSetpoints(limited.powerW, state.batteries, usable),
        metrics: { inputs, outputs: { batteryPowerW: limited.powerW }, terms: cheapTerms, reason },
        memory,
      };
    }
    if (periodClass === 'expensive') {
      const fleet = fleetWindow(state.batteries, fresh);
      const wantedW = config.allowExport ? fleet.maxDischargeW : Math.max(0, demandW);
      const limited = limitFleetW(wantedW, state, fresh);
      const reason: StrategyReason = fleet.maxDischargeW === 0 ? 'battery-empty' : 'expensive-discharging';
      return {
        setpoints: fleetSetpoints(limited.powerW, state.batteries, fresh),
        metrics: { inputs, outputs: { batteryPowerW: limited.powerW }, terms, reason },
        memory,
      };
    }
    const isFlat = new Set(periods.map((p) => p.eurPerMwh)).size === 1 && config.cheapAtOrBelowEurPerMwh === undefined && config.expensiveAtOrAboveEurPerMwh === undefined;
    return neutral(state, config, fresh, isFlat ? 'flat-tariff' : 'neutral-idle', terms, memory);
  },
};
