// The driver's view of its devices over one BACnet link: where each device is (found by Who-Is when only its
// instance is known), whether it answers, whether it does ReadPropertyMultiple, and property reads that fall back
// to ReadProperty when it does not.
import { ApplicationTag, ObjectType, PropertyIdentifier, type BACNetAddress } from '@bacnet-js/client';
import { BacnetErrorResponse, BacnetTimeoutError, BacnetWrongDeviceError, isServiceRefusal } from './errors';
import { describeDevice, type BacnetLink, type DeviceAddress } from './link';
import type { AppValue } from './mapping';
import { formatObjectRef, type ObjectRef } from './object-ref';

const ARRAY_ALL = 4_294_967_295;
const OBJECT_CLASS = 1;
const UNKNOWN_OBJECT = 31;

/** What an asset says about its device. */
export interface DeviceConfig {
  readonly address?: string;
  readonly deviceInstance?: number;
  readonly network?: { readonly number: number; readonly mac: readonly number[] };
}

/** One device the driver talks to (several assets may share one). */
export interface DeviceState {
  readonly key: string;
  readonly config: DeviceConfig;
  /** Where it is; found by Who-Is when the config has no address. */
  resolved: DeviceAddress | undefined;
  /** False once the device refused ReadPropertyMultiple. */
  rpm: boolean;
  /** Undefined until the first request; then whether the last one got an answer (any answer, errors included). */
  answering: boolean | undefined;
  lastError: string | undefined;
  /** Called when the device answers again after not answering (it may have restarted and lost subscriptions). */
  onRecovered: (() => void) | undefined;
  /** True once the device at the configured address proved to be the configured instance (reset when it goes). */
  verified: boolean;
}

/** The key of a device: its address (and route, and instance when given), else its instance. */
export function deviceKey(config: DeviceConfig): string {
  const route = config.network ? `/${config.network.number}/${config.network.mac.join('.')}` : '';
  if (config.address === undefined) return `instance:${config.deviceInstance ?? -1}${route}`;
  return `${config.address}${route}${config.deviceInstance === undefined ? '' : `#${config.deviceInstance}`}`;
}

/** One property to read of one object, and what came back. */
export interface PropertyRead {
  readonly object: ObjectRef;
  readonly property: number;
  readonly index?: number;
}

/** A property's value, or the error the device answered for it. */
export type PropertyValue =
  | { readonly ok: true; readonly values: readonly AppValue[] }
  | { readonly ok: false; readonly error: string; readonly errorClass?: number; readonly errorCode?: number };

/** Counters of the session, for health. */
export interface SessionCounters {
  rpmFallbacks: number;
  whoIsResolutions: number;
}

/** Options of {@link createSession}. */
export interface SessionOptions {
  readonly link: BacnetLink;
  readonly apduTimeoutMs: number;
  readonly apduRetries: number;
  readonly log: { warn(fields: object, message: string): void; info(fields: object, message: string): void };
}

