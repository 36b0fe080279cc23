import type { PriceSeries } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { BridgeHealth } from './bridge-health';
import { fetchWindow, nextPriceFetch, type PriceScheduleSettings } from './price-schedule';
import type { Scheduler } from './scheduler';

/** One provider of day-ahead prices. */
export interface PriceSource {
  readonly name: string;
  fetch(zone: string, startMs: number, endMs: number): Promise<PriceSeries>;
}

/** KV `prices`: one PriceSeries per zone (key = zone). */
export interface PriceStore {
  get(zone: string): Promise<PriceSeries | undefined>;
  put(zone: string, series: PriceSeries): Promise<void>;
}

export interface PriceSyncOptions {
  readonly log: Logger;
  readonly health: BridgeHealth;
  readonly scheduler: Scheduler;
  readonly store: PriceStore;
  /** In order of preference. */
  readonly sources: readonly PriceSource[];
  readonly settings: PriceScheduleSettings;
}

export interface PriceSync {
  /** Follow the tariff's price zone (undefined: no dynamic prices; nothing is fetched). A new zone is fetched at once. */
  setZone(zone: string | undefined): void;
  /** Fetch now (also re-arms the schedule); resolves when the attempt is over. */
  fetchNow(): Promise<void>;
  /** When the next fetch is due, epoch ms (undefined when idle). */
  nextFetchAtMs(): number | undefined;
  stop(): void;
}

/** End of the run of consecutive points that starts at the earliest one, epoch ms (a hole ends the coverage). */
export function coverageEndMs(series: PriceSeries | undefined): number | undefined {
  if (series === undefined || series.series.length === 0) return undefined;
  const points = [...series.series].sort((a, b) => a.startMs - b.startMs);
  let endMs = points[0]?.endMs ?? 0;
  for (const p of points.slice(1)) {
    if (p.startMs > endMs) break;
    endMs = Math.max(endMs, p.endMs);
  }
  return endMs;
}

/**
 * The points of `series` that overlap [startMs, endMs) — the window a source was asked for — each cut to it. Every
 * source's answer goes through this: a point outside the window, or running far past it (a mis-dated point, an
 * endMs typo), would otherwise count as coverage that no later correct answer could beat.
 */
export function trimToWindow(series: PriceSeries, startMs: number, endMs: number): PriceSeries {
  return {
    ...series,
    series: series.series
      .filter((p) => p.endMs > startMs && p.startMs < endMs)
      .map((p) => ({ ...p, startMs: Math.max(p.startMs, startMs), endMs: Math.min(p.endMs, endMs) })),
  };
}

/**
 * Keeps KV `prices` filled for the tariff's zone: asks each source in order for today and tomorrow and stores the
 * first answer that covers what is wanted (else the one that covers most, if it covers more than what is stored).
 * Missing prices are left missing — the strategies fall back to the tariff's fixed or time-of-use price — and retried
 * with backoff. Counters: priceFetches, priceFetchFailures, pricesStored; pricesCoverageEndMs.
 */
export function createPriceSync(opts: PriceSyncOptions): PriceSync {
  const { log, health, scheduler, store } = opts;
  let zone: string | undefined;
  let cancel: (() => void) | undefined;
  let nextAtMs: number | undefined;
  let failedAttempts = 0;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let storedEndMs: number | undefined;
  let loadedZone: string | undefined;

  function arm(atMs: number): void {
    cancel?.();
    if (stopped || zone === undefined) {
      nextAtMs = undefined;
      return;
    }
    nextAtMs = atMs;
    cancel = scheduler.after(Math.max(0, atMs - scheduler.now()), () => fetchNow());
  }

  async function attempt(): Promise<void> {
    const current = zone;
    if (current === undefined || stopped) return;
    if (loadedZone !== current) {
      try {
        storedEndMs = coverageEndMs(await store.get(current));
      } catch (err) {
        log.warn({ err, zone: current }, 'reading KV prices failed');
        storedEndMs = undefined;
      }
      loadedZone = current;
    }
    const nowMs = scheduler.now();
    const window = fetchWindow(nowMs);
    let best: { source: string; series: PriceSeries; endMs: number } | undefined;
    const failures: string[] = [];
    for (const source of opts.sources) {
      health.count('priceFetches');
      try {
        const series = await source.fetch(current, window.startMs, window.endMs);
        const endMs = coverageEndMs(series);
        if (endMs === undefined) {
          failures.push(`${source.name}: no prices`);
          continue;
        }
        if (best === undefined || endMs > best.endMs) best = { source: source.name, series, endMs };
        if (nextPriceFetch(nowMs, endMs, 0, opts.settings).reason === 'publication') break;
      } catch (err) {
        health.count('priceFetchFailures');
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (zone !== current || stopped) return;
    // What is stored counts only up to the window's end: a series stored before answers were trimmed may reach
    // years ahead, and must not keep every correct one out.
    const storedWithinMs = storedEndMs === undefined ? undefined : Math.min(storedEndMs, window.endMs);
    if (best !== undefined && (storedWithinMs === undefined || best.endMs >= storedWithinMs)) {
      try {
        await store.put(current, best.series);
        storedEndMs = best.endMs;
        health.count('pricesStored');
        log.info(
          {
            zone: current,
            source: best.source,
            points: best.series.series.length,
            untilMs: best.endMs,
            until: new Date(best.endMs).toISOString(),
          },
          'day-ahead prices stored',
        );
      } catch (err) {
        log.error({ err, zone: current }, 'writing KV prices failed');
      }
    }
    if (storedEndMs !== undefined) health.set('pricesCoverageEndMs', storedEndMs);
    const next = nextPriceFetch(scheduler.now(), storedEndMs, failedAttempts + 1, opts.settings);
    if (next.reason === 'retry') {
      failedAttempts += 1;
      health.setProblem('prices', `no day-ahead prices for ${current} up to the wanted horizon (retrying)`);
      const level = failedAttempts === 1 ? 'warn' : 'debug';
      log[level](
        { zone: current, failures, coveredUntilMs: storedEndMs, retryInMs: next.atMs - scheduler.now() },
        'day-ahead prices missing; retrying',
      );
    } else {
      failedAttempts = 0;
      health.setProblem('prices', undefined);
    }
    arm(next.atMs);
  }

  function fetchNow(): Promise<void> {
    running = running.then(attempt, attempt).catch((err: unknown) => {
      log.error({ err }, 'price fetch failed unexpectedly');
      arm(scheduler.now() + opts.settings.retryMinMs);
    });
    return running;
  }

  return {
    setZone(next) {
      if (next === zone) return;
      zone = next;
      failedAttempts = 0;
      health.setProblem('prices', undefined);
      if (next === undefined) {
        cancel?.();
        nextAtMs = undefined;
        log.info('no price zone in the tariff: day-ahead prices are not fetched');
        return;
      }
      if (opts.sources.length === 0) {
        log.info({ zone: next }, 'no price source configured (PRICE_SOURCES): day-ahead prices are not fetched');
        return;
      }
      log.info({ zone: next, sources: opts.sources.map((s) => s.name) }, 'following day-ahead prices');
      arm(scheduler.now());
    },
    fetchNow,
    nextFetchAtMs: () => nextAtMs,
    stop() {
      stopped = true;
      cancel?.();
      nextAtMs = undefined;
    },
  };
}
