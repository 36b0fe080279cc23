import type { AssetReading, Measurements } from '@voltimax/contracts';
import { assetsOfReadings, powerFlow, type FlowAsset } from './power-flow';
import type { HistoryPoint } from './view';

/** The measurements the chart needs; each is averaged per bucket and asset. */
const KEYS = [
  'powerW',
  'pvPowerW',
  'gridPowerW',
  'loadPowerW',
  'socPct',
] as const satisfies readonly (keyof Measurements)[];
type Key = (typeof KEYS)[number];

interface AssetBucket {
  kind: AssetReading['kind'];
  readonly sums: Partial<Record<Key, number>>;
  readonly counts: Partial<Record<Key, number>>;
}

/** Where a reading came from: sampled from stream TELEMETRY, or received live on the bus. */
export type SampleOrigin = 'stream' | 'live';

/**
 * Time buckets of per-asset means (in memory, pure: time comes in as arguments). Good readings only; each bucket
 * holds the mean of every measured value per asset, and the chart's flows are computed per bucket from those means
 * with the same rules as the live power flow.
 */
export class HistoryBuckets {
  private readonly buckets = new Map<number, Map<string, AssetBucket>>();
  private readonly samples: Record<SampleOrigin, number> = { stream: 0, live: 0 };
  /** Keys of live readings while a stream backfill runs, so the backfill does not count them twice. */
  private liveKeys: Set<string> | undefined;

  constructor(
    /** Width of one bucket, ms. */
    readonly bucketMs: number,
    /** How far back the chart reaches, ms. */
    readonly windowMs: number,
  ) {}

  private static key(reading: AssetReading): string {
    return `${reading.assetId}|${reading.atMs}|${reading.sequence}`;
  }

  /** Start remembering live readings' keys (before a backfill) or stop (after it). */
  trackLiveKeys(on: boolean): void {
    this.liveKeys = on ? new Set() : undefined;
  }

  /**
   * Adds one reading to its bucket; returns whether it counted. Readings that are not good, have nothing to chart,
   * lie outside the window ending at `nowMs`, or (from the stream) were already received live are skipped.
   */
  add(reading: AssetReading, origin: SampleOrigin, nowMs: number): boolean {
    if (reading.quality !== 'good') return false;
    if (reading.atMs < nowMs - this.windowMs || reading.atMs > nowMs + this.bucketMs) return false;
    if (origin === 'stream' && this.liveKeys?.has(HistoryBuckets.key(reading))) return false;
    const values = KEYS.flatMap((k) => {
      const value = reading.values[k];
      return typeof value === 'number' ? [[k, value] as const] : [];
    });
    if (values.length === 0) return false;
    if (origin === 'live') this.liveKeys?.add(HistoryBuckets.key(reading));

    const start = Math.floor(reading.atMs / this.bucketMs) * this.bucketMs;
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(start, bucket);
    }
    let entry = bucket.get(reading.assetId);
    if (entry === undefined) {
      entry = { kind: reading.kind, sums: {}, counts: {} };
      bucket.set(reading.assetId, entry);
    }
    entry.kind = reading.kind;
    for (const [k, value] of values) {
      entry.sums[k] = (entry.sums[k] ?? 0) + value;
      entry.counts[k] = (entry.counts[k] ?? 0) + 1;
    }
    this.samples[origin] += 1;
    return true;
  }

  /** Drops buckets that left the window ending at `nowMs`. */
  prune(nowMs: number): void {
    for (const start of this.buckets.keys()) {
      if (start + this.bucketMs <= nowMs - this.windowMs) this.buckets.delete(start);
    }
  }

  /** How many readings were counted, by origin. */
  sampleCounts(): { readonly stream: number; readonly live: number } {
    return { ...this.samples };
  }

  /**
   * One point per bucket with data, oldest first: the flows of the bucket's mean readings (`assets` from the site
   * configuration; undefined = as the readings describe themselves).
   */
  points(nowMs: number, assets: readonly FlowAsset[] | undefined): HistoryPoint[] {
    this.prune(nowMs);
    return [...this.buckets.keys()]
      .sort((a, b) => a - b)
      .flatMap((start): HistoryPoint[] => {
        const bucket = this.buckets.get(start);
        if (bucket === undefined) return [];
        const atMs = start + this.bucketMs / 2;
        const readings = new Map<string, AssetReading>();
        for (const [assetId, entry] of bucket) {
          const values: Partial<Record<Key, number>> = {};
          for (const k of KEYS) {
            const sum = entry.sums[k];
            const count = entry.counts[k];
            if (sum !== undefined && count !== undefined && count > 0) values[k] = sum / count;
          }
          readings.set(assetId, { v: 1, assetId, kind: entry.kind, atMs, sequence: 0, quality: 'good', values });
        }
        const flow = powerFlow(readings, assets ?? assetsOfReadings(readings), {
          nowMs: atMs,
          minStaleMs: this.bucketMs,
        });
        return [
          {
            atMs,
            gridW: flow.gridW,
            pvW: flow.pvW,
            batteryW: flow.batteryW,
            loadW: flow.loadW,
            evW: flow.evW,
            socPct: flow.socPct,
          },
        ];
      });
  }
}
