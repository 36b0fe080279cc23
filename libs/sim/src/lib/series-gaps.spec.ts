import fc from 'fast-check';
import { fillColumn } from './series-gaps';
import { SeriesParseError, isMeasured, parseSeriesCsv, parseZonePricesCsv, withZonePrice } from './series';

const HEADER = 'timestamp,load_w,pv_w,price_eur_per_mwh';
const HALF_HOUR_MS = 1_800_000;
const T0 = Date.UTC(2024, 3, 1);
const iso = (k: number): string => new Date(T0 + k * HALF_HOUR_MS).toISOString();

/** A half-hour CSV whose row k has load 1000 + k, PV 10·k and price k − 50, leaving out the rows in `skip`. */
function csv(rows: number, skip: readonly number[] = [], edit: (k: number, cells: string[]) => string[] = (_, c) => c) {
  const lines = [HEADER];
  for (let k = 0; k < rows; k++) {
    if (!skip.includes(k)) lines.push(edit(k, [iso(k), String(1000 + k), String(10 * k), String(k - 50)]).join(','));
  }
  return lines.join('\n');
}

function issuesOf(parse: () => unknown): SeriesParseError['issues'] {
  try {
    parse();
  } catch (err) {
    if (err instanceof SeriesParseError) return err.issues;
    throw err;
  }
  throw new Error('expected a SeriesParseError');
}

describe('series gaps: refused by default, one issue per gap', () => {
  it('names the intervals missing and the line after them, not every later row', () => {
    const issues = issuesOf(() => parseSeriesCsv(csv(20, [5, 6, 7, 12])));
    expect(issues).toEqual([
      {
        line: 7,
        column: 'timestamp',
        message: `3 intervals missing before this row (${iso(5)} to ${iso(7)}): the series must be a regular 30-min grid`,
      },
      {
        line: 11,
        column: 'timestamp',
        message: `1 interval missing before this row (${iso(12)}): the series must be a regular 30-min grid`,
      },
    ]);
  });

  it('takes the most common step, so a gap between the first two rows is a gap too', () => {
    expect(issuesOf(() => parseSeriesCsv(csv(10, [1])))[0]).toMatchObject({ line: 3, message: /1 interval missing/ });
  });

  it('refuses a row off the grid and time going backwards, with or without filling', () => {
    const offGrid = csv(10, [], (k, c) =>
      k === 4 ? [new Date(T0 + 4 * HALF_HOUR_MS + 60_000).toISOString(), ...c.slice(1)] : c,
    );
    for (const fillGaps of [false, true]) {
      expect(issuesOf(() => parseSeriesCsv(offGrid, { fillGaps }))[0]).toMatchObject({
        line: 6,
        message: /off the file's 30-min grid/,
      });
    }
    const backwards = csv(10, [], (k, c) => (k === 4 ? [iso(2), ...c.slice(1)] : c));
    expect(issuesOf(() => parseSeriesCsv(backwards, { fillGaps: true }))[0]).toMatchObject({
      line: 6,
      message: /strictly increasing/,
    });
  });
});

describe('series grids that are not one', () => {
  it('names a first row off the grid alone (the grid is that of most rows)', () => {
    const text = csv(10, [], (k, c) => (k === 0 ? [new Date(T0 + 30_000).toISOString(), ...c.slice(1)] : c));
    const issues = issuesOf(() => parseSeriesCsv(text, { fillGaps: true }));
    expect(issues).toEqual([
      {
        line: 2,
        column: 'timestamp',
        message: `${new Date(T0 + 30_000).toISOString()} is off the file's 30-min grid (${iso(1)} plus whole steps)`,
      },
    ]);
  });

  it('refuses to invent more intervals than there are rows (readings logged twice a second apart)', () => {
    const lines = [HEADER];
    for (let k = 0; k < 50; k++) {
      for (const extraMs of [0, 1_000]) lines.push(`${new Date(T0 + k * 900_000 + extraMs).toISOString()},100,0,50`);
    }
    const issues = issuesOf(() => parseSeriesCsv(lines.join('\n'), { fillGaps: true }));
    expect(issues).toEqual([
      {
        line: 1,
        column: 'timestamp',
        message:
          '44002 of 44102 intervals of a 1-s grid (the most common step between rows) would be missing: the rows are not on one regular grid',
      },
    ]);
  });
});

