import type { AssetReading, Setpoint, ValueBounds } from '@voltimax/contracts';
import { SAFE_SETPOINT, violation, type SafetyViolation } from './codes';
import {
  DEFAULT_ARBITER_OPTIONS,
  type AppliedSetpoint,
  type ArbitrationInput,
  type DriverHealth,
  type GridInput,
  type RuleContext,
} from './context';
import type { EstopState } from './estop';
import {
  addGridDelta,
  batteryGridEffect,
  evGridEffect,
  finiteOrUndefined,
  gridBandFromReading,
  gridDeltaOf,
  sumGridDeltas,
  unionGridDeltas,
  ZERO_GRID_DELTA,
  type GridDelta,
  type GridLimits,
} from './grid';
import type { AssetSafetyLimits } from './limits';
import { RULES, type SafetyRule } from './rules';

/**
 * What happened to a request:
 * - `applied`: written as requested;
 * - `clamped`: narrowed by one or more rules, or let through towards a grid limit it could not keep
 *   (`violations` says which, with limit and value);
 * - `rejected`: the request was unusable (non-finite number, setpoint kind the asset does not take);
 *   the asset gets its safe setpoint;
 * - `safe`: a fault (e-stop, lost driver, missing or stale telemetry) or no request: the safe setpoint.
 */
export type ArbitrationOutcome = 'applied' | 'clamped' | 'rejected' | 'safe';

/** The arbiter's decision for one asset. */
export interface ArbitrationResult {
  /** What to write. Same kind as the request unless the outcome is `rejected` or `safe` (then `{ kind: 'safe' }`). */
  readonly setpoint: Setpoint;
  readonly outcome: ArbitrationOutcome;
  /** In rule order; empty for `applied` and for `safe` without a request. */
  readonly violations: readonly SafetyViolation[];
  /**
   * The intersection of every limit rule's interval (the setpoint's unit; finite ends only), when a rule limited
   * the value: a driver that can write only whole steps picks one inside it (DeviceWrite.bounds).
   */
  readonly bounds?: ValueBounds;
}

/** The numeric value a setpoint carries, in its own unit (battery W + = discharge, EV A, PV W); 0 for `safe`. */
export function setpointValue(setpoint: Setpoint): number {
  switch (setpoint.kind) {
    case 'battery-power':
      return setpoint.powerW;
    case 'ev-current':
      return setpoint.currentA;
    case 'pv-limit':
      return setpoint.maxPowerW;
    case 'safe':
      return 0;
  }
}

function withValue(setpoint: Setpoint, value: number, evPhases: 1 | 3): Setpoint {
  switch (setpoint.kind) {
    case 'battery-power':
      return { kind: 'battery-power', powerW: value };
    case 'ev-current':
      // `session` (start/stop the charging session) passes through: it never changes what is allowed.
      return {
        kind: 'ev-current',
        currentA: value,
        ...(setpoint.phases === undefined ? {} : { phases: evPhases }),
        ...(setpoint.session === undefined ? {} : { session: setpoint.session }),
      };
    case 'pv-limit':
      return { kind: 'pv-limit', maxPowerW: value };
    case 'safe':
      return SAFE_SETPOINT;
  }
}

/** The phases an EV request will use: the requested phases, at most the charger's. */
function evPhasesOf(asset: AssetSafetyLimits, requested: Setpoint): 1 | 3 {
  const chargerPhases = asset.evCharger?.phases ?? 3;
  if (requested.kind !== 'ev-current' || requested.phases === undefined) return chargerPhases;
  return requested.phases === 1 || chargerPhases === 1 ? 1 : 3;
}

