import type { Bus } from '@voltimax/bus';
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
import {
  assetCounter,
  chargerStateFromCp,
  createPollLoop,
  createReadingPublisher,
  type AssetErrorTracker,
  type PollLoop,
  type ReadingPublisher,
} from '@voltimax/driver-sdk/plumbing';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import type { Health } from './counters';
import { HttpDeviceError, type HttpDeviceClient } from './http-client';

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
  private readonly readings: ReadingPublisher;
  private readonly loop: PollLoop;
  private readonly lastReadAtMs: Record<string, number> = {};
  private readonly log: Logger;
  private readonly client: HttpDeviceClient | undefined;

  constructor(
    private readonly asset: OwnedAsset,
    private readonly opts: HttpPollerOptions,
  ) {
    this.log = opts.log.child({ assetId: asset.id });
    const onStale = () => opts.health.incrementCounter('staleReadings');
    this.readings = createReadingPublisher({ ...opts, asset, log: this.log, onStale });
    this.loop = createPollLoop({
      intervalMs: asset.pollIntervalMs,
      cycle: () => this.cycle(),
      // A cycle that hangs (slow device, retries) must not leave consumers with an old value that looks current.
      onBusy: () => this.readings.checkStale(),
    });
    this.client = asset.driver.kind === 'http' ? opts.clientFor(asset) : undefined;
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
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
      if (this.loop.stopped) return;
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
      if (this.readings.error({ atMs, values: measurements, error, chargerState })) {
        this.log.warn({ error }, 'device answered with bad members; dropped');
      }
      this.opts.errors.outcome(asset.id, false);
      return;
    }
    this.readings.good({ atMs, values: measurements, chargerState });
    this.log.debug({ values: measurements }, 'polled');
    this.opts.errors.outcome(asset.id, true);
  }

  private requestFor(profile: HttpProfile, read: HttpRead, baseUrl: string, token: string | undefined) {
    return { method: read.method, url: httpUrl(baseUrl, profile, read.path), headers: httpAuthHeaders(profile, token) };
  }

  private failed(reason: string, kind: string, err?: unknown): void {
    if (this.loop.stopped) return;
    const { health } = this.opts;
    health.incrementCounter('httpPollErrors');
    health.incrementCounter(assetCounter('pollErrors', this.asset.id));
    // Error readings carry the reason and no values: a value we could not read is not a value.
    if (this.readings.error({ atMs: this.opts.now(), error: clip(reason) }, reason))
      this.log.warn({ reason, kind, err: err instanceof HttpDeviceError ? undefined : err }, 'poll failed');
    else this.log.debug({ reason }, 'poll failed again');
    this.opts.errors.outcome(this.asset.id, false);
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
