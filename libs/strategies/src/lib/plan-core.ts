import { z } from 'zod';
import type { Tariff } from '@voltimax/contracts';
import { dischargeFloorSocPct } from './battery';
import { localMonthKey } from './local-time';
import { hashNumbers } from './prices';
import { HISTORY_DAYS, METER_BLOCK_MS, type MeterMemory, alternativeWeight, blockCapW, historyNetW, notePredictions, profileNetW, profilePrevNetW } from './meter';
import {
  type EnergyLevels,
  type PlanBattery,
  type PlanRules,
  type PlanSlot,
  choosePower,
  energyAfterCapWh,
  energyLevels,
  lowestFeasibleCapW,
  peakReserve,
  reservePenaltyEur,
  slotCostEur,
  solvePlan,
  valueAtEnergy,
} from './planner';
import type { BatteryState, PricePoint, SiteState } from './site-state';
import { type LocalClock, localClock, meterPrices, peakChargeEurPerKw, sortedPrices, spotBook, touEnergyAt } from './tariff-prices';

// Globals looked up once: inside a vm context (Jest) every global lookup in a hot loop is slow.
const { ceil, floor, max, min, round: roundNumber } = Math;
const INFINITY = Number.POSITIVE_INFINITY;
const isFiniteNumber = Number.isFinite;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Plan slots are the metering quarter hours (clock-aligned). */
export const PLAN_SLOT_MS = METER_BLOCK_MS;
/** Learned-profile entries older than this are not used as a forecast, ms. */
const PROFILE_MAX_AGE_MS = 2 * DAY_MS;
/** Previous-day profile entries older than this are not used, ms. */
const PROFILE_PREV_MAX_AGE_MS = 3 * DAY_MS;
/** How far back price persistence looks for the same interval, days. */
const PRICE_PERSISTENCE_DAYS = 2;
/** Relative increments over the lowest feasible cap tried when the peak cap is searched. */
const CAP_LADDER = [0, 0.1, 0.25, 0.5, 1] as const;
/** The monthly cap is searched again at least this often, ms. */
const CAP_SEARCH_MS = 12 * 3_600_000;

/** Settings shared by the planning strategies (Arbitrage, TimeOfUse in 'plan' mode). */
export const PlanConfigShape = {
  /** Stored energy per grid energy when charging, 0..1. */
  chargeEfficiency: z.number().gt(0).max(1).default(0.95),
  /** Grid energy per stored energy when discharging, 0..1. */
  dischargeEfficiency: z.number().gt(0).max(1).default(0.95),
  /** Battery wear per kWh of AC throughput, counted when charging and when discharging, EUR/kWh. */
  wearCostEurPerKwh: z.number().min(0).default(0.02),
  /** Spacing of the stored-energy grid the plan is computed on, % of capacity (smaller = finer plan, slower). */
  socStepPct: z.number().min(0.5).max(25).default(2),
  /** Cap on charge and discharge power, W; default: the batteries' limits. */
  maxPowerW: z.number().positive().optional(),
  /** Added to the import price the plan uses, EUR/MWh (e.g. a fee the site tariff does not list). */
  importAdderEurPerMwh: z.number().finite().default(0),
  /** Added to the feed-in price the plan uses, EUR/MWh (negative = a feed-in discount). */
  exportAdderEurPerMwh: z.number().finite().default(0),
  /** May the battery discharge into export (false: only into the site's own demand)? */
  allowExport: z.boolean().default(true),
  /** May the battery charge from the grid (false: only from PV surplus)? */
  allowGridCharge: z.boolean().default(true),
  /**
   * Plan against the expected net demand (load − PV) of future slots: the state's forecast where it covers a slot,
   * else the net demand the strategy measured at the same time of day within the last two days, else the demand
   * measured now. False: future demand is taken as 0 (a battery that only trades with the grid).
   */
  useForecast: z.boolean().default(true),
  /** Include the tariff's monthly peak-demand charge in the plan. */
  peakAware: z.boolean().default(true),
  /** Longest horizon planned over, ms. */
  maxHorizonMs: z.number().int().min(METER_BLOCK_MS).max(7 * 24 * HOUR_MS).default(48 * HOUR_MS),
  /** Beyond the known day-ahead prices, estimate each price by the same interval one (two) days earlier. */
  pricePersistence: z.boolean().default(true),
  /** Re-plan at least this often, ms (and whenever prices, tariff, battery fleet or the month's peak change). */
  replanIntervalMs: z.number().int().min(60_000).max(24 * HOUR_MS).default(HOUR_MS),
  /** Highest SoC the plan charges to, %; default each battery's maxSocPct. */
  maxPlanSocPct: z.number().min(0).max(100).optional(),
  /**
   * Weight of a second demand scenario, 0..1: each future slot may also go like the same time one day before the
   * forecast's source day (the strategy keeps the last two days of its own readings). Stored energy is then valued
   * by both outcomes, so one day's weather does not decide alone whether to charge from the grid or leave room for
   * PV. Default: learned — the strategy scores both predictions against every measured quarter hour and weighs them
   * by inverse mean squared error (an exact forecast ends up alone; a persistence forecast shares about half);
   * 0.5 until a day has been scored. 0 = plan on the forecast alone.
   */
  altScenarioWeight: z.number().min(0).max(1).optional(),
  /**
   * Value stored energy over the next day by whole days: the expected demand and each of the site's last seven days
   * (moved toward the expected demand as far as the forecast has been right) is one scenario for the next 24 h, solved
   * on its own, and the decisions take the mean of their costs-to-go. A sunny day is sunny all day: the choice between charging from the
   * grid at night and leaving room for PV then faces the real spread of whole days, not quarter hours drawn one by one
   * (whose sum is nearly certain). Needs a day of the strategy's own readings; off when `altScenarioWeight` is 0.
   */
  wholeDayScenarios: z.boolean().default(true),
  /**
   * Hold the month's peak cap robustly: size the cap and keep a stored-energy reserve for it on a pessimistic demand
   * (the expected net demand raised toward the highest the site drew at that time of day recently, as far as the
   * forecast has been wrong), not on the expected demand alone. Each Wh below that reserve costs the plan the peak
   * charge of 1 W for an hour. False: the cap is sized and held on the expected demand only.
   */
  peakReserve: z.boolean().default(true),
  /** Longest gap between two readings that still counts toward the measured 15-min import (peak tracking), ms. */
  maxSampleGapMs: z.number().int().positive().default(METER_BLOCK_MS),
};

