// Writing set-points: WriteProperty present-value at our priority, then read back our priority-array slot and the
// present-value, and say what happened.
import { ApplicationTag, ObjectType, type BACNetAppData } from '@bacnet-js/client';
import { withinBounds, type ValueBounds } from '@voltimax/contracts';
import type { WriteOutcome } from '@voltimax/driver-sdk';
import {
  BacnetAbortedError,
  BacnetErrorResponse,
  BacnetRefusedError,
  BacnetTimeoutError,
  BacnetWrongDeviceError,
} from './errors';
import { rawNumber, sameDeviceValue, toDeviceValue, toOurValue, type AppValue } from './mapping';
import { formatObjectRef } from './object-ref';
import type { SetpointOptions } from './options';
import { PROP, type DeviceState, type Session } from './session';

/** The set-point kinds the driver writes. */
export const SETPOINT_KINDS = ['battery-power', 'ev-current', 'pv-limit'] as const;
export type WritableKind = (typeof SETPOINT_KINDS)[number];

/** How a device value is encoded for this object type, or why the value does not fit it. */
export function encodeForObject(
  type: number,
  raw: number,
): { ok: true; value: BACNetAppData } | { ok: false; reason: string } {
  if (!Number.isFinite(raw)) return { ok: false, reason: `${raw} is not a finite number` };
  switch (type) {
    case ObjectType.INTEGER_VALUE: {
      const v = Math.round(raw);
      if (v < -2_147_483_648 || v > 2_147_483_647) return { ok: false, reason: `${v} does not fit an integer-value` };
      return { ok: true, value: { type: ApplicationTag.SIGNED_INTEGER, value: v } };
    }
    case ObjectType.POSITIVE_INTEGER_VALUE: {
      const v = Math.round(raw);
      if (v < 0 || v > 4_294_967_295) return { ok: false, reason: `${v} does not fit a positive-integer-value` };
      return { ok: true, value: { type: ApplicationTag.UNSIGNED_INTEGER, value: v } };
    }
    case ObjectType.LARGE_ANALOG_VALUE:
      return { ok: true, value: { type: ApplicationTag.DOUBLE, value: raw } };
    default:
      if (Math.abs(raw) > 3.4e38) return { ok: false, reason: `${raw} does not fit a REAL` };
      return { ok: true, value: { type: ApplicationTag.REAL, value: raw } };
  }
}

/** What the read-back after a write found, judged (pure, for tests). */
export function judgeReadBack(
  mapping: SetpointOptions,
  written: number | null,
  presentValue: readonly AppValue[] | undefined,
  priorityArray: readonly AppValue[] | undefined,
): WriteOutcome {
  const object = formatObjectRef(mapping.object);
  const pv = rawNumber(presentValue);
  if (!pv.ok) return { status: 'failed', error: `${object}: present-value after the write: ${pv.reason}` };
  const readBack = toOurValue(pv.raw, mapping);
  const toleranceRaw = mapping.tolerance / Math.abs(mapping.scale);
  const slots = priorityArray?.map((v) => (v.type === ApplicationTag.NULL ? null : rawNumber([v]))) ?? undefined;
  if (slots !== undefined && slots.length >= mapping.priority) {
    const ours = slots[mapping.priority - 1];
    const oursRaw = ours === null || ours === undefined ? null : ours.ok ? ours.raw : Number.NaN;
    if (written === null && oursRaw !== null)
      return {
        status: 'mismatch',
        readBack,
        error: `${object}: priority ${mapping.priority} still holds ${oursRaw} after relinquishing`,
      };
    if (written !== null && (oursRaw === null || !sameDeviceValue(written, oursRaw, toleranceRaw)))
      return {
        status: 'mismatch',
        readBack,
        error: `${object}: priority ${mapping.priority} holds ${oursRaw === null ? 'NULL' : oursRaw} after writing ${written}`,
      };
  }
  if (written === null) return { status: 'applied', readBack };
  if (sameDeviceValue(written, pv.raw, toleranceRaw)) return { status: 'applied', readBack };
  const higher = slots?.slice(0, mapping.priority - 1).findIndex((s) => s !== null) ?? -1;
  const holder = higher >= 0 ? slots?.[higher] : undefined;
  const why =
    higher >= 0 && holder && holder.ok
      ? `priority ${higher + 1} (higher than our ${mapping.priority}) holds ${holder.raw}`
      : 'the device did not take it';
  return { status: 'mismatch', readBack, error: `${object}: present-value is ${pv.raw}, not ${written}: ${why}` };
}