/** Devices and reads over one link. */
export interface Session {
  readonly link: BacnetLink;
  readonly counters: Readonly<SessionCounters>;
  readonly devices: ReadonlyMap<string, DeviceState>;
  /** The state of the device an asset names (created on first use). */
  device(config: DeviceConfig): DeviceState;
  /** One confirmed request to a device: resolves its address first, tracks whether it answers. */
  call<T>(device: DeviceState, run: (receiver: BACNetAddress) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Reads properties (ReadPropertyMultiple in batches of `maxObjects` objects; ReadProperty one by one when the
   * device refuses RPM). A property the device answers with an error comes back as `ok: false`; a device that does
   * not answer throws BacnetTimeoutError.
   */
  readProperties(
    device: DeviceState,
    reads: readonly PropertyRead[],
    maxObjects: number,
    signal?: AbortSignal,
  ): Promise<PropertyValue[]>;
}

/** A session over `link`. */
export function createSession(options: SessionOptions): Session {
  const { link, log } = options;
  const devices = new Map<string, DeviceState>();
  const counters: SessionCounters = { rpmFallbacks: 0, whoIsResolutions: 0 };

  const resolve = async (device: DeviceState, signal?: AbortSignal): Promise<DeviceAddress> => {
    if (device.resolved) return device.resolved;
    const { config } = device;
    const route = config.network ? { net: config.network.number, adr: [...config.network.mac] } : {};
    if (config.address !== undefined) {
      device.resolved = { address: config.address, ...route };
      return device.resolved;
    }
    const instance = config.deviceInstance ?? 0;
    const waitMs = options.apduTimeoutMs * (options.apduRetries + 1);
    const found = await new Promise<DeviceAddress | undefined>((done) => {
      const timer = setTimeout(() => finish(undefined), waitMs);
      const off = link.onIAm((report) => {
        if (report.deviceInstance === instance) finish(report.device);
      });
      const onAbort = () => finish(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      function finish(value: DeviceAddress | undefined): void {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        done(value);
      }
      link.whoIs(undefined, { lowLimit: instance, highLimit: instance });
    });
    if (found === undefined) throw new BacnetTimeoutError(`instance ${instance} (Who-Is)`, waitMs);
    counters.whoIsResolutions += 1;
    device.resolved = found.net === undefined && config.network ? { ...found, ...route } : found;
    log.info({ deviceInstance: instance, address: describeDevice(device.resolved) }, 'device found by who-is');
    return device.resolved;
  };

  const call = async <T>(
    device: DeviceState,
    run: (receiver: BACNetAddress) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> => {
    try {
      const address = await resolve(device, signal);
      if (!device.verified) await verify(device, address, signal);
      const result = await link.request(address, run, signal);
      answered(device);
      return result;
    } catch (err) {
      if (err instanceof BacnetTimeoutError) {
        const was = device.answering;
        device.answering = false;
        device.verified = false;
        device.lastError = err.message;
        // a device found by Who-Is may come back elsewhere (DHCP): look it up again next time
        if (device.config.address === undefined) device.resolved = undefined;
        if (was !== false) log.warn({ device: device.key, err }, 'device not answering');
      } else if (err instanceof BacnetErrorResponse || isServiceRefusal(err)) {
        answered(device);
      }
      throw err;
    }
  };

  /**
   * With both an address and an instance configured, the device at the address must have that device object: a
   * moved or replaced device must not get our reads, let alone our set-points. (Who-Is already matched the instance.)
   */
  const verify = async (device: DeviceState, address: DeviceAddress, signal?: AbortSignal): Promise<void> => {
    const instance = device.config.deviceInstance;
    if (instance === undefined || device.config.address === undefined) {
      device.verified = true;
      return;
    }
    try {
      await link.request(
        address,
        (receiver) =>
          link.client.readProperty(
            receiver,
            { type: ObjectType.DEVICE, instance },
            PropertyIdentifier.OBJECT_IDENTIFIER,
          ),
        signal,
      );
      device.verified = true;
    } catch (err) {
      if (err instanceof BacnetErrorResponse && err.errorClass === OBJECT_CLASS && err.errorCode === UNKNOWN_OBJECT) {
        answered(device);
        log.warn({ device: device.key, deviceInstance: instance }, 'wrong device at the configured address');
        throw new BacnetWrongDeviceError(describeDevice(address), instance, { cause: err });
      }
      if (err instanceof BacnetErrorResponse || isServiceRefusal(err)) {
        // it answers but will not say who it is: nothing to hold against it
        device.verified = true;
        return;
      }
      throw err;
    }
  };

  const answered = (device: DeviceState): void => {
    const was = device.answering;
    device.answering = true;
    device.lastError = undefined;
    if (was === false) {
      log.info({ device: device.key }, 'device answering again');
      device.onRecovered?.();
    }
  };

  const readMultiple = async (
    device: DeviceState,
    reads: readonly PropertyRead[],
    signal?: AbortSignal,
  ): Promise<PropertyValue[]> => {
    const specs: { objectId: { type: number; instance: number }; properties: { id: number; index: number }[] }[] = [];
    for (const read of reads) {
      let spec = specs.find(
        (s) => s.objectId.type === read.object.type && s.objectId.instance === read.object.instance,
      );
      if (spec === undefined) {
        spec = { objectId: { type: read.object.type, instance: read.object.instance }, properties: [] };
        specs.push(spec);
      }
      spec.properties.push({ id: read.property, index: read.index ?? ARRAY_ALL });
    }
    const ack = await call(device, (receiver) => link.client.readPropertyMultiple(receiver, specs), signal);
    return reads.map((read): PropertyValue => {
      const object = ack.values.find(
        (v) => v.objectId.type === read.object.type && v.objectId.instance === read.object.instance,
      );
      const entry = object?.values.find((p) => p.id === read.property && p.index === (read.index ?? ARRAY_ALL));
      if (entry === undefined)
        return { ok: false, error: `${formatObjectRef(read.object)} property ${read.property} missing in the answer` };
      const first = entry.value[0];
      if (first?.type === ApplicationTag.ERROR) {
        const e = first.value as { errorClass: number; errorCode: number };
        return {
          ok: false,
          error: new BacnetErrorResponse(
            describeDevice(device.resolved ?? { address: device.key }),
            e.errorClass,
            e.errorCode,
          ).message,
          errorClass: e.errorClass,
          errorCode: e.errorCode,
        };
      }
      return { ok: true, values: entry.value };
    });
  };

  const readSingle = async (device: DeviceState, read: PropertyRead, signal?: AbortSignal): Promise<PropertyValue> => {
    try {
      const ack = await call(
        device,
        (receiver) =>
          link.client.readProperty(
            receiver,
            { type: read.object.type, instance: read.object.instance },
            read.property,
            read.index === undefined ? {} : { arrayIndex: read.index },
          ),
        signal,
      );
      return { ok: true, values: ack.values };
    } catch (err) {
      if (err instanceof BacnetErrorResponse)
        return { ok: false, error: err.message, errorClass: err.errorClass, errorCode: err.errorCode };
      throw err;
    }
  };

  const readProperties: Session['readProperties'] = async (device, reads, maxObjects, signal) => {
    // the stack leaves array index 0 (the length) out of a ReadPropertyMultiple request: read those singly
    if (reads.some((r) => r.index === 0)) {
      const multiple = reads.filter((r) => r.index !== 0);
      const values = multiple.length > 0 ? await readProperties(device, multiple, maxObjects, signal) : [];
      const out: PropertyValue[] = [];
      for (const read of reads) {
        if (read.index === 0) out.push(await readSingle(device, read, signal));
        else out.push(values.shift() ?? { ok: false, error: 'no answer' });
      }
      return out;
    }
    const out: PropertyValue[] = [];
    if (device.rpm) {
      try {
        for (const batch of batches(reads, maxObjects)) out.push(...(await readMultiple(device, batch, signal)));
        return out;
      } catch (err) {
        if (isServiceRefusal(err)) {
          device.rpm = false;
          counters.rpmFallbacks += 1;
          log.warn({ device: device.key, err }, 'device refused ReadPropertyMultiple; reading property by property');
        } else if (!(err instanceof BacnetErrorResponse)) {
          throw err;
        }
        // an Error for the whole request (no object or property readable): find out which, one by one
        out.length = 0;
      }
    }
    for (const read of reads) out.push(await readSingle(device, read, signal));
    return out;
  };

  return {
    link,
    counters,
    devices,
    device(config) {
      const key = deviceKey(config);
      let state = devices.get(key);
      if (state === undefined) {
        state = {
          key,
          config,
          resolved: undefined,
          rpm: true,
          answering: undefined,
          lastError: undefined,
          onRecovered: undefined,
          verified: false,
        };
        devices.set(key, state);
      }
      return state;
    },
    call,
    readProperties,
  };
}

/** Groups reads so that no group names more than `maxObjects` objects. */
function batches(reads: readonly PropertyRead[], maxObjects: number): PropertyRead[][] {
  const groups: PropertyRead[][] = [];
  let current: PropertyRead[] = [];
  let objects = new Set<string>();
  for (const read of reads) {
    const key = `${read.object.type}:${read.object.instance}`;
    if (!objects.has(key) && objects.size >= maxObjects) {
      groups.push(current);
      current = [];
      objects = new Set();
    }
    objects.add(key);
    current.push(read);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Property ids the driver uses. */
export const PROP = {
  presentValue: PropertyIdentifier.PRESENT_VALUE,
  statusFlags: PropertyIdentifier.STATUS_FLAGS,
  priorityArray: PropertyIdentifier.PRIORITY_ARRAY,
  objectName: PropertyIdentifier.OBJECT_NAME,
  vendorName: PropertyIdentifier.VENDOR_NAME,
  vendorIdentifier: PropertyIdentifier.VENDOR_IDENTIFIER,
  modelName: PropertyIdentifier.MODEL_NAME,
  firmwareRevision: PropertyIdentifier.FIRMWARE_REVISION,
  objectList: PropertyIdentifier.OBJECT_LIST,
} as const;
