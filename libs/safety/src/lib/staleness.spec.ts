import { DEFAULT_STALENESS, slowPollProblem, staleAfterMs } from './staleness';

describe('staleness', () => {
  it('is 1.5 poll intervals, at most maxTelemetryAgeMs (5 s by default)', () => {
    expect(DEFAULT_STALENESS).toEqual({ staleAfterPollIntervals: 1.5, maxTelemetryAgeMs: 5_000 });
    expect(staleAfterMs(1_000)).toBe(1_500);
    expect(staleAfterMs(3_333)).toBe(5_000);
    expect(staleAfterMs(5_000)).toBe(5_000);
    expect(staleAfterMs(5_000, { staleAfterPollIntervals: 2, maxTelemetryAgeMs: 30_000 })).toBe(10_000);
  });

  it('names an asset polled too slowly for the ceiling, and the longest interval that fits', () => {
    expect(slowPollProblem('ev-1', 1_000)).toBeUndefined();
    expect(slowPollProblem('ev-1', 3_333)).toBeUndefined();
    expect(slowPollProblem('ev-1', 3_334)).toMatch(/^ev-1 is polled every 3334 ms, .* stale after 5000 ms/);
    expect(slowPollProblem('ev-1', 5_000)).toMatch(
      /poll it at most every 3333 ms \(or raise the arbiter's MAX_TELEMETRY_AGE_MS\)$/,
    );
    expect(slowPollProblem('ev-1', 5_000, { staleAfterPollIntervals: 1.5, maxTelemetryAgeMs: 7_500 })).toBeUndefined();
  });
});
