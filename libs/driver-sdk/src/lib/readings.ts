import type { Bus } from '@voltimax/bus';
import { subjects, type AssetKind, type AssetReading, type Measurements } from '@voltimax/contracts';
import type { Logger } from 'pino';

type ChargerState = NonNullable<AssetReading['chargerState']>;

/** What varies between the readings of one asset. */
export type ReadingFields = Pick<AssetReading, 'atMs' | 'quality' | 'values' | 'error' | 'chargerState'>;

/** What the publisher needs to know of an asset. */
export interface ReadingAsset {
  readonly id: string;
  readonly kind: AssetKind;
  /** The asset's poll interval, ms: staleness is measured in these. */
  readonly pollIntervalMs: number;
}

/** Dependencies of {@link createReadingPublisher}. */
export interface ReadingPublisherOptions {
  readonly bus: Pick<Bus, 'publish'>;
  readonly asset: ReadingAsset;
  /** The asset's logger (a child with its assetId). */
  readonly log: Logger;
  /** Epoch ms. */
  readonly now: () => number;
  /** `checkStale` publishes `stale` once the last good reading is older than this many poll intervals (default 3). */
  readonly staleAfterIntervals?: number | undefined;
  /** Called for every `stale` reading `checkStale` publishes (e.g. a `staleReadings` counter). */
  readonly onStale?: () => void;
  /** Called when a publish threw (a reading that fails the schema: our bug), after it was logged. */
  readonly onPublishFailed?: (err: unknown) => void;
}

/** The readings of one asset: sequence, last good values, last error. */
export interface ReadingPublisher {
  /**
   * Publishes `telemetry.<assetId>` (validated by the bus) and advances the sequence, which counts the asset's
   * readings from 0 and restarts with the process. A publish that throws is logged (and `onPublishFailed`), not
   * thrown, and does not advance the sequence. Returns whether it was published.
   */
  publish(fields: ReadingFields): boolean;
  /** A `good` reading; remembered for `stale`. Logs `asset recovered` when the asset was in error. */
  good(fields: Omit<ReadingFields, 'quality' | 'error'>): void;
  /**
   * An `error` reading (no values unless given: a value that could not be read is not a value). Returns true when
   * `key` (default: the error) differs from the previous error, i.e. when the caller should log it.
   */
  error(
    fields: { readonly atMs: number; readonly error: string } & Partial<Pick<ReadingFields, 'values' | 'chargerState'>>,
    key?: string,
  ): boolean;
  /** A `stale` reading with the last good values and their time; false (nothing published) without one. */
  stale(error: string): boolean;
  /**
   * The poll-loop rule, for a tick that finds the previous read still running: once the last good reading is older
   * than `staleAfterIntervals` intervals, publish `stale` — at most once per poll interval. Returns whether it did.
   */
  checkStale(): boolean;
  /** Records an error without publishing; true when `key` differs from the previous one. */
  noteError(key: string): boolean;
  readonly lastGood: { readonly atMs: number; readonly values: Measurements } | undefined;
  readonly lastError: string | undefined;
  /** The sequence number of the next reading. */
  readonly sequence: number;
}