function contextOf(input: ArbitrationInput, requested: Setpoint): RuleContext {
  const band =
    input.grid.reading === undefined ? undefined : gridBandFromReading(input.grid.reading, input.grid.limits);
  return {
    asset: input.asset,
    requested,
    reading: input.reading,
    readingAtGrid: input.readingAtGrid,
    grid: input.grid,
    gridBand: band === undefined || input.grid.pending === undefined ? band : addGridDelta(band, input.grid.pending),
    lastApplied: input.lastApplied,
    mayStillLand: input.mayStillLand,
    rampFrom: input.rampFrom,
    estop: input.estop,
    driver: input.driver,
    gridDown: input.gridDown === true,
    nowMs: input.nowMs,
    options: input.options === undefined ? DEFAULT_ARBITER_OPTIONS : { ...DEFAULT_ARBITER_OPTIONS, ...input.options },
    evPhases: evPhasesOf(input.asset, requested),
  };
}

/** N ∩ [lo, hi] as [from, to], where N is the range between 0 and r; undefined if that is empty (or an end is NaN). */
function admissible(requested: number, lo: number, hi: number): readonly [number, number] | undefined {
  const from = Math.max(requested < 0 ? requested : 0, lo);
  const to = Math.min(requested < 0 ? 0 : requested, hi);
  // A NaN end makes the comparison false: empty.
  return from <= to ? [from, to] : undefined;
}

/** The ends of the interval the limit rules admit so far: the rules' own and the grid connection's (`soft`). */
interface Ends {
  lo: number;
  hi: number;
  softLo: number;
  softHi: number;
}

/**
 * The value for the ends so far: the point of N ∩ [lo, hi] ∩ [softLo, softHi] closest to the request. If that is
 * empty because N ∩ [lo, hi] lies wholly between 0 and a soft end, the point of it nearest to that end (the most
 * the other rules allow towards it); otherwise 0.
 */
function narrowest(requested: number, ends: Ends): number {
  const all = admissible(requested, Math.max(ends.lo, ends.softLo), Math.min(ends.hi, ends.softHi));
  // `+ 0` turns −0 into 0.
  if (all !== undefined) return Math.min(Math.max(requested, all[0]), all[1]) + 0;
  const hard = admissible(requested, ends.lo, ends.hi);
  if (hard === undefined || !(ends.softLo <= ends.softHi)) return 0;
  if (hard[1] > 0 && ends.softLo > hard[1]) return hard[1];
  if (hard[0] < 0 && ends.softHi < hard[0]) return hard[0];
  return 0;
}

/**
 * An EV current kept where the grid connection's end is near: the last applied current instead of the value, when
 * that lies below the value, not below `lo` (every rule's lower end, the minimum current among them) and less than
 * `evLimitHoldA` below the value. Every rule's interval holds it (it lies between `lo` and the value), so only the
 * write is saved: the headroom the grid leaves moves with every house-load reading, and a charger must not get a new
 * current each time. Only while the grid's upper end lies less than the hold above the value: where the grid binds,
 * or hovers just above the request or a fixed limit (else the value would swap between the two on every reading). A
 * fixed limit such as the charger's maximum with the grid far away never moves, and holding below it would keep the
 * car under it for good; nor is a request that changed since the last write held under. Undefined when nothing is
 * held.
 */
function heldEvCurrent(ctx: RuleContext, value: number, ends: Ends, lo: number): number | undefined {
  const last = ctx.lastApplied?.setpoint;
  const holdA = ctx.options.evLimitHoldA;
  const requested = ctx.requested;
  if (requested.kind !== 'ev-current' || last?.kind !== 'ev-current') return undefined;
  if (!(ends.softHi < value + holdA)) return undefined;
  // A request nothing held down is kept under only while it is the one the last write answered: a strategy or an
  // operator raising it gets the raise (else a steady grid near it would keep the old current for good).
  const before = ctx.lastApplied?.requested;
  if (!(value < requested.currentA) && !(before?.kind === 'ev-current' && before.currentA === requested.currentA))
    return undefined;
  const heldA = last.currentA;
  return heldA > 0 && heldA >= lo && heldA < value && value - heldA < holdA ? heldA : undefined;
}

