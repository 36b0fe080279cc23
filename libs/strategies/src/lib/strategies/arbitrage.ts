import { z } from 'zod';
import {
  ReadingAgeConfigShape,
  fleetSetpoints,
  fleetSocPct,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  limitFleetW,
  netDemandW,
  roundDischargeUpW,
  settleFleet,
  totalBatteryPowerW,
} from '../battery';
import { INITIAL_METER_MEMORY, type MeterMemory, observeMeter } from '../meter';
import { PlanConfigShape, type PlanMemory, planDecision, planSettings } from '../plan-core';
import type { StrategyReason } from '../reasons';
import type { BatteryState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';

export const ArbitrageConfigSchema = z.strictObject({
  ...PlanConfigShape,
  ...ReadingAgeConfigShape,
});
export type ArbitrageConfig = z.infer<typeof ArbitrageConfigSchema>;

export interface ArbitrageMemory {
  /** The grid meter as the strategy integrates it: the month's peak, the block in progress, the learned profile. */
  readonly meter: MeterMemory;
  /** The current plan, or null. */
  readonly plan: PlanMemory | null;
}

const INITIAL_MEMORY: ArbitrageMemory = { meter: INITIAL_METER_MEMORY, plan: null };

/**
 * Arbitrage: plans the batteries over the known day-ahead prices and the expected net demand by dynamic programming
 * (`lib/planner.ts`), valuing energy as the site's tariff bills it — import with taxes, fees and VAT, feed-in by its
 * rule, wear per kWh of throughput and the monthly peak charge — and decides every tick for the measured demand
 * against the plan's cost-to-go. It stores PV surplus when that is worth more than exporting it, charges from the
 * grid when a later hour pays back the losses and wear, and holds the month's peak.
 */
export const arbitrageStrategy: Strategy<ArbitrageConfig, ArbitrageMemory> = {
  name: 'arbitrage',
  role: 'primary',
  configSchema: ArbitrageConfigSchema,
  initialMemory: () => INITIAL_MEMORY,
  withSiteMeter: (memory, update) => ({ ...memory, meter: update(memory.meter) }),
  decide(state, config, clock, memory): StrategyResult<ArbitrageMemory> {
    const demandW = netDemandW(state);
    const inputs = { gridPowerW: state.gridPowerW, netDemandW: demandW, socPct: fleetSocPct(state.batteries) };
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const usable = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(usable)) {
      return { setpoints: holdAllBatteries(state.batteries), metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'stale-data' }, memory };
    }
    const meter = observeMeter(
      memory.meter,
      { nowMs: clock.nowMs, netW: demandW, batteryW: totalBatteryPowerW(state.batteries), timezone: state.timezone },
      config.maxSampleGapMs,
    );
    const fleet = state.batteries.filter(usable);
    const decision = planDecision({
      state,
      nowMs: clock.nowMs,
      batteries: fleet,
      meter,
      previous: memory.plan,
      settings: planSettings(config),
      priceSource: 'tariff',
      netNowW: demandW,
    });
    if ('missing' in decision) {
      const reason: StrategyReason = decision.missing === 'timezone' ? 'invalid-timezone' : 'no-prices';
      return {
        setpoints: fleetSetpoints(0, state.batteries, usable),
        metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: { knownPrices: state.prices?.length ?? 0 }, reason },
        memory: { meter: decision.meter, plan: null },
      };
    }
    const noExportAboveW = config.allowExport ? undefined : Math.max(0, demandW);
    const limited = limitFleetW(roundDischargeUpW(decision.powerW, state.batteries, usable, noExportAboveW), state, usable);
    const sent = settleFleet(limited.powerW, state.batteries, usable);
    let reason: StrategyReason = sent.powerW < 0 ? 'arbitrage-charging' : sent.powerW > 0 ? 'arbitrage-discharging' : 'arbitrage-idle';
    if (decision.terms['touFallback'] === 1) reason = 'no-prices-tou-fallback';
    return {
      setpoints: sent.setpoints,
      metrics: {
        inputs,
        outputs: { batteryPowerW: sent.powerW },
        terms: { ...decision.terms, wantedW: Math.round(decision.powerW), replanned: decision.replanned ? 1 : 0 },
        reason,
      },
      memory: { meter: decision.meter, plan: decision.plan },
    };
  },
};
