import type { AssetReading, Setpoint } from '@voltimax/contracts';
import { violation, type SafetyViolation, type ViolationCode } from './codes';
import type { AppliedSetpoint, RuleContext } from './context';
import {
  batteryGridEffect,
  evGridEffect,
  finiteOrUndefined,
  gridBandFromReading,
  type GridBand,
  type GridEffect,
  type GridLimits,
  type Range,
} from './grid';
import type { TemperatureWindow } from './limits';

/**
 * One end of the interval a rule admits, in the setpoint's unit (battery W with + = discharge, EV A per phase,
 * PV W). `explain` builds the violation reported when the value before the rule lay beyond this end.
 */
export interface Bound {
  readonly at: number;
  readonly explain: () => SafetyViolation;
  /**
   * A grid-connection end, worked out from where the asset and the grid are now. When no value between 0 and the
   * request meets it (a battery whose discharge holds the import under the fuse, asked to discharge a little
   * less), 0 may be the worst answer: the value then goes as near to it as the other rules allow, or to 0 if
   * that is nearer (see {@link arbitrate}).
   */
  readonly soft?: true;
}

/**
 * What a rule says about the value it is given:
 * - `pass`: nothing to say;
 * - `safe`: a fault (e-stop, lost driver, stale data): the asset gets its safe setpoint;
 * - `reject`: the request itself is unusable: refused, the asset gets its safe setpoint;
 * - `limit`: the value must lie in [lo, hi] (an absent end is unbounded). 0 (the safe value) is always
 *   admissible, except past a `soft` end of the grid connection, so a rule can only narrow: see
 *   {@link arbitrateWith}.
 */
export type RuleVerdict =
  | { readonly kind: 'pass' }
  | { readonly kind: 'safe'; readonly violation: SafetyViolation }
  | { readonly kind: 'reject'; readonly violation: SafetyViolation }
  | { readonly kind: 'limit'; readonly lo?: Bound; readonly hi?: Bound };

/** Name of a safety rule, kebab-case; the service logs the order at startup. */
export type RuleName =
  | 'emergency-stop'
  | 'driver-heartbeat'
  | 'telemetry'
  | 'setpoint'
  | 'soc-window'
  | 'backup-reserve'
  | 'power-limit'
  | 'current-limit'
  | 'temperature-window'
  | 'grid-connection'
  | 'ev-current'
  | 'pv-limit'
  | 'ramp-rate';

/**
 * A pure safety rule. `evaluate` gets the value as narrowed by the rules before it (in the setpoint's unit;
 * 0 for a `safe` request) and the context; it reads no clock and keeps no state.
 */
export interface SafetyRule {
  readonly name: RuleName;
  /** The codes this rule can report. */
  readonly codes: readonly ViolationCode[];
  /** One line for the startup log and the README. */
  readonly description: string;
  readonly evaluate: (value: number, ctx: RuleContext) => RuleVerdict;
}

const PASS: RuleVerdict = { kind: 'pass' };

function bound(at: number, explain: () => SafetyViolation): Bound {
  return { at, explain };
}

/** A blocked direction: the value may not go below 0 (`lo`) or above 0 (`hi`). */
function blockAt(explain: () => SafetyViolation): Bound {
  return bound(0, explain);
}

// ---- gates: faults that force the safe setpoint ------------------------------------------------------------

const emergencyStop: SafetyRule = {
  name: 'emergency-stop',
  codes: ['emergency-stop'],
  description: 'emergency stop latched → safe setpoint until an explicit release',
  evaluate: (_value, ctx) =>
    ctx.estop.engaged
      ? {
          kind: 'safe',
          violation: violation('emergency-stop', {
            detail: `engaged by ${ctx.estop.engagedBy ?? 'unknown'}${ctx.estop.engagedReason === undefined ? '' : `: ${ctx.estop.engagedReason}`}`,
          }),
        }
      : PASS,
};

/** True if the driver's heartbeat is missing, too old, from too far in the future, or says it is failing. */
export function isDriverLost(ctx: Pick<RuleContext, 'driver' | 'nowMs' | 'options'>): boolean {
  const driver = ctx.driver;
  if (driver === undefined) return true;
  if (driver.status === 'error' || driver.status === 'stopping') return true;
  const silentMs = ctx.nowMs - driver.lastSeenAtMs;
  const allowedMs = ctx.options.missedHeartbeats * driver.intervalMs;
  return !(silentMs <= allowedMs && silentMs >= -ctx.options.maxClockSkewMs);
}

