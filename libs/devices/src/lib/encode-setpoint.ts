import { mapBounds, type Setpoint, type SetpointKind, type ValueBounds } from '@voltimax/contracts';
import { encodePointValue } from './codec';
import type { PointKey } from './keys';
import type { Control, ModbusProfile, RegisterPoint, WriteStep } from './profile-schema';

/** Values the encoder needs from outside the profile. */
export interface EncodeContext {
  /** Rated power of the port the control drives, W (battery catalogue or site config); needed by percent scalings. */
  readonly ratedPowerW?: number;
  /** Scale-factor exponents from the last read (`DeviceReading.scaleFactors`); needed for `scaleFrom` points. */
  readonly scaleFactors?: Readonly<Record<string, number>>;
  /**
   * The interval the arbiter's rules allow for the set-point field (DeviceWrite.bounds): a register that takes
   * whole steps gets one inside it when one of the two around the value lies there, else the one toward zero.
   */
  readonly bounds?: ValueBounds;
}

/** One register write: FC 06/16 for holding registers (FC 05/15 for coils), in list order. */
export interface RegisterWrite {
  readonly key: PointKey;
  readonly table: 'holding' | 'coil';
  readonly address: number;
  readonly words: readonly number[];
  /** The engineering value written (unit of `key`, our sign). */
  readonly value: number;
}

/** Why a set-point could not be encoded. */
export type EncodeRejection =
  | 'unsupported-setpoint'
  | 'out-of-range'
  | 'missing-rated-power'
  | 'missing-scale-factor'
  | 'unrepresentable';

/** The typed result of encoding a set-point. */
export type EncodeOutcome =
  | {
      readonly kind: 'writes';
      readonly setpoint: SetpointKind;
      readonly writes: readonly RegisterWrite[];
      /** The converted value the set-point step wrote (unit of that point), when there was one. */
      readonly value?: number;
      /** Present when the control clamps (`clampToRange`) and did: never silent. */
      readonly clamped?: { readonly requested: number; readonly applied: number };
      /** False when the device cannot follow the value exactly (mode registers). */
      readonly exact: boolean;
      /** Rewrite at least this often or the device drops the set-point. */
      readonly keepAliveMs?: number;
    }
  | {
      readonly kind: 'rejected';
      readonly setpoint: SetpointKind;
      readonly reason: EncodeRejection;
      readonly detail: string;
    };

function setpointField(setpoint: Exclude<Setpoint, { kind: 'safe' }>): number {
  switch (setpoint.kind) {
    case 'battery-power':
      return setpoint.powerW;
    case 'ev-current':
      return setpoint.currentA;
    case 'pv-limit':
      return setpoint.maxPowerW;
  }
}

/**
 * The arbiter's bounds in the unit the control writes (its scaling), on the field's side of zero only: each sign
 * has its own steps (bySign), and a percentage of the rating is the same for both.
 */
function fieldBounds(control: Control, field: number, context: EncodeContext): ValueBounds | undefined {
  const bounds = context.bounds;
  if (bounds === undefined || field === 0) return undefined;
  const side = (value: number) => (field < 0 ? Math.min(value, 0) : Math.max(value, 0));
  const rated = context.ratedPowerW ?? 1;
  const scale = (value: number) =>
    control.scaling === 'value'
      ? value
      : ((control.scaling === 'abs-percent-of-rated' ? Math.abs(value) : value) / rated) * 100;
  const mapped = mapBounds(bounds, (value) => scale(side(value)));
  // never a step past the control's own range either
  return {
    min: Math.max(mapped.min ?? Number.NEGATIVE_INFINITY, control.range.min),
    max: Math.min(mapped.max ?? Number.POSITIVE_INFINITY, control.range.max),
  };
}

function selectSteps(control: Control, field: number): readonly WriteStep[] {
  if (control.bySign === undefined) return control.steps ?? [];
  if (Math.abs(field) <= control.idleBand) return control.bySign.zero;
  return field < 0 ? control.bySign.negative : control.bySign.positive;
}

type StepsResult =
  | { readonly kind: 'ok'; readonly writes: readonly RegisterWrite[] }
  | { readonly kind: 'error'; readonly reason: EncodeRejection; readonly detail: string };

