// The driver's options: per asset (`connection.options`) and per host (`drivers[].options`), validated with zod.
import { MeasurementsSchema, type MeasurementKey } from '@voltimax/contracts';
import { z } from 'zod';
import { formatObjectRef, parseObjectRef, SETPOINT_OBJECT_TYPES, type ObjectRef } from './object-ref';
import { BACNET_PORT } from './transport';

const MEASUREMENT_KEYS: readonly string[] = MeasurementsSchema.keyof().options;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d{1,5}))?$/;

/** True for `a.b.c.d` or `a.b.c.d:port` with octets ≤ 255 and port 1..65535. */
export function isIpv4Endpoint(text: string, portAllowed = true): boolean {
  const m = IPV4.exec(text);
  if (!m) return false;
  if ([m[1], m[2], m[3], m[4]].some((o) => Number(o) > 255)) return false;
  if (m[5] === undefined) return true;
  return portAllowed && Number(m[5]) >= 1 && Number(m[5]) <= 65_535;
}

const EndpointSchema = z
  .string()
  .refine(
    (t) => isIpv4Endpoint(t),
    'must be an IPv4 address with an optional port, like 192.168.1.20 or 192.168.1.20:47809',
  );

const ObjectRefSchema = z.string().transform((text, ctx): ObjectRef => {
  const parsed = parseObjectRef(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.reason });
    return z.NEVER;
  }
  return parsed.ref;
});

const MappingFields = {
  /** Device unit × scale = our unit (kW → W: 1000). */
  scale: z
    .number()
    .finite()
    .refine((v) => v !== 0, 'scale must not be 0')
    .default(1),
  /** Added after scaling, in our unit. */
  offset: z.number().finite().default(0),
  /** −1 when the device's sign is the opposite of ours (DESIGN § Units and signs). */
  sign: z.custom<1 | -1>((v) => v === 1 || v === -1, 'sign must be 1 or -1').default(1),
};

/** `'analog-input:3'` or `{ object: 'analog-input:3', scale, offset, sign }`. */
const PointSchema = z.preprocess(
  (input) => (typeof input === 'string' ? { object: input } : input),
  z.strictObject({ object: ObjectRefSchema, ...MappingFields }),
);
export type PointOptions = z.output<typeof PointSchema>;

/** Where one set-point kind is written (present-value of a commandable or writable object). */
const SetpointSchema = z.preprocess(
  (input) => (typeof input === 'string' ? { object: input } : input),
  z.strictObject({
    object: ObjectRefSchema.superRefine((ref, ctx) => {
      if (!SETPOINT_OBJECT_TYPES.includes(ref.type))
        ctx.addIssue({
          code: 'custom',
          message: `a set-point is written to an analog-output, analog-value, integer-value, positive-integer-value or large-analog-value, not ${formatObjectRef(ref)}`,
        });
    }),
    /** Priority-array slot we write (1 highest … 16 lowest); 8 is the usual slot for a supervisory controller. */
    priority: z
      .number()
      .int()
      .min(1, 'priority must be 1..16')
      .max(16, 'priority must be 1..16')
      .refine((p) => p !== 6, 'priority 6 is reserved for minimum on/off time')
      .default(8),
    ...MappingFields,
    /** What the `safe` set-point does: relinquish our slot (write NULL), or write this value (our unit). */
    safe: z
      .custom<
        'relinquish' | { readonly value: number }
      >((v) => v === 'relinquish' || (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && Number.isFinite((v as { readonly value?: unknown }).value)), "safe must be 'relinquish' or { value: <number in our unit> }")
      .default('relinquish'),
    /** How far the read-back may be from the written value and still count as applied, our unit. */
    tolerance: z.number().finite().nonnegative().default(0),
  }),
);
export type SetpointOptions = z.output<typeof SetpointSchema>;

const HEX_MAC = /^[0-9a-f]{2}([:-]?[0-9a-f]{2}){0,6}$/i;

/** A routed device: its BACnet network number and its MAC on that network (MS/TP: 0..254; other: hex bytes). */
const NetworkSchema = z.strictObject({
  number: z.number().int().min(1, 'network number must be 1..65534').max(65_534, 'network number must be 1..65534'),
  mac: z.union(
    [
      z.number().int().min(0).max(255),
      z.string().refine((t) => HEX_MAC.test(t), 'mac must be 1..7 hex bytes like "0a" or "c0:a8:01:14:ba:c0"'),
    ],
    { error: 'mac must be a number 0..255 (MS/TP) or hex bytes like "c0:a8:01:14:ba:c0"' },
  ),
});