/** The planner settings of a parsed plan config. */
export function planSettings(config: z.infer<z.ZodObject<typeof PlanConfigShape>>): PlanSettings {
  return {
    chargeEfficiency: config.chargeEfficiency,
    dischargeEfficiency: config.dischargeEfficiency,
    wearCostEurPerKwh: config.wearCostEurPerKwh,
    socStepPct: config.socStepPct,
    maxPowerW: config.maxPowerW,
    importAdderEurPerMwh: config.importAdderEurPerMwh,
    exportAdderEurPerMwh: config.exportAdderEurPerMwh,
    allowExport: config.allowExport,
    allowGridCharge: config.allowGridCharge,
    useForecast: config.useForecast,
    peakAware: config.peakAware,
    maxHorizonMs: config.maxHorizonMs,
    pricePersistence: config.pricePersistence,
    replanIntervalMs: config.replanIntervalMs,
    maxPlanSocPct: config.maxPlanSocPct,
    altScenarioWeight: config.altScenarioWeight,
    wholeDayScenarios: config.wholeDayScenarios,
    peakReserve: config.peakReserve,
  };
}

/** Where the planner's prices come from. */
export type PlanPriceSource =
  /** The tariff as billed: spot for `dynamic` (ToU periods, then the fixed price, when no spot is known), the ToU schedule, or the fixed price. */
  | 'tariff'
  /** The tariff's ToU schedule only (spot prices are used only for spot feed-in). */
  | 'tou';

/** Settings of a planning strategy (from its config). */
export interface PlanSettings {
  readonly chargeEfficiency: number;
  readonly dischargeEfficiency: number;
  /** EUR per kWh of AC throughput (charged + discharged). */
  readonly wearCostEurPerKwh: number;
  readonly socStepPct: number;
  readonly maxPowerW?: number | undefined;
  readonly importAdderEurPerMwh: number;
  readonly exportAdderEurPerMwh: number;
  readonly allowExport: boolean;
  readonly allowGridCharge: boolean;
  /** Use the forecast in the state (and the learned profile) for the net demand of future slots. */
  readonly useForecast: boolean;
  /** Include the tariff's peak-demand charge. */
  readonly peakAware: boolean;
  readonly maxHorizonMs: number;
  /** Estimate unknown spot prices by the same interval a day (two days) earlier. */
  readonly pricePersistence: boolean;
  readonly replanIntervalMs: number;
  /** Highest SoC the plan may charge to, %, on top of each battery's maxSocPct. */
  readonly maxPlanSocPct?: number | undefined;
  /** Probability of each slot's second demand scenario (a day before the forecast's source), 0 = none; undefined = learned. */
  readonly altScenarioWeight?: number | undefined;
  /** Average the next day's costs-to-go over whole-day scenarios from the site's last days (see PlanConfigShape). */
  readonly wholeDayScenarios?: boolean | undefined;
  /** Size and hold the peak cap on a pessimistic demand (see PlanConfigShape.peakReserve); default false. */
  readonly peakReserve?: boolean | undefined;
}

/** The plan kept between ticks: the cost-to-go rows after the slots it covers, plain JSON. */
export interface PlanMemory {
  readonly madeAtMs: number;
  /** Changes when the prices, the tariff, the fleet or the settings the plan was made on change. */
  readonly inputsHash: string;
  /** Start of the slot row 0 refers to (the end of the slot the plan was made in), epoch ms. */
  readonly rowsStartMs: number;
  /** rows[j][k]: cost-to-go (EUR) at rowsStartMs + j · slot with stored energy at level k. */
  readonly rows: readonly (readonly number[])[];
  readonly levelMinWh: number;
  readonly levelStepWh: number;
  /** The import cap per local month the plan holds, W (absent: no peak charge). */
  readonly capsW: Readonly<Record<string, number>>;
  /** Expected cost of the plan / of an idle battery over its horizon, EUR. */
  /** When the current month's cap was last searched, epoch ms. */
  readonly capSearchedAtMs: number;
  readonly expectedCostEur: number;
  readonly idleCostEur: number;
  readonly horizonEndMs: number;
  /** Slots of the horizon, and how many had a forecast / learned net demand or an estimated (not yet known) price. */
  readonly horizonSlots: number;
  readonly forecastSlots: number;
  readonly learnedSlots: number;
  readonly estimatedPriceSlots: number;
}