const driverHeartbeat: SafetyRule = {
  name: 'driver-heartbeat',
  codes: ['driver-lost'],
  description: 'driver heartbeat missing, silent for missedHeartbeats intervals, or failing → safe setpoint',
  evaluate: (_value, ctx) => {
    if (!isDriverLost(ctx)) return PASS;
    const driver = ctx.driver;
    if (driver === undefined)
      return { kind: 'safe', violation: violation('driver-lost', { detail: 'no heartbeat received' }) };
    return {
      kind: 'safe',
      violation: violation('driver-lost', {
        limit: ctx.options.missedHeartbeats * driver.intervalMs,
        value: ctx.nowMs - driver.lastSeenAtMs,
        unit: 'ms',
        detail: `driver status ${driver.status ?? 'unknown'}`,
      }),
    };
  },
};

/** Why a reading cannot be used at `nowMs`, or undefined if it is good and fresh. */
function readingProblem(
  reading: AssetReading | undefined,
  what: string,
  ctx: RuleContext,
): SafetyViolation | undefined {
  if (reading === undefined) return violation('missing-telemetry', { detail: `no ${what} reading` });
  if (reading.quality !== 'good') {
    return violation('stale-telemetry', { detail: `${what} reading quality ${reading.quality}` });
  }
  const ageMs = ctx.nowMs - reading.atMs;
  if (ageMs < -ctx.options.maxClockSkewMs) {
    return violation('stale-telemetry', { value: ageMs, unit: 'ms', detail: `${what} reading from the future` });
  }
  if (!(ageMs <= ctx.options.maxTelemetryAgeMs)) {
    return violation('stale-telemetry', {
      limit: ctx.options.maxTelemetryAgeMs,
      value: ageMs,
      unit: 'ms',
      detail: `${what} reading age`,
    });
  }
  return undefined;
}

/** Setpoint kinds whose grid effect the arbiter checks, so they need a fresh grid-meter reading. */
function affectsGrid(ctx: RuleContext): boolean {
  return ctx.requested.kind === 'battery-power' || ctx.requested.kind === 'ev-current';
}

const telemetry: SafetyRule = {
  name: 'telemetry',
  codes: ['missing-telemetry', 'stale-telemetry'],
  description:
    "asset reading (and, for battery and EV setpoints, the grid-meter reading) missing, not 'good', older than maxTelemetryAgeMs or future-dated → safe setpoint",
  evaluate: (_value, ctx) => {
    const reading = ctx.reading;
    if (reading !== undefined && reading.assetId !== ctx.asset.assetId) {
      return {
        kind: 'safe',
        violation: violation('missing-telemetry', { detail: `reading is for asset ${reading.assetId}` }),
      };
    }
    const assetProblem = readingProblem(reading, 'asset', ctx);
    if (assetProblem !== undefined) return { kind: 'safe', violation: assetProblem };
    if (!affectsGrid(ctx)) return PASS;
    const gridProblem = readingProblem(ctx.grid.reading, 'grid-meter', ctx);
    if (gridProblem !== undefined) return { kind: 'safe', violation: gridProblem };
    if (ctx.gridBand === undefined) {
      return {
        kind: 'safe',
        violation: violation('missing-telemetry', { detail: 'grid-meter reading has no finite powerW' }),
      };
    }
    return PASS;
  },
};

// ---- the request itself ------------------------------------------------------------------------------------

