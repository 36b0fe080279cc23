import type { Bus } from '@voltimax/bus';
import type { Measurements } from '@voltimax/contracts';
import {
  decodeJsonFields,
  describeJsonIssues,
  dueReads,
  httpAuthHeaders,
  httpUrl,
  parseJsonDocument,
  toMeasurements,
  type HttpProfile,
  type HttpRead,
  type JsonFieldIssue,
  type ReadValues,
} from '@voltimax/devices';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import { assetCounter, type AssetErrorTracker, type Health } from './counters';
import { HttpDeviceError, type HttpDeviceClient } from './http-client';
import { chargerStateFromCp, publishReading, type ReadingFields } from './readings';

/** Dependencies of the HTTP poll loops. */
export interface HttpPollerOptions {
  readonly bus: Pick<Bus, 'publish'>;
  readonly log: Logger;
  readonly health: Health;
  readonly errors: AssetErrorTracker;
  /** The HTTP assets (driver `http` or `unusable`). */
  readonly assets: readonly OwnedAsset[];
  /** The client of an asset (one per asset: its own breaker). */
  readonly clientFor: (asset: OwnedAsset) => HttpDeviceClient;
  /** Epoch ms. */
  readonly now: () => number;
  /** Publish `stale` once the last good reading is older than this many poll intervals (default 3). */
  readonly staleAfterIntervals?: number;
}

/** The running HTTP poll loops. */
export interface HttpPoller {
  stop(): Promise<void>;
}

/** Counter names of the HTTP poll path (all start at 0). */
export const HTTP_POLL_COUNTERS = [
  'httpPolls',
  'httpPollErrors',
  'httpTimeouts',
  'httpStatusErrors',
  'httpConnectionErrors',
  'httpBreakerOpen',
  'malformedBodies',
  'malformedFields',
  'implausible',
  'staleReadings',
] as const;

/** Why one read failed: the error for the reading, the counter to bump. */
function classify(read: HttpRead, err: unknown): { readonly reason: string; readonly counter: string } {
  if (err instanceof HttpDeviceError) {
    const counter =
      err.kind === 'timeout'
        ? 'httpTimeouts'
        : err.kind === 'status'
          ? 'httpStatusErrors'
          : err.kind === 'connection'
            ? 'httpConnectionErrors'
            : err.kind === 'breaker-open'
              ? 'httpBreakerOpen'
              : 'malformedBodies';
    return { reason: `${read.name}: ${err.message}`, counter };
  }
  return {
    reason: `${read.name}: ${err instanceof Error ? err.message : String(err)}`,
    counter: 'httpConnectionErrors',
  };
}

const clip = (text: string): string => (text.length > 500 ? `${text.slice(0, 497)}...` : text);

/** One asset's loop: a tick every poll interval; a tick that finds the previous cycle still running checks staleness. */
class HttpAssetLoop {
  private readonly sequence = { next: 0 };
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastGood: { readonly atMs: number; readonly values: Measurements } | undefined;
  private lastStaleAtMs = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private readonly lastReadAtMs: Record<string, number> = {};
  private stopped = false;
  private readonly log: Logger;
  private readonly client: HttpDeviceClient | undefined;

  constructor(
    private readonly asset: OwnedAsset,
    private readonly opts: HttpPollerOptions,
  ) {
    this.log = opts.log.child({ assetId: asset.id });
    this.client = asset.driver.kind === 'http' ? opts.clientFor(asset) : undefined;
  }

  start(): void {
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.inFlight;
  }