/** The fleet of usable batteries, aggregated. */
export interface Fleet {
  readonly capacityWh: number;
  readonly energyWh: number;
  readonly battery: PlanBattery;
}

export function fleetOf(batteries: readonly BatteryState[], settings: PlanSettings): Fleet {
  const capacityWh = batteries.reduce((s, b) => s + b.capacityWh, 0);
  const energyWh = batteries.reduce((s, b) => s + (b.socPct / 100) * b.capacityWh, 0);
  const minEnergyWh = batteries.reduce((s, b) => s + (dischargeFloorSocPct(b) / 100) * b.capacityWh, 0);
  const maxEnergyWh = batteries.reduce((s, b) => {
    const top = min(b.maxSocPct, settings.maxPlanSocPct ?? b.maxSocPct);
    return s + (max(top, dischargeFloorSocPct(b)) / 100) * b.capacityWh;
  }, 0);
  const cap = settings.maxPowerW ?? INFINITY;
  return {
    capacityWh,
    energyWh,
    battery: {
      minEnergyWh,
      maxEnergyWh,
      maxChargeW: min(cap, batteries.reduce((s, b) => s + max(0, b.maxChargePowerW), 0)),
      maxDischargeW: min(cap, batteries.reduce((s, b) => s + max(0, b.maxDischargePowerW), 0)),
      chargeEfficiency: settings.chargeEfficiency,
      dischargeEfficiency: settings.dischargeEfficiency,
    },
  };
}

/** A slot with its local month (for the monthly peak). */
export interface SiteSlot extends Omit<PlanSlot, 'peakCapW'> {
  readonly monthKey: string;
  /** Where netW came from: 0 = measured now, 1 = forecast, 2 = learned profile, 3 = unknown (the measured demand now held). */
  readonly demandSource: 0 | 1 | 2 | 3;

  readonly isPriceKnown: boolean;
}

/** The slots from now: prices by the tariff (or ToU schedule), net demand measured / forecast / learned. */
export interface SiteSlots {
  readonly slots: readonly SiteSlot[];
  readonly clock: LocalClock | undefined;
  /** Why there are no slots, if there are none. */
  readonly missing?: 'prices' | 'timezone';
  /** True when the energy price came from the ToU schedule although the tariff is dynamic (no spot known). */
  readonly touFallback: boolean;
}

