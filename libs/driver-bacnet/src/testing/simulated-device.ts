// A BACnet/IP device for tests, built on the same stack (@bacnet-js/client) as the driver, on a loopback address:
// answers Who-Is with I-Am, ReadProperty, ReadPropertyMultiple, WriteProperty (a real 16-slot priority array with
// relinquish default on commandable objects) and SubscribeCOV (with the initial notification, notifications when a
// value or status flag changes, lifetimes). It can refuse services (Reject PDU), go silent, sit behind a simulated
// router (network number + MAC), and it logs every request so tests can check what the driver sent.
import BACnetClient, {
  ApplicationTag,
  ConfirmedServiceChoice,
  ErrorClass,
  ErrorCode,
  ObjectType,
  PropertyIdentifier,
  StatusFlags as StatusFlagBits,
  StatusFlagsBitString,
  type BACNetAddress,
  type BACNetAppData,
  type BACNetObjectID,
} from '@bacnet-js/client';
import { formatObjectRef, isBinaryType, parseObjectRef, type ObjectRef } from '../lib/object-ref';
import { UdpTransport } from '../lib/transport';

const ARRAY_ALL = 4_294_967_295;
const WILDCARD_INSTANCE = 4_194_303;
const GLOBAL_NETWORK = 0xffff;

/** One object of the simulated device. */
export interface SimObjectInit {
  /** `analog-input:3`, `av:10`, … */
  readonly object: string;
  readonly name?: string;
  /** Binary objects: 0 (inactive) or 1 (active). For commandable objects this is the relinquish default. */
  readonly presentValue: number;
  /** Has a priority array and relinquish default (outputs always do). */
  readonly commandable?: boolean;
  /** Present-value writable without a priority array (a plain analog-value). */
  readonly writable?: boolean;
  readonly units?: number;
  /** Smallest change that triggers a COV notification (analog); default 0 = any change. */
  readonly covIncrement?: number;
  /** Writes outside [min, max] are refused with value-out-of-range. */
  readonly min?: number;
  readonly max?: number;
  readonly fault?: boolean;
  readonly outOfService?: boolean;
  /** Accepts SubscribeCOV for this object; default true. */
  readonly cov?: boolean;
}

/** A simulated device. */
export interface SimulatedDeviceOptions {
  /** Loopback address to bind (127.x.y.z). */
  readonly host: string;
  /** UDP port; default 47808; 0 picks a free one. */
  readonly port?: number;
  readonly deviceInstance: number;
  readonly name?: string;
  readonly vendorName?: string;
  readonly vendorId?: number;
  readonly modelName?: string;
  readonly firmwareRevision?: string;
  readonly applicationSoftwareVersion?: string;
  readonly description?: string;
  readonly objects: readonly SimObjectInit[];
  /** Services it answers; a refused one gets a Reject PDU (unrecognized-service). All true by default. */
  readonly services?: {
    readonly readPropertyMultiple?: boolean;
    readonly subscribeCov?: boolean;
    readonly whoIs?: boolean;
  };
  /** The device sits behind a router on this BACnet network with this MAC: it answers only requests addressed there. */
  readonly routed?: { readonly network: number; readonly mac: readonly number[] };
}

/** One request the device received. */
export interface SimRequest {
  readonly service: 'who-is' | 'read-property' | 'read-property-multiple' | 'write-property' | 'subscribe-cov';
  readonly from: string;
  readonly object?: string;
  readonly property?: number;
  readonly priority?: number;
  /** Written value (null = relinquish). */
  readonly value?: number | null;
  readonly lifetimeS?: number;
  readonly cancel?: boolean;
}

/** A COV subscription the device holds. */
export interface SimSubscription {
  readonly subscriber: string;
  readonly processId: number;
  readonly object: string;
  readonly confirmed: boolean;
  readonly lifetimeS: number;
  readonly expiresAtMs: number | undefined;
}

interface SimObject {
  readonly ref: ObjectRef;
  readonly name: string;
  readonly units: number | undefined;
  readonly covIncrement: number;
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly cov: boolean;
  readonly writable: boolean;
  /** 16 slots (index 0 = priority 1) for commandable objects. */
  readonly priorities: (number | null)[] | undefined;
  relinquishDefault: number;
  value: number;
  fault: boolean;
  outOfService: boolean;
  lastNotified: { value: number; flags: number } | undefined;
}

