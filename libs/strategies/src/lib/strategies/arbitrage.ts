import { z } from 'zod';
import {
  ReadingAgeConfigShape,
  dischargeFloorSocPct,
  fleetSetpoints,
  fleetSocPct,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  limitFleetW,
  netDemandW,
} from '../battery';
import { parseTimeOfDay, toLocalTime } from '../local-time';
import { hashNumbers, hashPrices, knownHorizon, touPriceAt } from '../prices';
import type { StrategyReason } from '../reasons';
import type { BatteryState, PricePoint, SiteState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';

const HOUR_MS = 3_600_000;
const FALLBACK_SLOT_MS = 900_000;

export const ArbitrageConfigSchema = z.strictObject({
  /** Stored energy per grid energy when charging, 0..1. */
  chargeEfficiency: z.number().gt(0).max(1).default(0.95),
  /** Grid energy per stored energy when discharging, 0..1. */
  dischargeEfficiency: z.number().gt(0).max(1).default(0.95),
  /** Battery wear per kWh discharged (taken out of the battery), EUR/kWh. */
  wearCostEurPerKwh: z.number().min(0).default(0.02),
  /** Spacing of the SoC grid the plan is computed on, % of capacity (smaller = finer plan, slower). */
  socStepPct: z.number().min(0.5).max(25).default(2),
  /** Cap on charge and discharge power, W; default: the batteries' limits. */
  maxPowerW: z.number().positive().optional(),
  /** Added to the spot price when buying (grid fee, taxes), EUR/MWh. */
  importAdderEurPerMwh: z.number().finite().default(0),
  /** Added to the spot price when selling (negative = feed-in discount), EUR/MWh. */
  exportAdderEurPerMwh: z.number().finite().default(0),
  /** When false, discharge only covers the site's own demand. */
  allowExport: z.boolean().default(true),
  /** Re-plan when the SoC is this far from the plan, %. */
  replanSocDeviationPct: z.number().positive().default(5),
  /** Longest horizon planned over, ms. */
  maxHorizonMs: z.number().int().positive().default(48 * HOUR_MS),
  /** Without spot prices, plan on the tariff's ToU schedule (next fallbackHorizonMs) instead of idling. */
  touFallback: z.boolean().default(true),
  fallbackHorizonMs: z.number().int().positive().default(24 * HOUR_MS),
  ...ReadingAgeConfigShape,
});
export type ArbitrageConfig = z.infer<typeof ArbitrageConfigSchema>;

/** One interval of the plan: move the fleet's stored energy from startEnergyWh to endEnergyWh. */
export interface ArbitragePlanSlot {
  readonly startMs: number;
  readonly endMs: number;
  readonly eurPerMwh: number;
  readonly startEnergyWh: number;
  readonly endEnergyWh: number;
  readonly action: 'charge' | 'discharge' | 'idle';
}

export interface ArbitrageMemory {
  /** Hash of the known prices (or of the ToU schedule) the plan was made on; null = no plan. */
  readonly pricesHash: string | null;
  readonly source: 'spot' | 'tariff-tou' | null;
  readonly plan: readonly ArbitragePlanSlot[];
  readonly plannedAtMs: number | null;
  readonly expectedProfitEur: number;
}

/** What `planArbitrage` needs. Energies are the fleet's stored energy, Wh. */
export interface ArbitragePlanInput {
  /** Contiguous price intervals, sorted; the first may begin before nowMs (planning starts at nowMs). */
  readonly slots: readonly PricePoint[];
  readonly nowMs: number;
  readonly energyWh: number;
  readonly minEnergyWh: number;
  readonly maxEnergyWh: number;
  readonly capacityWh: number;
  /** Grid-side limits, W ≥ 0. */
  readonly maxChargeW: number;
  readonly maxDischargeW: number;
  readonly config: Pick<
    ArbitrageConfig,
    'chargeEfficiency' | 'dischargeEfficiency' | 'wearCostEurPerKwh' | 'socStepPct' | 'importAdderEurPerMwh' | 'exportAdderEurPerMwh'
  >;
}

export interface ArbitragePlan {
  readonly slots: readonly ArbitragePlanSlot[];
  /** Value of the plan over the horizon, EUR; ≥ 0 because idling is always a candidate. */
  readonly expectedProfitEur: number;
  /** Number of SoC levels of the grid. */
  readonly levels: number;
}

/** Comparisons of plan values use this tolerance, EUR; a cycle must earn more than it to beat idling. */
const VALUE_EPSILON_EUR = 1e-9;

/**
 * Deterministic dynamic programming over a discretized SoC grid.
 *
 * Discretization: levels E_k = minEnergyWh + k · ΔE with ΔE = socStepPct % of capacityWh, k = 0…K while
 * E_k ≤ maxEnergyWh, plus maxEnergyWh itself as the top level when it is not on the grid. The plan starts at the
 * highest level not above the current energy (so real stored energy is never below the plan's). In each price
 * interval (the first one starts at nowMs) the fleet may move from level i to any level j reachable within the
 * power limits: stored gain ≤ maxChargeW · ηc · h, stored loss ≤ maxDischargeW / ηd · h.
 *
 * Value of a move (EUR): charging ΔE costs ΔE/ηc · (price + importAdder); discharging ΔE earns
 * ΔE·ηd · (price + exportAdder) − wear · ΔE. Energy left at the end of the horizon is worth 0, so nothing is bought
 * that is not sold at a profit within the known horizon (negative prices are still taken when they pay).
 * Ties go to idling, then to the smallest move, then to the lower level: the plan only cycles when the spread
 * beats the losses and the wear.
 */
export function planArbitrage(input: ArbitragePlanInput): ArbitragePlan {
  const { config } = input;
  const stepWh = (config.socStepPct / 100) * input.capacityWh;
  const levels: number[] = [];
  if (stepWh > 0 && input.maxEnergyWh >= input.minEnergyWh) {
    for (let e = input.minEnergyWh; e <= input.maxEnergyWh + 1e-9; e = input.minEnergyWh + levels.length * stepWh) levels.push(e);
    const top = levels[levels.length - 1] ?? input.minEnergyWh;
    if (input.maxEnergyWh - top > 1e-6 * input.capacityWh) levels.push(input.maxEnergyWh);
  }
  const n = levels.length;
  const slots = input.slots
    .map((p) => ({ ...p, startMs: Math.max(p.startMs, input.nowMs) }))
    .filter((p) => p.endMs > p.startMs);
  if (n === 0 || slots.length === 0) return { slots: [], expectedProfitEur: 0, levels: n };

  let startIndex = 0;
  for (let k = 0; k < n; k++) if ((levels[k] ?? Infinity) <= input.energyWh + 1e-6) startIndex = k;

  const order: number[][] = [];
  for (let i = 0; i < n; i++) {
    const o = [i];
    for (let r = 1; r < n; r++) {
      if (i - r >= 0) o.push(i - r);
      if (i + r < n) o.push(i + r);
    }
    order.push(o);
  }

  const t = slots.length;
  let next = new Float64Array(n); // value-to-go after the last slot: 0
  const choice: Int32Array[] = [];
  for (let s = t - 1; s >= 0; s--) {
    const slot = slots[s];
    const hours = slot ? (slot.endMs - slot.startMs) / HOUR_MS : 0;
    const price = slot?.eurPerMwh ?? 0;
    const maxGainWh = input.maxChargeW * config.chargeEfficiency * hours + 1e-9;
    const maxLossWh = (input.maxDischargeW / config.dischargeEfficiency) * hours + 1e-9;
    const current = new Float64Array(n);
    const chosen = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const ei = levels[i] ?? 0;
      let best = -Infinity;
      let bestJ = i;
      for (const j of order[i] ?? []) {
        const dWh = (levels[j] ?? 0) - ei;
        let reward = 0;
        if (dWh > 0) {
          if (dWh > maxGainWh) continue;
          reward = -((dWh / config.chargeEfficiency) / 1e6) * (price + config.importAdderEurPerMwh);
        } else if (dWh < 0) {
          if (-dWh > maxLossWh) continue;
          reward = ((-dWh * config.dischargeEfficiency) / 1e6) * (price + config.exportAdderEurPerMwh) - (config.wearCostEurPerKwh * -dWh) / 1000;
        }
        const value = reward + (next[j] ?? 0);
        if (value > best + VALUE_EPSILON_EUR) {
          best = value;
          bestJ = j;
        }
      }
      current[i] = best;
      chosen[i] = bestJ;
    }
    choice[s] = chosen;
    next = current;
  }

  const planned: ArbitragePlanSlot[] = [];
  let i = startIndex;
  slots.forEach((slot, s) => {
    const j = choice[s]?.[i] ?? i;
    const startEnergyWh = levels[i] ?? 0;
    const endEnergyWh = levels[j] ?? 0;
    planned.push({
      startMs: slot.startMs,
      endMs: slot.endMs,
      eurPerMwh: slot.eurPerMwh,
      startEnergyWh,
      endEnergyWh,
      action: endEnergyWh > startEnergyWh ? 'charge' : endEnergyWh < startEnergyWh ? 'discharge' : 'idle',
    });
    i = j;
  });
  return { slots: planned, expectedProfitEur: Math.max(0, next[startIndex] ?? 0), levels: n };
}