  private tick(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), this.asset.pollIntervalMs);
    if (this.inFlight !== undefined) {
      this.checkStale();
      return;
    }
    this.inFlight = this.cycle().finally(() => {
      this.inFlight = undefined;
    });
  }

  private async cycle(): Promise<void> {
    const { asset, opts } = this;
    const { health } = opts;
    health.incrementCounter('httpPolls');
    const driver = asset.driver;
    if (driver.kind !== 'http' || this.client === undefined) {
      this.failed(driver.kind === 'unusable' ? driver.reason : 'not an HTTP asset', 'httpPollErrors');
      return;
    }
    const { profile } = driver;
    const values: Partial<Record<string, number | string>> = {};
    const issues: { readonly read: string; readonly issues: readonly JsonFieldIssue[] }[] = [];
    for (const read of dueReads(profile, this.lastReadAtMs, opts.now())) {
      let text: string;
      try {
        text = (await this.client.request(this.requestFor(profile, read, driver.baseUrl, driver.token))).text;
      } catch (err) {
        const { reason, counter } = classify(read, err);
        health.incrementCounter(counter);
        this.failed(reason, counter, err);
        return;
      } finally {
        health.setCounter(assetCounter('breaker', asset.id), this.client.breakerCode());
      }
      if (this.stopped) return;
      const document = parseJsonDocument(text);
      if (!document.ok) {
        // A body that is not JSON at all: nothing of this cycle can be trusted.
        health.incrementCounter('malformedBodies');
        this.failed(`${read.name}: body ${document.error}`, 'malformedBodies');
        return;
      }
      const reading = decodeJsonFields(read.fields, document.value);
      this.lastReadAtMs[read.name] = opts.now();
      for (const [key, value] of Object.entries(reading.values)) if (values[key] === undefined) values[key] = value;
      if (reading.issues.length > 0) issues.push({ read: read.name, issues: reading.issues });
    }
    // Values are as of the end of the cycle: a slow device does not back-date them.
    const atMs = opts.now();
    const typed = values as ReadValues;
    const measurements = toMeasurements(typed);
    const chargerState = asset.kind === 'ev-charger' ? chargerStateFromCp(typed.cpState) : undefined;
    if (issues.length > 0) {
      // Bad members are dropped (never guessed, never clamped); the reading carries the rest and is not good.
      const all = issues.flatMap((i) => i.issues);
      const implausible = all.filter((i) => i.outcome.kind === 'implausible').length;
      if (implausible > 0) health.incrementCounter('implausible', implausible);
      if (all.length > implausible) health.incrementCounter('malformedFields', all.length - implausible);
      health.incrementCounter(assetCounter('fieldErrors', asset.id), all.length);
      const error = clip(issues.map((i) => `${i.read}: ${describeJsonIssues(i.issues) ?? ''}`).join(' | '));
      this.publish({ atMs, quality: 'error', values: measurements, error, chargerState });
      if (error !== this.lastError) this.log.warn({ error }, 'device answered with bad members; dropped');
      this.lastError = error;
      this.opts.errors.outcome(asset.id, false);
      return;
    }
    this.publish({ atMs, quality: 'good', values: measurements, chargerState });
    this.lastGood = { atMs, values: measurements };
    if (this.lastError !== undefined) this.log.info({ previousError: this.lastError }, 'asset recovered');
    this.lastError = undefined;
    this.log.debug({ values: measurements }, 'polled');
    this.opts.errors.outcome(asset.id, true);
  }

  private requestFor(profile: HttpProfile, read: HttpRead, baseUrl: string, token: string | undefined) {
    return { method: read.method, url: httpUrl(baseUrl, profile, read.path), headers: httpAuthHeaders(profile, token) };
  }

  private failed(reason: string, kind: string, err?: unknown): void {
    if (this.stopped) return;
    const { health } = this.opts;
    health.incrementCounter('httpPollErrors');
    health.incrementCounter(assetCounter('pollErrors', this.asset.id));
    // Error readings carry the reason and no values: a value we could not read is not a value.
    this.publish({ atMs: this.opts.now(), quality: 'error', values: {}, error: clip(reason) });
    if (reason !== this.lastError)
      this.log.warn({ reason, kind, err: err instanceof HttpDeviceError ? undefined : err }, 'poll failed');
    else this.log.debug({ reason }, 'poll failed again');
    this.lastError = reason;
    this.opts.errors.outcome(this.asset.id, false);
  }

  /** A cycle that hangs (slow device, retries) must not leave consumers with an old value that looks current. */
  private checkStale(): void {
    const nowMs = this.opts.now();
    const interval = this.asset.pollIntervalMs;
    const limitMs = interval * (this.opts.staleAfterIntervals ?? 3);
    if (this.lastGood === undefined || nowMs - this.lastGood.atMs <= limitMs) return;
    if (nowMs - this.lastStaleAtMs < interval) return;
    this.lastStaleAtMs = nowMs;
    this.opts.health.incrementCounter('staleReadings');
    this.publish({
      atMs: this.lastGood.atMs,
      quality: 'stale',
      values: this.lastGood.values,
      error: `no fresh reading for ${nowMs - this.lastGood.atMs} ms (poll still running)`,
    });
  }

  private publish(fields: ReadingFields): void {
    publishReading(this.opts.bus, this.asset, this.sequence, fields, this.log);
  }
}

/**
 * Starts one loop per HTTP asset at its `pollIntervalMs`: request the profile's due reads (retries, breaker), decode
 * the JSON bodies, publish `telemetry.<assetId>`: `good`; `error` with the reason and no values when a request fails
 * or a body is not JSON; `error` with the good values when members are missing, of the wrong JSON type, unknown or
 * implausible; `stale` with the last good values while a cycle hangs longer than `staleAfterIntervals` intervals.
 */
export function startHttpPoller(opts: HttpPollerOptions): HttpPoller {
  for (const name of HTTP_POLL_COUNTERS) opts.health.setCounter(name, 0);
  const loops = opts.assets.map((asset) => new HttpAssetLoop(asset, opts));
  for (const loop of loops) loop.start();
  return {
    async stop() {
      await Promise.all(loops.map((loop) => loop.stop()));
    },
  };
}
