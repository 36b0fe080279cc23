// The messages between the host (main thread) and a driver's worker thread. The worker runs code the gateway does
// not control, so everything it sends is parsed here like any other input from outside.
import {
  ChargerStateSchema,
  EpochMsSchema,
  MeasurementsSchema,
  type AssetConfig,
  type Setpoint,
  type ValueBounds,
} from '@voltimax/contracts';
import { z } from 'zod';

/** Marks the worker data of a driver worker (the production bundle starts its own main.js as the worker). */
export const WORKER_ROLE = 'voltimax-driver-worker';

/** One asset handed to a worker: its site configuration (the driver's options are in `connection.options`). */
export interface WorkerAsset {
  readonly id: string;
  readonly config: AssetConfig;
}

/** `workerData` of a driver worker. */
export interface WorkerInit {
  readonly role: typeof WORKER_ROLE;
  /** The driver's name in the site's `drivers` list. */
  readonly driver: string;
  /** Absolute path of the module to load. */
  readonly modulePath: string;
  /** `drivers[].options`, unparsed (the driver's `hostOptions` parses them in the worker). */
  readonly hostOptions: Readonly<Record<string, unknown>>;
  readonly assets: readonly WorkerAsset[];
}

export function isWorkerInit(data: unknown): data is WorkerInit {
  return typeof data === 'object' && data !== null && (data as { role?: unknown }).role === WORKER_ROLE;
}

/** Host → worker. */
export type HostMessage =
  | { readonly t: 'read'; readonly id: number; readonly assetId: string }
  | {
      readonly t: 'write';
      readonly id: number;
      readonly assetId: string;
      readonly setpoint: Setpoint;
      readonly bounds?: ValueBounds;
    }
  /** The host gave up on a call (timeout): abort its signal. */
  | { readonly t: 'cancel'; readonly id: number }
  /** Liveness: answered with `pong` (and the driver's health) unless the worker's event loop is stuck. */
  | { readonly t: 'ping'; readonly id: number }
  | { readonly t: 'close' };

/** A problem with the driver module or its options: where (a path in the site file) and what. */
export const ProblemSchema = z.strictObject({
  path: z.string().max(300),
  message: z.string().max(500),
});
export type Problem = z.infer<typeof ProblemSchema>;

const AssetProblemsSchema = z
  .array(z.strictObject({ assetId: z.string().max(64), problems: z.array(ProblemSchema).max(50) }))
  .max(10_000);
export type AssetProblems = z.infer<typeof AssetProblemsSchema>;

const LogLevelSchema = z.enum(['debug', 'info', 'warn', 'error']);

/** Worker → host; anything else is counted as garbage and ignored. */
export const WorkerMessageSchema = z.discriminatedUnion('t', [
  /** The driver started with the assets whose options were valid. */
  z.strictObject({
    t: z.literal('started'),
    name: z.string().max(100),
    version: z.string().max(64),
    setpoints: z.array(z.string().max(40)).max(10),
    read: z.boolean(),
    write: z.boolean(),
    health: z.boolean(),
    assetProblems: AssetProblemsSchema,
  }),
  /** The module or its options are wrong: retrying does not help. */
  z.strictObject({
    t: z.literal('refused'),
    problems: z.array(ProblemSchema).max(50),
    assetProblems: AssetProblemsSchema,
  }),
  /** Loading the module or `start` threw: retried with backoff. */
  z.strictObject({ t: z.literal('failed'), stage: z.enum(['load', 'start']), error: z.string().max(500) }),
  /** `ok`: the call resolved with `value`; otherwise it threw `error`. */
  z.strictObject({
    t: z.literal('result'),
    id: z.number().int(),
    ok: z.boolean(),
    value: z.unknown().optional(),
    error: z.string().max(500).optional(),
  }),
  z.strictObject({ t: z.literal('push'), assetId: z.string().max(200), sample: z.unknown() }),
  z.strictObject({ t: z.literal('log'), level: LogLevelSchema, fields: z.unknown(), message: z.string().max(500) }),
  z.strictObject({
    t: z.literal('pong'),
    id: z.number().int(),
    health: z.unknown(),
    healthError: z.string().max(500).optional(),
  }),
  z.strictObject({ t: z.literal('closed'), error: z.string().max(500).optional() }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

/** A sample as the host accepts it from a driver (DriverSample of the SDK, checked value by value). */
export const DriverSampleSchema = z.strictObject({
  values: MeasurementsSchema,
  atMs: EpochMsSchema.optional(),
  chargerState: ChargerStateSchema.optional(),
});

/** A write outcome as the host accepts it (WriteOutcome of the SDK). */
export const WriteOutcomeSchema = z.strictObject({
  status: z.enum(['applied', 'unchanged', 'mismatch', 'rejected', 'failed', 'timeout']),
  readBack: z.number().finite().optional(),
  error: z.string().optional(),
});

/** Driver counter names become `<driver>.<name>` heartbeat counters (≤ 64 characters in all). */
const DRIVER_COUNTER_NAME = /^[A-Za-z0-9_.-]{1,20}$/;

/** The driver's own health (DriverHealth of the SDK). */
export const DriverHealthSchema = z.strictObject({
  state: z.enum(['ok', 'degraded', 'down']),
  detail: z.string().optional(),
  counters: z
    .record(
      z.string().regex(DRIVER_COUNTER_NAME, 'counter names are 1-20 characters of A-Z a-z 0-9 _ . -'),
      z.number().finite(),
    )
    .refine((c) => Object.keys(c).length <= 30, 'at most 30 counters')
    .optional(),
});
export type ParsedHealth = z.infer<typeof DriverHealthSchema>;

/** `assets[3].connection.options.host` style paths, as in the site file. */
export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** The issues of a zod error as `path: message` lines (first 5). */
export function describeIssues(
  issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[],
): string {
  const shown = issues.slice(0, 5).map((i) => `${formatPath('', i.path) || '$'}: ${i.message}`);
  const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** Text ≤ max characters (errors go into readings and write results, both capped at 500). */
export function short(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
