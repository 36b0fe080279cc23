import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Bus } from '@voltimax/bus';
import { subjects, type AssetReading, type Measurements } from '@voltimax/contracts';
import type { DeviceReading, ReadIssue } from '@voltimax/devices';
import { serviceTracer } from '@voltimax/service-kit';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';
import { assetCounter, BREAKER_CODE, type Health } from './counters';
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

type ChargerState = NonNullable<AssetReading['chargerState']>;

/** IEC 61851 control-pilot state (ASCII 'A'…'F', as EV chargers report it) → the contracts' connector state. */
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
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastGood: { readonly atMs: number; readonly values: Measurements } | undefined;
  private lastStaleAtMs = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly reader: DeviceReader | undefined;
  private readonly client: RegisterClient | undefined;

  constructor(
    private readonly asset: OwnedAsset,
    private readonly opts: PollerOptions,
    private readonly onOutcome: (assetId: string, ok: boolean) => void,
  ) {
    this.log = opts.log.child({ assetId: asset.id });
    this.client = asset.driver.kind === 'unusable' ? undefined : opts.clientFor(asset);
    this.reader = this.client === undefined ? undefined : createDeviceReader(asset.driver, this.client);
  }

  start(): void {
    this.tick();
  }

  scaleFactors(): Readonly<Record<string, number>> | undefined {
    return this.reader?.scaleFactors();
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
    // One span per poll: the reading's publish carries it (traceparent), so a decision's trace starts here.
    this.inFlight = serviceTracer().startActiveSpan(
      `poll ${this.asset.id}`,
      { kind: SpanKind.PRODUCER, attributes: { 'voltimax.asset': this.asset.id } },
      (span) =>
        this.cycle()
          .catch((err: unknown) => {
            span.setStatus({ code: SpanStatusCode.ERROR, message: describeFailure(err) });
          })
          .finally(() => {
            span.end();
            this.inFlight = undefined;
          }),
    );
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
    if (this.stopped) return;
    // The values are as of the end of the read: a slow read does not back-date them.
    const atMs = opts.now();
    const implausible = describeImplausible(reading.issues);
    const chargerState = asset.kind === 'ev-charger' ? chargerStateFromCp(reading.values.cpState) : undefined;
    if (implausible !== undefined) {
      // Implausible values are dropped (never clamped, never published); the reading is not good.
      const count = reading.issues.filter((i) => i.outcome.kind === 'implausible').length;
      opts.health.incrementCounter('implausible', count);
      opts.health.incrementCounter(assetCounter('implausible', asset.id), count);
      this.publish({ atMs, quality: 'error', values: reading.measurements, error: implausible, chargerState });
      if (implausible !== this.lastError) this.log.warn({ issues: implausible }, 'implausible values dropped');
      this.lastError = implausible;
      this.onOutcome(asset.id, false);
      return;
    }
    this.publish({ atMs, quality: 'good', values: reading.measurements, chargerState });
    this.lastGood = { atMs, values: reading.measurements };
    if (this.lastError !== undefined) this.log.info({ previousError: this.lastError }, 'asset recovered');
    this.lastError = undefined;
    this.log.debug({ values: reading.measurements }, 'polled');
    this.onOutcome(asset.id, true);
  }

  private failed(atMs: number, reason: string, err: unknown): void {
    if (this.stopped) return;
    this.opts.health.incrementCounter('pollErrors');
    this.opts.health.incrementCounter(assetCounter('pollErrors', this.asset.id));
    // Error readings carry the reason and no values: a value we could not read is not a value.
    this.publish({ atMs, quality: 'error', values: {}, error: reason });
    if (reason !== this.lastError) this.log.warn({ err, reason }, 'poll failed');
    else this.log.debug({ reason }, 'poll failed again');
    this.lastError = reason;
    this.onOutcome(this.asset.id, false);
  }

  /** A read that hangs (slow device, retries) must not leave consumers with an old value that looks current. */
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

  private publish(fields: Pick<AssetReading, 'atMs' | 'quality' | 'values' | 'error' | 'chargerState'>): void {
    const reading: AssetReading = {
      v: 1,
      assetId: this.asset.id,
      kind: this.asset.kind,
      atMs: fields.atMs,
      sequence: this.sequence,
      quality: fields.quality,
      values: fields.values,
      ...(fields.error === undefined ? {} : { error: fields.error }),
      ...(fields.chargerState === undefined ? {} : { chargerState: fields.chargerState }),
    };
    try {
      this.opts.bus.publish(subjects.telemetry, { assetId: this.asset.id }, reading);
      this.sequence += 1;
    } catch (err) {
      this.log.error({ err }, 'telemetry publish failed');
    }
  }
}

/**
 * Starts one loop per owned asset at its `pollIntervalMs`: read (blocks planned once), decode, publish
 * `telemetry.<assetId>` with quality `good`; `error` with the reason and no values when the read fails; `error`
 * without the implausible values when plausibility fails; `stale` with the last good values (and their time) while a
 * read hangs for longer than `staleAfterIntervals` intervals. Status is `degraded` while any asset is in error.
 */
export function startPoller(opts: PollerOptions): Poller {
  const inError = new Set<string>();
  let reported = 'ok';
  const onOutcome = (assetId: string, ok: boolean): void => {
    if (ok) inError.delete(assetId);
    else inError.add(assetId);
    opts.health.setCounter('assetsInError', inError.size);
    const detail = inError.size === 0 ? undefined : `assets in error: ${[...inError].sort().join(', ')}`.slice(0, 500);
    if ((detail ?? 'ok') === reported) return;
    reported = detail ?? 'ok';
    opts.health.setStatus(detail === undefined ? 'ok' : 'degraded', detail);
  };
  const loops = new Map(opts.assets.map((asset) => [asset.id, new AssetLoop(asset, opts, onOutcome)]));
  for (const name of ['polls', 'pollErrors', 'implausible', 'staleReadings', 'assetsInError'])
    opts.health.setCounter(name, 0);
  for (const loop of loops.values()) loop.start();
  return {
    scaleFactors: (assetId) => loops.get(assetId)?.scaleFactors(),
    async stop() {
      await Promise.all([...loops.values()].map((loop) => loop.stop()));
    },
  };
}