/**
 * Runs the given rules, in order, on one request. For tests and rule-by-rule analysis; the service uses
 * {@link arbitrate}, which runs all {@link RULES}.
 *
 * A gate verdict (`safe`, `reject`) stops at once. Each `limit` verdict intersects the admissible interval;
 * the value after every rule is the point of (the range between 0 and the request) ∩ (all intervals so far)
 * closest to the request, or 0 if that is empty. Hence every rule can only narrow (|value| never grows, the sign
 * never flips), the result lies inside every rule's interval or is 0, and the final setpoint does not depend on
 * the order of the limit rules. A rule is reported when the value before it lay outside its interval.
 * Non-finite numbers never pass: they are rejected with `invalid-value`.
 *
 * One exception to "or 0": the grid connection's ends (`soft`) are worked out from where the asset is now, and
 * when the grid is already beyond a limit they can lie beyond the request, on the far side from 0. A battery that
 * discharges 854 W while the worst-case import is beyond the fuse, asked for 850 W, gets 850 W (4 W more import),
 * not 0 W (854 W more). So when a soft end lies beyond everything the other rules admit between 0 and the request,
 * the value is the admitted point nearest to it: still never beyond the request, inside every other rule's
 * interval, and never further from the grid's limits than 0 would be.
 */
export function arbitrateWith(rules: readonly SafetyRule[], input: ArbitrationInput): ArbitrationResult {
  const requested = input.requested;
  if (requested === undefined) return { setpoint: SAFE_SETPOINT, outcome: 'safe', violations: [] };
  const ctx = contextOf(input, requested);
  const requestedValue = setpointValue(requested);
  const violations: SafetyViolation[] = [];
  const invalid = (detail: string): ArbitrationResult => ({
    setpoint: SAFE_SETPOINT,
    outcome: 'rejected',
    violations: [...violations, violation('invalid-value', { detail })],
  });
  let value = requestedValue;
  const ends: Ends = {
    lo: Number.NEGATIVE_INFINITY,
    hi: Number.POSITIVE_INFINITY,
    softLo: Number.NEGATIVE_INFINITY,
    softHi: Number.POSITIVE_INFINITY,
  };
  for (const rule of rules) {
    const verdict = rule.evaluate(value, ctx);
    if (verdict.kind === 'pass') continue;
    if (verdict.kind === 'safe')
      return { setpoint: SAFE_SETPOINT, outcome: 'safe', violations: [...violations, verdict.violation] };
    if (verdict.kind === 'reject')
      return { setpoint: SAFE_SETPOINT, outcome: 'rejected', violations: [...violations, verdict.violation] };
    if (!Number.isFinite(requestedValue)) return invalid(`requested ${String(requestedValue)}`);
    const ruleLo = verdict.lo?.at ?? Number.NEGATIVE_INFINITY;
    const ruleHi = verdict.hi?.at ?? Number.POSITIVE_INFINITY;
    if (value !== 0 && !(value >= ruleLo && value <= ruleHi)) {
      const side = value <= ruleHi ? (verdict.lo ?? verdict.hi) : (verdict.hi ?? verdict.lo);
      if (side !== undefined) violations.push(side.explain());
    }
    if (verdict.lo?.soft === true) ends.softLo = Math.max(ends.softLo, ruleLo);
    else ends.lo = Math.max(ends.lo, ruleLo);
    if (verdict.hi?.soft === true) ends.softHi = Math.min(ends.softHi, ruleHi);
    else ends.hi = Math.min(ends.hi, ruleHi);
    value = narrowest(requestedValue, ends);
  }
  if (!Number.isFinite(value)) return invalid(`requested ${String(requestedValue)}`);
  if (requested.kind === 'safe') return { setpoint: SAFE_SETPOINT, outcome: 'applied', violations };
  if (requested.kind === 'ev-current' && requested.phases !== undefined && requested.phases !== ctx.evPhases) {
    violations.push(
      violation('ev-phases', { detail: `requested ${requested.phases} phases, charger wired for ${ctx.evPhases}` }),
    );
  }
  // The ends the value lies inside: a soft end it could not meet is left out, so a driver's rounding keeps the rest.
  const metSoft = value >= ends.softLo && value <= ends.softHi;
  const lo = metSoft ? Math.max(ends.lo, ends.softLo) : ends.lo;
  const hi = metSoft ? Math.min(ends.hi, ends.softHi) : ends.hi;
  const bounds: ValueBounds = {
    ...(Number.isFinite(lo) ? { min: lo } : {}),
    ...(Number.isFinite(hi) ? { max: hi } : {}),
  };
  const heldA = metSoft ? heldEvCurrent(ctx, value, ends, lo) : undefined;
  if (heldA !== undefined) {
    violations.push(
      violation('ev-limit-hold', {
        limit: heldA,
        value,
        unit: 'A',
        detail: `the last current is kept: the grid's limit lies less than ${ctx.options.evLimitHoldA} A above it`,
      }),
    );
  }
  const written = heldA ?? value;
  return {
    setpoint: withValue(requested, written, ctx.evPhases),
    outcome: violations.length > 0 || written !== requestedValue ? 'clamped' : 'applied',
    violations,
    ...(bounds.min === undefined && bounds.max === undefined ? {} : { bounds }),
  };
}

