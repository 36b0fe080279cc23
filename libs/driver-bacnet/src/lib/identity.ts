// Who a BACnet device is: the identifying properties of its device object (for discovery).
import { ObjectType } from '@bacnet-js/client';
import type { BacnetLink, DeviceAddress } from './link';
import { rawNumber, type AppValue } from './mapping';
import { createSession, PROP, type PropertyValue } from './session';

/** The device object's identifying properties; absent when the device does not have or answer them. */
export interface DeviceIdentity {
  readonly deviceInstance: number;
  readonly objectName?: string;
  readonly vendorName?: string;
  readonly vendorId?: number;
  readonly modelName?: string;
  readonly firmwareRevision?: string;
  /** Entries of the object list (the device object included). */
  readonly objectCount?: number;
  /** Properties the device answered with an error (name: reason). */
  readonly missing: readonly string[];
}

function text(values: readonly AppValue[] | undefined): string | undefined {
  const v = values?.[0]?.value;
  return typeof v === 'string' ? v : undefined;
}

/**
 * Reads objectName, vendorName, vendorIdentifier, modelName, firmwareRevision and the object-list length of a
 * device in one ReadPropertyMultiple (property by property when the device refuses RPM). Throws
 * BacnetTimeoutError when the device does not answer.
 */
export async function readDeviceIdentity(
  link: BacnetLink,
  device: DeviceAddress,
  deviceInstance: number,
  options: { readonly apduTimeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<DeviceIdentity> {
  const session = createSession({
    link,
    apduTimeoutMs: options.apduTimeoutMs ?? 3_000,
    apduRetries: 0,
    log: { warn: () => undefined, info: () => undefined },
  });
  const state = session.device({ address: device.address });
  state.resolved = device;
  state.verified = true;
  const object = { type: ObjectType.DEVICE, instance: deviceInstance };
  const wanted = [
    ['objectName', PROP.objectName],
    ['vendorName', PROP.vendorName],
    ['vendorId', PROP.vendorIdentifier],
    ['modelName', PROP.modelName],
    ['firmwareRevision', PROP.firmwareRevision],
  ] as const;
  const results: PropertyValue[] = await session.readProperties(
    state,
    [...wanted.map(([, property]) => ({ object, property })), { object, property: PROP.objectList, index: 0 }],
    1,
    options.signal,
  );
  const missing: string[] = [];
  const get = (i: number, name: string): readonly AppValue[] | undefined => {
    const r = results[i];
    if (r?.ok) return r.values;
    missing.push(`${name}: ${r?.error ?? 'no answer'}`);
    return undefined;
  };
  const objectName = text(get(0, 'objectName'));
  const vendorName = text(get(1, 'vendorName'));
  const vendorId = rawNumber(get(2, 'vendorIdentifier'));
  const modelName = text(get(3, 'modelName'));
  const firmwareRevision = text(get(4, 'firmwareRevision'));
  const objectCount = rawNumber(get(5, 'objectList[0]'));
  return {
    deviceInstance,
    ...(objectName === undefined ? {} : { objectName }),
    ...(vendorName === undefined ? {} : { vendorName }),
    ...(vendorId.ok ? { vendorId: vendorId.raw } : {}),
    ...(modelName === undefined ? {} : { modelName }),
    ...(firmwareRevision === undefined ? {} : { firmwareRevision }),
    ...(objectCount.ok ? { objectCount: objectCount.raw } : {}),
    missing,
  };
}