/** Readings for one asset (see {@link ReadingPublisher}). */
export function createReadingPublisher(opts: ReadingPublisherOptions): ReadingPublisher {
  const { asset, log } = opts;
  let sequence = 0;
  let lastGood: { readonly atMs: number; readonly values: Measurements } | undefined;
  let lastError: string | undefined;
  let lastStaleAtMs = Number.NEGATIVE_INFINITY;

  const publish = (fields: ReadingFields): boolean => {
    const reading: AssetReading = {
      v: 1,
      assetId: asset.id,
      kind: asset.kind,
      atMs: fields.atMs,
      sequence,
      quality: fields.quality,
      values: fields.values,
      ...(fields.error === undefined ? {} : { error: fields.error }),
      ...(fields.chargerState === undefined ? {} : { chargerState: fields.chargerState }),
    };
    try {
      opts.bus.publish(subjects.telemetry, { assetId: asset.id }, reading);
      sequence += 1;
      return true;
    } catch (err) {
      log.error({ err }, 'telemetry publish failed');
      opts.onPublishFailed?.(err);
      return false;
    }
  };

  const noteError = (key: string): boolean => {
    const isNew = key !== lastError;
    lastError = key;
    return isNew;
  };

  const stale = (error: string): boolean => {
    if (lastGood === undefined) return false;
    publish({ atMs: lastGood.atMs, quality: 'stale', values: lastGood.values, error });
    return true;
  };

  return {
    publish,
    good(fields) {
      publish({ ...fields, quality: 'good' });
      lastGood = { atMs: fields.atMs, values: fields.values };
      if (lastError !== undefined) log.info({ previousError: lastError }, 'asset recovered');
      lastError = undefined;
    },
    error(fields, key) {
      publish({
        atMs: fields.atMs,
        quality: 'error',
        values: fields.values ?? {},
        error: fields.error,
        ...(fields.chargerState === undefined ? {} : { chargerState: fields.chargerState }),
      });
      return noteError(key ?? fields.error);
    },
    stale,
    checkStale() {
      const nowMs = opts.now();
      const interval = asset.pollIntervalMs;
      const limitMs = interval * (opts.staleAfterIntervals ?? 3);
      if (lastGood === undefined || nowMs - lastGood.atMs <= limitMs) return false;
      if (nowMs - lastStaleAtMs < interval) return false;
      lastStaleAtMs = nowMs;
      opts.onStale?.();
      return stale(`no fresh reading for ${nowMs - lastGood.atMs} ms (poll still running)`);
    },
    noteError,
    get lastGood() {
      return lastGood;
    },
    get lastError() {
      return lastError;
    },
    get sequence() {
      return sequence;
    },
  };
}

/** IEC 61851 control-pilot state (its ASCII letter 'A'…'F' as a number, as profiles decode it) → the connector state. */
export function chargerStateFromCp(cpState: number | string | undefined): ChargerState | undefined {
  switch (typeof cpState === 'number' ? String.fromCharCode(cpState) : undefined) {
    case 'A':
      return 'available';
    case 'B':
      return 'suspended';
    case 'C':
    case 'D':
      return 'charging';
    case 'E':
      return 'unavailable';
    case 'F':
      return 'faulted';
    default:
      return undefined;
  }
}

/** Heartbeat counter names are at most 64 characters (HeartbeatSchema). */
const MAX_COUNTER_NAME = 64;

/** FNV-1a, 32 bit: a stable hash of a text (shard assignment, shortened counter names). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * `<prefix>.<assetId>[.<suffix>]`, e.g. `pollErrors.ev-1` or `writes.bat-1.setpointW`. An asset id too long for the
 * heartbeat's 64-character limit is replaced by its stable hash, so the heartbeat never becomes invalid.
 */
export function assetCounter(prefix: string, assetId: string, suffix?: string): string {
  const tail = suffix === undefined ? '' : `.${suffix}`;
  const name = `${prefix}.${assetId}${tail}`;
  return name.length <= MAX_COUNTER_NAME
    ? name
    : `${prefix}.#${fnv1a(assetId).toString(36)}${tail}`.slice(0, MAX_COUNTER_NAME);
}

/** The part of service-kit's HealthControl {@link AssetErrorTracker} uses. */
export interface StatusReporter {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
}

/**
 * Tracks which assets are in error and reports the service status: `degraded` (naming them) while any is, `ok`
 * otherwise; `assetsInError` counts them. Reports only changes.
 */
export class AssetErrorTracker {
  private readonly inError = new Set<string>();
  private reported = 'ok';

  constructor(private readonly health: StatusReporter) {
    health.setCounter('assetsInError', 0);
  }

  outcome(assetId: string, ok: boolean): void {
    if (ok) this.inError.delete(assetId);
    else this.inError.add(assetId);
    this.health.setCounter('assetsInError', this.inError.size);
    const detail =
      this.inError.size === 0 ? undefined : `assets in error: ${[...this.inError].sort().join(', ')}`.slice(0, 500);
    if ((detail ?? 'ok') === this.reported) return;
    this.reported = detail ?? 'ok';
    this.health.setStatus(detail === undefined ? 'ok' : 'degraded', detail);
  }
}
