import { applyScale, decodeRaw, decodeString, matchSentinel } from '../codec';
import type { RegisterType, Sentinel } from '../profile-schema';
import {
  groupSize,
  type SunSpecGroupDef,
  type SunSpecModelDef,
  type SunSpecPointDef,
  type SunSpecPointType,
} from './models';

/** One decoded SunSpec point. "Not implemented" is absent, never zero. */
export type DecodedSunSpecPoint =
  | {
      readonly kind: 'value';
      /** Engineering value (raw × 10^sf) or text. */
      readonly value: number | string;
      readonly units?: string;
      /** Symbol name of an enum value, when the definition has one. */
      readonly symbol?: string;
    }
  | { readonly kind: 'not-implemented'; readonly because: 'sentinel' | 'scale-factor' }
  | { readonly kind: 'missing'; readonly because: 'truncated' | 'unknown-scale-factor' };

/** One decoded group instance. */
export interface DecodedSunSpecGroup {
  readonly name: string;
  readonly points: Readonly<Record<string, DecodedSunSpecPoint>>;
  /** Nested groups by name; a repeating group has one entry per repetition. */
  readonly groups: Readonly<Record<string, readonly DecodedSunSpecGroup[]>>;
}

/** A decoded model: its root group plus the header values. */
export interface DecodedSunSpecModel extends DecodedSunSpecGroup {
  readonly id: number;
  /** `L` as the device reported it. */
  readonly length: number;
}

/** Decoding outcome: the model, or the words do not start with the definition's id. */
export type DecodeModelResult =
  | { readonly kind: 'decoded'; readonly model: DecodedSunSpecModel }
  | { readonly kind: 'wrong-model'; readonly expectedId: number; readonly actualId: number | undefined };

interface WireType {
  readonly type: RegisterType;
  readonly sentinels: readonly Sentinel[];
}

/** How each SunSpec type is carried and which raw pattern means "not implemented" (SunSpec Modbus spec). */
const WIRE: Readonly<Record<Exclude<SunSpecPointType, 'pad' | 'string' | 'ipv6addr' | 'eui48'>, WireType>> = {
  uint16: { type: 'u16', sentinels: ['all-ones'] },
  enum16: { type: 'u16', sentinels: ['all-ones'] },
  bitfield16: { type: 'u16', sentinels: ['all-ones'] },
  count: { type: 'u16', sentinels: [] },
  int16: { type: 's16', sentinels: ['signed-min'] },
  sunssf: { type: 's16', sentinels: ['signed-min'] },
  acc16: { type: 'u16', sentinels: ['zero'] },
  uint32: { type: 'u32', sentinels: ['all-ones'] },
  enum32: { type: 'u32', sentinels: ['all-ones'] },
  bitfield32: { type: 'u32', sentinels: ['all-ones'] },
  ipaddr: { type: 'u32', sentinels: ['zero'] },
  int32: { type: 's32', sentinels: ['signed-min'] },
  acc32: { type: 'u32', sentinels: ['zero'] },
  uint64: { type: 'u64', sentinels: ['all-ones'] },
  bitfield64: { type: 'u64', sentinels: ['all-ones'] },
  int64: { type: 's64', sentinels: ['signed-min'] },
  acc64: { type: 'u64', sentinels: ['zero'] },
  float32: { type: 'f32', sentinels: ['nan'] },
  float64: { type: 'f64', sentinels: ['nan'] },
};

/** A point after the raw pass: the raw value, not implemented, or beyond the words given. */
type RawPoint =
  | { readonly kind: 'raw'; readonly raw: number | string }
  | { readonly kind: 'not-implemented' }
  | { readonly kind: 'missing' };

function decodeRawPoint(point: SunSpecPointDef, words: readonly number[]): RawPoint {
  if (words.length < point.size) return { kind: 'missing' };
  if (point.type === 'string')
    return words.every((w) => w === 0) ? { kind: 'not-implemented' } : { kind: 'raw', raw: decodeString(words) };
  if (point.type === 'ipv6addr' || point.type === 'eui48') {
    if (words.every((w) => w === 0)) return { kind: 'not-implemented' };
    return { kind: 'raw', raw: words.map((w) => w.toString(16).padStart(4, '0')).join('') };
  }
  if (point.type === 'pad') return { kind: 'not-implemented' };
  const wire = WIRE[point.type];
  if (matchSentinel(wire.type, words, wire.sentinels) !== undefined) return { kind: 'not-implemented' };
  return { kind: 'raw', raw: decodeRaw(wire.type, words) };
}