function forecastNetW(state: SiteState, startMs: number, endMs: number): number | undefined {
  const f = state.forecast;
  if (!f || !(f.stepMs > 0)) return undefined;
  const steps = min(f.loadW.length, f.pvW.length);
  const first = max(0, floor((startMs - f.startMs) / f.stepMs));
  let sum = 0;
  let covered = 0;
  for (let i = first; i < steps; i++) {
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

/** Builds the plan slots from now over the horizon; stops at the first slot without a price. */
export function siteSlots(
  state: SiteState,
  nowMs: number,
  netNowW: number,
  meter: MeterMemory,
  settings: PlanSettings,
  priceSource: PlanPriceSource,
  horizonEndMs: number = nowMs + settings.maxHorizonMs,
): SiteSlots {
  const clock = localClock(nowMs, horizonEndMs, state.timezone);
  if (!clock) return { slots: [], clock, missing: 'timezone', touFallback: false };
  const book = spotBook(state.prices);
  const tariff: Tariff | undefined = state.tariff;
  const slots: SiteSlot[] = [];
  let touFallback = false;
  for (let startMs = nowMs; startMs < horizonEndMs; ) {
    const endMs = min(horizonEndMs, (floor(startMs / PLAN_SLOT_MS) + 1) * PLAN_SLOT_MS);
    const spot = settings.pricePersistence ? book.estimateOver(startMs, endMs, PRICE_PERSISTENCE_DAYS) : mapKnown(book.meanOver(startMs, endMs));
    const tou = touEnergyAt(tariff, clock, startMs);
    let prices;
    if (priceSource === 'tou') {
      if (tou === undefined) break;
      prices = meterPrices(tariff && { ...tariff, kind: 'time-of-use' }, spot?.eurPerMwh, tou);
    } else if (tariff?.kind === 'dynamic' && spot === undefined) {
      prices = meterPrices(tariff, undefined, undefined) ?? meterPrices({ ...tariff, kind: 'time-of-use' }, undefined, tou);
      if (prices && tou !== undefined && tariff.fixedEurPerMwh === undefined) touFallback = true;
    } else {
      prices = meterPrices(tariff, spot?.eurPerMwh, tou);
    }
    if (!prices) break;
    let netW: number;
    let demandSource: SiteSlot['demandSource'];
    const fromForecast = slots.length === 0 || !settings.useForecast ? undefined : forecastNetW(state, startMs, endMs);
    const learned = slots.length === 0 || !settings.useForecast || fromForecast !== undefined ? undefined : profileNetW(meter, startMs, endMs, nowMs, PROFILE_MAX_AGE_MS);
    if (slots.length === 0) {
      netW = netNowW;
      demandSource = 0;
    } else if (fromForecast !== undefined) {
      netW = fromForecast;
      demandSource = 1;
    } else if (learned !== undefined) {
      netW = learned;
      demandSource = 2;
    } else {
      // Nothing known about this slot: the measured demand now is the best guess (naive persistence).
      netW = settings.useForecast ? netNowW : 0;
      demandSource = 3;
    }
    // The second scenario within a day only: further ahead the forecast's source day and the one before it are
    // three and four days old.
    const alt = slots.length === 0 || !settings.useForecast || startMs >= nowMs + DAY_MS ? undefined : profilePrevNetW(meter, startMs, endMs, nowMs, PROFILE_PREV_MAX_AGE_MS);
    slots.push({
      startMs,
      endMs,
      netW,
      ...(alt !== undefined ? { altNetW: alt } : {}),
      importEurPerMwh: prices.importEurPerMwh + settings.importAdderEurPerMwh,
      exportEurPerMwh: prices.exportEurPerMwh + settings.exportAdderEurPerMwh,
      monthKey: clock.monthKey(startMs),
      demandSource,
      isPriceKnown: spot?.isKnown ?? priceSource === 'tou',
    });
    startMs = endMs;
  }
  return slots.length === 0 ? { slots, clock, missing: 'prices', touFallback } : { slots, clock, touFallback };
}

function mapKnown(value: number | undefined): { readonly eurPerMwh: number; readonly isKnown: boolean } | undefined {
  return value === undefined ? undefined : { eurPerMwh: value, isKnown: true };
}

/** Weight of the second demand scenario before any quarter hour has been scored. */
const DEFAULT_ALT_WEIGHT = 0.5;

function rulesOf(state: SiteState, settings: PlanSettings, meter: MeterMemory): PlanRules {
  return {
    wearEurPerMwh: settings.wearCostEurPerKwh * 1000,
    peakEurPerKw: settings.peakAware ? peakChargeEurPerKw(state.tariff) : 0,
    maxImportW: max(0, state.limits.maxImportW),
    maxExportW: max(0, state.limits.maxExportW),
    allowGridCharge: settings.allowGridCharge,
    allowExport: settings.allowExport,
    altScenarioWeight: settings.useForecast ? (settings.altScenarioWeight ?? alternativeWeight(meter, DEFAULT_ALT_WEIGHT)) : 0,
  };
}

/** Assigns each slot the import cap of its month. */
function withCaps(slots: readonly SiteSlot[], capsW: Readonly<Record<string, number>>): PlanSlot[] {
  return slots.map((s) => ({ ...s, peakCapW: capsW[s.monthKey] ?? INFINITY }));
}

/**
 * How the next day may go, by the site's own last days: scenario k (k = 1 … HISTORY_DAYS) moves each slot starting
 * before the current quarter hour's start + 24 h from its expected net demand toward that of the same time k days earlier, by `hedge` (0 = the
 * expected demand, 1 = the day itself); slot 0 is the demand measured now. Only days measured completely over that
 * window count. Slots: the first `window` of `slots`.
 */
export function dayScenarios(
  meter: MeterMemory,
  slots: readonly Pick<SiteSlot, 'startMs' | 'endMs' | 'netW'>[],
  netNowW: number,
  hedge: number,
): { readonly window: number; readonly demandsW: readonly (readonly number[])[] } {
  const first = slots[0];
  if (!first) return { window: 0, demandsW: [] };
  // Up to the same quarter hour tomorrow: a day back from there is the quarter hour in progress, not yet measured.
  const untilMs = floor(first.startMs / PLAN_SLOT_MS) * PLAN_SLOT_MS + DAY_MS;
  let window = 0;
  while (window < slots.length && (slots[window]?.startMs ?? INFINITY) < untilMs) window++;
  const demandsW: number[][] = [];
  for (let k = 1; k <= HISTORY_DAYS; k++) {
    const demand = [netNowW];
    for (let t = 1; t < window; t++) {
      const s = slots[t] as Pick<SiteSlot, 'startMs' | 'endMs' | 'netW'>;
      const w = historyNetW(meter, s.startMs, s.endMs, k);
      if (w === undefined) break;
      demand.push(s.netW + hedge * (w - s.netW));
    }
    if (demand.length === window) demandsW.push(demand);
  }
  return { window, demandsW };
}

/**
 * The lowest import cap (≥ floorW) the battery can hold from its present energy over the next day in every one of
 * the day scenarios, W; floorW without scenarios. Only the current month's slots count.
 */
function robustCapW(slots: readonly SiteSlot[], scenarios: ReturnType<typeof dayScenarios>, fleet: Fleet, rules: PlanRules, floorW: number): number {
  const month = slots[0]?.monthKey;
  let count = 0;
  while (count < scenarios.window && slots[count]?.monthKey === month) count++;
  let capW = floorW;
  for (const demand of scenarios.demandsW) {
    const part = slots.slice(0, count).map((s, t) => ({ startMs: s.startMs, endMs: s.endMs, netW: demand[t] ?? s.netW }));
    capW = max(capW, lowestFeasibleCapW(part, fleet.energyWh, fleet.battery, rules, floorW));
  }
  return capW;
}

/**
 * The monthly import caps to plan with. The current month's: the lowest cap the battery can hold over its slots (never
 * below the peak already reached this month or `robustFloorW`); with a search, then chosen on a ladder above it by the
 * least plan cost + peak charge — holding a lower peak can cost more energy than the charge it saves (the plan cost
 * averaged over the whole-day scenarios `days`, when given); without, it keeps `keepCapW` (raised to the month's peak
 * if that rose above). A later month's cap is the lowest the battery can hold over its slots, but never below the
 * current month's lowest (its peak so far, the robust floor): its own cap is chosen when it begins, on what the site draws by then (robustly, as this one was),
 * and a later cap planned as low as a full battery could hold made the plan hoard energy through the month's last
 * evening — importing at its highest prices — for a cap it does not keep once the month begins.
 */
function chooseCaps(
  slots: readonly SiteSlot[],
  fleet: Fleet,
  rules: PlanRules,
  levels: EnergyLevels,
  monthPeakW: number,
  nowMonth: string,
  keepCapW: number | undefined,
  robustFloorW: number,
  days?: ReturnType<typeof dayScenarios>,
): { readonly capsW: Record<string, number>; readonly values: readonly Float64Array[]; readonly searched: boolean } {
  const months = [...new Set(slots.map((s) => s.monthKey))];
  const current = slots[0]?.monthKey ?? nowMonth;
  const lowestW: Record<string, number> = {};
  let energyWh = fleet.energyWh;
  for (const month of months) {
    const part = slots.filter((s) => s.monthKey === month);
    const floorW = month === nowMonth ? max(0, monthPeakW, robustFloorW) : 0;
    const lowest = month === nowMonth && keepCapW !== undefined ? max(keepCapW, floorW) : lowestFeasibleCapW(part, energyWh, fleet.battery, rules, floorW);
    lowestW[month] = lowest;
    energyWh = energyAfterCapWh(part, energyWh, fleet.battery, rules, lowest);
  }
  const lowestNow = lowestW[current] ?? 0;
  /**
   * The caps with the current month's at `capW`; a later month's stays at its placeholder whatever `capW` is tried (a
   * search that raised it along would count the later month's cheaper plan as a gain without paying for it).
   */
  const capsWith = (capW: number): Record<string, number> => {
    const caps: Record<string, number> = {};
    for (const month of months) caps[month] = month === current ? capW : max(lowestW[month] ?? 0, lowestNow);
    return caps;
  };
  if (keepCapW !== undefined) {
    const capsW = capsWith(lowestNow);
    return { capsW, values: planValues(slots, capsW, fleet, rules, levels, days), searched: false };
  }
  const highest = max(lowestNow, ...slots.filter((s) => s.monthKey === current).map((s) => s.netW));
  const floorNow = current === nowMonth ? max(0, monthPeakW) : 0;
  // The candidates are compared without the per-quarter-hour second scenario (half the work), by the mean over the
  // whole-day scenarios when there are any (`days`); the chosen plan then uses both.
  const searchRules: PlanRules = { ...rules, altScenarioWeight: 0 };
  let best: { capW: number; total: number } | undefined;
  const tried = new Set<number>();
  for (const step of CAP_LADDER) {
    const capW = roundNumber(lowestNow + step * (highest - lowestNow));
    if (tried.has(capW)) continue;
    tried.add(capW);
    const values = planValues(slots, capsWith(capW), fleet, searchRules, levels, days);
    const total = valueAtEnergy(values[0], levels, fleet.energyWh) + (rules.peakEurPerKw / 1000) * max(0, capW - floorNow);
    if (!best || total < best.total - 1e-9) best = { capW, total };
  }
  const capsW = capsWith(best?.capW ?? lowestNow);
  return { capsW, values: planValues(slots, capsW, fleet, rules, levels, days), searched: true };
}

/**
 * Change detection for the plan's inputs (not security): a numeric fingerprint of the known prices, the tariff, the
 * fleet and the grid limits.
 */
function planHash(state: SiteState, fleet: Fleet, priceSource: PlanPriceSource, fromMs: number, toMs: number): string {
  const prices = sortedPrices(state.prices);
  let lo = 0;
  let hi = prices.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((prices[mid]?.endMs ?? INFINITY) <= fromMs) lo = mid + 1;
    else hi = mid;
  }
  let count = 0;
  let firstMs = 0;
  let lastMs = 0;
  let sum = 0;
  let weighted = 0;
  for (let i = lo; i < prices.length; i++) {
    const p = prices[i] as PricePoint;
    if (p.startMs >= toMs) break;
    if (count === 0) firstMs = p.startMs;
    count++;
    lastMs = max(lastMs, p.endMs);
    sum += p.eurPerMwh;
    weighted += p.eurPerMwh * (((p.startMs / PLAN_SLOT_MS) % 9973) + 1) + (p.endMs - p.startMs) / 1000;
  }
  return `${hashNumbers([
    count,
    firstMs,
    lastMs,
    roundNumber(sum * 1e4),
    roundNumber(weighted * 1e2),
    fleet.capacityWh,
    fleet.battery.minEnergyWh,
    fleet.battery.maxEnergyWh,
    fleet.battery.maxChargeW,
    fleet.battery.maxDischargeW,
    state.limits.maxImportW,
    state.limits.maxExportW,
    priceSource === 'tou' ? 1 : 0,
  ])}:${hashText(JSON.stringify(state.tariff ?? null))}`;
}

/** FNV-1a (32 bit) of a text, 8 hex digits: change detection, not security. */
function hashText(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * The plan's costs-to-go with the next day averaged over whole-day scenarios: the expected demand and each day scenario
 * (a recent day moved toward the expected demand as far as the forecast has been wrong) is one path over the day
 * window, solved on its own back from the plan's values at the window's end (beyond it every path goes on like the
 * plan), and the rows up to the window's end are the paths' mean. A decision then weighs whole days —
 * the night charge against the spread of the next day's PV — instead of quarter hours drawn independently, whose sum
 * the programme would take as nearly certain. Each scenario is solved with a perfect view of its own day, so the mean
 * is optimistic about how well later decisions adapt; the day's first decisions, which cannot wait for the weather,
 * are the ones it is made for. Without scenarios: the plan's own values.
 */
export function scenarioMeanValues(
  slots: readonly SiteSlot[],
  capsW: Readonly<Record<string, number>>,
  values: readonly Float64Array[],
  fleet: Fleet,
  rules: PlanRules,
  levels: EnergyLevels,
  scenarios: ReturnType<typeof dayScenarios> | undefined,
): readonly Float64Array[] {
  if (!hasDays(scenarios)) return values;
  return withDayMeans(slots, capsW, values.slice(scenarios.window), fleet, rules, levels, scenarios);
}

type DayScenarios = ReturnType<typeof dayScenarios>;

/** Day scenarios that can average a day: at least one scenario over a window of two slots or more. */
function hasDays(scenarios: DayScenarios | undefined): scenarios is DayScenarios {
  return scenarios !== undefined && scenarios.demandsW.length > 0 && scenarios.window >= 2;
}

/**
 * The plan's values from the rows after the day window (`tail`, tail[0] at slot `window`) and the paths' mean over the
 * window (see scenarioMeanValues).
 */
function withDayMeans(
  slots: readonly SiteSlot[],
  capsW: Readonly<Record<string, number>>,
  tail: readonly Float64Array[],
  fleet: Fleet,
  rules: PlanRules,
  levels: EnergyLevels,
  scenarios: DayScenarios,
): readonly Float64Array[] {
  const { window, demandsW } = scenarios;
  const capped = withCaps(slots.slice(0, window), capsW);
  const single: PlanRules = { ...rules, altScenarioWeight: 0 };
  const paths = [capped.map((s) => s.netW), ...demandsW];
  const share = 1 / paths.length;
  const mean = Array.from({ length: window + 1 }, () => new Float64Array(levels.count));
  for (const demand of paths) {
    const path = capped.map((s, t) => ({ ...s, netW: demand[t] ?? s.netW, altNetW: undefined }));
    const own = solvePlan(path, fleet.battery, single, levels, tail[0]);
    for (let t = 0; t <= window; t++) {
      const row = own[t] as Float64Array;
      const sum = mean[t] as Float64Array;
      for (let k = 0; k < levels.count; k++) sum[k] = (sum[k] as number) + share * (row[k] as number);
    }
  }
  return [...mean.slice(0, window), ...tail];
}

/**
 * The plan's costs-to-go under `capsW`; with usable day scenarios the day window is their mean, so only the rest is
 * solved as one plan (solving the whole horizon and then replacing the day's rows did that part twice).
 */
function planValues(
  slots: readonly SiteSlot[],
  capsW: Readonly<Record<string, number>>,
  fleet: Fleet,
  rules: PlanRules,
  levels: EnergyLevels,
  days: DayScenarios | undefined,
): readonly Float64Array[] {
  if (!hasDays(days)) return solvePlan(withCaps(slots, capsW), fleet.battery, rules, levels);
  const tail = solvePlan(withCaps(slots.slice(days.window), capsW), fleet.battery, rules, levels);
  return withDayMeans(slots, capsW, tail, fleet, rules, levels, days);
}

/**
 * Notes, once per metering block, the two predictions of the block's net demand the plan weighs (the forecast, else
 * the learned profile; the same quarter hour a day further back), to be scored when the block completes.
 */
export function notePlanPredictions(meter: MeterMemory, state: SiteState, nowMs: number): MeterMemory {
  const blockStartMs = floor(nowMs / PLAN_SLOT_MS) * PLAN_SLOT_MS;
  if (meter.predictedBlockStartMs === blockStartMs) return meter;
  const blockEndMs = blockStartMs + PLAN_SLOT_MS;
  return notePredictions(
    meter,
    nowMs,
    forecastNetW(state, blockStartMs, blockEndMs) ?? profileNetW(meter, blockStartMs, blockEndMs, nowMs, PROFILE_MAX_AGE_MS),
    profilePrevNetW(meter, blockStartMs, blockEndMs, nowMs, PROFILE_PREV_MAX_AGE_MS),
  );
}

/** The outcome of one planning decision. */
export interface PlanDecision {
  /** The meter with this block's predictions noted (to be scored when it completes). */
  readonly meter: MeterMemory;
  /** Total battery power wanted, W (+ = discharge), before the fleet/grid clamp. */
  readonly powerW: number;
  readonly plan: PlanMemory;
  readonly replanned: boolean;
  readonly terms: Readonly<Record<string, number>>;
}

/**
 * One decision of a planning strategy: re-plans when needed (no plan, new prices/tariff/fleet, the plan is older than
 * `replanIntervalMs` or does not cover now, the month's peak rose above the cap it holds), then chooses the power for
 * the measured demand now against the plan's cost-to-go. The monthly cap is searched when the prices or the fleet
 * change, the peak rose above it, a new month began, or `CAP_SEARCH_MS` after the last search; other re-plans keep it.
 */
export function planDecision(input: {
  readonly state: SiteState;
  readonly nowMs: number;
  readonly batteries: readonly BatteryState[];
  readonly meter: MeterMemory;
  readonly previous: PlanMemory | null;
  readonly settings: PlanSettings;
  readonly priceSource: PlanPriceSource;
  readonly netNowW: number;
}): PlanDecision | { readonly missing: 'prices' | 'timezone'; readonly meter: MeterMemory } {
  const { state, nowMs, batteries, previous, settings, priceSource, netNowW } = input;
  const meter = notePlanPredictions(input.meter, state, nowMs);
  const fleet = fleetOf(batteries, settings);
  const slotEndMs = min(nowMs + settings.maxHorizonMs, (floor(nowMs / PLAN_SLOT_MS) + 1) * PLAN_SLOT_MS);
  // The slot now only; the whole horizon is built when a re-plan needs it.
  const now = siteSlots(state, nowMs, netNowW, meter, settings, priceSource, slotEndMs);
  if (now.missing) return { missing: now.missing, meter };
  const first = now.slots[0];
  if (!first) return { missing: 'prices', meter };
  const rules = rulesOf(state, settings, meter);
  const robust = settings.peakReserve === true && settings.useForecast && rules.peakEurPerKw > 0;
  const levels = energyLevels(fleet.battery, (settings.socStepPct / 100) * fleet.capacityWh);
  // Prices from the start of the (UTC) day before yesterday on: the set changes when prices arrive or a day passes,
  // not with every tick (a window sliding with now would force a re-plan each slot).
  const hash = planHash(state, fleet, priceSource, (floor(nowMs / DAY_MS) - PRICE_PERSISTENCE_DAYS) * DAY_MS, INFINITY);
  const nowMonth = first.monthKey;
  const monthPeakW = meter.monthKey === nowMonth ? meter.monthPeakW : 0;
  const rowIndex = previous ? roundNumber((first.endMs - previous.rowsStartMs) / PLAN_SLOT_MS) : -1;
  const previousCap = previous?.capsW[nowMonth];
  const isNewInputs =
    !previous || previous.inputsHash !== hash || previous.levelStepWh !== levels.stepWh || previous.levelMinWh !== levels.minWh;
  const isPeakAbove = rules.peakEurPerKw > 0 && (previousCap === undefined || monthPeakW > previousCap + 1);
  // A plan made in an earlier month holds no cap chosen for this one (a later month's cap is only a placeholder).
  const isNewMonth = previous !== null && localMonthKey(previous.madeAtMs, state.timezone) !== nowMonth;
  const isStale =
    isNewInputs ||
    isPeakAbove ||
    isNewMonth ||
    !previous ||
    nowMs - previous.madeAtMs >= settings.replanIntervalMs ||
    rowIndex < 0 ||
    rowIndex >= previous.rows.length;

  // Why a re-plan happens (DecisionMetrics term replanCause): 1 new prices/tariff/fleet, 2 the month's peak rose
  // above the cap, 3 the plan is older than replanIntervalMs, 4 the plan does not cover now, 5 a new month began;
  // 0 = kept.
  const replanCause = isNewInputs ? 1 : isNewMonth ? 5 : isPeakAbove ? 2 : !previous ? 1 : nowMs - previous.madeAtMs >= settings.replanIntervalMs ? 3 : isStale ? 4 : 0;
  let capSearched = false;
  let plan: PlanMemory;
  let slotCount = previous?.horizonSlots ?? 0;
  let built: SiteSlots = now;
  if (isStale || !previous) {
    built = siteSlots(state, nowMs, netNowW, meter, settings, priceSource);
    const slots = built.slots;
    slotCount = slots.length;
    // As far as the forecast has been wrong (0 for an exact one, 1 for one no better than the day before it).
    const hedge = min(1, 2 * alternativeWeight(meter, DEFAULT_ALT_WEIGHT));
    const wholeDays = settings.wholeDayScenarios === true && settings.altScenarioWeight !== 0;
    const useDays = settings.useForecast && hedge > 0 && (robust || wholeDays);
    const days = useDays ? dayScenarios(meter, slots, netNowW, hedge) : undefined;
    const scenarios = robust ? days : undefined;
    const mustSearch = isNewInputs || isPeakAbove || isNewMonth || !previous || nowMs - previous.capSearchedAtMs >= CAP_SEARCH_MS;
    const { capsW, values, searched } =
      rules.peakEurPerKw > 0
        ? chooseCaps(slots, fleet, rules, levels, monthPeakW, nowMonth, mustSearch ? undefined : previousCap, scenarios ? robustCapW(slots, scenarios, fleet, rules, max(0, monthPeakW)) : 0, wholeDays ? days : undefined)
        : { capsW: {}, values: planValues(slots, {}, fleet, rules, levels, wholeDays ? days : undefined), searched: false };
    capSearched = searched;
    const keepRows = max(1, ceil(settings.replanIntervalMs / PLAN_SLOT_MS) + 1);
    // The peak reserve binds every decision: the energy a decision leaves must still hold the cap if demand goes as
    // the pessimistic scenario, else the row charges the cap raise it would take (added to the kept rows only, so the
    // plan's own look-ahead is not charged for the same shortfall slot after slot).
    const reserve = scenarios && scenarios.demandsW.length > 0 ? peakReserve(withCaps(slots.slice(0, scenarios.window), capsW), scenarios.demandsW, fleet.battery, { ...rules, allowGridCharge: false }) : undefined;
    // With whole-day scenarios the day window of `values` already is their mean (planValues).
    const mean = values;
    const rows: number[][] = [];
    for (let j = 1; j <= min(keepRows, slots.length); j++) {
      const row = mean[j];
      if (!row) continue;
      rows.push(Array.from(row, (v, k) => round(v + (reserve ? reservePenaltyEur(reserve, j, levels.minWh + k * levels.stepWh) : 0), 6)));
    }
    let idleCostEur = 0;
    for (const s of slots) idleCostEur += slotCostEur(0, s.netW, (s.endMs - s.startMs) / HOUR_MS, s, capsW[s.monthKey] ?? INFINITY, rules);
    const last = slots[slots.length - 1];
    plan = {
      madeAtMs: nowMs,
      inputsHash: hash,
      rowsStartMs: first.endMs,
      rows,
      levelMinWh: levels.minWh,
      levelStepWh: levels.stepWh,
      capsW,
      capSearchedAtMs: searched || !previous ? nowMs : previous.capSearchedAtMs,
      expectedCostEur: round(valueAtEnergy(mean[0], levels, fleet.energyWh), 4),
      idleCostEur: round(idleCostEur, 4),
      horizonEndMs: last?.endMs ?? nowMs,
      horizonSlots: slots.length,
      forecastSlots: slots.filter((s) => s.demandSource === 1).length,
      learnedSlots: slots.filter((s) => s.demandSource === 2).length,
      estimatedPriceSlots: slots.filter((s) => !s.isPriceKnown).length,
    };
  } else {
    plan = previous;
  }

  const index = roundNumber((first.endMs - plan.rowsStartMs) / PLAN_SLOT_MS);
  const nextRow = index >= 0 && index < plan.rows.length ? plan.rows[index] : undefined;
  const capW = plan.capsW[nowMonth] ?? INFINITY;
  const blockCap = isFiniteNumber(capW) ? blockCapW(meter, nowMs, capW) : capW;
  const hours = (first.endMs - nowMs) / HOUR_MS;
  const choice = choosePower({
    energyWh: fleet.energyWh,
    hours,
    netW: netNowW,
    prices: first,
    capW: blockCap,
    nextRow,
    levels: { minWh: plan.levelMinWh, stepWh: plan.levelStepWh, count: nextRow?.length ?? levels.count },
    battery: fleet.battery,
    rules,
  });
  return {
    meter,
    powerW: choice.powerW,
    plan,
    replanned: plan !== previous,
    terms: {
      importEurPerMwh: round(first.importEurPerMwh, 2),
      exportEurPerMwh: round(first.exportEurPerMwh, 2),
      peakCapW: isFiniteNumber(capW) ? round(capW, 0) : -1,
      monthPeakW: round(monthPeakW, 0),
      expectedCostEur: plan.expectedCostEur,
      expectedSavingsEur: round(plan.idleCostEur - plan.expectedCostEur, 4),
      decisionGainEur: round(choice.idleCostEur - choice.totalCostEur, 4),
      horizonSlots: slotCount,
      horizonEndMs: plan.horizonEndMs,
      forecastSlots: plan.forecastSlots,
      learnedSlots: plan.learnedSlots,
      estimatedPriceSlots: plan.estimatedPriceSlots,
      touFallback: built.touFallback ? 1 : 0,
      altScenarioWeight: round(rules.altScenarioWeight, 3),
      replanCause,
      capSearched: capSearched ? 1 : 0,
    },
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  const r = roundNumber(value * f) / f;
  return r === 0 ? 0 : r;
}
