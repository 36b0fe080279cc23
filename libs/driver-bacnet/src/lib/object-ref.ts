// BACnet object references as installers write them: `analog-input:3`, `av:10`, `binary-value:2`.
import { ObjectType } from '@bacnet-js/client';

/** A BACnet object: its type number (ObjectType) and instance (0..4194302; 4194303 is the wildcard). */
export interface ObjectRef {
  readonly type: number;
  readonly instance: number;
}

/** Largest object instance an object may have (4194303 means "any" in requests). */
export const MAX_OBJECT_INSTANCE = 4_194_302;
/** The wildcard device instance: "the device I am talking to" (ReadProperty of device,4194303). */
export const WILDCARD_INSTANCE = 4_194_303;

/** Object types whose present-value we read as a number, by their kebab-case name. */
export const POINT_OBJECT_TYPES: Readonly<Record<string, number>> = {
  'analog-input': ObjectType.ANALOG_INPUT,
  'analog-output': ObjectType.ANALOG_OUTPUT,
  'analog-value': ObjectType.ANALOG_VALUE,
  'binary-input': ObjectType.BINARY_INPUT,
  'binary-output': ObjectType.BINARY_OUTPUT,
  'binary-value': ObjectType.BINARY_VALUE,
  'multi-state-input': ObjectType.MULTI_STATE_INPUT,
  'multi-state-output': ObjectType.MULTI_STATE_OUTPUT,
  'multi-state-value': ObjectType.MULTI_STATE_VALUE,
  'integer-value': ObjectType.INTEGER_VALUE,
  'positive-integer-value': ObjectType.POSITIVE_INTEGER_VALUE,
  'large-analog-value': ObjectType.LARGE_ANALOG_VALUE,
  accumulator: ObjectType.ACCUMULATOR,
  'pulse-converter': ObjectType.PULSE_CONVERTER,
  loop: ObjectType.LOOP,
};

/** The usual short forms (as on BMS point lists). */
const ABBREVIATIONS: Readonly<Record<string, string>> = {
  ai: 'analog-input',
  ao: 'analog-output',
  av: 'analog-value',
  bi: 'binary-input',
  bo: 'binary-output',
  bv: 'binary-value',
  msi: 'multi-state-input',
  mso: 'multi-state-output',
  msv: 'multi-state-value',
  iv: 'integer-value',
  piv: 'positive-integer-value',
  lav: 'large-analog-value',
};

/** Object types a set-point may be written to: numeric, commandable or writable values. */
export const SETPOINT_OBJECT_TYPES: readonly number[] = [
  ObjectType.ANALOG_OUTPUT,
  ObjectType.ANALOG_VALUE,
  ObjectType.INTEGER_VALUE,
  ObjectType.POSITIVE_INTEGER_VALUE,
  ObjectType.LARGE_ANALOG_VALUE,
];

const BINARY_TYPES: readonly number[] = [ObjectType.BINARY_INPUT, ObjectType.BINARY_OUTPUT, ObjectType.BINARY_VALUE];

/** True for binary-input/-output/-value, whose present-value is inactive (0) or active (1). */
export function isBinaryType(type: number): boolean {
  return BINARY_TYPES.includes(type);
}

/** The kebab-case name of an object type number (`analog-input`), or `type-<n>` for ones we have no name for. */
export function objectTypeName(type: number): string {
  for (const [name, value] of Object.entries(POINT_OBJECT_TYPES)) if (value === type) return name;
  if (type === ObjectType.DEVICE) return 'device';
  return `type-${type}`;
}

/** `analog-input:3` for people and logs. */
export function formatObjectRef(ref: ObjectRef): string {
  return `${objectTypeName(ref.type)}:${ref.instance}`;
}

/** The outcome of {@link parseObjectRef}: the object, or why the text is not one. */
export type ObjectRefParse =
  | { readonly ok: true; readonly ref: ObjectRef }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses `<type>:<instance>`: type as a kebab-case name (`analog-value`) or a short form (`av`), case-insensitive;
 * instance 0..4194302.
 */
export function parseObjectRef(text: string): ObjectRefParse {
  const match = /^\s*([A-Za-z-]+)\s*:\s*(\d{1,7})\s*$/.exec(text);
  if (!match) return { ok: false, reason: `'${text}' is not an object reference like 'analog-input:3'` };
  const typeText = (match[1] ?? '').toLowerCase();
  const name = ABBREVIATIONS[typeText] ?? typeText;
  const type = POINT_OBJECT_TYPES[name];
  if (type === undefined) {
    return {
      ok: false,
      reason: `unknown object type '${match[1]}' (known: ${Object.keys(POINT_OBJECT_TYPES).join(', ')}; short: ${Object.keys(ABBREVIATIONS).join(', ')})`,
    };
  }
  const instance = Number(match[2]);
  if (instance > MAX_OBJECT_INSTANCE)
    return { ok: false, reason: `object instance ${instance} is above ${MAX_OBJECT_INSTANCE}` };
  return { ok: true, ref: { type, instance } };
}

/** Same object? */
export function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.type === b.type && a.instance === b.instance;
}