describe('series gaps filled (fillGaps)', () => {
  it('interpolates a run of up to an hour between its neighbours, and says so', () => {
    const series = parseSeriesCsv(csv(10, [3, 6, 7]), { fillGaps: true });
    expect(series.points.map((p) => p.atMs)).toEqual(Array.from({ length: 10 }, (_, k) => T0 + k * HALF_HOUR_MS));
    // Row k is 1000 + k: linear is exact.
    expect(series.points.map((p) => p.loadW)).toEqual(Array.from({ length: 10 }, (_, k) => 1000 + k));
    expect(series.points[3]?.imputed).toEqual(['loadW', 'priceEurPerMwh', 'pvW']);
    expect(isMeasured(series.points[4] as never, 'loadW')).toBe(true);
    expect(series.repairs?.gaps).toEqual([
      { fromMs: T0 + 3 * HALF_HOUR_MS, count: 1 },
      { fromMs: T0 + 6 * HALF_HOUR_MS, count: 2 },
    ]);
    expect(series.repairs?.cells).toHaveLength(9);
    expect(new Set(series.repairs?.cells.map((c) => c.method))).toEqual(new Set(['linear_interpolation']));
  });

  it('fills a longer run with the value 24 h earlier, or 24 h later where there is none', () => {
    // Two days; 3 h missing on day 1 (rows 10–15) and on day 2 (rows 70–75).
    const skip = [10, 11, 12, 13, 14, 15, 70, 71, 72, 73, 74, 75];
    const series = parseSeriesCsv(csv(96, skip), { fillGaps: true });
    expect(series.points).toHaveLength(96);
    expect(series.points[70]?.loadW).toBe(1000 + 22);
    expect(series.points[10]?.loadW).toBe(1000 + 58);
    const methods = (k: number) =>
      series.repairs?.cells.filter((c) => c.atMs === T0 + k * HALF_HOUR_MS).map((c) => c.method);
    expect(methods(70)).toEqual(['previous_day_same_time', 'previous_day_same_time', 'previous_day_same_time']);
    expect(methods(10)).toEqual(['next_day_same_time', 'next_day_same_time', 'next_day_same_time']);
  });

  it('fills empty cells (also NaN, null, NA) of one column only, as missing intervals', () => {
    const text = csv(10, [], (k, c) =>
      k === 2 ? [c[0] ?? '', c[1] ?? '', '', c[3] ?? ''] : k === 5 ? [c[0] ?? '', 'NaN', c[2] ?? '', 'null'] : c,
    );
    const series = parseSeriesCsv(text, { fillGaps: true });
    expect(series.points[2]).toEqual({
      atMs: T0 + 2 * HALF_HOUR_MS,
      loadW: 1002,
      pvW: 20,
      priceEurPerMwh: -48,
      imputed: ['pvW'],
    });
    expect(series.points[5]?.imputed).toEqual(['loadW', 'priceEurPerMwh']);
    expect(series.repairs?.gaps).toEqual([]);
    // Refused without fillGaps, as before.
    expect(issuesOf(() => parseSeriesCsv(text))[0]).toMatchObject({
      line: 4,
      column: 'pv_w',
      message: /expected a number/,
    });
  });

  it('fills a long run in a series shorter than a day with the nearest value', () => {
    const series = parseSeriesCsv(csv(12, [2, 3, 4, 5]), { fillGaps: true });
    expect(series.points.slice(2, 6).map((p) => p.loadW)).toEqual([1001, 1001, 1006, 1006]);
    expect(new Set(series.repairs?.cells.map((c) => c.method))).toEqual(new Set(['nearest_value']));
  });

  it('refuses a gap over seven days and a column without any value', () => {
    const week = 8 * 48;
    const issues = issuesOf(() =>
      parseSeriesCsv(
        csv(
          week + 10,
          Array.from({ length: week }, (_, k) => k + 1),
        ),
        { fillGaps: true },
      ),
    );
    expect(issues[0]).toMatchObject({
      line: 3,
      message: /8 d is too long to fill \(at most 7 d\); split the file there/,
    });
    const noPrice = csv(4, [], (_, c) => [...c.slice(0, 3), '']);
    expect(issuesOf(() => parseSeriesCsv(noPrice, { fillGaps: true }))).toEqual([
      { line: 1, column: 'price_eur_per_mwh', message: 'no value in the whole file' },
    ]);
  });

  it('fills a multi-zone price file per zone, and the zone price carries the mark', () => {
    const zones = [
      'timestamp,price_fr_eur_per_mwh,price_nl_eur_per_mwh',
      `${iso(0)},10,20`,
      `${iso(1)},,21`,
      `${iso(3)},13,23`,
    ].join('\n');
    const prices = parseZonePricesCsv(zones, { fillGaps: true });
    expect(prices.points.map((p) => p.pricesEurPerMwh)).toEqual([
      { FR: 10, NL: 20 },
      { FR: 11, NL: 21 },
      { FR: 12, NL: 22 },
      { FR: 13, NL: 23 },
    ]);
    expect(prices.repairs?.cells).toHaveLength(3);
    const site = parseSeriesCsv(csv(4));
    const fr = withZonePrice(site, prices, 'FR');
    expect(fr.points.map((p) => p.imputed ?? [])).toEqual([[], ['priceEurPerMwh'], ['priceEurPerMwh'], []]);
    expect(withZonePrice(site, prices, 'NL').points.map((p) => p.imputed ?? [])).toEqual([
      [],
      [],
      ['priceEurPerMwh'],
      [],
    ]);
  });
});

