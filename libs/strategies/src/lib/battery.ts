import { z } from 'zod';
import type { Setpoint } from '@voltimax/contracts';
import { clamp, noNegativeZero, quantize, truncateToStep } from './arithmetic';
import type { StrategyReason } from './reasons';
import type { BatteryState, EvChargerState, SiteState } from './site-state';

/** Default staleness budget for a reading, ms: older (or not 'good') readings are stale data. */
export const DEFAULT_MAX_READING_AGE_MS = 15_000;

/** Config fragment shared by every strategy that acts on measurements. */
export const ReadingAgeConfigShape = {
  /** A reading older than this (or with quality other than 'good') is stale: the strategy holds 0 W. */
  maxReadingAgeMs: z.number().int().positive().default(DEFAULT_MAX_READING_AGE_MS),
};

/** True when a reading must not be acted on. */
export function isStale(reading: { readonly quality: string; readonly ageMs: number }, maxReadingAgeMs: number): boolean {
  return reading.quality !== 'good' || !(reading.ageMs <= maxReadingAgeMs);
}

/** True when the grid meter reading must not be acted on. */
export function isGridStale(state: SiteState, maxReadingAgeMs: number): boolean {
  return isStale({ quality: state.gridQuality, ageMs: state.gridAgeMs }, maxReadingAgeMs) || !Number.isFinite(state.gridPowerW);
}

/** True when a battery reading must not be acted on (also when its numbers are not finite). */
export function isBatteryStale(battery: BatteryState, maxReadingAgeMs: number): boolean {
  return isStale(battery, maxReadingAgeMs) || !Number.isFinite(battery.socPct) || !Number.isFinite(battery.powerW);
}

/** True when an EV charger reading must not be acted on. */
export function isChargerStale(charger: EvChargerState, maxReadingAgeMs: number): boolean {
  return isStale(charger, maxReadingAgeMs) || !Number.isFinite(charger.powerW);
}

/** The lowest SoC a strategy discharges to, %: max(minSocPct, reserveSocPct, extraFloorPct). */
export function dischargeFloorSocPct(battery: BatteryState, extraFloorPct = 0): number {
  return Math.max(battery.minSocPct, battery.reserveSocPct, extraFloorPct);
}

/** What one battery can do right now, W, both ≥ 0: zero in a direction its SoC window forbids. */
export interface BatteryWindow {
  readonly maxChargeW: number;
  readonly maxDischargeW: number;
}

/** The battery's charge/discharge headroom after its SoC window (floor = max(min, reserve)) and power limits. */
export function batteryWindow(battery: BatteryState): BatteryWindow {
  const maxChargeW = battery.socPct >= battery.maxSocPct ? 0 : Math.max(0, battery.maxChargePowerW);
  const maxDischargeW = battery.socPct <= dischargeFloorSocPct(battery) ? 0 : Math.max(0, battery.maxDischargePowerW);
  return { maxChargeW: finiteOrZero(maxChargeW), maxDischargeW: finiteOrZero(maxDischargeW) };
}