const setpoint: SafetyRule = {
  name: 'setpoint',
  codes: ['invalid-value', 'unsupported-setpoint'],
  description:
    'non-finite or out-of-domain numbers → rejected (invalid-value); a setpoint kind the asset has no limits for → rejected',
  evaluate: (_value, ctx) => {
    const requested = ctx.requested;
    const invalid = (detail: string, value?: number): RuleVerdict => ({
      kind: 'reject',
      violation: violation('invalid-value', { ...(value === undefined ? {} : { value }), detail }),
    });
    const unsupported = (): RuleVerdict => ({
      kind: 'reject',
      violation: violation('unsupported-setpoint', {
        detail: `asset ${ctx.asset.assetId} has no limits for ${requested.kind}`,
      }),
    });
    switch (requested.kind) {
      case 'battery-power':
        if (!Number.isFinite(requested.powerW)) return invalid(`powerW ${String(requested.powerW)}`);
        return ctx.asset.battery === undefined ? unsupported() : PASS;
      case 'ev-current':
        if (!Number.isFinite(requested.currentA) || requested.currentA < 0)
          return invalid(`currentA ${String(requested.currentA)}`);
        if (requested.phases !== undefined && requested.phases !== 1 && requested.phases !== 3) {
          return invalid(`phases ${String(requested.phases)}`);
        }
        return ctx.asset.evCharger === undefined ? unsupported() : PASS;
      case 'pv-limit':
        if (!Number.isFinite(requested.maxPowerW) || requested.maxPowerW < 0)
          return invalid(`maxPowerW ${String(requested.maxPowerW)}`);
        return ctx.asset.pv === undefined ? unsupported() : PASS;
      case 'safe':
        return PASS;
      default:
        return invalid(`unknown setpoint kind ${String((requested as { kind: unknown }).kind)}`);
    }
  },
};

// ---- battery ------------------------------------------------------------------------------------------------

function socOf(ctx: RuleContext): number | undefined {
  return finiteOrUndefined(ctx.reading?.values.socPct);
}

const socWindow: SafetyRule = {
  name: 'soc-window',
  codes: ['soc-min', 'soc-max', 'missing-soc'],
  description: 'no discharge at or below minSocPct, no charge at or above maxSocPct; unknown SoC → neither',
  evaluate: (_value, ctx) => {
    const battery = ctx.asset.battery;
    if (ctx.requested.kind !== 'battery-power' || battery === undefined) return PASS;
    const socPct = socOf(ctx);
    if (socPct === undefined) {
      const explain = () => violation('missing-soc', { detail: 'reading has no finite socPct' });
      return { kind: 'limit', lo: blockAt(explain), hi: blockAt(explain) };
    }
    const atMin = !(socPct > battery.minSocPct);
    const atMax = !(socPct < battery.maxSocPct);
    return {
      kind: 'limit',
      ...(atMax
        ? { lo: blockAt(() => violation('soc-max', { limit: battery.maxSocPct, value: socPct, unit: '%' })) }
        : {}),
      ...(atMin
        ? { hi: blockAt(() => violation('soc-min', { limit: battery.minSocPct, value: socPct, unit: '%' })) }
        : {}),
    };
  },
};

const backupReserve: SafetyRule = {
  name: 'backup-reserve',
  codes: ['backup-reserve'],
  description:
    'no discharge at or below reserveSocPct while the grid is up; unknown SoC with a reserve set → no discharge',
  evaluate: (_value, ctx) => {
    const battery = ctx.asset.battery;
    if (ctx.requested.kind !== 'battery-power' || battery === undefined || ctx.gridDown) return PASS;
    const socPct = socOf(ctx);
    if (socPct === undefined) {
      if (!(battery.reserveSocPct <= 0)) {
        return {
          kind: 'limit',
          hi: blockAt(() =>
            violation('backup-reserve', { limit: battery.reserveSocPct, unit: '%', detail: 'SoC unknown' }),
          ),
        };
      }
      return PASS;
    }
    if (socPct > battery.reserveSocPct) return PASS;
    return {
      kind: 'limit',
      hi: blockAt(() => violation('backup-reserve', { limit: battery.reserveSocPct, value: socPct, unit: '%' })),
    };
  },
};

/** A live BMS limit from the reading: non-finite or negative counts as 0. */
function liveLimit(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  return Number.isFinite(value) && value > 0 ? value : 0;
}

