// From BACnet values to our units and signs (DESIGN § Units and signs) and back. Pure: no I/O.
import { ApplicationTag } from '@bacnet-js/client';

/** How a device value becomes ours: `value = sign × (raw × scale + offset)`. */
export interface ValueMapping {
  /** Device unit → our unit (kW → W: 1000). Never 0. */
  readonly scale: number;
  /** Added after scaling, in our unit. */
  readonly offset: number;
  /** −1 when the device counts the other way (a battery reporting charge as positive). */
  readonly sign: 1 | -1;
}

/** `sign × (raw × scale + offset)`: a device value in our unit and sign. */
export function toOurValue(raw: number, mapping: ValueMapping): number {
  // `+ 0` turns −0 (0 × −1) into 0
  return mapping.sign * (raw * mapping.scale + mapping.offset) + 0;
}

/** The device value that {@link toOurValue} maps to `value`. */
export function toDeviceValue(value: number, mapping: ValueMapping): number {
  return (mapping.sign * value - mapping.offset) / mapping.scale;
}

/** One decoded BACnet value as the stack gives it (application tag and value). */
export interface AppValue {
  readonly type: number;
  readonly value: unknown;
}

/** A present-value as a number, or why it is not one. */
export type RawParse = { readonly ok: true; readonly raw: number } | { readonly ok: false; readonly reason: string };

const ERROR_TAG = ApplicationTag.ERROR;

/**
 * The number in a present-value: REAL/DOUBLE/UNSIGNED/SIGNED as they are, ENUMERATED (binary inactive/active, or a
 * state) as its number, BOOLEAN as 0/1. NULL, strings and errors are not numbers.
 */
export function rawNumber(values: readonly AppValue[] | undefined): RawParse {
  const first = values?.[0];
  if (first === undefined) return { ok: false, reason: 'no value' };
  if (first.type === ERROR_TAG) return { ok: false, reason: describeErrorValue(first.value) };
  switch (first.type) {
    case ApplicationTag.REAL:
      // a REAL is a float32 (about 7 significant digits): 1.2 arrives as 1.2000000476837158; keep what it means
      return typeof first.value === 'number' && Number.isFinite(first.value)
        ? { ok: true, raw: Number(first.value.toPrecision(7)) }
        : { ok: false, reason: `not a finite number (${String(first.value)})` };
    case ApplicationTag.DOUBLE:
    case ApplicationTag.UNSIGNED_INTEGER:
    case ApplicationTag.SIGNED_INTEGER:
    case ApplicationTag.ENUMERATED:
      return typeof first.value === 'number' && Number.isFinite(first.value)
        ? { ok: true, raw: first.value }
        : { ok: false, reason: `not a finite number (${String(first.value)})` };
    case ApplicationTag.BOOLEAN:
      return { ok: true, raw: first.value === true ? 1 : 0 };
    case ApplicationTag.NULL:
      return { ok: false, reason: 'NULL' };
    default:
      return { ok: false, reason: `unsupported value type (application tag ${first.type})` };
  }
}

/** A binary present-value must be inactive (0) or active (1). */
export function binaryRaw(raw: number): RawParse {
  return raw === 0 || raw === 1 ? { ok: true, raw } : { ok: false, reason: `binary value ${raw} is neither 0 nor 1` };
}

/** The four status flags of an object (BACnetStatusFlags). */
export interface StatusFlags {
  readonly inAlarm: boolean;
  readonly fault: boolean;
  readonly overridden: boolean;
  readonly outOfService: boolean;
}

/**
 * Status flags from a decoded bit string. The stack keeps bit n in `value[n >> 3]` at `1 << (n & 7)`; bits are
 * in-alarm (0), fault (1), overridden (2), out-of-service (3). Undefined when the value is not a bit string.
 */
export function statusFlagsOf(values: readonly AppValue[] | undefined): StatusFlags | undefined {
  const first = values?.[0];
  if (first === undefined || first.type !== ApplicationTag.BIT_STRING) return undefined;
  const bits = first.value as { readonly value?: readonly number[] } | null;
  const byte = bits?.value?.[0];
  if (typeof byte !== 'number') return undefined;
  return {
    inAlarm: (byte & 0b0001) !== 0,
    fault: (byte & 0b0010) !== 0,
    overridden: (byte & 0b0100) !== 0,
    outOfService: (byte & 0b1000) !== 0,
  };
}

/**
 * Why a value with these flags must not be used: `fault` (the object says its value is unreliable) and
 * `out-of-service` (the present-value is decoupled from the physical point). In-alarm and overridden values are
 * still real measurements.
 */
export function flagProblems(flags: StatusFlags | undefined): string[] {
  if (flags === undefined) return [];
  return [...(flags.fault ? ['fault'] : []), ...(flags.outOfService ? ['out-of-service'] : [])];
}

/**
 * Does a value read back equal what was written? A REAL holds a float32, so the written value is compared after
 * rounding to float32, with a relative slack of 1e-6; `toleranceRaw` (device units) widens it.
 */
export function sameDeviceValue(written: number, readBack: number, toleranceRaw = 0): boolean {
  const expected = Math.fround(written);
  const slack = Math.max(toleranceRaw, 1e-6 * Math.max(1, Math.abs(expected)));
  return Math.abs(expected - readBack) <= slack || Math.abs(written - readBack) <= slack;
}

/** `error class 2 (property) code 32 (unknown-property)`-style text for an error the stack decoded in a value. */
function describeErrorValue(value: unknown): string {
  const v = value as { readonly errorClass?: number; readonly errorCode?: number } | null;
  return describeBacnetError(v?.errorClass ?? -1, v?.errorCode ?? -1);
}

const ERROR_CLASSES = ['device', 'object', 'property', 'resources', 'security', 'services', 'vt', 'communication'];
/** The error codes a device answers a read or write with most often (ASHRAE 135 clause 21, BACnetErrorCode). */
const ERROR_CODES: Readonly<Record<number, string>> = {
  0: 'other',
  2: 'configuration-in-progress',
  3: 'device-busy',
  9: 'invalid-data-type',
  25: 'operational-problem',
  29: 'service-request-denied',
  31: 'unknown-object',
  32: 'unknown-property',
  37: 'value-out-of-range',
  40: 'write-access-denied',
  42: 'invalid-array-index',
  44: 'not-cov-property',
  45: 'optional-functionality-not-supported',
  47: 'datatype-not-supported',
  50: 'property-is-not-an-array',
  67: 'reject-unrecognized-service',
  79: 'unknown-subscription',
};

/** Human text of a BACnet error class and code, with the numbers. */
export function describeBacnetError(errorClass: number, errorCode: number): string {
  const className = ERROR_CLASSES[errorClass];
  const codeName = ERROR_CODES[errorCode];
  return `BACnet error class ${errorClass}${className ? ` (${className})` : ''} code ${errorCode}${codeName ? ` (${codeName})` : ''}`;
}