type PropertyResult =
  | { readonly values: BACNetAppData[] }
  | { readonly errorClass: number; readonly errorCode: number };

const COMMANDABLE_BY_NATURE: readonly number[] = [
  ObjectType.ANALOG_OUTPUT,
  ObjectType.BINARY_OUTPUT,
  ObjectType.MULTI_STATE_OUTPUT,
];

function keyOf(ref: BACNetObjectID | ObjectRef): string {
  return `${ref.type}:${ref.instance}`;
}

function parseRef(text: string): ObjectRef {
  const parsed = parseObjectRef(text);
  if (!parsed.ok) throw new Error(`simulated device: ${parsed.reason}`);
  return parsed.ref;
}

/** The application tag a present-value of this object type is encoded with. */
function valueTag(type: number): ApplicationTag {
  if (isBinaryType(type)) return ApplicationTag.ENUMERATED;
  switch (type) {
    case ObjectType.MULTI_STATE_INPUT:
    case ObjectType.MULTI_STATE_OUTPUT:
    case ObjectType.MULTI_STATE_VALUE:
    case ObjectType.POSITIVE_INTEGER_VALUE:
    case ObjectType.ACCUMULATOR:
      return ApplicationTag.UNSIGNED_INTEGER;
    case ObjectType.INTEGER_VALUE:
      return ApplicationTag.SIGNED_INTEGER;
    case ObjectType.LARGE_ANALOG_VALUE:
      return ApplicationTag.DOUBLE;
    default:
      return ApplicationTag.REAL;
  }
}

function flagsByte(o: SimObject): number {
  return (o.fault ? 0b0010 : 0) | (o.outOfService ? 0b1000 : 0);
}

function flagsValue(o: SimObject): BACNetAppData {
  const bits: StatusFlagBits[] = [];
  if (o.fault) bits.push(StatusFlagBits.FAULT);
  if (o.outOfService) bits.push(StatusFlagBits.OUT_OF_SERVICE);
  return { type: ApplicationTag.BIT_STRING, value: new StatusFlagsBitString(...bits) };
}

function str(value: string): BACNetAppData {
  return { type: ApplicationTag.CHARACTER_STRING, value };
}

function unsigned(value: number): BACNetAppData {
  return { type: ApplicationTag.UNSIGNED_INTEGER, value };
}

function enumerated(value: number): BACNetAppData {
  return { type: ApplicationTag.ENUMERATED, value } as BACNetAppData;
}

/** The NPDU destination of a BACnet/IP datagram (network and MAC), undefined when it has none. */
export function npduDestination(buffer: Buffer): { readonly network: number; readonly mac: number[] } | undefined {
  if (buffer.length < 6 || buffer[0] !== 0x81) return undefined;
  const npdu = buffer[1] === 0x04 ? 10 : 4;
  const control = buffer[npdu + 1] ?? 0;
  if ((control & 0x20) === 0) return undefined;
  const network = buffer.readUInt16BE(npdu + 2);
  const length = buffer[npdu + 4] ?? 0;
  return { network, mac: [...buffer.subarray(npdu + 5, npdu + 5 + length)] };
}

/** A simulated BACnet/IP device; start it with {@link SimulatedBacnetDevice.start}. */
export class SimulatedBacnetDevice {
  /** Every request received, oldest first. */
  readonly requests: SimRequest[] = [];
  /** COV notifications sent. */
  notificationsSent = 0;
  /** Confirmed COV notifications the subscriber acknowledged. */
  notificationsAcknowledged = 0;
  /** Drop every datagram (a device that is gone or unplugged). */
  silent = false;
  private readonly objects = new Map<string, SimObject>();
  private subscriptionList: SimSubscription[] = [];
  private closed = false;