const powerLimit: SafetyRule = {
  name: 'power-limit',
  codes: ['max-charge-power', 'max-discharge-power'],
  description: 'charge/discharge power within the tightest of the effective limits and the BMS-reported live limits',
  evaluate: (value, ctx) => {
    const battery = ctx.asset.battery;
    if (ctx.requested.kind !== 'battery-power' || battery === undefined) return PASS;
    const liveChargeW = liveLimit(ctx.reading?.values.maxChargePowerW);
    const liveDischargeW = liveLimit(ctx.reading?.values.maxDischargePowerW);
    const chargeW = Math.min(battery.maxChargePowerW, liveChargeW ?? Number.POSITIVE_INFINITY);
    const dischargeW = Math.min(battery.maxDischargePowerW, liveDischargeW ?? Number.POSITIVE_INFINITY);
    const source = (live: number | undefined, configured: number) =>
      live !== undefined && live < configured ? 'BMS live limit' : 'configured limit';
    return {
      kind: 'limit',
      lo: bound(-chargeW, () =>
        violation('max-charge-power', {
          limit: chargeW,
          value: -value,
          unit: 'W',
          detail: source(liveChargeW, battery.maxChargePowerW),
        }),
      ),
      hi: bound(dischargeW, () =>
        violation('max-discharge-power', {
          limit: dischargeW,
          value,
          unit: 'W',
          detail: source(liveDischargeW, battery.maxDischargePowerW),
        }),
      ),
    };
  },
};

const currentLimit: SafetyRule = {
  name: 'current-limit',
  codes: ['max-charge-current', 'max-discharge-current'],
  description: 'DC charge/discharge current within the limits, using the battery voltage from the reading when known',
  evaluate: (value, ctx) => {
    const battery = ctx.asset.battery;
    if (ctx.requested.kind !== 'battery-power' || battery === undefined) return PASS;
    const voltageV = finiteOrUndefined(ctx.reading?.values.batteryVoltageV);
    if (voltageV === undefined || !(voltageV > 0)) return PASS;
    const chargeA = battery.maxChargeCurrentA;
    const dischargeA = battery.maxDischargeCurrentA;
    const detail = `at ${voltageV} V`;
    return {
      kind: 'limit',
      ...(chargeA === undefined
        ? {}
        : {
            lo: bound(-chargeA * voltageV, () =>
              violation('max-charge-current', { limit: chargeA, value: -value / voltageV, unit: 'A', detail }),
            ),
          }),
      ...(dischargeA === undefined
        ? {}
        : {
            hi: bound(dischargeA * voltageV, () =>
              violation('max-discharge-current', { limit: dischargeA, value: value / voltageV, unit: 'A', detail }),
            ),
          }),
    };
  },
};

/** True if the temperature lies inside the window (a NaN bound or missing temperature is never inside). */
function insideWindow(temperatureC: number | undefined, window: TemperatureWindow): boolean {
  return temperatureC !== undefined && temperatureC >= window[0] && temperatureC <= window[1];
}

function temperatureViolation(
  code: 'charge-temperature' | 'discharge-temperature',
  temperatureC: number | undefined,
  window: TemperatureWindow,
): SafetyViolation {
  if (temperatureC === undefined) return violation(code, { unit: '°C', detail: 'temperature unknown' });
  const below = !(temperatureC >= window[0]);
  return violation(code, {
    limit: below ? window[0] : window[1],
    value: temperatureC,
    unit: '°C',
    detail: below ? 'below the window' : 'above the window',
  });
}

const temperatureWindow: SafetyRule = {
  name: 'temperature-window',
  codes: ['charge-temperature', 'discharge-temperature'],
  description:
    'charge only inside the charge temperature window, discharge only inside the discharge window; unknown temperature → not in that direction',
  evaluate: (_value, ctx) => {
    const battery = ctx.asset.battery;
    if (ctx.requested.kind !== 'battery-power' || battery === undefined) return PASS;
    const temperatureC = finiteOrUndefined(ctx.reading?.values.temperatureC);
    const charge = battery.chargeTemperatureC;
    const discharge = battery.dischargeTemperatureC;
    const chargeBlocked = charge !== undefined && !insideWindow(temperatureC, charge);
    const dischargeBlocked = discharge !== undefined && !insideWindow(temperatureC, discharge);
    if (!chargeBlocked && !dischargeBlocked) return PASS;
    return {
      kind: 'limit',
      ...(chargeBlocked && charge !== undefined
        ? { lo: blockAt(() => temperatureViolation('charge-temperature', temperatureC, charge)) }
        : {}),
      ...(dischargeBlocked && discharge !== undefined
        ? { hi: blockAt(() => temperatureViolation('discharge-temperature', temperatureC, discharge)) }
        : {}),
    };
  },
};

