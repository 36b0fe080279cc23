import type { AssetConfig, AssetReading, Measurements, Setpoint, SetpointKind, ValueBounds, WriteResult } from '@voltimax/contracts';

type ChargerState = NonNullable<AssetReading['chargerState']>;

/**
 * The contract every protocol driver implements. A driver is a plain module whose default export (or `driver`
 * export) is a {@link DriverDefinition}; the driver-host service loads it from an npm package or a local path named
 * in the site's `drivers` list, validates its options with the driver's own schemas, and gives it the same
 * telemetry / write / heartbeat plumbing the built-in drivers (modbus-poller, http-devices, ocpp-csms) use.
 *
 * A driver never talks to NATS: it reads points into measurements and writes set-points when the host asks. The host
 * only asks for a write when the safety arbiter sent `device.<assetId>.write`, so a driver cannot write on its own
 * initiative through the gateway, and whatever it returns is validated before anything is published.
 */

/**
 * A schema the host validates options with: any zod schema fits (structurally, so a plugin may bring its own zod
 * copy), as does anything with the same `safeParse` shape.
 */
export interface OptionsSchema<T> {
  safeParse(input: unknown): OptionsParse<T>;
}
export type OptionsParse<T> =
  | { readonly success: true; readonly data: T }
  | {
      readonly success: false;
      readonly error: {
        readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
      };
    };

/** One asset the driver answers for: the site's asset configuration and the driver's parsed per-asset options. */
export interface DriverAsset<AssetOptions> {
  readonly id: string;
  /** The whole asset entry of the site configuration (kind, limits, poll interval …); its connection is `plugin`. */
  readonly config: AssetConfig;
  /** `connection.options`, parsed with the driver's `assetOptions`. */
  readonly options: AssetOptions;
}

/** The logging a driver gets (pino's method shapes: an object of fields first, then the message). */
export interface DriverLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** One sample of an asset's measurements, in the units and signs of DESIGN § Units and signs. */
export interface DriverSample {
  readonly values: Measurements;
  /** When the values were measured, epoch ms; absent = when the host received them. */
  readonly atMs?: number;
  /** EV chargers only. */
  readonly chargerState?: ChargerState;
}

/** What the host gives a driver when it starts it. */
export interface DriverContext<HostOptions> {
  /** The driver's host-wide options (`drivers[].options`), parsed with its `hostOptions`. */
  readonly options: HostOptions;
  readonly log: DriverLog;
  /** Epoch ms; drivers take time from here, never from `Date.now()`, so tests can drive it. */
  readonly now: () => number;
  /**
   * Report a sample without waiting for a poll (change-of-value notifications, MQTT, WebSocket push). Validated and
   * published by the host like a polled one; a sample for an asset the driver does not own is rejected and counted.
   */
  readonly push: (assetId: string, sample: DriverSample) => void;
  /** Aborted when the host stops the driver. */
  readonly signal: AbortSignal;
}

/** The status a write ends with (the `status` of `WriteResult`). */
export type WriteStatus = WriteResult['status'];

/** What writing one set-point did, with the value read back from the device where it has one. */
export interface WriteOutcome {
  readonly status: WriteStatus;
  /** The value the device reports after the write, in the set-point's unit (W or A). */
  readonly readBack?: number;
  /** Why it was not applied, or a note (e.g. clamped) when it was. */
  readonly error?: string;
}

/** How a driver judges its own connection, reported in the host's heartbeat. */
export interface DriverHealth {
  readonly state: 'ok' | 'degraded' | 'down';
  readonly detail?: string;
  /** Driver-specific counters (finite numbers), published as `<driver>.<name>`. */
  readonly counters?: Readonly<Record<string, number>>;
}

/** A started driver. Every method may be called with a signal the host aborts on timeout or stop. */
/** What the arbiter sent with a set-point besides its value. */
export interface DriverWriteOptions {
  /**
   * The interval the arbiter's rules allow for the value (`DeviceWrite.bounds`), in the set-point's unit (W or A;
   * absent for `safe` and when the arbiter sent none). A device that takes whole steps rounds inside it:
   * `wholeStepWithin` of @voltimax/contracts on the value and the bounds mapped alike. Without it, round toward zero.
   */
  readonly bounds?: ValueBounds;
}

export interface DriverInstance<AssetOptions> {
  /**
   * Read the asset's points. Called every `pollIntervalMs` of the asset, never twice at once for one asset. Throwing
   * (or rejecting) makes an `error` reading with the message; a hang is cut by the host's timeout. Absent: the driver
   * only pushes.
   */
  read?(asset: DriverAsset<AssetOptions>, signal: AbortSignal): Promise<DriverSample>;
  /**
   * Write one set-point and read it back. Only called for a `device.<assetId>.write` from the arbiter, one at a time
   * per asset, with set-point kinds the definition lists in `setpoints` (and `safe`, which a writable driver must
   * handle: the host writes it when a write expires). Absent: the driver is read-only.
   */
  write?(
    asset: DriverAsset<AssetOptions>,
    setpoint: Setpoint,
    signal: AbortSignal,
    options?: DriverWriteOptions,
  ): Promise<WriteOutcome>;
  /** The driver's own view of its connection; called for every heartbeat. */
  health?(): DriverHealth;
  /** Release sockets and timers. The host waits for it (bounded by a timeout). */
  close(): Promise<void>;
}

/** A protocol driver: what a plugin package exports. */
export interface DriverDefinition<AssetOptions = unknown, HostOptions = unknown> {
  /** Must match `drivers[].name` of the site configuration that loads it, unless the site renames it. */
  readonly name: string;
  readonly version: string;
  /** Set-point kinds the driver can write (empty: read-only). */
  readonly setpoints: readonly Exclude<SetpointKind, 'safe'>[];
  /** Validates `connection.options` of each asset. */
  readonly assetOptions: OptionsSchema<AssetOptions>;
  /** Validates `drivers[].options`. */
  readonly hostOptions?: OptionsSchema<HostOptions>;
  /** Connect to the devices of these assets. Rejecting makes every asset's readings `error`; the host retries. */
  start(
    context: DriverContext<HostOptions>,
    assets: readonly DriverAsset<AssetOptions>[],
  ): Promise<DriverInstance<AssetOptions>>;
}

/** Identity helper that checks a driver definition's types where it is written. */
export function defineDriver<AssetOptions, HostOptions = Record<string, never>>(
  definition: DriverDefinition<AssetOptions, HostOptions>,
): DriverDefinition<AssetOptions, HostOptions> {
  return definition;
}