function finiteOrZero(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** `powerW` clamped to the battery's window and quantized to its step (toward zero at the limits). */
export function limitBatteryW(battery: BatteryState, powerW: number, stepW = battery.powerStepW ?? 1): number {
  const { maxChargeW, maxDischargeW } = batteryWindow(battery);
  return quantize(Number.isFinite(powerW) ? powerW : 0, stepW, -maxChargeW, maxDischargeW);
}

/** The `battery-power` setpoint for `powerW` (+ = discharge). */
export function batteryPower(powerW: number): Setpoint {
  return { kind: 'battery-power', powerW: noNegativeZero(powerW) };
}

/** Sum of the measured powers of usable batteries, W (+ = discharge). */
export function totalBatteryPowerW(batteries: readonly BatteryState[]): number {
  return batteries.reduce((sum, b) => sum + (Number.isFinite(b.powerW) ? b.powerW : 0), 0);
}

/** A charger's measured power, W (≥ 0; 0 when not a number). */
export function evDrawW(charger: EvChargerState): number {
  return Number.isFinite(charger.powerW) ? Math.max(0, charger.powerW) : 0;
}

/** Sum of the measured EV charging powers, W (≥ 0). */
export function totalEvPowerW(chargers: readonly EvChargerState[]): number {
  return chargers.reduce((sum, c) => sum + evDrawW(c), 0);
}

/**
 * Site demand without the batteries, W: `gridPowerW + Σ battery.powerW` = load + EV − PV.
 * Positive: the site needs power; negative: PV surplus. Built from the grid meter, the most reliable reading; within
 * `combine`, from grid and battery readings that agree (`SiteState.netDemandW`, `estimateDemand`).
 */
export function netDemandW(state: SiteState): number {
  if (state.netDemandW !== undefined && Number.isFinite(state.netDemandW)) return state.netDemandW;
  return state.gridPowerW + totalBatteryPowerW(state.batteries);
}

/**
 * Bounds on the total battery power (+ = discharge) that keep the grid inside its limits, given the current demand.
 * A bound never forces action: when the site is already beyond a limit the battery may still idle (0 W).
 */
export function gridBoundsForBatteriesW(state: SiteState): { readonly minW: number; readonly maxW: number } {
  const demandW = netDemandW(state);
  // grid after = demandW − batteryW; keep −maxExportW ≤ grid after ≤ maxImportW.
  const minW = Math.min(0, demandW - state.limits.maxImportW);
  const maxW = Math.max(0, demandW + state.limits.maxExportW);
  return { minW, maxW };
}

/**
 * Splits a total battery power (+ = discharge) over the usable batteries in proportion to each one's headroom in
 * that direction; unusable batteries get 0 W. Each share is clamped to its battery and cut to its step toward zero.
 */
export function allocateBatteryPower(
  totalW: number,
  batteries: readonly BatteryState[],
  isUsable: (battery: BatteryState) => boolean,
): Record<string, number> {
  const out: Record<string, number> = {};
  const usable = batteries.filter(isUsable);
  const headroom = usable.map((b) => {
    const window = batteryWindow(b);
    return totalW >= 0 ? window.maxDischargeW : window.maxChargeW;
  });
  const totalHeadroom = headroom.reduce((a, b) => a + b, 0);
  const magnitude = Math.min(Math.abs(totalW), totalHeadroom);
  for (const b of batteries) out[b.assetId] = 0;
  const direction = Math.sign(totalW);
  let sentW = 0;
  const cut: { readonly b: BatteryState; readonly roomW: number; readonly lostW: number }[] = [];
  usable.forEach((b, i) => {
    const share = totalHeadroom > 0 ? ((headroom[i] ?? 0) / totalHeadroom) * magnitude : 0;
    const { maxChargeW, maxDischargeW } = batteryWindow(b);
    const limited = clamp(direction * share, -maxChargeW, maxDischargeW);
    // Toward zero, so the shares never add up to more than the total (or a limit).
    const w = truncateToStep(limited, b.powerStepW ?? 1);
    out[b.assetId] = w;
    sentW += Math.abs(w);
    cut.push({ b, roomW: (headroom[i] ?? 0) - Math.abs(w), lostW: Math.abs(limited - w) });
  });
  // What the cuts lost goes back in whole steps, largest cut first, to batteries with room, as far as the total allows:
  // 200 W over a 3000 W and a 1000 W battery with 100 W steps is 150 + 50 W, cut to 100 + 0 W; this gives the lost
  // 100 W back. Never more than asked, never past a battery's limit; afterwards every battery with room for a step
  // has a step more than what is still missing.
  cut.sort((x, y) => y.lostW - x.lostW);
  for (const { b, roomW } of cut) {
    const stepW = b.powerStepW ?? 1;
    if (!(stepW > 0)) continue;
    const steps = Math.floor((Math.min(magnitude - sentW, roomW) + 1e-9) / stepW);
    if (steps <= 0) continue;
    out[b.assetId] = noNegativeZero((out[b.assetId] ?? 0) + direction * steps * stepW);
    sentW += steps * stepW;
  }
  return out;
}

/**
 * A discharge request (W, > 0) rounded up to the coarsest setpoint step of the usable batteries; a charge or zero
 * request is returned as it is. The allocation cuts each share toward zero, which would otherwise leave up to a step
 * of a shaved demand to the grid — enough to push a held monthly peak up a watt at a time.
 */
export function roundDischargeUpW(
  powerW: number,
  batteries: readonly BatteryState[],
  isUsable: (battery: BatteryState) => boolean,
  noExportAboveW?: number,
): number {
  if (!(powerW > 0)) return powerW;
  const stepW = batteries.filter(isUsable).reduce((s, b) => Math.max(s, b.powerStepW ?? 1), 1);
  const up = Math.ceil(powerW / stepW - 1e-9) * stepW;
  // Without export, a discharge within the demand is not rounded past it: down a step instead (before, the planners
  // exported up to a step, 99 W at 1 001 W of demand with 100 W steps).
  if (noExportAboveW !== undefined && up > noExportAboveW && powerW <= noExportAboveW + 1e-6) return Math.floor(powerW / stepW + 1e-9) * stepW;
  return up;
}

/** The combined window of the usable batteries, W, both ≥ 0. */
export function fleetWindow(batteries: readonly BatteryState[], isUsable: (battery: BatteryState) => boolean): BatteryWindow {
  let maxChargeW = 0;
  let maxDischargeW = 0;
  for (const b of batteries) {
    if (!isUsable(b)) continue;
    const w = batteryWindow(b);
    maxChargeW += w.maxChargeW;
    maxDischargeW += w.maxDischargeW;
  }
  return { maxChargeW, maxDischargeW };
}

/** Clamp a total battery power to the fleet window and the grid bounds. */
export function limitFleetW(
  totalW: number,
  state: SiteState,
  isUsable: (battery: BatteryState) => boolean,
): { readonly powerW: number; readonly limitedBy: 'none' | 'battery' | 'grid' } {
  const fleet = fleetWindow(state.batteries, isUsable);
  const grid = gridBoundsForBatteriesW(state);
  const byBattery = clamp(totalW, -fleet.maxChargeW, fleet.maxDischargeW);
  const byGrid = clamp(byBattery, Math.max(grid.minW, -fleet.maxChargeW), Math.min(grid.maxW, fleet.maxDischargeW));
  const limitedBy = byGrid !== byBattery ? 'grid' : byBattery !== totalW ? 'battery' : 'none';
  return { powerW: noNegativeZero(byGrid), limitedBy };
}

/** Average SoC weighted by capacity of the given batteries, %; NaN without batteries. */
export function fleetSocPct(batteries: readonly BatteryState[]): number {
  const capacityWh = batteries.reduce((s, b) => s + b.capacityWh, 0);
  if (!(capacityWh > 0)) return Number.NaN;
  return batteries.reduce((s, b) => s + b.socPct * b.capacityWh, 0) / capacityWh;
}

/** A `battery-power` setpoint for every battery: the allocation of `totalW` over the usable ones, 0 W for the rest. */
export function fleetSetpoints(
  totalW: number,
  batteries: readonly BatteryState[],
  isUsable: (battery: BatteryState) => boolean,
): Record<string, Setpoint> {
  const shares = allocateBatteryPower(totalW, batteries, isUsable);
  const out: Record<string, Setpoint> = {};
  for (const b of batteries) out[b.assetId] = batteryPower(shares[b.assetId] ?? 0);
  return out;
}

/**
 * The setpoints for a total battery power and what they add up to, W: each battery's share is cut toward zero to its
 * setpoint step, so the total asked can be less than `totalW` (a 0.4 W plan, or 99 W on a 100 W step, asks 0 W).
 * A decision reports and names this total — what the batteries are really asked — not the one it wanted.
 */
export function settleFleet(
  totalW: number,
  batteries: readonly BatteryState[],
  isUsable: (battery: BatteryState) => boolean,
): { readonly setpoints: Record<string, Setpoint>; readonly powerW: number } {
  const setpoints = fleetSetpoints(totalW, batteries, isUsable);
  return { setpoints, powerW: noNegativeZero(sumBatterySetpointsW(setpoints)) };
}

/**
 * Raises a proposal's total battery power (+ = discharge) to `totalW` changing as little as it can: first the charging
 * batteries charge less (in proportion to their charge), then the batteries the proposal moves discharge more (in
 * proportion to the discharge room left in each), then the idle ones the same way. A battery the proposal left idle
 * is moved only when the others cannot give the raise; an unusable one never. Each moved set-point is rounded up to its step within its window (down instead when
 * the rounding would take the total past `totalW` by more than the steps the other moved batteries leave).
 * Never lowers a set-point. A layer's raise (peak-shaving) with `settleFleet` re-split the whole fleet, charging a
 * battery the primary had left idle.
 */
export function raiseFleet(
  proposal: Readonly<Record<string, Setpoint>>,
  totalW: number,
  batteries: readonly BatteryState[],
  isUsable: (battery: BatteryState) => boolean,
): { readonly setpoints: Record<string, Setpoint>; readonly powerW: number } {
  const setpoints: Record<string, Setpoint> = { ...proposal };
  const proposedOf = (b: BatteryState): number => {
    const sp = proposal[b.assetId];
    return sp?.kind === 'battery-power' && Number.isFinite(sp.powerW) ? sp.powerW : 0;
  };
  let raiseW = totalW - sumBatterySetpointsW(proposal);
  if (!(raiseW > 0)) return { setpoints, powerW: noNegativeZero(sumBatterySetpointsW(setpoints)) };
  const usable = batteries.filter(isUsable);
  const next = new Map<string, number>(usable.map((b) => [b.assetId, proposedOf(b)]));
  // 1. Less charge.
  const chargeW = usable.reduce((sum, b) => sum + Math.max(0, -proposedOf(b)), 0);
  if (chargeW > 0) {
    const takeW = Math.min(raiseW, chargeW);
    for (const b of usable) {
      const c = Math.max(0, -proposedOf(b));
      if (c > 0) next.set(b.assetId, -c + (takeW * c) / chargeW);
    }
    raiseW -= takeW;
  }
  // 2. More discharge, in proportion to the room left: first the batteries the proposal moves, then the idle ones.
  for (const group of [usable.filter((b) => proposedOf(b) !== 0), usable.filter((b) => proposedOf(b) === 0)]) {
    if (!(raiseW > 0)) break;
    const room = group.map((b) => Math.max(0, batteryWindow(b).maxDischargeW - Math.max(0, next.get(b.assetId) ?? 0)));
    const roomW = room.reduce((a, r) => a + r, 0);
    const giveW = Math.min(raiseW, roomW);
    group.forEach((b, i) => {
      const r = room[i] ?? 0;
      if (r > 0 && roomW > 0) next.set(b.assetId, (next.get(b.assetId) ?? 0) + (giveW * r) / roomW);
    });
    raiseW -= giveW;
  }
  for (const b of usable) {
    const before = proposedOf(b);
    const wantedW = next.get(b.assetId) ?? before;
    if (wantedW <= before) continue;
    const stepW = Math.max(1, b.powerStepW ?? 1);
    const window = batteryWindow(b);
    const up = Math.ceil(wantedW / stepW - 1e-9) * stepW;
    const down = Math.floor(wantedW / stepW + 1e-9) * stepW;
    const roundedW = up <= window.maxDischargeW ? up : down;
    setpoints[b.assetId] = batteryPower(Math.max(before, roundedW));
  }
  // The rounding up may not take the total past what was asked by more than a step of one battery.
  const maxStepW = usable.reduce((m, b) => Math.max(m, b.powerStepW ?? 1), 1);
  for (const b of usable) {
    if (sumBatterySetpointsW(setpoints) - totalW < maxStepW) break;
    const sp = setpoints[b.assetId];
    const before = proposedOf(b);
    if (sp?.kind !== 'battery-power' || sp.powerW <= before) continue;
    const stepW = Math.max(1, b.powerStepW ?? 1);
    setpoints[b.assetId] = batteryPower(Math.max(before, sp.powerW - stepW));
  }
  return { setpoints, powerW: noNegativeZero(sumBatterySetpointsW(setpoints)) };
}

/** Reasons that say the batteries charge / discharge (the planners derive theirs from the power sent). */
const CHARGING_REASONS: ReadonlySet<StrategyReason> = new Set(['charging', 'cheap-charging', 'storing-surplus']);
const DISCHARGING_REASONS: ReadonlySet<StrategyReason> = new Set(['discharging', 'expensive-discharging']);

/**
 * The reason for what was sent: a reason that says the batteries charge or discharge, when the setpoints ask 0 W
 * (the power wanted is below the batteries' setpoint steps), is 'below-power-step'.
 */
export function reasonForSent(reason: StrategyReason, sentW: number): StrategyReason {
  if (sentW === 0 && (CHARGING_REASONS.has(reason) || DISCHARGING_REASONS.has(reason))) return 'below-power-step';
  return reason;
}

/** 0 W for every battery: the safe hold. */
export function holdAllBatteries(batteries: readonly BatteryState[]): Record<string, Setpoint> {
  const out: Record<string, Setpoint> = {};
  for (const b of batteries) out[b.assetId] = batteryPower(0);
  return out;
}

/** Sum of the battery-power setpoints in a setpoint record, W. */
export function sumBatterySetpointsW(setpoints: Readonly<Record<string, Setpoint>>): number {
  let sum = 0;
  for (const sp of Object.values(setpoints)) if (sp.kind === 'battery-power') sum += sp.powerW;
  return sum;
}