// ---- grid connection ----------------------------------------------------------------------------------------

/** How long after a confirmed write an asset may take to show it in its readings (a battery ramping, ms). */
export const WRITE_SETTLE_MS = 2_000;

/**
 * The last applied setpoint while the asset's reading may not show it yet: written after the reading was taken, or
 * less than {@link WRITE_SETTLE_MS} before it.
 */
function inForceWithoutReading(ctx: RuleContext): Setpoint[] {
  const last = ctx.lastApplied;
  if (last === undefined) return [];
  const readAtMs = ctx.reading?.atMs;
  return readAtMs === undefined || last.atMs > readAtMs - WRITE_SETTLE_MS ? [last.setpoint] : [];
}

/** A battery's W or a charger's A, when `setpoint` is of the requested `kind`; otherwise undefined. */
function gridValueOf(setpoint: Setpoint, kind: Setpoint['kind']): number | undefined {
  if (setpoint.kind === 'battery-power' && kind === 'battery-power') return setpoint.powerW;
  if (setpoint.kind === 'ev-current' && kind === 'ev-current') return setpoint.currentA;
  return undefined;
}

/**
 * The asset's own grid effect: from where its readings put it, and from any setpoint written to it that may be in
 * force (a cut the grid reading already shows must not be freed again by an older reading of the asset).
 */
function gridEffectFor(ctx: RuleContext): GridEffect | undefined {
  const kind = ctx.requested.kind;
  const written = [...inForceWithoutReading(ctx), ...(ctx.mayStillLand ?? [])].flatMap((setpoint) => {
    const value = gridValueOf(setpoint, kind);
    return value === undefined ? [] : [value];
  });
  switch (kind) {
    case 'battery-power':
      return batteryGridEffect(ctx.asset, ctx.reading, ctx.grid.limits, ctx.readingAtGrid, written);
    case 'ev-current':
      return evGridEffect(ctx.asset, ctx.reading, ctx.grid.limits, ctx.evPhases, ctx.readingAtGrid, written);
    default:
      return undefined;
  }
}

/** Keeps the tighter of two lower ends (a NaN end wins: it empties the interval). */
function tighterLo(a: Bound | undefined, b: Bound): Bound {
  return a === undefined || !(b.at <= a.at) ? b : a;
}

/** Keeps the tighter of two upper ends (a NaN end wins). */
function tighterHi(a: Bound | undefined, b: Bound): Bound {
  return a === undefined || !(b.at >= a.at) ? b : a;
}

