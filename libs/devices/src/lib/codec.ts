import { mapBounds, MeasurementsSchema, wholeStepWithin, type ValueBounds } from '@voltimax/contracts';
import { isMeasurementKey } from './keys';
import { registerCount, type RegisterPoint, type RegisterType, type Sentinel, type WordOrder } from './profile-schema';

/** Words in the order the device sends them, brought into most-significant-first order. */
function toHiLo(words: readonly number[], wordOrder: WordOrder): readonly number[] {
  return wordOrder === 'hi-lo' ? words : [...words].reverse();
}

function viewOf(hiLoWords: readonly number[]): DataView {
  const view = new DataView(new ArrayBuffer(hiLoWords.length * 2));
  hiLoWords.forEach((word, index) => view.setUint16(index * 2, word & 0xffff));
  return view;
}

/**
 * Pure: raw register words → raw number (or text) for a wire type, before any scaling.
 * `words` must hold at least the type's register count; 64-bit integers above 2^53 lose precision.
 * Strings drop trailing NUL bytes and spaces.
 */
export function decodeRaw(
  type: RegisterType,
  words: readonly number[],
  wordOrder: WordOrder = 'hi-lo',
): number | string {
  if (type === 'string') return decodeString(words);
  const count = registerCount({ type, length: undefined });
  const view = viewOf(toHiLo(words.slice(0, count), wordOrder));
  switch (type) {
    case 'bool':
      return view.getUint16(0) === 0 ? 0 : 1;
    case 'u16':
      return view.getUint16(0);
    case 's16':
      return view.getInt16(0);
    case 'u32':
      return view.getUint32(0);
    case 's32':
      return view.getInt32(0);
    case 'f32':
      return view.getFloat32(0);
    case 'u64':
      return Number(view.getBigUint64(0));
    case 's64':
      return Number(view.getBigInt64(0));
    case 'f64':
      return view.getFloat64(0);
  }
}

/** ASCII text, two characters per register (high byte first); trailing NULs and spaces removed. */
export function decodeString(words: readonly number[]): string {
  const chars: string[] = [];
  for (const word of words) chars.push(String.fromCharCode((word >> 8) & 0xff), String.fromCharCode(word & 0xff));
  return chars.join('').replace(/[\0 ]+$/, '');
}

/** Which of the given sentinels the raw words match (compared most-significant word first). */
export function matchSentinel(
  type: RegisterType,
  words: readonly number[],
  sentinels: readonly Sentinel[],
  wordOrder: WordOrder = 'hi-lo',
): Sentinel | undefined {
  const hiLo = toHiLo(words, wordOrder);
  const [first, ...rest] = hiLo;
  if (first === undefined) return undefined;
  for (const sentinel of sentinels) {
    switch (sentinel) {
      case 'all-ones':
        if (hiLo.every((w) => w === 0xffff)) return sentinel;
        break;
      case 'signed-min':
        if (first === 0x8000 && rest.every((w) => w === 0)) return sentinel;
        break;
      case 'signed-max':
        if (first === 0x7fff && rest.every((w) => w === 0xffff)) return sentinel;
        break;
      case 'zero':
        if (hiLo.every((w) => w === 0)) return sentinel;
        break;
      case 'nan': {
        if ((type === 'f32' || type === 'f64') && Number.isNaN(decodeRaw(type, words, wordOrder))) return sentinel;
        break;
      }
    }
  }
  return undefined;
}

/**
 * Multiply by `factor`; when the factor is 1/n for a whole n, divide by n instead so that decimal
 * scalings give the nearest double (2301 × 0.1 → 230.1, not 230.10000000000002).
 */
export function applyScale(raw: number, factor: number): number {
  if (factor !== 0 && Math.abs(factor) < 1) {
    const inverse = 1 / factor;
    const whole = Math.round(inverse);
    if (Math.abs(inverse - whole) <= 1e-9 * Math.abs(whole)) return raw / whole;
  }
  return raw * factor;
}

