import { settledWindow, summarize, type Sample } from './day-analysis';

const series = (values: readonly number[], stepMs = 1_000): Sample[] =>
  values.map((value, i) => ({ atMs: i * stepMs, value }));
const opts = { fromMs: 0, windowMs: 3_000, targetW: 0, bandW: 100, minSamples: 3 };

describe('settledWindow', () => {
  it('finds the first complete window in which every sample is inside the band', () => {
    const window = settledWindow(series([900, 400, 150, 60, -40, 20, 10, 0]), opts);

    expect(window).toMatchObject({ startMs: 3_000, endMs: 6_000, maxAbsErrorW: 60 });
    expect(window?.samples.map((s) => s.value)).toEqual([60, -40, 20, 10]);
  });

  it('is undefined while the window is not complete yet', () => {
    expect(settledWindow(series([900, 40, 30, 20]), opts)).toBeUndefined();
  });

  it('is undefined when a sample leaves the band in every window (an oscillation)', () => {
    expect(settledWindow(series([150, -150, 150, -150, 150, -150, 150, -150]), opts)).toBeUndefined();
  });

  it('does not count a window with too few samples (a gap in the readings)', () => {
    const gappy: Sample[] = [
      { atMs: 0, value: 0 },
      { atMs: 3_000, value: 0 },
      { atMs: 3_500, value: 0 },
    ];
    expect(settledWindow(gappy, opts)).toBeUndefined();
  });

  it('ignores windows before fromMs and after untilMs', () => {
    const values = series([0, 0, 0, 0, 500, 0, 0, 0, 0, 0]);
    expect(settledWindow(values, { ...opts, fromMs: 2_000 })?.startMs).toBe(5_000);
    expect(settledWindow(values, { ...opts, fromMs: 2_000, untilMs: 7_000 })).toBeUndefined();
  });
});

describe('summarize', () => {
  it('gives mean, min, max and count over the span', () => {
    expect(summarize(series([10, 20, 30, 40]), 1_000, 2_000)).toEqual({ mean: 25, min: 20, max: 30, count: 2 });
  });

  it('is undefined without samples in the span', () => {
    expect(summarize(series([10]), 5_000, 6_000)).toBeUndefined();
  });
});