  private constructor(
    readonly options: SimulatedDeviceOptions,
    private readonly client: BACnetClient,
    private readonly transport: UdpTransport,
    /** `host:port` it listens on. */
    readonly address: string,
  ) {
    for (const init of options.objects) {
      const ref = parseRef(init.object);
      const commandable = init.commandable ?? COMMANDABLE_BY_NATURE.includes(ref.type);
      this.objects.set(keyOf(ref), {
        ref,
        name: init.name ?? formatObjectRef(ref),
        units: init.units,
        covIncrement: init.covIncrement ?? 0,
        min: init.min,
        max: init.max,
        cov: init.cov ?? true,
        writable: init.writable ?? false,
        priorities: commandable ? new Array<number | null>(16).fill(null) : undefined,
        relinquishDefault: init.presentValue,
        value: init.presentValue,
        fault: init.fault ?? false,
        outOfService: init.outOfService ?? false,
        lastNotified: undefined,
      });
    }
    this.listen();
  }

  /** Binds `host:port` and answers until {@link close}. */
  static async start(options: SimulatedDeviceOptions): Promise<SimulatedBacnetDevice> {
    const holder: { device?: SimulatedBacnetDevice } = {};
    const routed = options.routed;
    const transport = new UdpTransport({
      interface: options.host,
      port: options.port ?? 47_808,
      accept: (buffer) => {
        if (holder.device?.silent) return false;
        const destination = npduDestination(buffer);
        if (routed === undefined) return destination === undefined || destination.network === GLOBAL_NETWORK;
        if (destination === undefined) return false;
        if (destination.network === GLOBAL_NETWORK) return true;
        return destination.network === routed.network && destination.mac.join(',') === routed.mac.join(',');
      },
    });
    const client = new BACnetClient({ transport });
    client.on('error', () => undefined);
    const bound = await transport.ready;
    holder.device = new SimulatedBacnetDevice(options, client, transport, `${bound.address}:${bound.port}`);
    return holder.device;
  }

  /** The present-value (what a read returns). */
  presentValue(object: string): number {
    return this.object(object).value;
  }

  /** The 16 priority slots (index 0 = priority 1) of a commandable object. */
  priorityArray(object: string): readonly (number | null)[] {
    const o = this.object(object);
    if (o.priorities === undefined) throw new Error(`simulated device: ${object} is not commandable`);
    return [...o.priorities];
  }

  /** A new measured value (inputs, plain values); commandable objects get a new relinquish default instead. */
  setValue(object: string, value: number): void {
    const o = this.object(object);
    if (o.priorities === undefined) o.value = value;
    else {
      o.relinquishDefault = value;
      this.resolvePriorities(o);
    }
    this.changed(o);
  }

  /** Another controller (or an operator) commands a slot: `null` relinquishes it. */
  command(object: string, priority: number, value: number | null): void {
    const o = this.object(object);
    if (o.priorities === undefined) throw new Error(`simulated device: ${object} is not commandable`);
    o.priorities[priority - 1] = value;
    this.resolvePriorities(o);
    this.changed(o);
  }

  /** Sets the fault / out-of-service status flags (a COV notification follows, as on a real device). */
  setFlags(object: string, flags: { readonly fault?: boolean; readonly outOfService?: boolean }): void {
    const o = this.object(object);
    if (flags.fault !== undefined) o.fault = flags.fault;
    if (flags.outOfService !== undefined) o.outOfService = flags.outOfService;
    this.changed(o);
  }

  /** The live COV subscriptions. */
  subscriptions(): SimSubscription[] {
    this.pruneSubscriptions();
    return [...this.subscriptionList];
  }