describe('series gaps (property)', () => {
  it('whatever is missing: the whole grid back, measured values untouched, exactly the missing cells filled and marked, within the measured range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 150 }),
        fc.array(fc.double({ min: 0, max: 5_000, noNaN: true }), { minLength: 150, maxLength: 150 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 148 }), { maxLength: 60 }),
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 149 }), fc.integer({ min: 1, max: 3 })), { maxLength: 20 }),
        (rows, load, dropped, blanked) => {
          const skip = dropped.filter((k) => k < rows - 1);
          // The step is the most common difference between rows: keep it the half hour (drop every other row, and
          // the file is an hourly one).
          const kept = Array.from({ length: rows }, (_, k) => k).filter((k) => !skip.includes(k));
          const diffs = kept.slice(1).map((k, i) => k - (kept[i] ?? 0));
          const counts = new Map<number, number>();
          for (const d of diffs) counts.set(d, (counts.get(d) ?? 0) + 1);
          fc.pre([...counts].every(([d, n]) => d === 1 || n < (counts.get(1) ?? 0)));
          const blank = new Set(blanked.filter(([k]) => k < rows && !skip.includes(k)).map(([k, c]) => `${k}/${c}`));
          const text = csv(rows, skip, (k, c) =>
            c.map((cell, col) => (blank.has(`${k}/${col}`) ? '' : col === 1 ? String(load[k]) : cell)),
          );
          const columns = ['loadW', 'pvW', 'priceEurPerMwh'] as const;
          const measured = columns.map((_, c) =>
            Array.from({ length: rows }, (_, k) => k).filter((k) => !skip.includes(k) && !blank.has(`${k}/${c + 1}`)),
          );
          if (measured.some((ks) => ks.length === 0)) return;
          const series = parseSeriesCsv(text, { fillGaps: true });
          expect(series.points.map((p) => p.atMs)).toEqual(
            Array.from({ length: rows }, (_, k) => T0 + k * HALF_HOUR_MS),
          );
          columns.forEach((column, c) => {
            const original = (k: number) => (column === 'loadW' ? (load[k] ?? 0) : column === 'pvW' ? 10 * k : k - 50);
            const kept = measured[c] ?? [];
            const lo = Math.min(...kept.map(original));
            const hi = Math.max(...kept.map(original));
            series.points.forEach((p, k) => {
              const isKept = kept.includes(k);
              expect(isMeasured(p, column)).toBe(isKept);
              if (isKept) expect(p[column]).toBe(original(k));
              else {
                expect(p[column]).toBeGreaterThanOrEqual(lo - 1e-9);
                expect(p[column]).toBeLessThanOrEqual(hi + 1e-9);
              }
            });
          });
          const filledCount = columns.reduce((n, _, c) => n + rows - (measured[c]?.length ?? 0), 0);
          expect(series.repairs?.cells).toHaveLength(filledCount);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fillColumn leaves a column without values as it is', () => {
    const values = [Number.NaN, Number.NaN];
    expect(fillColumn(values, HALF_HOUR_MS)).toEqual([undefined, undefined]);
    expect(values.every((v) => Number.isNaN(v))).toBe(true);
  });
});