const gridConnection: SafetyRule = {
  name: 'grid-connection',
  codes: ['grid-import-limit', 'grid-export-limit', 'phase-current-limit'],
  description:
    'battery and EV setpoints may not push worst-case grid import above maxImportW, export beyond maxExportW or a phase current beyond maxPhaseCurrentA; when already beyond, no further; when measured beyond, what the asset feeds into it is cut back to the limit',
  evaluate: (value, ctx) => {
    const effect = gridEffectFor(ctx);
    if (effect === undefined) return PASS;
    const band = ctx.gridBand;
    const limits = ctx.grid.limits;
    if (band === undefined) {
      const explain = () =>
        violation('grid-import-limit', { limit: limits.maxImportW, unit: 'W', detail: 'grid power unknown' });
      return { kind: 'limit', lo: blockAt(explain), hi: blockAt(explain) };
    }
    let lo: Bound | undefined;
    let hi: Bound | undefined;
    const add = (side: 'lo' | 'hi', at: number, explain: () => SafetyViolation) => {
      const end: Bound = { at, explain, soft: true };
      if (side === 'lo') lo = tighterLo(lo, end);
      else hi = tighterHi(hi, end);
    };
    /** `now + k·x + c ≤ cap`, as a bound on x. */
    const atMost = (now: number, cap: number, k: number, c: number, explain: () => SafetyViolation) => {
      const slack = cap - now - c;
      if (k > 0) add('hi', slack / k, explain);
      else if (k < 0) add('lo', slack / k, explain);
      else {
        add('lo', Number.NaN, explain);
        add('hi', Number.NaN, explain);
      }
    };
    /** `now + k·x + c ≥ cap`, as a bound on x. */
    const atLeast = (now: number, cap: number, k: number, c: number, explain: () => SafetyViolation) => {
      const need = cap - now - c;
      if (k > 0) add('lo', need / k, explain);
      else if (k < 0) add('hi', need / k, explain);
      else {
        add('lo', Number.NaN, explain);
        add('hi', Number.NaN, explain);
      }
    };
    // Worst case: no end may pass its limit, or when it already has, go further ("no further increase").
    boundGridEnds(band, limits, effect, value, atMost, atLeast, (beyond) => ({
      cap: beyond > 0 ? 'now' : 'limit',
      detail: beyond > 0 ? 'already beyond the limit: no further increase' : 'worst case after the change',
    }));
    // The asset's last write, newer than its own reading but older than the grid reading, may be what the meter
    // shows: the worst case must place the asset anywhere between the two, and at the limit it would cut what was
    // just written, and raise it again a second later when the reading catches up (every second at the export limit
    // in the live trials). Keeping that write adds nothing this decision: the grid ends never cut below it.
    const kept = lastWriteInLag(ctx);
    if (kept !== undefined && kept > 0 && hi !== undefined && hi.at < kept) hi = { ...hi, at: kept };
    if (kept !== undefined && kept < 0 && lo !== undefined && lo.at > kept) lo = { ...lo, at: kept };
    // Where the grid reading saw the asset is not known while such a write lies between them: no restore then.
    if (kept === undefined) restoreMeasured(ctx, value, atMost, atLeast);
    return { kind: 'limit', ...(lo === undefined ? {} : { lo }), ...(hi === undefined ? {} : { hi }) };
  },
};

/**
 * The value of the asset's last applied setpoint (W or A) when it was written after the asset's reading the grid
 * reading is compared with (`readingAtGrid`, else the latest), or the same ms (no device shows a write at once), and
 * before the grid reading; otherwise undefined.
 */
function lastWriteInLag(
  ctx: Pick<RuleContext, 'lastApplied' | 'reading' | 'readingAtGrid' | 'grid' | 'requested'>,
): number | undefined {
  const last = ctx.lastApplied;
  // The asset's reading the grid reading is compared with: from the grid reading's time when the latest is newer.
  const readAtMs = (ctx.readingAtGrid ?? ctx.reading)?.atMs;
  const gridAtMs = ctx.grid.reading?.atMs;
  if (last === undefined || readAtMs === undefined || gridAtMs === undefined) return undefined;
  if (!(readAtMs <= last.atMs && last.atMs < gridAtMs)) return undefined;
  return gridValueOf(last.setpoint, ctx.requested.kind);
}

type GridBoundFn = (now: number, cap: number, k: number, c: number, explain: () => SafetyViolation) => void;

/** A measured limit is restored only when passed by more than this (W), or this share of the limit if more. */
export const RESTORE_MARGIN_W = 50;
export const RESTORE_MARGIN_SHARE = 0.005;
/** … and a phase current by more than this (A). */
export const RESTORE_MARGIN_A = 0.2;

/**
 * Brings a limit the grid is measured beyond back, by cutting what the asset feeds into it. The worst case above
 * only keeps the grid from going further: it counts every uncertainty (the asset between its readings, writes
 * that may land), and cutting on it would cut again after a cut had landed, and raise back, every tick. This works
 * on the measured point instead: the grid reading alone, and the asset where that reading saw it (its reading
 * from then, else its latest), so a cut the meter shows is not repeated. Skipped when the asset's power is unknown.
 */
