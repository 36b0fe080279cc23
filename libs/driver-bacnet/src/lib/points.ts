// Reading an asset's points: present-value and status flags of each mapped object, into our measurements.
import type { MeasurementKey, Measurements } from '@voltimax/contracts';
import { BacnetPointError } from './errors';
import {
  binaryRaw,
  flagProblems,
  rawNumber,
  statusFlagsOf,
  toOurValue,
  type AppValue,
  type ValueMapping,
} from './mapping';
import { formatObjectRef, isBinaryType, type ObjectRef } from './object-ref';
import { PROP, type DeviceState, type PropertyRead, type PropertyValue, type Session } from './session';

/** One mapped point of an asset. */
export interface Point {
  readonly key: MeasurementKey;
  readonly object: ObjectRef;
  readonly mapping: ValueMapping;
}

/** A point's value in our unit, or why there is none. */
export type PointValue =
  | { readonly ok: true; readonly value: number }
  | { readonly ok: false; readonly problem: string };

/**
 * A point's value from its present-value and status flags: fault or out-of-service is a problem; binary objects
 * give 0/1; then scale, offset and sign. Flags the device does not have (an error for status-flags) do not count.
 */
export function pointValue(
  point: Point,
  presentValue: readonly AppValue[] | undefined,
  statusFlags: readonly AppValue[] | undefined,
): PointValue {
  const where = `${point.key} (${formatObjectRef(point.object)})`;
  const flagged = flagProblems(statusFlagsOf(statusFlags));
  if (flagged.length > 0) return { ok: false, problem: `${where}: ${flagged.join(', ')}` };
  let raw = rawNumber(presentValue);
  if (raw.ok && isBinaryType(point.object.type)) raw = binaryRaw(raw.raw);
  if (!raw.ok) return { ok: false, problem: `${where}: ${raw.reason}` };
  const value = toOurValue(raw.raw, point.mapping);
  if (!Number.isFinite(value)) return { ok: false, problem: `${where}: ${value} after scaling` };
  return { ok: true, value };
}

/**
 * Our numbers as the sample type. Only `phases` is narrower than a number (1 | 2 | 3); the host validates every
 * sample with MeasurementsSchema before publishing, so a mapped phases point with another value is refused there.
 */
export function asMeasurements(values: Partial<Record<MeasurementKey, number>>): Measurements {
  return values as Measurements;
}

/** The reads of a set of points: present-value and status flags of each. */
function pointReads(points: readonly Point[]): PropertyRead[] {
  return points.flatMap((p) => [
    { object: p.object, property: PROP.presentValue },
    { object: p.object, property: PROP.statusFlags },
  ]);
}

/**
 * Reads every point of an asset. Throws BacnetPointError listing every point that is faulty, out of service or not a
 * number (the whole reading is then an error: a partial reading would hide the problem), BacnetTimeoutError when
 * the device does not answer.
 */
export async function readPoints(
  session: Session,
  device: DeviceState,
  points: readonly Point[],
  maxObjects: number,
  signal?: AbortSignal,
): Promise<Measurements> {
  const results = await session.readProperties(device, pointReads(points), maxObjects, signal);
  const values: Partial<Record<MeasurementKey, number>> = {};
  const problems: string[] = [];
  points.forEach((point, i) => {
    const pv = results[2 * i];
    const flags = results[2 * i + 1];
    const decoded = pointValue(point, valuesOf(pv, point, problems), flags?.ok ? flags.values : undefined);
    if (decoded.ok) values[point.key] = decoded.value;
    else if (pv?.ok) problems.push(decoded.problem);
  });
  if (problems.length > 0) throw new BacnetPointError(problems);
  return asMeasurements(values);
}

function valuesOf(
  result: PropertyValue | undefined,
  point: Point,
  problems: string[],
): readonly AppValue[] | undefined {
  if (result === undefined) {
    problems.push(`${point.key} (${formatObjectRef(point.object)}): no answer`);
    return undefined;
  }
  if (!result.ok) {
    problems.push(`${point.key} (${formatObjectRef(point.object)}): ${result.error}`);
    return undefined;
  }
  return result.values;
}