type Scope = readonly ReadonlyMap<string, RawPoint>[];

function lookup(scope: Scope, name: string): RawPoint | undefined {
  for (const frame of scope) {
    const found = frame.get(name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function resolvePoint(point: SunSpecPointDef, raw: RawPoint, scope: Scope): DecodedSunSpecPoint {
  if (raw.kind === 'missing') return { kind: 'missing', because: 'truncated' };
  if (raw.kind === 'not-implemented') return { kind: 'not-implemented', because: 'sentinel' };
  const units = point.units === undefined ? {} : { units: point.units };
  if (typeof raw.raw === 'string') return { kind: 'value', value: raw.raw, ...units };
  let value = raw.raw;
  if (point.sf !== undefined && point.type !== 'sunssf') {
    let exponent: number;
    if (typeof point.sf === 'number') {
      exponent = point.sf;
    } else {
      const sf = lookup(scope, point.sf);
      if (sf === undefined || sf.kind === 'missing')
        return { kind: 'missing', because: sf === undefined ? 'unknown-scale-factor' : 'truncated' };
      if (sf.kind === 'not-implemented' || typeof sf.raw !== 'number')
        return { kind: 'not-implemented', because: 'scale-factor' };
      exponent = sf.raw;
    }
    value = applyScale(value, 10 ** exponent);
  }
  const symbol = point.symbols?.find((s) => s.value === raw.raw)?.name;
  return { kind: 'value', value: value === 0 ? 0 : value, ...units, ...(symbol === undefined ? {} : { symbol }) };
}

function repetitions(group: SunSpecGroupDef, scope: Scope, remaining: number): number {
  const { count } = group;
  if (count === undefined) return 1;
  if (typeof count === 'number') {
    if (count > 0) return count;
    // count 0: the group repeats to fill the rest of the model.
    const size = groupSize(group);
    return size === undefined || size === 0 ? 0 : Math.floor(remaining / size);
  }
  const counter = lookup(scope, count);
  return counter?.kind === 'raw' && typeof counter.raw === 'number' ? counter.raw : 0;
}

function decodeGroup(
  group: SunSpecGroupDef,
  words: readonly number[],
  start: number,
  outer: Scope,
): { group: DecodedSunSpecGroup; end: number } {
  let offset = start;
  const raws = new Map<string, RawPoint>();
  for (const point of group.points) {
    raws.set(point.name, decodeRawPoint(point, words.slice(offset, offset + point.size)));
    offset += point.size;
  }
  const scope: Scope = [raws, ...outer];
  const points: Record<string, DecodedSunSpecPoint> = {};
  for (const point of group.points) {
    const raw = raws.get(point.name);
    if (raw === undefined || point.type === 'pad') continue;
    points[point.name] = resolvePoint(point, raw, scope);
  }
  const groups: Record<string, DecodedSunSpecGroup[]> = {};
  for (const child of group.groups ?? []) {
    const instances: DecodedSunSpecGroup[] = [];
    const times = repetitions(child, scope, words.length - offset);
    for (let i = 0; i < times && offset < words.length; i += 1) {
      const decoded = decodeGroup(child, words, offset, scope);
      instances.push(decoded.group);
      offset = decoded.end;
    }
    groups[child.name] = instances;
  }
  return { group: { name: group.name, points, groups }, end: offset };
}

/**
 * Pure: one model's registers → decoded points. `words` starts at the model's `ID` register; at most
 * `L + 2` words are used. Scale factors (`sf`) are looked up in the point's group, then in enclosing
 * groups; sentinels give `not-implemented`; repeating groups follow their `count` (a number, a count
 * point, or 0 = fill the model). Words missing at the end give `missing` points.
 */
export function decodeModel(definition: SunSpecModelDef, words: readonly number[]): DecodeModelResult {
  const [id, length] = words;
  if (id !== definition.id) return { kind: 'wrong-model', expectedId: definition.id, actualId: id };
  const declared = (length ?? 0) + 2;
  const { group } = decodeGroup(definition.group, words.slice(0, Math.min(words.length, declared)), 0, []);
  return { kind: 'decoded', model: { ...group, id, length: length ?? 0 } };
}

/** A decoded point's numeric value, or undefined when absent or text. */
export function sunSpecNumber(group: DecodedSunSpecGroup, name: string): number | undefined {
  const point = group.points[name];
  return point?.kind === 'value' && typeof point.value === 'number' ? point.value : undefined;
}