/** Normalises −0 to 0 (a negated zero reading is still zero). */
function noNegativeZero(value: number): number {
  return value === 0 ? 0 : value;
}

/**
 * Pure: raw register words → engineering value in the unit named by `point.key`, our sign.
 * Applies word order, `scale`, the scale-factor exponent (for `scaleFrom` points) and `invert`.
 * No sentinel or plausibility checks: see `checkPoint`.
 */
export function decodePoint(point: RegisterPoint, words: readonly number[], scaleExponent = 0): number | string {
  const raw = decodeRaw(point.type, words.slice(0, registerCount(point)), point.wordOrder);
  if (typeof raw === 'string') return raw;
  const scaled = applyScale(applyScale(raw, point.scale), 10 ** scaleExponent);
  return noNegativeZero(point.invert ? -scaled : scaled);
}

/** Why a decoded value was refused. */
export type ImplausibleReason = 'below-min' | 'above-max' | 'not-finite' | 'contract-range';

/** The typed outcome of reading one point: a value, an implausible value with its reason, "not implemented", or missing input. */
export type PointOutcome =
  | { readonly kind: 'value'; readonly value: number | string }
  | {
      readonly kind: 'implausible';
      readonly value: number;
      readonly reason: ImplausibleReason;
      readonly limit?: number;
    }
  | { readonly kind: 'not-implemented'; readonly sentinel: Sentinel | 'scale-factor' }
  | { readonly kind: 'missing'; readonly reason: 'not-read' | 'scale-factor-missing' };

/**
 * Plausibility of an engineering value: the point's `min`/`max` and, for contracts measurement keys, the
 * contracts' own range (e.g. socPct 0..100, energy ≥ 0). Never clamps.
 */
export function checkPlausibility(
  key: string,
  value: number,
  range: { readonly min?: number | undefined; readonly max?: number | undefined },
): PointOutcome {
  if (!Number.isFinite(value)) return { kind: 'implausible', value, reason: 'not-finite' };
  if (range.min !== undefined && value < range.min)
    return { kind: 'implausible', value, reason: 'below-min', limit: range.min };
  if (range.max !== undefined && value > range.max)
    return { kind: 'implausible', value, reason: 'above-max', limit: range.max };
  if (isMeasurementKey(key) && !MeasurementsSchema.shape[key].safeParse(value).success) {
    return { kind: 'implausible', value, reason: 'contract-range' };
  }
  return { kind: 'value', value };
}

/**
 * Pure: words → typed outcome for one point. Order: missing words, not-implemented sentinel, scale
 * factor, decode, plausibility. `scaleExponent` is required for `scaleFrom` points (undefined = the
 * scale-factor register was not read); pass `'not-implemented'` when it held 0x8000.
 */
export function checkPoint(
  point: RegisterPoint,
  words: readonly number[],
  scaleExponent?: number | 'not-implemented',
): PointOutcome {
  const count = registerCount(point);
  if (words.length < count) return { kind: 'missing', reason: 'not-read' };
  const own = words.slice(0, count);
  const sentinel = matchSentinel(point.type, own, point.notImplemented, point.wordOrder);
  if (sentinel !== undefined) return { kind: 'not-implemented', sentinel };
  if (point.scaleFrom !== undefined) {
    if (scaleExponent === undefined) return { kind: 'missing', reason: 'scale-factor-missing' };
    if (scaleExponent === 'not-implemented') return { kind: 'not-implemented', sentinel: 'scale-factor' };
  }
  const exponent = typeof scaleExponent === 'number' ? scaleExponent : 0;
  const value = decodePoint(point, own, point.scaleFrom === undefined ? 0 : exponent);
  if (typeof value === 'string') return { kind: 'value', value };
  return checkPlausibility(point.key, value, point);
}

