import { DEFAULT_ARBITER_OPTIONS } from './context';

/** A reading is stale after this many poll intervals of its asset: the arbiter's `STALE_AFTER_POLL_INTERVALS` default. */
export const DEFAULT_STALE_AFTER_POLL_INTERVALS = 1.5;

/** How the arbiter ages readings: stale after `staleAfterPollIntervals` of the asset's poll interval, at most `maxTelemetryAgeMs`. */
export interface StalenessSettings {
  readonly staleAfterPollIntervals: number;
  readonly maxTelemetryAgeMs: number;
}

export const DEFAULT_STALENESS: StalenessSettings = {
  staleAfterPollIntervals: DEFAULT_STALE_AFTER_POLL_INTERVALS,
  maxTelemetryAgeMs: DEFAULT_ARBITER_OPTIONS.maxTelemetryAgeMs,
};

/** How old (ms) a reading of an asset polled every `pollIntervalMs` may be before the arbiter counts it as stale. */
export function staleAfterMs(pollIntervalMs: number, settings: StalenessSettings = DEFAULT_STALENESS): number {
  return Math.min(settings.maxTelemetryAgeMs, Math.ceil(settings.staleAfterPollIntervals * pollIntervalMs));
}

/**
 * Why an asset polled every `pollIntervalMs` would drop to its safe setpoint between polls, or undefined. With a poll
 * interval near `maxTelemetryAgeMs` the ceiling leaves less than `staleAfterPollIntervals` of slack: a reading that
 * comes a few milliseconds late makes the last one stale, and the asset flips between its safe setpoint and its
 * request with every poll (a charger pausing and resuming the car).
 */
export function slowPollProblem(
  assetId: string,
  pollIntervalMs: number,
  settings: StalenessSettings = DEFAULT_STALENESS,
): string | undefined {
  const limitMs = staleAfterMs(pollIntervalMs, settings);
  if (limitMs >= settings.staleAfterPollIntervals * pollIntervalMs) return undefined;
  const longestMs = Math.floor(settings.maxTelemetryAgeMs / settings.staleAfterPollIntervals);
  return (
    `${assetId} is polled every ${pollIntervalMs} ms, but the safety arbiter counts its readings as stale after ` +
    `${limitMs} ms (${settings.staleAfterPollIntervals} poll intervals, at most ${settings.maxTelemetryAgeMs} ms): ` +
    `a reading a little late puts it in its safe setpoint between polls; poll it at most every ${longestMs} ms ` +
    `(or raise the arbiter's MAX_TELEMETRY_AGE_MS)`
  );
}
