import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Bus } from '@voltimax/bus';
import type { DeviceReading, ReadIssue } from '@voltimax/devices';
import {
  AssetErrorTracker,
  assetCounter,
  chargerStateFromCp,
  createPollLoop,
  createReadingPublisher,
  type PollLoop,
  type ReadingPublisher,
} from '@voltimax/driver-sdk/plumbing';
import { serviceTracer } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import { BREAKER_CODE, type Health } from './counters';
import { createDeviceReader, describeFailure, type DeviceReader, type RegisterClient } from './device-reader';

/** Dependencies of the poll loops. */
export interface PollerOptions {
  readonly bus: Pick<Bus, 'publish'>;
  readonly log: Logger;
  readonly health: Health;
  readonly assets: readonly OwnedAsset[];
  /** The register client of an asset (the pool's unit client in production). */
  readonly clientFor: (asset: OwnedAsset) => RegisterClient;
  /** Epoch ms. */
  readonly now: () => number;
  /** Publish `stale` once the last good reading is older than this many poll intervals (default 3). */
  readonly staleAfterIntervals?: number;
}

/** The running poll loops. */
export interface Poller {
  /** Scale-factor exponents an asset reported in its last good poll (for encoding writes). */
  scaleFactors(assetId: string): Readonly<Record<string, number>> | undefined;
  /** Stop every loop and wait for reads in flight. */
  stop(): Promise<void>;
}

function describeImplausible(issues: readonly ReadIssue[]): string | undefined {
  const parts = issues.flatMap((issue) => {
    const { outcome } = issue;
    if (outcome.kind !== 'implausible') return [];
    const limit = outcome.limit === undefined ? '' : ` (limit ${outcome.limit})`;
    return [`${issue.key}=${outcome.value} ${outcome.reason}${limit}`];
  });
  if (parts.length === 0) return undefined;
  const text = `implausible: ${parts.join('; ')}`;
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/** One asset's loop: a tick every poll interval; a tick that finds the previous read still running only checks staleness. */
class AssetLoop {
  private readonly log: Logger;
  private readonly readings: ReadingPublisher;
  private readonly loop: PollLoop;
  private readonly reader: DeviceReader | undefined;
  private readonly client: RegisterClient | undefined;

  constructor(
    private readonly asset: OwnedAsset,
    private readonly opts: PollerOptions,
    private readonly onOutcome: (assetId: string, ok: boolean) => void,
  ) {
    this.log = opts.log.child({ assetId: asset.id });
    const onStale = () => opts.health.incrementCounter('staleReadings');
    this.readings = createReadingPublisher({ ...opts, asset, log: this.log, onStale });
    this.loop = createPollLoop({
      intervalMs: asset.pollIntervalMs,
      // One span per poll: the reading's publish carries it (traceparent), so a decision's trace starts here.
      cycle: () =>
        serviceTracer().startActiveSpan(
          `poll ${asset.id}`,
          { kind: SpanKind.PRODUCER, attributes: { 'voltimax.asset': asset.id } },
          (span) =>
            this.cycle()
              .catch((err: unknown) => {
                span.setStatus({ code: SpanStatusCode.ERROR, message: describeFailure(err) });
              })
              .finally(() => span.end()),
        ),
      // A read that hangs (slow device, retries) must not leave consumers with an old value that looks current.
      onBusy: () => this.readings.checkStale(),
    });
    this.client = asset.driver.kind === 'unusable' ? undefined : opts.clientFor(asset);
    this.reader = this.client === undefined ? undefined : createDeviceReader(asset.driver, this.client);
  }

  start(): void {
    this.loop.start();
  }

  scaleFactors(): Readonly<Record<string, number>> | undefined {
    return this.reader?.scaleFactors();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async cycle(): Promise<void> {
    const { asset, opts } = this;
    opts.health.incrementCounter('polls');
    if (this.reader === undefined || this.client === undefined) {
      const reason = asset.driver.kind === 'unusable' ? asset.driver.reason : 'no reader';
      this.failed(opts.now(), reason, undefined);
      return;
    }
    const client = this.client;
    let reading: DeviceReading;
    try {
      reading = await this.reader.poll();
    } catch (err) {
      this.failed(opts.now(), describeFailure(err), err);
      return;
    } finally {
      opts.health.setCounter(assetCounter('breaker', asset.id), BREAKER_CODE[client.breakerState()]);
    }
    if (this.loop.stopped) return;
    // The values are as of the end of the read: a slow read does not back-date them.
    const atMs = opts.now();
    const implausible = describeImplausible(reading.issues);
    const chargerState = asset.kind === 'ev-charger' ? chargerStateFromCp(reading.values.cpState) : undefined;
    if (implausible !== undefined) {
      // Implausible values are dropped (never clamped, never published); the reading is not good.
      const count = reading.issues.filter((i) => i.outcome.kind === 'implausible').length;
      opts.health.incrementCounter('implausible', count);
      opts.health.incrementCounter(assetCounter('implausible', asset.id), count);
      const isNew = this.readings.error({ atMs, values: reading.measurements, error: implausible, chargerState });
      if (isNew) this.log.warn({ issues: implausible }, 'implausible values dropped');
      this.onOutcome(asset.id, false);
      return;
    }
    this.readings.good({ atMs, values: reading.measurements, chargerState });
    this.log.debug({ values: reading.measurements }, 'polled');
    this.onOutcome(asset.id, true);
  }

  private failed(atMs: number, reason: string, err: unknown): void {
    if (this.loop.stopped) return;
    this.opts.health.incrementCounter('pollErrors');
    this.opts.health.incrementCounter(assetCounter('pollErrors', this.asset.id));
    // Error readings carry the reason and no values: a value we could not read is not a value.
    if (this.readings.error({ atMs, error: reason })) this.log.warn({ err, reason }, 'poll failed');
    else this.log.debug({ reason }, 'poll failed again');
    this.onOutcome(this.asset.id, false);
  }
}

/**
 * Starts one loop per owned asset at its `pollIntervalMs`: read (blocks planned once), decode, publish
 * `telemetry.<assetId>` with quality `good`; `error` with the reason and no values when the read fails; `error`
 * without the implausible values when plausibility fails; `stale` with the last good values (and their time) while a
 * read hangs for longer than `staleAfterIntervals` intervals. Status is `degraded` while any asset is in error.
 */
export function startPoller(opts: PollerOptions): Poller {
  const errors = new AssetErrorTracker(opts.health);
  const onOutcome = (assetId: string, ok: boolean): void => errors.outcome(assetId, ok);
  const loops = new Map(opts.assets.map((asset) => [asset.id, new AssetLoop(asset, opts, onOutcome)]));
  for (const name of ['polls', 'pollErrors', 'implausible', 'staleReadings']) opts.health.setCounter(name, 0);
  for (const loop of loops.values()) loop.start();
  return {
    scaleFactors: (assetId) => loops.get(assetId)?.scaleFactors(),
    async stop() {
      await Promise.all([...loops.values()].map((loop) => loop.stop()));
    },
  };
}
