/**
 * The battery planner shared by the planning strategies (Arbitrage, TimeOfUse): a deterministic dynamic program over
 * the stored energy that minimizes what the site pays at its meter — import at the tariff's import price, export at
 * its feed-in price, battery wear per kWh of throughput, and the monthly peak-demand charge — against the expected
 * net demand (load + EV − PV) of every slot. Pure functions, no I/O.
 *
 * The plan is a table of costs-to-go: `values[t][k]` is the least cost from the start of slot t onward with the
 * stored energy at level k. A decision is then taken for the *measured* demand now: the battery power p that
 * minimizes the cost of the rest of the current slot plus the cost-to-go after it (`choosePower`), so a forecast that
 * was wrong about now costs nothing, and a SoC off the planned path is simply another row of the table.
 */

const HOUR_MS = 3_600_000;
// Globals looked up once: inside a vm context (Jest) every global lookup in a hot loop is slow.
const { abs, floor, max, min } = Math;
const INFINITY = Number.POSITIVE_INFINITY;
const isFiniteNumber = Number.isFinite;
/** Tie tolerance of cost comparisons in the plan, EUR. */
const COST_EPSILON_EUR = 1e-9;
/** Idling that wins by less than this over serving the site's own demand or surplus counts as a tie, EUR. */
export const DECISION_TIE_EUR = 2e-4;

/** One interval of the plan. */
export interface PlanSlot {
  readonly startMs: number;
  readonly endMs: number;
  /** Expected net demand (load + EV − PV), W: + the site needs power, − PV surplus. */
  readonly netW: number;
  /** What 1 MWh of import costs, EUR (all components and VAT). */
  readonly importEurPerMwh: number;
  /** What 1 MWh of export earns, EUR (negative: exporting costs). */
  readonly exportEurPerMwh: number;
  /** Import above this is charged as a new monthly peak, W; INFINITY when there is no peak charge. */
  readonly peakCapW: number;
  /**
   * A second scenario for the slot's net demand, W (e.g. the same time a day earlier than the forecast's source):
   * the plan then values stored energy by both outcomes (weights: PlanRules.altScenarioWeight).
   */
  readonly altNetW?: number;
}

/** The battery fleet as the planner sees it. Energies are stored energy, Wh; powers at the AC terminal, W ≥ 0. */
export interface PlanBattery {
  readonly minEnergyWh: number;
  readonly maxEnergyWh: number;
  readonly maxChargeW: number;
  readonly maxDischargeW: number;
  /** Stored energy per grid energy when charging, 0..1. */
  readonly chargeEfficiency: number;
  /** Grid energy per stored energy when discharging, 0..1. */
  readonly dischargeEfficiency: number;
}

/** The rules of the game besides the prices. */
export interface PlanRules {
  /** Battery wear per MWh of AC throughput (charged + discharged), EUR. */
  readonly wearEurPerMwh: number;
  /** Peak-demand charge per kW above a slot's cap, EUR (VAT included); 0 = none. */
  readonly peakEurPerKw: number;
  /** Grid limits, W ≥ 0: the battery never pushes the grid past them (it may idle when the load already does). */
  readonly maxImportW: number;
  readonly maxExportW: number;
  /** May the battery charge from the grid (else only from PV surplus)? */
  readonly allowGridCharge: boolean;
  /** May the battery discharge into export (else only into the site's own demand)? */
  readonly allowExport: boolean;
  /** Probability given to a slot's second scenario (0 = plan on the forecast alone), 0..1. */
  readonly altScenarioWeight: number;
}

/** The stored-energy grid: level k = minWh + k · stepWh, k = 0 … count − 1. */
export interface EnergyLevels {
  readonly minWh: number;
  readonly stepWh: number;
  readonly count: number;
}

/** Evenly spaced levels from the battery's min to its max energy, about `targetStepWh` apart (at least two levels). */
export function energyLevels(battery: PlanBattery, targetStepWh: number): EnergyLevels {
  const span = max(0, battery.maxEnergyWh - battery.minEnergyWh);
  if (!(span > 0) || !(targetStepWh > 0)) return { minWh: battery.minEnergyWh, stepWh: 0, count: 1 };
  const intervals = max(1, Math.round(span / targetStepWh));
  return { minWh: battery.minEnergyWh, stepWh: span / intervals, count: intervals + 1 };
}