function restoreMeasured(ctx: RuleContext, value: number, atMost: GridBoundFn, atLeast: GridBoundFn): void {
  const grid = ctx.grid.reading;
  const seen = ctx.readingAtGrid ?? ctx.reading;
  if (grid === undefined || finiteOrUndefined(seen?.values.powerW) === undefined) return;
  const limits = ctx.grid.limits;
  const measured = gridBandFromReading(grid, limits);
  const effect =
    ctx.requested.kind === 'battery-power'
      ? batteryGridEffect(ctx.asset, seen, limits)
      : ctx.requested.kind === 'ev-current'
        ? evGridEffect(ctx.asset, seen, limits, ctx.evPhases)
        : undefined;
  if (measured === undefined || effect === undefined) return;
  // Beyond by more than a meter's rounding: the worst case parks an asset on the limit.
  const marginW = Math.max(RESTORE_MARGIN_W, RESTORE_MARGIN_SHARE * Math.max(limits.maxImportW, limits.maxExportW));
  boundGridEnds(measured, limits, effect, value, atMost, atLeast, (beyond, unit) =>
    beyond > (unit === 'W' ? marginW : RESTORE_MARGIN_A)
      ? { cap: 'limit', detail: 'measured beyond the limit: cut back to it' }
      : undefined,
  );
}

/**
 * How one end of the grid is bounded: at its limit, or where it is now (`now`: already beyond, no further), with the
 * violation's detail; undefined leaves the end free. `beyond`: how far the end is past its limit (W or A; ≤ 0 inside).
 */
type GridEndCap = (
  beyond: number,
  unit: 'W' | 'A',
) => { readonly cap: 'limit' | 'now'; readonly detail: string } | undefined;

/**
 * Bounds the value by the grid's import and export ends and each phase the asset's change may land on, at `at` (the
 * worst-case band, or the measured point): `now + k·value + c` within each end's cap as `capOf` picks it.
 */
function boundGridEnds(
  at: GridBand,
  limits: GridLimits,
  effect: GridEffect,
  value: number,
  atMost: GridBoundFn,
  atLeast: GridBoundFn,
  capOf: GridEndCap,
): void {
  const end = (
    side: 'import' | 'export',
    now: number,
    limit: number,
    unit: 'W' | 'A',
    k: number,
    c: Range,
    name: string,
  ) => {
    // Import ends are bounded from above, export ends (negative) from below.
    const sign = side === 'import' ? 1 : -1;
    const picked = capOf(sign * (now - sign * limit), unit);
    if (picked === undefined) return;
    const cap = picked.cap === 'now' ? now : sign * limit;
    const cEnd = side === 'import' ? c.hi : c.lo;
    const explain = () =>
      violation(unit === 'A' ? 'phase-current-limit' : side === 'import' ? 'grid-import-limit' : 'grid-export-limit', {
        limit,
        value: sign * (now + k * value + cEnd),
        unit,
        detail: unit === 'A' ? `${name} ${side}; ${picked.detail}` : picked.detail,
      });
    (side === 'import' ? atMost : atLeast)(now, cap, k, cEnd, explain);
  };
  end('import', at.maxW, limits.maxImportW, 'W', effect.kW, effect.cW, '');
  end('export', at.minW, limits.maxExportW, 'W', effect.kW, effect.cW, '');
  const maxPhaseA = limits.maxPhaseCurrentA;
  if (maxPhaseA === undefined) return;
  for (const index of effect.phases) {
    const phase = at.phasesA[index];
    if (phase === undefined) continue;
    end('import', phase.maxA, maxPhaseA, 'A', effect.kA, effect.cA, `L${index + 1}`);
    end('export', phase.minA, maxPhaseA, 'A', effect.kA, effect.cA, `L${index + 1}`);
  }
}

// ---- EV charger and PV inverter -----------------------------------------------------------------------------

const evCurrent: SafetyRule = {
  name: 'ev-current',
  codes: ['ev-min-current', 'ev-max-current'],
  description:
    'EV current is 0 (paused) or within [minCurrentA, maxCurrentA]; below the minimum → 0, never above the maximum',
  evaluate: (value, ctx) => {
    const charger = ctx.asset.evCharger;
    if (ctx.requested.kind !== 'ev-current' || charger === undefined) return PASS;
    return {
      kind: 'limit',
      lo: bound(charger.minCurrentA, () =>
        violation('ev-min-current', {
          limit: charger.minCurrentA,
          value,
          unit: 'A',
          detail: 'below the minimum: paused',
        }),
      ),
      hi: bound(charger.maxCurrentA, () =>
        violation('ev-max-current', { limit: charger.maxCurrentA, value, unit: 'A' }),
      ),
    };
  },
};