/**
 * Decides what to write to one asset: all {@link RULES} in their fixed order. Pure and deterministic: the same
 * input always gives the same result; time comes in as `input.nowMs`.
 */
export function arbitrate(input: ArbitrationInput): ArbitrationResult {
  return arbitrateWith(RULES, input);
}

/** One asset's part of a site-wide arbitration. */
export interface AssetArbitrationRequest {
  readonly asset: AssetSafetyLimits;
  readonly requested?: Setpoint;
  readonly reading?: AssetReading;
  /** See {@link ArbitrationInput.readingAtGrid}. */
  readonly readingAtGrid?: AssetReading;
  readonly lastApplied?: AppliedSetpoint;
  readonly rampFrom?: AppliedSetpoint;
  readonly driver?: DriverHealth;
  /**
   * Other setpoints written to the asset that may still land: writes not confirmed (in flight, timed out, failed
   * without an answer that they were not applied) and not expired. The grid band counts them like `lastApplied`,
   * for the other assets and for this one (see {@link ArbitrationInput.mayStillLand}).
   */
  readonly mayStillLand?: readonly Setpoint[];
}

/** Everything {@link arbitrateSite} needs for one tick. */
export interface SiteArbitrationInput {
  /** The controllable assets, in the order they get grid headroom (e.g. by the priority of their intents). */
  readonly assets: readonly AssetArbitrationRequest[];
  /** Limits and the grid-meter reading (no `pending`: it is computed from the assets). */
  readonly grid: Omit<GridInput, 'pending'>;
  readonly estop: EstopState;
  readonly gridDown?: boolean;
  readonly nowMs: number;
  readonly options?: ArbitrationInput['options'];
}

/** One asset's decision within {@link arbitrateSite}. */
export interface AssetArbitrationResult extends ArbitrationResult {
  readonly assetId: string;
}

/**
 * The grid change an asset may still cause by reaching `setpoint` from where its reading says it is
 * (battery 0 W and EV 0 A for `safe`; PV is not modelled). Zero for kinds without a grid effect.
 */
export function pendingGridDelta(
  asset: AssetSafetyLimits,
  reading: AssetReading | undefined,
  setpoint: Setpoint | undefined,
  limits: GridLimits,
  readingAtGrid?: AssetReading,
): GridDelta {
  if (setpoint === undefined) return ZERO_GRID_DELTA;
  const isSafe = setpoint.kind === 'safe';
  if ((setpoint.kind === 'battery-power' || isSafe) && asset.battery !== undefined) {
    const effect = batteryGridEffect(asset, reading, limits, readingAtGrid);
    const targetW = setpoint.kind === 'battery-power' ? setpoint.powerW : 0;
    if (effect !== undefined && Number.isFinite(targetW)) return gridDeltaOf(effect, targetW, limits);
  }
  if ((setpoint.kind === 'ev-current' || isSafe) && asset.evCharger !== undefined) {
    const phases = setpoint.kind === 'ev-current' ? evPhasesOf(asset, setpoint) : asset.evCharger.phases;
    const effect = evGridEffect(asset, reading, limits, phases, readingAtGrid);
    const targetA = setpoint.kind === 'ev-current' ? setpoint.currentA : 0;
    if (effect !== undefined && Number.isFinite(targetA)) return gridDeltaOf(effect, targetA, limits);
  }
  return ZERO_GRID_DELTA;
}

