import { chartGeometry, niceStep } from '../ui/src/chart-geometry';
import { HistoryBuckets } from './history';
import { assetsOfSite } from './power-flow';
import { reading, testSite } from './testing/fixtures';

const BUCKET = 300_000;
const DAY = 86_400_000;
/** A bucket boundary, so the arithmetic below stays readable. */
const T0 = Math.floor(1_750_000_000_000 / BUCKET) * BUCKET;
const NOW = T0 + 10 * BUCKET;

describe('HistoryBuckets', () => {
  it('averages each asset per bucket and computes the flows of the means', () => {
    const buckets = new HistoryBuckets(BUCKET, DAY);
    buckets.add(reading('grid-1', 'grid-meter', T0 + 1_000, { powerW: 1_000 }), 'live', NOW);
    buckets.add(reading('grid-1', 'grid-meter', T0 + 2_000, { powerW: 3_000 }), 'live', NOW);
    buckets.add(reading('bat-1', 'battery', T0 + 1_500, { powerW: -500, socPct: 40 }), 'live', NOW);
    buckets.add(reading('bat-1', 'battery', T0 + 2_500, { powerW: -1_500, socPct: 42 }), 'stream', NOW);
    buckets.add(reading('grid-1', 'grid-meter', T0 + BUCKET, { powerW: -200 }), 'live', NOW);

    const points = buckets.points(NOW, assetsOfSite(testSite()));
    expect(points).toEqual([
      { atMs: T0 + BUCKET / 2, gridW: 2_000, batteryW: -1_000, socPct: 41, pvW: null, evW: null, loadW: 1_000 },
      { atMs: T0 + 1.5 * BUCKET, gridW: -200, batteryW: null, socPct: null, pvW: null, evW: null, loadW: 0 },
    ]);
    expect(buckets.sampleCounts()).toEqual({ stream: 1, live: 4 });
  });

  it('skips readings that are not good, carry nothing to chart, or lie outside the window', () => {
    const buckets = new HistoryBuckets(BUCKET, DAY);
    expect(buckets.add(reading('g', 'grid-meter', NOW, { powerW: 1 }, { quality: 'error' }), 'live', NOW)).toBe(false);
    expect(buckets.add(reading('g', 'grid-meter', NOW, { frequencyHz: 50 }), 'live', NOW)).toBe(false);
    expect(buckets.add(reading('g', 'grid-meter', NOW - DAY - 1, { powerW: 1 }), 'stream', NOW)).toBe(false);
    expect(buckets.add(reading('g', 'grid-meter', NOW + 2 * BUCKET, { powerW: 1 }), 'live', NOW)).toBe(false);
    expect(buckets.points(NOW, undefined)).toEqual([]);
  });

  it('does not count a reading twice when the stream backfill meets one already received live', () => {
    const buckets = new HistoryBuckets(BUCKET, DAY);
    buckets.trackLiveKeys(true);
    const r = reading('g', 'grid-meter', T0, { powerW: 100 });
    buckets.add(r, 'live', NOW);

    expect(buckets.add(r, 'stream', NOW)).toBe(false);
    expect(buckets.add(reading('g', 'grid-meter', T0 + 1, { powerW: 300 }), 'stream', NOW)).toBe(true);
    expect(buckets.points(NOW, undefined)[0]?.gridW).toBe(200);
  });

  it('drops buckets that left the 24 h window', () => {
    const buckets = new HistoryBuckets(BUCKET, DAY);
    buckets.add(reading('g', 'grid-meter', T0, { powerW: 100 }), 'live', NOW);
    expect(buckets.points(T0 + DAY, undefined)).toHaveLength(1);
    expect(buckets.points(T0 + DAY + BUCKET, undefined)).toEqual([]);
  });

  it('describes assets by their readings when there is no site configuration', () => {
    const buckets = new HistoryBuckets(BUCKET, DAY);
    buckets.add(
      reading('h', 'hybrid-inverter', T0, { gridPowerW: 50, pvPowerW: 900, loadPowerW: 400, powerW: -450, socPct: 60 }),
      'live',
      NOW,
    );
    expect(buckets.points(NOW, undefined)[0]).toMatchObject({
      gridW: 50,
      pvW: 900,
      loadW: 400,
      batteryW: -450,
      socPct: 60,
    });
  });
});

describe('chartGeometry (the browser draws these paths)', () => {
  const size = { width: 1_000, height: 300, padLeft: 50, padRight: 50, padTop: 0, padBottom: 0 };
  const series = (points: { atMs: number; gridW: number | null; socPct: number | null }[]) => ({
    fromMs: T0,
    toMs: T0 + DAY,
    bucketMs: BUCKET,
    samples: { stream: 0, live: 0 },
    streamProblem: null,
    points: points.map((p) => ({ pvW: null, batteryW: null, loadW: null, evW: null, ...p })),
  });

  it('maps time to x and power to y, breaks a line at a gap of more than two buckets, and dots a lone point', () => {
    const g = chartGeometry(
      series([
        { atMs: T0, gridW: 2_000, socPct: 50 },
        { atMs: T0 + BUCKET, gridW: -2_000, socPct: 100 },
        { atMs: T0 + 4 * BUCKET, gridW: 0, socPct: null },
      ]),
      size,
      () => '',
    );

    expect([g.minW, g.maxW]).toEqual([-2_000, 2_000]);
    expect(g.zeroY).toBe(150);
    const x1 = Math.round((50 + (BUCKET / DAY) * 900) * 10) / 10;
    const x4 = Math.round((50 + ((4 * BUCKET) / DAY) * 900) * 10) / 10;
    expect(g.paths.gridW).toBe(`M50,0L${x1},300M${x4},150h0`); // the lone last point: a dot
    expect(g.socPath).toBe(`M50,150L${x1},0`);
    expect(g.paths.pvW).toBe('');
    expect(g.pointCount).toBe(3);
  });

  it('puts a time tick every 3 hours and power ticks on nice steps', () => {
    const g = chartGeometry(series([{ atMs: T0, gridW: 7_300, socPct: null }]), size, (t) =>
      String((t / 3_600_000) % 24),
    );
    expect(g.timeTicks.length).toBeGreaterThanOrEqual(8);
    expect(g.timeTicks.every((t) => Number(t.label) % 3 === 0)).toBe(true);
    expect(g.powerTicks.map((t) => t.label)).toEqual(['0 kW', '2 kW', '4 kW', '6 kW', '8 kW']);
  });

  it.each([
    [7_300, 5, 2_000],
    [100, 5, 20],
    [1, 4, 0.5],
    [900, 3, 500],
  ])('niceStep(%d, %d) = %d', (range, count, step) => {
    expect(niceStep(range, count)).toBe(step);
  });
});