/** Battery power bounds in a slot, W (+ = discharge): power limits, grid limits, grid-charge and export rules. */
export function powerBounds(netW: number, battery: PlanBattery, rules: PlanRules): { readonly lowW: number; readonly highW: number } {
  let lowW = -max(0, battery.maxChargeW);
  let highW = max(0, battery.maxDischargeW);
  lowW = max(lowW, min(0, netW - rules.maxImportW));
  highW = min(highW, max(0, netW + rules.maxExportW));
  if (!rules.allowGridCharge) lowW = max(lowW, min(0, netW));
  if (!rules.allowExport) highW = min(highW, max(0, netW));
  return { lowW: min(lowW, 0), highW: max(highW, 0) };
}

/** Change of stored energy, Wh, for battery power `powerW` (+ = discharge) held `hours`. */
export function storedDeltaWh(powerW: number, hours: number, battery: PlanBattery): number {
  return powerW >= 0 ? (-powerW * hours) / battery.dischargeEfficiency : -powerW * hours * battery.chargeEfficiency;
}

/** The battery power (+ = discharge) that changes the stored energy by `deltaWh` in `hours`. */
export function powerForDeltaWh(deltaWh: number, hours: number, battery: PlanBattery): number {
  if (!(hours > 0)) return 0;
  return deltaWh >= 0 ? -deltaWh / (hours * battery.chargeEfficiency) : (-deltaWh * battery.dischargeEfficiency) / hours;
}

/**
 * What the site pays in a slot (or the rest of one) of `hours` with net demand `netW` and battery power `powerW`, EUR:
 * import × import price − export × feed-in + wear on |power|, plus the peak charge on import above `capW`.
 */
export function slotCostEur(
  powerW: number,
  netW: number,
  hours: number,
  prices: { readonly importEurPerMwh: number; readonly exportEurPerMwh: number },
  capW: number,
  rules: PlanRules,
): number {
  const gridW = netW - powerW;
  const energy = gridW > 0 ? prices.importEurPerMwh * gridW : prices.exportEurPerMwh * gridW;
  const wear = rules.wearEurPerMwh * abs(powerW);
  const peak = gridW > capW ? (rules.peakEurPerKw / 1000) * (gridW - capW) : 0;
  return ((energy + wear) * hours) / 1e6 + peak;
}

/** Linear interpolation of a value row at a fractional level (clamped to the row). */
function valueAt(row: ArrayLike<number>, position: number): number {
  const last = row.length - 1;
  if (last <= 0) return row[0] ?? 0;
  if (position <= 0) return row[0] ?? 0;
  if (position >= last) return row[last] ?? 0;
  const k = floor(position);
  const w = position - k;
  return (row[k] ?? 0) * (1 - w) + (row[k + 1] ?? 0) * w;
}

/** The cost-to-go at stored energy `energyWh` from a value row. */
export function valueAtEnergy(row: ArrayLike<number> | undefined, levels: EnergyLevels, energyWh: number): number {
  if (!row) return 0;
  if (!(levels.stepWh > 0)) return row[0] ?? 0;
  return valueAt(row, (energyWh - levels.minWh) / levels.stepWh);
}

/**
 * Backward dynamic program over the slots. Returns `values` with `values.length === slots.length + 1`:
 * `values[t][k]` = least cost (EUR) from the start of slot t at level k; `values[slots.length]` = `terminal` (the
 * cost-to-go after the slots, per level), else 0 (energy left at the end of the horizon is worth nothing, so nothing
 * is bought that does not pay back inside it).
 *
 * Moves in a slot: every whole number of levels the power bounds allow, plus the exact moves at full charge, full
 * discharge, zero grid exchange and import exactly at the peak cap (these land between levels; the row is
 * interpolated there). Each move's cost does not depend on the level, so a slot costs levels × moves additions.
 */