/** The MAC of a routed device as bytes. */
export function macBytes(mac: number | string): number[] {
  if (typeof mac === 'number') return [mac];
  return (mac.replace(/[:-]/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16));
}

const CovSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Subscription lifetime, s; renewed at three quarters of it. */
  lifetimeS: z.number().int().min(1).max(86_400).default(300),
  /** Ask for confirmed notifications (acknowledged; the device retries them). */
  confirmed: z.boolean().default(false),
  /** Points to subscribe (default: all of them). */
  points: z.array(z.string()).optional(),
});

/** `connection.options` of an asset driven by this driver. */
export const BacnetAssetOptionsSchema = z
  .strictObject({
    /** `ip` or `ip:port` of the device (or of the BACnet router in front of a routed device). */
    address: EndpointSchema.optional(),
    /** Device object instance; with no address the device is found by Who-Is on the host's broadcast address. */
    deviceInstance: z
      .number()
      .int()
      .min(0, 'deviceInstance must be 0..4194302')
      .max(4_194_302, 'deviceInstance must be 0..4194302')
      .optional(),
    network: NetworkSchema.optional(),
    /** Our measurement keys → BACnet objects whose present-value they are. */
    points: z.record(z.string(), PointSchema).default({}),
    /** Set-point kinds → the objects they are written to. */
    setpoints: z
      .strictObject({
        'battery-power': SetpointSchema.optional(),
        'ev-current': SetpointSchema.optional(),
        'pv-limit': SetpointSchema.optional(),
      })
      .default({}),
    cov: CovSchema.optional(),
    /** Objects per ReadPropertyMultiple (small devices have small APDUs). */
    maxObjectsPerRequest: z.number().int().min(1).max(100).default(16),
  })
  .superRefine((o, ctx) => {
    if (o.address === undefined && o.deviceInstance === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: 'give the device address, its deviceInstance, or both',
      });
    for (const key of Object.keys(o.points)) {
      if (!MEASUREMENT_KEYS.includes(key))
        ctx.addIssue({
          code: 'custom',
          path: ['points', key],
          message: `'${key}' is not a measurement (known: ${MEASUREMENT_KEYS.join(', ')})`,
        });
    }
    if (Object.keys(o.points).length === 0 && Object.values(o.setpoints).every((s) => s === undefined))
      ctx.addIssue({ code: 'custom', path: ['points'], message: 'map at least one point or one set-point' });
    for (const [index, key] of (o.cov?.points ?? []).entries()) {
      if (!(key in o.points))
        ctx.addIssue({
          code: 'custom',
          path: ['cov', 'points', index],
          message: `cov point '${key}' is not in points`,
        });
    }
  });
export type BacnetAssetOptionsInput = z.input<typeof BacnetAssetOptionsSchema>;
export type BacnetAssetOptions = z.output<typeof BacnetAssetOptionsSchema>;

/** `drivers[].options` of the bacnet driver: the local socket and the request timing. */
export const BacnetHostOptionsSchema = z.strictObject({
  /** Local IPv4 address to bind; 0.0.0.0 (default) also receives broadcasts (I-Am answers to Who-Is). */
  interface: z
    .string()
    .refine((t) => isIpv4Endpoint(t, false), 'interface must be an IPv4 address like 0.0.0.0 or 192.168.1.5')
    .default('0.0.0.0'),
  /** Local UDP port; 47808 is BACnet's; 0 picks a free one (devices answer to it, but COV works only while it holds). */
  port: z.number().int().min(0).max(65_535).default(BACNET_PORT),
  /** Where Who-Is goes when an asset has no address: the subnet's broadcast address, optionally with a port. */
  broadcastAddress: EndpointSchema.default('255.255.255.255'),
  /** How long to wait for one answer. */
  apduTimeoutMs: z.number().int().min(50).max(60_000).default(3_000),
  /** Retries after a timeout (not after an error answer). */
  apduRetries: z.number().int().min(0).max(5).default(1),
  /** Requests in flight at once over all devices (the stack has 255 invoke ids). */
  maxConcurrentRequests: z.number().int().min(1).max(200).default(16),
});
export type BacnetHostOptionsInput = z.input<typeof BacnetHostOptionsSchema>;
export type BacnetHostOptions = z.output<typeof BacnetHostOptionsSchema>;

/** The measurement keys mapped by an asset, typed. */
export function pointEntries(options: BacnetAssetOptions): [MeasurementKey, PointOptions][] {
  return Object.entries(options.points) as [MeasurementKey, PointOptions][];
}