/** 15-minute price slots from the tariff's ToU schedule, merged where the price does not change. */
function touSlots(state: SiteState, nowMs: number, horizonMs: number): PricePoint[] {
  const out: PricePoint[] = [];
  const firstMs = Math.floor(nowMs / FALLBACK_SLOT_MS) * FALLBACK_SLOT_MS;
  for (let startMs = firstMs; startMs < nowMs + horizonMs; startMs += FALLBACK_SLOT_MS) {
    const local = toLocalTime(startMs, state.timezone);
    const price = local ? touPriceAt(state.tariff, local) : undefined;
    if (price === undefined) break;
    const last = out[out.length - 1];
    if (last && last.eurPerMwh === price && last.endMs === startMs) out[out.length - 1] = { ...last, endMs: startMs + FALLBACK_SLOT_MS };
    else out.push({ startMs, endMs: startMs + FALLBACK_SLOT_MS, eurPerMwh: price });
  }
  return out;
}

function touHash(state: SiteState): string {
  const periods = state.tariff?.touPeriods ?? [];
  return hashNumbers(periods.flatMap((p) => [parseTimeOfDay(p.from), parseTimeOfDay(p.to), p.eurPerMwh, ...p.days, -1]));
}

const NO_PLAN: ArbitrageMemory = { pricesHash: null, source: null, plan: [], plannedAtMs: null, expectedProfitEur: 0 };