function encodeSteps(
  profile: ModbusProfile,
  steps: readonly WriteStep[],
  converted: number | undefined,
  phases: 1 | 3 | undefined,
  context: EncodeContext,
  convertedBounds?: ValueBounds,
): StepsResult {
  const writes: RegisterWrite[] = [];
  for (const step of steps) {
    const point: RegisterPoint | undefined = profile.points.find((p) => p.key === step.key && p.access === 'rw');
    if (point === undefined || (point.table !== 'holding' && point.table !== 'coil')) {
      return { kind: 'error', reason: 'unsupported-setpoint', detail: `'${step.key}' is not a writable point` };
    }
    let value: number;
    if (step.value === 'setpoint') {
      if (converted === undefined)
        return { kind: 'error', reason: 'unsupported-setpoint', detail: 'safe steps cannot carry the set-point' };
      value = converted;
    } else if (typeof step.value === 'number') {
      value = step.value;
    } else {
      if (phases === undefined) continue;
      value = phases === 1 ? step.value.phases.one : step.value.phases.three;
    }
    if ((point.min !== undefined && value < point.min) || (point.max !== undefined && value > point.max)) {
      return {
        kind: 'error',
        reason: 'out-of-range',
        detail: `${value} is outside [${point.min}, ${point.max}] of '${point.key}'`,
      };
    }
    let exponent = 0;
    if (point.scaleFrom !== undefined) {
      const sf = context.scaleFactors?.[point.scaleFrom];
      if (sf === undefined)
        return { kind: 'error', reason: 'missing-scale-factor', detail: `scale factor '${point.scaleFrom}' not known` };
      exponent = sf;
    }
    const encoded = encodePointValue(point, value, exponent, step.value === 'setpoint' ? convertedBounds : undefined);
    if (encoded.kind !== 'words')
      return {
        kind: 'error',
        reason: 'unrepresentable',
        detail: `${value} does not fit '${point.key}' (${encoded.reason})`,
      };
    writes.push({ key: point.key, table: point.table, address: point.address, words: encoded.words, value });
  }
  return { kind: 'ok', writes };
}

/**
 * Pure: a contracts set-point → the register writes that make a Modbus device execute it, in order
 * (enable/mode registers first, as the profile lists them). `safe` writes every control's `safeSteps`.
 * A value outside the control's range is rejected, or clamped with `clamped` set when the profile says
 * `clampToRange`; nothing is clamped silently.
 */
export function encodeSetpoint(profile: ModbusProfile, setpoint: Setpoint, context: EncodeContext = {}): EncodeOutcome {
  if (setpoint.kind === 'safe') {
    if (profile.controls.length === 0)
      return {
        kind: 'rejected',
        setpoint: 'safe',
        reason: 'unsupported-setpoint',
        detail: `${profile.id} has no controls`,
      };
    const writes: RegisterWrite[] = [];
    for (const control of profile.controls) {
      const result = encodeSteps(profile, control.safeSteps, undefined, undefined, context);
      if (result.kind === 'error')
        return { kind: 'rejected', setpoint: 'safe', reason: result.reason, detail: result.detail };
      writes.push(...result.writes);
    }
    const keepAlives = profile.controls.flatMap((c) => (c.keepAliveMs === undefined ? [] : [c.keepAliveMs]));
    return {
      kind: 'writes',
      setpoint: 'safe',
      writes,
      exact: true,
      ...(keepAlives.length > 0 ? { keepAliveMs: Math.min(...keepAlives) } : {}),
    };
  }
  const control = profile.controls.find((c) => c.setpoint === setpoint.kind);
  if (control === undefined) {
    return {
      kind: 'rejected',
      setpoint: setpoint.kind,
      reason: 'unsupported-setpoint',
      detail: `${profile.id} cannot execute ${setpoint.kind}`,
    };
  }
  const field = setpointField(setpoint);
  const steps = selectSteps(control, field);
  const usesValue = steps.some((s) => s.value === 'setpoint');
  let requested = field;
  let applied = field;
  if (usesValue) {
    if (control.scaling !== 'value') {
      const rated = context.ratedPowerW;
      if (rated === undefined || !(rated > 0)) {
        return {
          kind: 'rejected',
          setpoint: setpoint.kind,
          reason: 'missing-rated-power',
          detail: `${control.scaling} needs the device's rated power (site config battery.ratedPowerW or pv.ratedPowerW)`,
        };
      }
      requested = ((control.scaling === 'abs-percent-of-rated' ? Math.abs(field) : field) / rated) * 100;
    }
    applied = requested;
    if (requested < control.range.min || requested > control.range.max) {
      if (!control.clampToRange) {
        return {
          kind: 'rejected',
          setpoint: setpoint.kind,
          reason: 'out-of-range',
          detail: `${requested} is outside [${control.range.min}, ${control.range.max}]`,
        };
      }
      applied = Math.min(control.range.max, Math.max(control.range.min, requested));
    }
  }
  const phases = setpoint.kind === 'ev-current' ? setpoint.phases : undefined;
  const result = encodeSteps(
    profile,
    steps,
    usesValue ? applied : undefined,
    phases,
    context,
    usesValue ? fieldBounds(control, field, context) : undefined,
  );
  if (result.kind === 'error')
    return { kind: 'rejected', setpoint: setpoint.kind, reason: result.reason, detail: result.detail };
  return {
    kind: 'writes',
    setpoint: setpoint.kind,
    writes: result.writes,
    ...(usesValue ? { value: applied } : {}),
    ...(applied !== requested && usesValue ? { clamped: { requested, applied } } : {}),
    exact: control.exact,
    ...(control.keepAliveMs !== undefined ? { keepAliveMs: control.keepAliveMs } : {}),
  };
}