const pvLimit: SafetyRule = {
  name: 'pv-limit',
  codes: ['pv-rated-power'],
  description: 'PV limit within [0, ratedPowerW]',
  evaluate: (value, ctx) => {
    const pv = ctx.asset.pv;
    if (ctx.requested.kind !== 'pv-limit' || pv === undefined) return PASS;
    return {
      kind: 'limit',
      hi: bound(pv.ratedPowerW, () => violation('pv-rated-power', { limit: pv.ratedPowerW, value, unit: 'W' })),
    };
  },
};

// ---- ramp ---------------------------------------------------------------------------------------------------

const rampRate: SafetyRule = {
  name: 'ramp-rate',
  codes: ['ramp-rate'],
  description:
    '|battery setpoint| may grow by at most maxRampWPerS × elapsed time (at most maxRampIntervalMs) since the last applied setpoint (or the ramp start the arbiter gives after a failed write); moving towards 0 is never limited',
  evaluate: (value, ctx) => {
    const rateWPerS = ctx.asset.battery?.maxRampWPerS;
    if (ctx.requested.kind !== 'battery-power' || rateWPerS === undefined) return PASS;
    // From the last applied setpoint; a ramp start the caller gives (after a failed write) replaces a missing one and
    // only tightens one that is there.
    const starts =
      ctx.rampFrom === undefined
        ? [ctx.lastApplied]
        : ctx.lastApplied === undefined
          ? [ctx.rampFrom]
          : [ctx.lastApplied, ctx.rampFrom];
    const windows = starts.map((start) => rampWindow(start, ctx.nowMs, rateWPerS, ctx.options.maxRampIntervalMs));
    const loW = Math.max(...windows.map((w) => w.loW));
    const hiW = Math.min(...windows.map((w) => w.hiW));
    const from = windows.find((w) => w.loW === loW) ?? windows[0];
    const explain = (w: RampWindow | undefined) => () =>
      violation('ramp-rate', {
        limit: w?.stepW ?? 0,
        value: Math.abs(value - (w?.fromW ?? 0)),
        unit: 'W',
        detail: `${rateWPerS} W/s over ${w?.dtMs ?? 0} ms from ${w?.fromW ?? 0} W`,
      });
    return {
      kind: 'limit',
      lo: bound(loW, explain(from)),
      hi: bound(hiW, explain(windows.find((w) => w.hiW === hiW) ?? windows[0])),
    };
  },
};

interface RampWindow {
  readonly fromW: number;
  readonly dtMs: number;
  readonly stepW: number;
  readonly loW: number;
  readonly hiW: number;
}

/**
 * What the ramp allows from `start` (undefined: 0 W now): |power| grows by rate × elapsed (at most `maxIntervalMs`),
 * falls to 0 at any time.
 */
function rampWindow(
  start: AppliedSetpoint | undefined,
  nowMs: number,
  rateWPerS: number,
  maxIntervalMs: number,
): RampWindow {
  const fromW =
    start?.setpoint.kind === 'battery-power' && Number.isFinite(start.setpoint.powerW) ? start.setpoint.powerW : 0;
  const elapsedMs = start === undefined ? 0 : nowMs - start.atMs;
  const dtMs = elapsedMs > 0 ? Math.min(elapsedMs, maxIntervalMs) : 0;
  const stepW = (rateWPerS * dtMs) / 1000;
  return { fromW, dtMs, stepW, loW: Math.min(0, fromW - stepW), hiW: Math.max(0, fromW + stepW) };
}

/**
 * The safety rules in the order they run. The order is data: the service logs it at startup (see
 * {@link RULE_ORDER}). Gates come first, so the audit names the most fundamental fault; the final setpoint
 * of the limit rules does not depend on their order (see {@link arbitrate}).
 */
export const RULES: readonly SafetyRule[] = [
  emergencyStop,
  driverHeartbeat,
  telemetry,
  setpoint,
  socWindow,
  backupReserve,
  powerLimit,
  currentLimit,
  temperatureWindow,
  gridConnection,
  evCurrent,
  pvLimit,
  rampRate,
];

/** The rule order with codes and descriptions, for the startup log. */
export const RULE_ORDER: readonly {
  readonly name: RuleName;
  readonly codes: readonly ViolationCode[];
  readonly description: string;
}[] = RULES.map(({ name, codes, description }) => ({ name, codes, description }));