/**
 * Arbitrage: plans charge/discharge over the known day-ahead prices by dynamic programming (`planArbitrage`),
 * re-plans when the prices change (hash in memory), the plan runs out or the SoC leaves it, and follows the plan
 * by steering toward each interval's planned end energy.
 */
export const arbitrageStrategy: Strategy<ArbitrageConfig, ArbitrageMemory> = {
  name: 'arbitrage',
  role: 'primary',
  configSchema: ArbitrageConfigSchema,
  initialMemory: () => NO_PLAN,
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
    const fleet = state.batteries.filter(usable);
    const capacityWh = fleet.reduce((s, b) => s + b.capacityWh, 0);
    const energyWh = fleet.reduce((s, b) => s + (b.socPct / 100) * b.capacityWh, 0);
    const minEnergyWh = fleet.reduce((s, b) => s + (dischargeFloorSocPct(b) / 100) * b.capacityWh, 0);
    const maxEnergyWh = fleet.reduce((s, b) => s + (Math.max(b.maxSocPct, dischargeFloorSocPct(b)) / 100) * b.capacityWh, 0);
    const cap = config.maxPowerW ?? Number.POSITIVE_INFINITY;
    const maxChargeW = Math.min(cap, fleet.reduce((s, b) => s + Math.max(0, b.maxChargePowerW), 0));
    const maxDischargeW = Math.min(cap, fleet.reduce((s, b) => s + Math.max(0, b.maxDischargePowerW), 0));

    // The price series: spot prices from now, else the ToU schedule, else nothing.
    const spot = knownHorizon(state.prices, clock.nowMs).filter((p) => p.startMs < clock.nowMs + config.maxHorizonMs);
    let series: PricePoint[] = spot;
    let source: 'spot' | 'tariff-tou' | null = spot.length > 0 ? 'spot' : null;
    if (!source && config.touFallback && (state.tariff?.touPeriods?.length ?? 0) > 0) {
      series = touSlots(state, clock.nowMs, Math.min(config.fallbackHorizonMs, config.maxHorizonMs));
      source = series.length > 0 ? 'tariff-tou' : null;
    }
    if (!source) {
      return {
        setpoints: fleetSetpoints(0, state.batteries, usable),
        metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: { knownPrices: state.prices?.length ?? 0 }, reason: 'no-prices' },
        memory: NO_PLAN,
      };
    }
    const hash =
      source === 'spot'
        ? `spot:${hashPrices([...(state.prices ?? [])].filter((p) => Number.isFinite(p.eurPerMwh)).sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs))}`
        : `tou:${touHash(state)}`;

    const slotNow = (plan: readonly ArbitragePlanSlot[]): ArbitragePlanSlot | undefined =>
      plan.find((s) => s.startMs <= clock.nowMs && clock.nowMs < s.endMs);
    const plannedEnergyNow = (slot: ArbitragePlanSlot): number => {
      const f = (clock.nowMs - slot.startMs) / (slot.endMs - slot.startMs);
      return slot.startEnergyWh + (slot.endEnergyWh - slot.startEnergyWh) * f;
    };
    let current = memory;
    let replanned = 0;
    const existing = slotNow(memory.plan);
    const deviationPct = existing && capacityWh > 0 ? (Math.abs(energyWh - plannedEnergyNow(existing)) / capacityWh) * 100 : Infinity;
    if (memory.pricesHash !== hash || !existing || deviationPct > config.replanSocDeviationPct) {
      const plan = planArbitrage({
        slots: series,
        nowMs: clock.nowMs,
        energyWh,
        minEnergyWh,
        maxEnergyWh,
        capacityWh,
        maxChargeW,
        maxDischargeW,
        config,
      });
      current = { pricesHash: hash, source, plan: plan.slots, plannedAtMs: clock.nowMs, expectedProfitEur: plan.expectedProfitEur };
      replanned = 1;
    }

    const slot = slotNow(current.plan);
    let wantedW = 0;
    if (slot) {
      const remainingH = Math.max((slot.endMs - clock.nowMs) / HOUR_MS, 1 / 60);
      if (slot.action === 'charge') {
        const needWh = slot.endEnergyWh - energyWh;
        wantedW = needWh > 0 ? -Math.min(needWh / config.chargeEfficiency / remainingH, maxChargeW) : 0;
      } else if (slot.action === 'discharge') {
        const needWh = energyWh - slot.endEnergyWh;
        wantedW = needWh > 0 ? Math.min((needWh * config.dischargeEfficiency) / remainingH, maxDischargeW) : 0;
      }
    }
    const exportCappedW = config.allowExport ? wantedW : Math.min(wantedW, Math.max(0, demandW));
    const limited = limitFleetW(exportCappedW, state, usable);
    let reason: StrategyReason = limited.powerW < 0 ? 'arbitrage-charging' : limited.powerW > 0 ? 'arbitrage-discharging' : 'arbitrage-idle';
    if (exportCappedW < wantedW && limited.powerW === exportCappedW) reason = 'no-export';
    if (current.source === 'tariff-tou') reason = 'no-prices-tou-fallback';
    const last = current.plan[current.plan.length - 1];
    return {
      setpoints: fleetSetpoints(limited.powerW, state.batteries, usable),
      metrics: {
        inputs,
        outputs: { batteryPowerW: limited.powerW },
        terms: {
          expectedProfitEur: Math.round(current.expectedProfitEur * 1e4) / 1e4,
          replanned,
          horizonSlots: current.plan.length,
          horizonEndMs: last?.endMs ?? clock.nowMs,
          slotPriceEurPerMwh: slot?.eurPerMwh ?? 0,
          plannedEndSocPct: slot && capacityWh > 0 ? Math.round((slot.endEnergyWh / capacityWh) * 1e4) / 100 : 0,
          wantedW,
        },
        reason,
      },
      memory: current,
    };
  },
};