export function solvePlan(
  slots: readonly PlanSlot[],
  battery: PlanBattery,
  rules: PlanRules,
  levels: EnergyLevels,
  terminal?: ArrayLike<number>,
): Float64Array[] {
  const n = levels.count;
  // One buffer for every row (fewer allocations); row t is a view of it.
  const buffer = new Float64Array((slots.length + 1) * n);
  const values: Float64Array[] = new Array<Float64Array>(slots.length + 1);
  for (let t = 0; t <= slots.length; t++) values[t] = buffer.subarray(t * n, (t + 1) * n);
  if (terminal) (values[slots.length] as Float64Array).set(Array.from({ length: n }, (_, k) => terminal[k] ?? 0));
  const offsets: number[] = [];
  const costs: number[] = [];
  const alt = new Float64Array(n);
  const weight = min(1, max(0, rules.altScenarioWeight));
  for (let t = slots.length - 1; t >= 0; t--) {
    const slot = slots[t];
    const next = values[t + 1] as Float64Array;
    const current = values[t] as Float64Array;
    if (!slot) {
      current.set(next);
      continue;
    }
    slotMinimum(slot, slot.netW, next, current, battery, rules, levels, offsets, costs);
    const altNetW = slot.altNetW;
    if (weight > 0 && altNetW !== undefined && abs(altNetW - slot.netW) > 1) {
      slotMinimum(slot, altNetW, next, alt, battery, rules, levels, offsets, costs);
      for (let k = 0; k < n; k++) current[k] = (1 - weight) * (current[k] as number) + weight * (alt[k] as number);
    }
  }
  return values;
}

/** out[k] = least cost of the slot with net demand `netW` plus the cost-to-go `next` after it, per level k. */
function slotMinimum(
  slot: PlanSlot,
  netW: number,
  next: Float64Array,
  out: Float64Array,
  battery: PlanBattery,
  rules: PlanRules,
  levels: EnergyLevels,
  offsets: number[],
  costs: number[],
): void {
  const n = levels.count;
  const hours = (slot.endMs - slot.startMs) / HOUR_MS;
  offsets.length = 0;
  costs.length = 0;
  const { lowW, highW } = powerBounds(netW, battery, rules);
  const addMove = (powerW: number): void => {
    if (powerW < lowW - 1e-9 || powerW > highW + 1e-9) return;
    const offset = levels.stepWh > 0 ? storedDeltaWh(powerW, hours, battery) / levels.stepWh : 0;
    offsets.push(offset);
    costs.push(slotCostEur(powerW, netW, hours, slot, slot.peakCapW, rules));
  };
  addMove(0);
  if (levels.stepWh > 0 && hours > 0) {
    const up = floor(storedDeltaWh(lowW, hours, battery) / levels.stepWh + 1e-9);
    const down = floor(-storedDeltaWh(highW, hours, battery) / levels.stepWh + 1e-9);
    for (let d = 1; d <= min(up, n - 1); d++) addMove(powerForDeltaWh(d * levels.stepWh, hours, battery));
    for (let d = 1; d <= min(down, n - 1); d++) addMove(powerForDeltaWh(-d * levels.stepWh, hours, battery));
    addMove(lowW);
    addMove(highW);
    if (netW !== 0) addMove(netW);
    if (isFiniteNumber(slot.peakCapW)) addMove(netW - slot.peakCapW);
  }
  // Each move shifts every level by the same (possibly fractional) offset: precompute its floor and weight once,
  // then sweep the levels it keeps inside the grid.
  out.fill(INFINITY);
  for (let m = 0; m < offsets.length; m++) {
    const offset = offsets[m] ?? 0;
    const cost = costs[m] ?? 0;
    const base = floor(offset + 1e-9);
    const w = offset - base > 1e-9 ? offset - base : 0;
    const kFrom = max(0, -base);
    const kTo = min(n - 1, n - 1 - base - (w > 0 ? 1 : 0));
    if (w === 0) {
      for (let k = kFrom; k <= kTo; k++) {
        const v = cost + (next[k + base] as number);
        if (v < (out[k] as number) - COST_EPSILON_EUR) out[k] = v;
      }
    } else {
      const w0 = 1 - w;
      for (let k = kFrom; k <= kTo; k++) {
        const j = k + base;
        const v = cost + (next[j] as number) * w0 + (next[j + 1] as number) * w;
        if (v < (out[k] as number) - COST_EPSILON_EUR) out[k] = v;
      }
    }
  }
  for (let k = 0; k < n; k++) if (out[k] === INFINITY) out[k] = next[k] ?? 0;
}