/** The status a failed request ends a write with. */
export function failureOutcome(err: unknown, what: string): WriteOutcome {
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof BacnetErrorResponse || err instanceof BacnetRefusedError || err instanceof BacnetWrongDeviceError)
    return { status: 'rejected', error: message };
  if (err instanceof BacnetTimeoutError || err instanceof BacnetAbortedError)
    return { status: 'timeout', error: message };
  return { status: 'failed', error: message };
}

/**
 * Writes `raw` (null = relinquish) to the mapping's object at its priority, then reads present-value and the
 * priority array back. Error/Reject/Abort → rejected; no answer → timeout; read-back trouble → failed.
 */
export async function writeAndVerify(
  session: Session,
  device: DeviceState,
  mapping: SetpointOptions,
  raw: number | null,
  maxObjects: number,
  signal?: AbortSignal,
): Promise<WriteOutcome> {
  const object = formatObjectRef(mapping.object);
  let value: BACNetAppData;
  if (raw === null) value = { type: ApplicationTag.NULL, value: null };
  else {
    const encoded = encodeForObject(mapping.object.type, raw);
    if (!encoded.ok) return { status: 'rejected', error: `${object}: ${encoded.reason}` };
    value = encoded.value;
  }
  try {
    await session.call(
      device,
      (receiver) =>
        session.link.client.writeProperty(
          receiver,
          { type: mapping.object.type, instance: mapping.object.instance },
          PROP.presentValue,
          [value],
          {
            priority: mapping.priority,
          },
        ),
      signal,
    );
  } catch (err) {
    return failureOutcome(err, `write ${object} at priority ${mapping.priority}`);
  }
  let results;
  try {
    results = await session.readProperties(
      device,
      [
        { object: mapping.object, property: PROP.presentValue },
        { object: mapping.object, property: PROP.priorityArray },
      ],
      maxObjects,
      signal,
    );
  } catch (err) {
    const outcome = failureOutcome(err, `read back ${object} after the write`);
    return { status: 'failed', ...(outcome.error === undefined ? {} : { error: outcome.error }) };
  }
  const [pv, array] = results;
  if (!pv?.ok) return { status: 'failed', error: `read back ${object}: ${pv?.error ?? 'no answer'}` };
  // an object without a priority array (not commandable) answers unknown-property: judge by present-value alone
  return judgeReadBack(
    mapping,
    raw === null ? null : Number(value.value),
    pv.values,
    array?.ok ? array.values : undefined,
  );
}

/**
 * The device value a set-point becomes. An integer object takes the whole device value next to it that is nearer
 * zero **in our units** (whatever the mapping's sign and offset), so a write never goes past what was asked (as
 * `wholeStepsTowardZero` in contracts) — unless that one lies outside `bounds` (the arbiter's interval for the value,
 * `DeviceWrite.bounds`, in our units) and the other neighbour inside: a lower bound (a discharge that holds the import
 * under the fuse) takes the step away from zero, as `wholeStepWithin` does.
 */
export function setpointRaw(mapping: SetpointOptions, value: number, bounds?: ValueBounds): number {
  const exact = toDeviceValue(value, mapping);
  const type = mapping.object.type;
  if ((type !== ObjectType.INTEGER_VALUE && type !== ObjectType.POSITIVE_INTEGER_VALUE) || !Number.isFinite(exact))
    return exact;
  const nearest = Math.round(exact);
  if (Math.abs(exact - nearest) <= Math.max(1e-9, 1e-12 * Math.abs(nearest))) return nearest;
  const low = Math.floor(exact);
  const high = Math.ceil(exact);
  const [towardZero, away] =
    Math.abs(toOurValue(low, mapping)) <= Math.abs(toOurValue(high, mapping)) ? [low, high] : [high, low];
  if (bounds === undefined) return towardZero;
  const inside = (raw: number) => withinBounds(toOurValue(raw, mapping), bounds);
  return !inside(towardZero) && inside(away) ? away : towardZero;
}
