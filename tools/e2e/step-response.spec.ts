import { stepResponse, type GridSample } from './step-response';

const samples = (gridW: readonly number[], startMs = 0): GridSample[] =>
  gridW.map((w, i) => ({ atMs: startMs + i * 1_000, gridW: w }));

const opts = { stepAtMs: 0, windowMs: 9_000, targetW: 0, deadbandW: 50 };

describe('stepResponse', () => {
  it('reports the settling time: from the step until the grid stays inside the deadband', () => {
    const result = stepResponse(samples([3_000, 1_000, 400, 120, 40, 10, 0, 0, 0, 0]), opts);

    expect(result.settledAfterMs).toBe(4_000);
    expect(result.peakErrorW).toBe(3_000);
  });

  it('does not count a zero crossing in the middle of a swing as settled', () => {
    const result = stepResponse(samples([3_000, -600, 20, 700, 300, 50, -40, 0, 10, 0]), opts);

    expect(result.settledAfterMs).toBe(5_000);
  });

  it('counts sign changes outside the deadband only', () => {
    const result = stepResponse(samples([3_000, -600, 40, -30, 700, -200, 10, -10, 0, 0]), opts);

    expect(result.signChanges).toBe(3);
  });

  it('measures against the target and ignores samples outside the window', () => {
    const result = stepResponse(samples([500, 3_100, 200, 120, 90, 100, 900], -1_000), {
      ...opts,
      windowMs: 4_000,
      targetW: 100,
    });

    expect(result.samples.map((s) => s.gridW)).toEqual([3_100, 200, 120, 90, 100]);
    expect(result.settledAfterMs).toBe(2_000);
  });

  it('has no settling time when the last sample is still outside the deadband', () => {
    expect(stepResponse(samples([3_000, 0, 0, -300]), opts).settledAfterMs).toBeUndefined();
  });
});