/**
 * True if the request asks for 0 or the safe setpoint, or moves a battery towards 0 from its last applied setpoint
 * and its measured power (whichever are known): the arbiter never refuses that, so other assets cannot be given the
 * headroom it takes. (An EV current is compared by power only through its phases, so only 0 counts.)
 */
function goesTowardsZero(request: AssetArbitrationRequest): boolean {
  const requested = request.requested;
  if (requested === undefined || requested.kind === 'safe') return true;
  const value = setpointValue(requested);
  if (value === 0) return true;
  if (requested.kind !== 'battery-power') return false;
  // Towards 0 from the last applied setpoint, if any, and from the measured power, if known.
  const last = request.lastApplied?.setpoint;
  const measured = finiteOrUndefined(request.reading?.values.powerW);
  const from = [
    ...(last === undefined ? [] : [last.kind === 'battery-power' ? last.powerW : Number.NaN]),
    ...(measured === undefined ? [] : [measured]),
  ];
  return from.length > 0 && from.every((f) => Math.sign(value) === Math.sign(f) && Math.abs(value) < Math.abs(f));
}

/**
 * Arbitrates every controllable asset of the site for one tick, so that the grid-connection limit holds for
 * battery and EV chargers together. Each asset is checked against the grid-meter reading plus the worst case
 * of everything else that may still change the grid: the decisions taken for the assets before it in this
 * tick (each together with its last applied setpoint, which may still land first), and the last applied setpoints
 * of the assets after it (written but maybe not reached yet), with any other write that may still land
 * (`mayStillLand`).
 *
 * Assets whose request goes towards 0 are decided first: a battery asked to discharge less takes headroom that no
 * rule can refuse it, so an EV charger before it in the order must not be given that headroom as well. The rest
 * follow in the order given (earlier assets get the headroom first). Results come in the order given.
 */
export function arbitrateSite(input: SiteArbitrationInput): readonly AssetArbitrationResult[] {
  const limits = input.grid.limits;
  const assets = input.assets;
  const order = [
    ...assets.flatMap((request, index) => (goesTowardsZero(request) ? [index] : [])),
    ...assets.flatMap((request, index) => (goesTowardsZero(request) ? [] : [index])),
  ];
  const stillPending = assets.map((request) =>
    [request.lastApplied?.setpoint, ...(request.mayStillLand ?? [])]
      .map((setpoint) => pendingGridDelta(request.asset, request.reading, setpoint, limits, request.readingAtGrid))
      .reduce(unionGridDeltas, ZERO_GRID_DELTA),
  );
  const results = new Map<number, AssetArbitrationResult>();
  let decided = ZERO_GRID_DELTA;
  order.forEach((index, position) => {
    const request = assets[index];
    if (request === undefined) return;
    const later = order
      .slice(position + 1)
      .map((i) => stillPending[i] ?? ZERO_GRID_DELTA)
      .reduce(sumGridDeltas, ZERO_GRID_DELTA);
    const result = arbitrate({
      ...request,
      grid: { ...input.grid, pending: sumGridDeltas(decided, later) },
      estop: input.estop,
      ...(input.gridDown === undefined ? {} : { gridDown: input.gridDown }),
      nowMs: input.nowMs,
      ...(input.options === undefined ? {} : { options: input.options }),
    });
    results.set(index, { assetId: request.asset.assetId, ...result });
    // Until the reading shows otherwise, the last written setpoint may still land before the new one.
    const stillLanding = stillPending[index] ?? ZERO_GRID_DELTA;
    const toNew = pendingGridDelta(request.asset, request.reading, result.setpoint, limits, request.readingAtGrid);
    decided = sumGridDeltas(decided, unionGridDeltas(stillLanding, toNew));
  });
  return assets.flatMap((_, index) => {
    const result = results.get(index);
    return result === undefined ? [] : [result];
  });
}