/** A scale-factor register (SunSpec `sunssf`): signed int16 exponent, 0x8000 = not implemented. */
export function decodeScaleFactor(word: number | undefined): number | 'not-implemented' | undefined {
  if (word === undefined) return undefined;
  if ((word & 0xffff) === 0x8000) return 'not-implemented';
  return ((word & 0xffff) << 16) >> 16;
}

/** The result of turning an engineering value into register words. */
export type EncodeValueResult =
  | { readonly kind: 'words'; readonly words: readonly number[]; readonly raw: number }
  | {
      readonly kind: 'unrepresentable';
      readonly raw: number;
      readonly reason: 'out-of-type-range' | 'not-finite' | 'not-writable-type';
    };

const INTEGER_RANGE: Partial<Record<RegisterType, readonly [number, number]>> = {
  bool: [0, 1],
  u16: [0, 0xffff],
  s16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  s32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER],
  s64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Bounds within a writable point's own min/max (engineering unit, our sign). */
function withinPoint(bounds: ValueBounds, point: RegisterPoint): ValueBounds {
  const min = Math.max(bounds.min ?? Number.NEGATIVE_INFINITY, point.min ?? Number.NEGATIVE_INFINITY);
  const max = Math.min(bounds.max ?? Number.POSITIVE_INFINITY, point.max ?? Number.POSITIVE_INFINITY);
  return { ...(Number.isFinite(min) ? { min } : {}), ...(Number.isFinite(max) ? { max } : {}) };
}

/**
 * Pure: engineering value (our sign, unit of `point.key`) → register words in the device's word order.
 * Inverse of `decodePoint`: applies `invert`, divides by `scale` × 10^exponent, rounds integers to a whole raw
 * step: inside `bounds` (the arbiter's interval, same unit and sign as `value`) when one of the two steps around the
 * value lies there, else toward zero (`wholeStepWithin`). Does not check `min`/`max` (the caller decides what is allowed).
 */
export function encodePointValue(
  point: RegisterPoint,
  value: number,
  scaleExponent = 0,
  bounds?: ValueBounds,
): EncodeValueResult {
  const signed = point.invert ? -value : value;
  const factor = point.scale * 10 ** scaleExponent;
  const exact = applyScale(signed, 1 / factor);
  const rawBounds =
    bounds === undefined
      ? undefined
      : mapBounds(withinPoint(bounds, point), (v) => applyScale(point.invert ? -v : v, 1 / factor));
  if (!Number.isFinite(exact)) return { kind: 'unrepresentable', raw: exact, reason: 'not-finite' };
  if (point.type === 'string') return { kind: 'unrepresentable', raw: exact, reason: 'not-writable-type' };
  const count = registerCount(point);
  const view = new DataView(new ArrayBuffer(count * 2));
  if (point.type === 'f32' || point.type === 'f64') {
    if (point.type === 'f32') view.setFloat32(0, exact);
    else view.setFloat64(0, exact);
    return { kind: 'words', words: toHiLo(wordsOf(view, count), point.wordOrder), raw: exact };
  }
  const raw = wholeStepWithin(exact, rawBounds);
  const range = INTEGER_RANGE[point.type];
  if (range === undefined || raw < range[0] || raw > range[1])
    return { kind: 'unrepresentable', raw, reason: 'out-of-type-range' };
  switch (point.type) {
    case 'bool':
    case 'u16':
      view.setUint16(0, raw);
      break;
    case 's16':
      view.setInt16(0, raw);
      break;
    case 'u32':
      view.setUint32(0, raw);
      break;
    case 's32':
      view.setInt32(0, raw);
      break;
    case 'u64':
      view.setBigUint64(0, BigInt(raw));
      break;
    case 's64':
      view.setBigInt64(0, BigInt(raw));
      break;
  }
  // toHiLo is its own inverse: reversing the words again gives the device's order.
  return { kind: 'words', words: toHiLo(wordsOf(view, count), point.wordOrder), raw };
}

function wordsOf(view: DataView, count: number): number[] {
  return Array.from({ length: count }, (_, index) => view.getUint16(index * 2));
}