  /** Requests of one service, optionally for one object (`analog-value:1`, `av:1`, `device:1201`). */
  requestsOf(service: SimRequest['service'], object?: string): SimRequest[] {
    const ref =
      object === undefined ? undefined : /^device:\d+$/.test(object) ? object : formatObjectRef(parseRef(object));
    return this.requests.filter((r) => r.service === service && (ref === undefined || r.object === ref));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.transport.once('close', () => resolve());
      this.client.close();
    });
  }

  private object(text: string): SimObject {
    const ref = parseRef(text);
    const o = this.objects.get(keyOf(ref));
    if (o === undefined) throw new Error(`simulated device has no ${text}`);
    return o;
  }

  private resolvePriorities(o: SimObject): void {
    const active = o.priorities?.find((v) => v !== null);
    o.value = active ?? o.relinquishDefault;
  }

  private log(request: SimRequest): void {
    this.requests.push(request);
  }

  private listen(): void {
    const c = this.client;
    c.on('whoIs', (content) => {
      const sender = content.header?.sender;
      if (sender?.address === undefined) return;
      this.log({ service: 'who-is', from: sender.address });
      if (this.options.services?.whoIs === false) return;
      const { lowLimit, highLimit } = content.payload;
      const id = this.options.deviceInstance;
      if (lowLimit !== undefined && highLimit !== undefined && (id < lowLimit || id > highLimit)) return;
      if (this.options.routed) this.sendRoutedIAm(sender.address);
      else c.iAmResponse({ address: sender.address }, id, 3, this.options.vendorId ?? 999);
    });

    c.on('readProperty', (content) => {
      const sender = this.replyTo(content.header?.sender);
      const invokeId = content.invokeId ?? 0;
      const { objectId, property } = content.payload;
      this.log({
        service: 'read-property',
        from: sender.address ?? '',
        object: formatObjectRef(objectId),
        property: property.id,
      });
      const result = this.readProperty(objectId, property.id, property.index);
      if ('errorClass' in result)
        c.errorResponse(sender, ConfirmedServiceChoice.READ_PROPERTY, invokeId, result.errorClass, result.errorCode);
      else c.readPropertyResponse(sender, invokeId, this.resolveId(objectId), property, result.values);
    });

    c.on('readPropertyMultiple', (content) => {
      const sender = this.replyTo(content.header?.sender);
      const invokeId = content.invokeId ?? 0;
      this.log({ service: 'read-property-multiple', from: sender.address ?? '' });
      if (this.options.services?.readPropertyMultiple === false) return this.reject(sender, invokeId);
      const results = content.payload.properties.map((spec) => ({
        objectId: this.resolveId(spec.objectId),
        values: spec.properties.map((p) => {
          const result = this.readProperty(spec.objectId, p.id, p.index);
          return {
            property: { id: p.id, index: p.index },
            value:
              'errorClass' in result
                ? [{ value: { type: 'BacnetError', errorClass: result.errorClass, errorCode: result.errorCode } }]
                : result.values,
          };
        }),
      }));
      c.readPropertyMultipleResponse(sender, invokeId, results);
    });

    c.on('writeProperty', (content) => {
      const sender = this.replyTo(content.header?.sender);
      const invokeId = content.invokeId ?? 0;
      const { objectId, value } = content.payload;
      const first = value.value[0];
      const written = first === undefined ? undefined : first.type === ApplicationTag.NULL ? null : Number(first.value);
      this.log({
        service: 'write-property',
        from: sender.address ?? '',
        object: formatObjectRef(objectId),
        property: value.property.id,
        priority: value.priority,
        ...(written === undefined ? {} : { value: written }),
      });
      const error = this.writeProperty(objectId, value.property.id, value.value, value.priority);
      if (error)
        c.errorResponse(sender, ConfirmedServiceChoice.WRITE_PROPERTY, invokeId, error.errorClass, error.errorCode);
      else c.simpleAckResponse(sender, ConfirmedServiceChoice.WRITE_PROPERTY, invokeId);
    });

    c.on('subscribeCov', (content) => {
      const sender = this.replyTo(content.header?.sender);
      const invokeId = content.invokeId ?? 0;
      const p = content.payload as typeof content.payload & { cancellationRequest?: boolean };
      this.log({
        service: 'subscribe-cov',
        from: sender.address ?? '',
        object: formatObjectRef(p.monitoredObjectId),
        lifetimeS: p.lifetime,
        cancel: p.cancellationRequest === true,
      });
      if (this.options.services?.subscribeCov === false) return this.reject(sender, invokeId);
      const o = this.objects.get(keyOf(p.monitoredObjectId));
      if (o === undefined)
        return c.errorResponse(
          sender,
          ConfirmedServiceChoice.SUBSCRIBE_COV,
          invokeId,
          ErrorClass.OBJECT,
          ErrorCode.UNKNOWN_OBJECT,
        );
      if (!o.cov)
        return c.errorResponse(
          sender,
          ConfirmedServiceChoice.SUBSCRIBE_COV,
          invokeId,
          ErrorClass.OBJECT,
          ErrorCode.OPTIONAL_FUNCTIONALITY_NOT_SUPPORTED,
        );
      const subscriber = sender.address ?? '';
      const object = formatObjectRef(o.ref);
      this.subscriptionList = this.subscriptionList.filter(
        (s) => !(s.subscriber === subscriber && s.processId === p.subscriberProcessId && s.object === object),
      );
      c.simpleAckResponse(sender, ConfirmedServiceChoice.SUBSCRIBE_COV, invokeId);
      if (p.cancellationRequest === true) return;
      const subscription: SimSubscription = {
        subscriber,
        processId: p.subscriberProcessId,
        object,
        confirmed: p.issueConfirmedNotifications,
        lifetimeS: p.lifetime,
        expiresAtMs: p.lifetime > 0 ? Date.now() + p.lifetime * 1_000 : undefined,
      };
      this.subscriptionList.push(subscription);
      // the standard asks for a notification right after a successful subscription
      this.notify(o, [subscription]);
    });
  }

  /** Replies go to the sender as it was seen; a routed device's replies come from the router's address anyway. */
  private replyTo(sender: BACNetAddress | undefined): BACNetAddress {
    return { address: sender?.address ?? '' };
  }

  private resolveId(id: BACNetObjectID): BACNetObjectID {
    if (id.type === ObjectType.DEVICE && id.instance === WILDCARD_INSTANCE)
      return { type: ObjectType.DEVICE, instance: this.options.deviceInstance };
    return { type: id.type, instance: id.instance };
  }

  /** Reject PDU (0x60), reason 9 unrecognized-service: what a device without the service answers. */
  private reject(receiver: BACNetAddress, invokeId: number): void {
    const buffer = Buffer.alloc(16);
    buffer.set([0x01, 0x00, 0x60, invokeId & 0xff, 0x09], 4);
    this.client.sendBvlc(receiver, { buffer, offset: 9 });
  }

  /** I-Am with the NPDU source (SNET/SADR) a router adds, encoded by hand (ASHRAE 135 clauses 6.2 and 16.1). */
  private sendRoutedIAm(to: string): void {
    const routed = this.options.routed;
    if (routed === undefined) return;
    const vendor = this.options.vendorId ?? 999;
    const objectId = ((ObjectType.DEVICE << 22) | this.options.deviceInstance) >>> 0;
    const bytes = [
      0x01, // NPDU version
      0x08, // control: source specified
      (routed.network >> 8) & 0xff,
      routed.network & 0xff,
      routed.mac.length,
      ...routed.mac,
      0x10, // unconfirmed request
      0x00, // I-Am
      0xc4, // application tag 12 (object identifier), length 4
      (objectId >>> 24) & 0xff,
      (objectId >>> 16) & 0xff,
      (objectId >>> 8) & 0xff,
      objectId & 0xff,
      0x22, // unsigned, length 2: max APDU 1476
      0x05,
      0xc4,
      0x91, // enumerated, length 1: segmentation 3 (none)
      0x03,
      ...(vendor < 256 ? [0x21, vendor] : [0x22, (vendor >> 8) & 0xff, vendor & 0xff]),
    ];
    const buffer = Buffer.alloc(4 + bytes.length);
    buffer.set(bytes, 4);
    this.client.sendBvlc({ address: to }, { buffer, offset: buffer.length });
  }

  private readProperty(id: BACNetObjectID, property: number, index: number): PropertyResult {
    if (id.type === ObjectType.DEVICE) {
      if (id.instance !== this.options.deviceInstance && id.instance !== WILDCARD_INSTANCE)
        return { errorClass: ErrorClass.OBJECT, errorCode: ErrorCode.UNKNOWN_OBJECT };
      return this.readDeviceProperty(property, index);
    }
    const o = this.objects.get(keyOf(id));
    if (o === undefined) return { errorClass: ErrorClass.OBJECT, errorCode: ErrorCode.UNKNOWN_OBJECT };
    const analog = valueTag(o.ref.type) === ApplicationTag.REAL;
    switch (property) {
      case PropertyIdentifier.OBJECT_IDENTIFIER:
        return {
          values: [{ type: ApplicationTag.OBJECTIDENTIFIER, value: { type: o.ref.type, instance: o.ref.instance } }],
        };
      case PropertyIdentifier.OBJECT_NAME:
        return { values: [str(o.name)] };
      case PropertyIdentifier.OBJECT_TYPE:
        return { values: [enumerated(o.ref.type)] };
      case PropertyIdentifier.PRESENT_VALUE:
        return { values: [{ type: valueTag(o.ref.type), value: o.value } as BACNetAppData] };
      case PropertyIdentifier.STATUS_FLAGS:
        return { values: [flagsValue(o)] };
      case PropertyIdentifier.OUT_OF_SERVICE:
        return { values: [{ type: ApplicationTag.BOOLEAN, value: o.outOfService }] };
      case PropertyIdentifier.EVENT_STATE:
        return { values: [enumerated(0)] };
      case PropertyIdentifier.RELIABILITY:
        return { values: [enumerated(o.fault ? 7 : 0)] };
      case PropertyIdentifier.UNITS:
        if (!analog || o.units === undefined) break;
        return { values: [enumerated(o.units)] };
      case PropertyIdentifier.COV_INCREMENT:
        if (!analog) break;
        return { values: [{ type: ApplicationTag.REAL, value: o.covIncrement }] };
      case PropertyIdentifier.RELINQUISH_DEFAULT:
        if (o.priorities === undefined) break;
        return { values: [{ type: valueTag(o.ref.type), value: o.relinquishDefault } as BACNetAppData] };
      case PropertyIdentifier.PRIORITY_ARRAY: {
        if (o.priorities === undefined) break;
        const slot = (v: number | null): BACNetAppData =>
          v === null
            ? { type: ApplicationTag.NULL, value: null }
            : ({ type: valueTag(o.ref.type), value: v } as BACNetAppData);
        if (index === ARRAY_ALL) return { values: o.priorities.map(slot) };
        if (index === 0) return { values: [unsigned(16)] };
        if (index > 16) return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.INVALID_ARRAY_INDEX };
        return { values: [slot(o.priorities[index - 1] ?? null)] };
      }
      default:
        break;
    }
    return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.UNKNOWN_PROPERTY };
  }

  private readDeviceProperty(property: number, index: number): PropertyResult {
    const o = this.options;
    switch (property) {
      case PropertyIdentifier.OBJECT_IDENTIFIER:
        return {
          values: [
            { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: ObjectType.DEVICE, instance: o.deviceInstance } },
          ],
        };
      case PropertyIdentifier.OBJECT_NAME:
        return { values: [str(o.name ?? `device ${o.deviceInstance}`)] };
      case PropertyIdentifier.OBJECT_TYPE:
        return { values: [enumerated(ObjectType.DEVICE)] };
      case PropertyIdentifier.VENDOR_NAME:
        return { values: [str(o.vendorName ?? 'Simulated')] };
      case PropertyIdentifier.VENDOR_IDENTIFIER:
        return { values: [unsigned(o.vendorId ?? 999)] };
      case PropertyIdentifier.MODEL_NAME:
        return { values: [str(o.modelName ?? 'simulated device')] };
      case PropertyIdentifier.FIRMWARE_REVISION:
        return { values: [str(o.firmwareRevision ?? '1.0')] };
      case PropertyIdentifier.APPLICATION_SOFTWARE_VERSION:
        return { values: [str(o.applicationSoftwareVersion ?? '1.0')] };
      case PropertyIdentifier.DESCRIPTION:
        if (o.description === undefined) break;
        return { values: [str(o.description)] };
      case PropertyIdentifier.SYSTEM_STATUS:
        return { values: [enumerated(0)] };
      case PropertyIdentifier.PROTOCOL_VERSION:
        return { values: [unsigned(1)] };
      case PropertyIdentifier.MAX_APDU_LENGTH_ACCEPTED:
        return { values: [unsigned(1_476)] };
      case PropertyIdentifier.SEGMENTATION_SUPPORTED:
        return { values: [enumerated(3)] };
      case PropertyIdentifier.OBJECT_LIST: {
        const ids: BACNetAppData[] = [
          { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: ObjectType.DEVICE, instance: o.deviceInstance } },
          ...[...this.objects.values()].map(
            (obj): BACNetAppData => ({
              type: ApplicationTag.OBJECTIDENTIFIER,
              value: { type: obj.ref.type, instance: obj.ref.instance },
            }),
          ),
        ];
        if (index === ARRAY_ALL) return { values: ids };
        if (index === 0) return { values: [unsigned(ids.length)] };
        const id = ids[index - 1];
        return id === undefined
          ? { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.INVALID_ARRAY_INDEX }
          : { values: [id] };
      }
      default:
        break;
    }
    return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.UNKNOWN_PROPERTY };
  }

  private writeProperty(
    id: BACNetObjectID,
    property: number,
    values: readonly { readonly type: number; readonly value: unknown }[],
    priority: number,
  ): { errorClass: number; errorCode: number } | undefined {
    const o = this.objects.get(keyOf(id));
    if (o === undefined) return { errorClass: ErrorClass.OBJECT, errorCode: ErrorCode.UNKNOWN_OBJECT };
    if (property !== PropertyIdentifier.PRESENT_VALUE)
      return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.WRITE_ACCESS_DENIED };
    const first = values[0];
    if (first === undefined) return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.INVALID_DATA_TYPE };
    const isNull = first.type === ApplicationTag.NULL;
    if (!isNull && first.type !== valueTag(o.ref.type))
      return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.INVALID_DATA_TYPE };
    const value = isNull ? null : Number(first.value);
    if (value !== null && ((o.min !== undefined && value < o.min) || (o.max !== undefined && value > o.max)))
      return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.VALUE_OUT_OF_RANGE };
    if (o.priorities !== undefined) {
      // priority 6 is reserved for minimum on/off time (clause 19.2.3)
      if (priority === 6) return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.WRITE_ACCESS_DENIED };
      o.priorities[priority - 1] = value;
      this.resolvePriorities(o);
    } else {
      if (!o.writable) return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.WRITE_ACCESS_DENIED };
      if (value === null) return { errorClass: ErrorClass.PROPERTY, errorCode: ErrorCode.INVALID_DATA_TYPE };
      o.value = value;
    }
    this.changed(o);
    return undefined;
  }

  private changed(o: SimObject): void {
    const last = o.lastNotified;
    const flags = flagsByte(o);
    if (last !== undefined && last.flags === flags) {
      const delta = Math.abs(o.value - last.value);
      if (delta === 0 || (o.covIncrement > 0 && delta < o.covIncrement)) return;
    }
    const object = formatObjectRef(o.ref);
    this.notify(
      o,
      this.subscriptions().filter((s) => s.object === object),
    );
  }

  private pruneSubscriptions(): void {
    const now = Date.now();
    this.subscriptionList = this.subscriptionList.filter((s) => s.expiresAtMs === undefined || s.expiresAtMs > now);
  }

  private notify(o: SimObject, subscriptions: readonly SimSubscription[]): void {
    if (this.closed) return;
    o.lastNotified = { value: o.value, flags: flagsByte(o) };
    const values = [
      {
        property: { id: PropertyIdentifier.PRESENT_VALUE },
        value: [{ type: valueTag(o.ref.type), value: o.value } as BACNetAppData],
      },
      { property: { id: PropertyIdentifier.STATUS_FLAGS }, value: [flagsValue(o)] },
    ];
    const objectId = { type: o.ref.type, instance: o.ref.instance };
    for (const s of subscriptions) {
      const remainingS =
        s.expiresAtMs === undefined ? 0 : Math.max(0, Math.round((s.expiresAtMs - Date.now()) / 1_000));
      this.notificationsSent += 1;
      if (s.confirmed) {
        this.client
          .confirmedCOVNotification(
            { address: s.subscriber },
            objectId,
            s.processId,
            this.options.deviceInstance,
            remainingS,
            values,
          )
          .then(() => {
            this.notificationsAcknowledged += 1;
          })
          .catch(() => undefined);
      } else {
        this.client.unconfirmedCOVNotification(
          { address: s.subscriber },
          s.processId,
          this.options.deviceInstance,
          objectId,
          remainingS,
          values,
        );
      }
    }
  }
}