/** A decision of `choosePower`. */
export interface PowerChoice {
  /** Battery power, W, + = discharge. */
  readonly powerW: number;
  /** Cost of the rest of the slot plus the cost-to-go after it, EUR. */
  readonly totalCostEur: number;
  /** The same if the battery idled, EUR. */
  readonly idleCostEur: number;
}

/**
 * The battery power for the rest of the current slot (`hours` left, measured net demand `netW`): the candidate with
 * the least cost of the rest of the slot plus the cost-to-go `nextRow` at the energy it leaves. Candidates are the
 * breakpoints of that piecewise-linear function — idle, full charge, full discharge, zero grid exchange, import at the
 * cap, and every power that lands exactly on a level — so the minimum is among them. Exact ties go to the smaller
 * power; when idling wins only by a near-tie (DECISION_TIE_EUR, e.g. covering the demand now or an hour later at the
 * same price) over serving the site — discharging into its demand or storing its surplus — the battery serves it now
 * instead of postponing to the last moment, which a wrong forecast would punish.
 */
export function choosePower(input: {
  readonly energyWh: number;
  readonly hours: number;
  readonly netW: number;
  readonly prices: { readonly importEurPerMwh: number; readonly exportEurPerMwh: number };
  readonly capW: number;
  readonly nextRow: ArrayLike<number> | undefined;
  readonly levels: EnergyLevels;
  readonly battery: PlanBattery;
  readonly rules: PlanRules;
}): PowerChoice {
  const { energyWh, hours, netW, prices, capW, nextRow, levels, battery, rules } = input;
  const bounds = powerBounds(netW, battery, rules);
  let lowW = bounds.lowW;
  let highW = bounds.highW;
  if (hours > 0) {
    // Keep the energy inside the window over the rest of the slot.
    lowW = max(lowW, min(0, powerForDeltaWh(max(0, battery.maxEnergyWh - energyWh), hours, battery)));
    highW = min(highW, max(0, powerForDeltaWh(-max(0, energyWh - battery.minEnergyWh), hours, battery)));
  }
  const evaluate = (powerW: number): number => {
    const after = energyWh + storedDeltaWh(powerW, hours, battery);
    return slotCostEur(powerW, netW, hours, prices, capW, rules) + valueAtEnergy(nextRow, levels, after);
  };
  const idleCostEur = evaluate(0);
  const candidates: { readonly powerW: number; readonly totalCostEur: number }[] = [{ powerW: 0, totalCostEur: idleCostEur }];
  const consider = (powerW: number): void => {
    if (!isFiniteNumber(powerW) || powerW < lowW - 1e-9 || powerW > highW + 1e-9) return;
    const p = min(highW, max(lowW, powerW));
    candidates.push({ powerW: p, totalCostEur: evaluate(p) });
  };
  consider(lowW);
  consider(highW);
  consider(netW);
  if (isFiniteNumber(capW)) consider(netW - capW);
  if (levels.stepWh > 0 && hours > 0) {
    for (let k = 0; k < levels.count; k++) consider(powerForDeltaWh(levels.minWh + k * levels.stepWh - energyWh, hours, battery));
  }
  let best = candidates[0] as { readonly powerW: number; readonly totalCostEur: number };
  for (const c of candidates) {
    if (c.totalCostEur < best.totalCostEur - COST_EPSILON_EUR || (c.totalCostEur <= best.totalCostEur + COST_EPSILON_EUR && abs(c.powerW) < abs(best.powerW))) best = c;
  }
  if (best.powerW === 0) {
    // Idling ties with serving the site (discharging into its demand, storing its surplus): serve it now.
    const lowSelf = min(0, netW);
    const highSelf = max(0, netW);
    let bestGridW = abs(netW);
    for (const c of candidates) {
      if (c.totalCostEur > best.totalCostEur + DECISION_TIE_EUR || c.powerW < lowSelf - 1e-9 || c.powerW > highSelf + 1e-9) continue;
      const gridW = abs(netW - c.powerW);
      if (gridW < bestGridW - 1e-6) {
        best = c;
        bestGridW = gridW;
      }
    }
  }
  return { powerW: best.powerW, totalCostEur: best.totalCostEur, idleCostEur };
}

