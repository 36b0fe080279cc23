import { mapBounds, wholeStepWithin, type Setpoint, type SetpointKind, type ValueBounds } from '@voltimax/contracts';
import { applyScale } from '../codec';

/** The value rules of an HTTP or MQTT write (see `valueRules`). */
export interface ValueRules {
  readonly range: { readonly min: number; readonly max: number };
  readonly clampToRange: boolean;
  readonly scale: number;
  readonly integer: boolean;
  readonly safeValue: number;
}

/** Why a set-point cannot be sent to an HTTP or MQTT device. */
export type JsonWriteRejection = 'unsupported-setpoint' | 'out-of-range' | 'not-finite';

/** A set-point value converted for the device. */
export type ConvertedValue =
  | {
      readonly kind: 'value';
      /** What the device will hold, in the set-point unit (after clamping and rounding). */
      readonly value: number;
      /** What is sent: value × scale (an integer when the rules say so). */
      readonly deviceValue: number;
      /** Present when the rules clamp and did: never silent. */
      readonly clamped?: { readonly requested: number; readonly applied: number };
    }
  | { readonly kind: 'rejected'; readonly reason: JsonWriteRejection; readonly detail: string };

/** The set-point's field in its own unit (battery W + = discharge, EV A, PV W), or undefined for `safe`. */
export function setpointValue(setpoint: Setpoint): number | undefined {
  switch (setpoint.kind) {
    case 'battery-power':
      return setpoint.powerW;
    case 'ev-current':
      return setpoint.currentA;
    case 'pv-limit':
      return setpoint.maxPowerW;
    case 'safe':
      return undefined;
  }
}

const UNIT: Readonly<Record<Exclude<SetpointKind, 'safe'>, string>> = {
  'battery-power': 'W',
  'ev-current': 'A',
  'pv-limit': 'W',
};

/**
 * Pure: range check (or clamp), scaling and rounding of one set-point value. `safe` uses `rules.safeValue`. An
 * integer device value is the whole number inside `bounds` (the arbiter's interval, set-point unit) next to the
 * value, else the one toward zero (`wholeStepWithin`).
 */
export function convertSetpointValue(rules: ValueRules, setpoint: Setpoint, bounds?: ValueBounds): ConvertedValue {
  const requested = setpointValue(setpoint) ?? rules.safeValue;
  if (!Number.isFinite(requested))
    return { kind: 'rejected', reason: 'not-finite', detail: `${requested} is not finite` };
  let target = requested;
  let clamped: { requested: number; applied: number } | undefined;
  if (requested < rules.range.min || requested > rules.range.max) {
    const unit = setpoint.kind === 'safe' ? '' : ` ${UNIT[setpoint.kind]}`;
    if (!rules.clampToRange) {
      return {
        kind: 'rejected',
        reason: 'out-of-range',
        detail: `${requested}${unit} is outside [${rules.range.min}, ${rules.range.max}]${unit}`,
      };
    }
    target = Math.min(rules.range.max, Math.max(rules.range.min, requested));
    clamped = { requested, applied: target };
  }
  const exact = target * rules.scale;
  const deviceBounds = bounds === undefined ? undefined : mapBounds(bounds, (value) => value * rules.scale);
  const deviceValue = rules.integer ? wholeStepWithin(exact, deviceBounds) : exact;
  const value = applyScale(deviceValue, 1 / rules.scale);
  return {
    kind: 'value',
    value: value === 0 ? 0 : value,
    deviceValue: deviceValue === 0 ? 0 : deviceValue,
    ...(clamped === undefined ? {} : { clamped }),
  };
}