/**
 * The lowest import cap the battery can hold over the slots, W: the smallest G ≥ floorW such that, starting at
 * `energyWh`, discharging whatever exceeds G and otherwise charging as much as G (or, without grid charging, the PV
 * surplus) allows never runs the battery dry. Charging whenever possible is what keeps a cap feasible longest, so
 * this greedy check is exact for feasibility (it ignores cost). Binary search to `precisionW`.
 */
export function lowestFeasibleCapW(
  slots: readonly Pick<PlanSlot, 'startMs' | 'endMs' | 'netW'>[],
  energyWh: number,
  battery: PlanBattery,
  rules: Pick<PlanRules, 'allowGridCharge'>,
  floorW: number,
  precisionW = 10,
): number {
  let highest = floorW;
  for (const s of slots) highest = max(highest, s.netW);
  const feasible = (capW: number): boolean => {
    let e = energyWh;
    for (const s of slots) {
      const hours = (s.endMs - s.startMs) / HOUR_MS;
      if (s.netW > capW) {
        const needW = s.netW - capW;
        if (needW > battery.maxDischargeW + 1e-9) return false;
        e -= (needW * hours) / battery.dischargeEfficiency;
        if (e < battery.minEnergyWh - 1e-6) return false;
      } else {
        const roomW = rules.allowGridCharge ? capW - s.netW : max(0, -s.netW);
        const chargeW = min(battery.maxChargeW, roomW, max(0, battery.maxEnergyWh - e) / (hours * battery.chargeEfficiency || 1));
        e += chargeW * hours * battery.chargeEfficiency;
      }
    }
    return true;
  };
  if (feasible(floorW)) return floorW;
  let lo = floorW;
  let hi = highest;
  while (hi - lo > precisionW) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Stored energy at the end of the slots when holding `capW` greedily (as in lowestFeasibleCapW), Wh. */
export function energyAfterCapWh(
  slots: readonly Pick<PlanSlot, 'startMs' | 'endMs' | 'netW'>[],
  energyWh: number,
  battery: PlanBattery,
  rules: Pick<PlanRules, 'allowGridCharge'>,
  capW: number,
): number {
  let e = energyWh;
  for (const s of slots) {
    const hours = (s.endMs - s.startMs) / HOUR_MS;
    if (s.netW > capW) {
      e -= (min(battery.maxDischargeW, s.netW - capW) * hours) / battery.dischargeEfficiency;
    } else {
      const roomW = rules.allowGridCharge ? capW - s.netW : max(0, -s.netW);
      e += min(battery.maxChargeW, roomW, max(0, battery.maxEnergyWh - e) / (hours * battery.chargeEfficiency || 1)) * hours * battery.chargeEfficiency;
    }
    e = min(battery.maxEnergyWh, max(battery.minEnergyWh, e));
  }
  return e;
}

/**
 * What holding the peak cap needs if demand goes badly: for a ladder of raises over each slot's cap, the stored energy
 * needed at the start of each slot to hold (cap + raise) from there on under a pessimistic net demand.
 */
export interface PeakReserve {
  /** Raises over each slot's cap, W, ascending; the first is 0, the last lets every slot through (no energy needed). */
  readonly raisesW: readonly number[];
  /** needWh[j][t]: stored energy needed at the start of slot t (t = slots.length: the end) with raise j, Wh. */
  readonly needWh: readonly Float64Array[];
  /** What 1 W of cap raise costs, EUR (the peak charge). */
  readonly eurPerW: number;
  /** The battery floor, Wh (no need is below it). */
  readonly minEnergyWh: number;
}

/** Raises tried by peakReserve, as shares of the way from the cap to the highest pessimistic demand. */
const RESERVE_RAISE_SHARES = [0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1] as const;

/**
 * The stored energy needed at the start of each slot (index t; index slots.length = the end) to keep import at or
 * under each slot's `peakCapW` + `raiseW` for the net demand `demandW(t)`, Wh: backwards, a slot above the cap needs
 * its excess (up to the discharge limit) from storage, a slot below it can recharge (from the grid up to the cap, or
 * from PV surplus only). Clamped to the battery's window: a need beyond capacity asks for a full battery. The greedy
 * policy behind it (discharge what exceeds the cap, else charge as much as the cap allows) holds a cap longest, so a
 * battery at or above the curve holds the cap whenever the demand goes as assumed. No cap (INFINITY): no need.
 */
export function reserveCurveWh(
  slots: readonly Pick<PlanSlot, 'startMs' | 'endMs' | 'peakCapW'>[],
  demandW: (index: number) => number,
  battery: PlanBattery,
  rules: Pick<PlanRules, 'allowGridCharge'>,
  raiseW = 0,
): Float64Array {
  const need = new Float64Array(slots.length + 1);
  let needWh = battery.minEnergyWh;
  need[slots.length] = needWh;
  for (let t = slots.length - 1; t >= 0; t--) {
    const s = slots[t];
    if (!s) continue;
    const hours = (s.endMs - s.startMs) / HOUR_MS;
    const capW = s.peakCapW + raiseW;
    const netW = demandW(t);
    if (!isFiniteNumber(capW)) {
      needWh = battery.minEnergyWh;
    } else if (netW > capW) {
      needWh += (min(netW - capW, battery.maxDischargeW) * hours) / battery.dischargeEfficiency;
    } else {
      const roomW = rules.allowGridCharge ? capW - netW : max(0, -netW);
      needWh -= min(battery.maxChargeW, roomW) * hours * battery.chargeEfficiency;
    }
    needWh = min(battery.maxEnergyWh, max(battery.minEnergyWh, needWh));
    need[t] = needWh;
  }
  return need;
}

/**
 * The peak reserve of a plan: for a ladder of cap raises up to the highest scenario demand above the caps, the
 * largest reserve curve over the demand scenarios (`demandsW[k][t]`, W). Undefined when no slot has a cap, there is
 * no scenario, or no scenario ever exceeds a cap. Slots beyond the given ones need nothing.
 */
export function peakReserve(
  slots: readonly Pick<PlanSlot, 'startMs' | 'endMs' | 'peakCapW'>[],
  demandsW: readonly (readonly number[])[],
  battery: PlanBattery,
  rules: Pick<PlanRules, 'allowGridCharge' | 'peakEurPerKw'>,
): PeakReserve | undefined {
  if (!(rules.peakEurPerKw > 0) || demandsW.length === 0) return undefined;
  let highestRaiseW = 0;
  for (const demand of demandsW) {
    for (let t = 0; t < slots.length; t++) {
      const capW = slots[t]?.peakCapW ?? INFINITY;
      if (isFiniteNumber(capW)) highestRaiseW = max(highestRaiseW, (demand[t] ?? 0) - capW);
    }
  }
  if (!(highestRaiseW > 0)) return undefined;
  const raisesW = RESERVE_RAISE_SHARES.map((share) => share * highestRaiseW);
  // The need at each slot is the largest over the scenarios (any of them may be the one that comes).
  const needFor = (raiseW: number): Float64Array => {
    const need = new Float64Array(slots.length + 1).fill(battery.minEnergyWh);
    for (const demand of demandsW) {
      const curve = reserveCurveWh(slots, (t) => demand[t] ?? 0, battery, rules, raiseW);
      for (let t = 0; t < need.length; t++) need[t] = max(need[t] as number, curve[t] as number);
    }
    return need;
  };
  return {
    raisesW,
    needWh: raisesW.map(needFor),
    eurPerW: rules.peakEurPerKw / 1000,
    minEnergyWh: battery.minEnergyWh,
  };
}

/**
 * What it costs to have only `energyWh` stored at the start of slot t, EUR: the peak charge of the cap raise that
 * energy could still hold if demand went as the reserve assumes (interpolated on the ladder); 0 at or above the need.
 */
export function reservePenaltyEur(reserve: PeakReserve, t: number, energyWh: number): number {
  const { needWh, raisesW } = reserve;
  let previousNeed = needWh[0]?.[t] ?? reserve.minEnergyWh;
  if (energyWh >= previousNeed - 1e-9) return 0;
  for (let j = 1; j < raisesW.length; j++) {
    const need = needWh[j]?.[t] ?? reserve.minEnergyWh;
    if (energyWh >= need - 1e-9) {
      const low = raisesW[j - 1] ?? 0;
      const high = raisesW[j] ?? low;
      const share = previousNeed - need > 1e-9 ? (previousNeed - energyWh) / (previousNeed - need) : 1;
      return reserve.eurPerW * (low + (high - low) * share);
    }
    previousNeed = need;
  }
  return reserve.eurPerW * (raisesW[raisesW.length - 1] ?? 0);
}
