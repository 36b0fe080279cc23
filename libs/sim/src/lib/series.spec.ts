import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  type SitePoint,
  type SiteSeries,
  SeriesParseError,
  applyFilledCells,
  isMeasured,
  parseFilledCellsCsv,
  parseIsoTimestamp,
  parseSeriesCsv,
  parseZonePricesCsv,
  resample,
  withZonePrice,
} from './series';

/** The data folder sits next to the repository: <repoRoot>/../shared/data (also in CI clones). */
const REPO_ROOT = path.resolve(__dirname, '../../../..');
const DATA_DIR = path.join(REPO_ROOT, '..', 'shared', 'data');
const readData = (name: string): string => fs.readFileSync(path.join(DATA_DIR, name), 'utf8');

const MAIN = 'fr_lorraine_household_202404_202405_30min.csv';
const ZONES = 'fr_lorraine_household_202404_202405_prices_multizone_30min.csv';
const FILLED = 'fr_lorraine_household_202404_202405_filled_intervals.csv';
const HALF_HOUR_MS = 1_800_000;
const HEADER = 'timestamp,load_w,pv_w,price_eur_per_mwh';

function issuesOf(text: string, parse: (t: string) => unknown = parseSeriesCsv): SeriesParseError['issues'] {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof SeriesParseError) return err.issues;
    throw err;
  }
  throw new Error('expected a SeriesParseError');
}

function energyWh(series: SiteSeries, key: 'loadW' | 'pvW'): number {
  return series.points.reduce((sum, p) => sum + (p[key] * series.stepMs) / 3_600_000, 0);
}

describe('parseSeriesCsv on the development data', () => {
  const series = parseSeriesCsv(readData(MAIN));

  it('reads all 2 928 half-hour rows on a regular UTC grid', () => {
    expect(series.stepMs).toBe(HALF_HOUR_MS);
    expect(series.points).toHaveLength(2_928);
    expect(series.points[0]).toEqual({
      atMs: Date.UTC(2024, 2, 31, 22, 0),
      loadW: 206.7,
      pvW: 0,
      priceEurPerMwh: 49.95,
    });
    expect(series.points.at(-1)?.atMs).toBe(Date.UTC(2024, 4, 31, 21, 30));
  });

  it('matches the README summary (load 1 022 kWh, PV 1 137 kWh, price min −135.45)', () => {
    expect(energyWh(series, 'loadW') / 1000).toBeCloseTo(1_022, -1);
    expect(energyWh(series, 'pvW') / 1000).toBeCloseTo(1_137, -1);
    expect(Math.min(...series.points.map((p) => p.priceEurPerMwh))).toBe(-135.45);
  });

  it('marks the 95 imputed cells of the filled-intervals file (5 load, 90 PV)', () => {
    const cells = parseFilledCellsCsv(readData(FILLED));
    expect(cells).toHaveLength(95);
    expect(cells.filter((c) => c.method === 'linear_interpolation')).toHaveLength(83);
    const marked = applyFilledCells(series, cells);
    expect(marked.points.filter((p) => !isMeasured(p, 'loadW'))).toHaveLength(5);
    expect(marked.points.filter((p) => !isMeasured(p, 'pvW'))).toHaveLength(90);
    const cell = marked.points.find((p) => p.atMs === Date.UTC(2024, 3, 2, 10, 30));
    expect(cell?.imputed).toEqual(['loadW', 'pvW']);
  });

  it('swaps in the FR price of the multi-zone file for a same-zone run', () => {
    const zones = parseZonePricesCsv(readData(ZONES));
    expect(zones.zones).toEqual(['DE-LU', 'FR', 'NL', 'BE', 'AT']);
    expect(zones.points).toHaveLength(2_928);
    const fr = withZonePrice(series, zones, 'FR');
    expect(fr.points[0]?.priceEurPerMwh).toBe(40.7);
    expect(fr.points[0]?.loadW).toBe(206.7);
    const deLu = withZonePrice(series, zones, 'DE-LU');
    expect(deLu.points.map((p) => p.priceEurPerMwh)).toEqual(series.points.map((p) => p.priceEurPerMwh));
  });
});

describe('parseSeriesCsv validation', () => {
  const row = (ts: string, load = '100', pv = '0', price = '50'): string => `${ts},${load},${pv},${price}`;

  it('accepts the data columns in any order after timestamp, CRLF line ends and a trailing newline', () => {
    const text = `pv_w,timestamp,price_eur_per_mwh,load_w\r\n0,2024-01-01T00:00:00Z,10,5\r\n1,2024-01-01T00:15:00Z,-2.5,6\r\n`;
    // The timestamp must be the first column.
    expect(issuesOf(text)[0]).toMatchObject({ line: 1, message: 'the first column must be "timestamp"' });
    const ok = `timestamp,price_eur_per_mwh,load_w,pv_w\r\n2024-01-01T00:00:00Z,10,5,0\r\n2024-01-01T00:15:00Z,-2.5,6,1\r\n`;
    expect(parseSeriesCsv(ok)).toEqual({
      stepMs: 900_000,
      points: [
        { atMs: Date.UTC(2024, 0, 1, 0, 0), loadW: 5, pvW: 0, priceEurPerMwh: 10 },
        { atMs: Date.UTC(2024, 0, 1, 0, 15), loadW: 6, pvW: 1, priceEurPerMwh: -2.5 },
      ],
    });
  });

  it.each([
    { name: 'a negative PV power', line: row('2024-01-01T00:30:00Z', '100', '-3'), column: 'pv_w', message: /≥ 0/ },
    {
      name: 'a load that is not a number',
      line: row('2024-01-01T00:30:00Z', 'abc'),
      column: 'load_w',
      message: /number/,
    },
    {
      name: 'an empty price',
      line: row('2024-01-01T00:30:00Z', '1', '2', ''),
      column: 'price_eur_per_mwh',
      message: /number/,
    },
    { name: 'a timestamp without zone', line: row('2024-01-01T00:30:00'), column: 'timestamp', message: /ISO-8601/ },
    { name: 'an impossible date', line: row('2024-02-30T00:30:00Z'), column: 'timestamp', message: /ISO-8601/ },
    {
      name: 'a gap in the grid',
      line: row('2024-01-01T01:00:00Z'),
      column: 'timestamp',
      message: /2 intervals missing before this row \(2024-01-01T00:30:00.000Z to 2024-01-01T00:45:00.000Z\)/,
    },
    { name: 'a missing field', line: '2024-01-01T00:30:00Z,1,2', column: '', message: /expected 4 fields/ },
  ])('names line 4 and the column for $name', ({ line, column, message }) => {
    const text = [HEADER, row('2024-01-01T00:00:00Z'), row('2024-01-01T00:15:00Z'), line].join('\n');
    const [issue] = issuesOf(text);
    expect(issue).toMatchObject({ line: 4, column });
    expect(issue?.message).toMatch(message);
  });

  it('reports several bad rows at once, each with its line', () => {
    const text = [
      HEADER,
      row('2024-01-01T00:00:00Z', '-1'),
      row('2024-01-01T00:15:00Z', '1', 'x'),
      row('2024-01-01T00:30:00Z'),
    ].join('\n');
    expect(issuesOf(text).map((i) => [i.line, i.column])).toEqual([
      [2, 'load_w'],
      [3, 'pv_w'],
    ]);
  });

  it('puts line and column into the error message', () => {
    expect(() =>
      parseSeriesCsv(`${HEADER}\n${row('2024-01-01T00:00:00Z', '-5')}\n${row('2024-01-01T00:30:00Z')}`),
    ).toThrow(/line 2, column "load_w": expected a power ≥ 0 W, got -5/);
  });

  it.each([
    { name: 'an unknown column', header: `${HEADER},ev_w`, column: 'ev_w' },
    { name: 'a missing column', header: 'timestamp,load_w,pv_w', column: 'price_eur_per_mwh' },
  ])('rejects a header with $name', ({ header, column }) => {
    expect(issuesOf(`${header}\n`)).toContainEqual(expect.objectContaining({ line: 1, column }));
  });

  it('rejects duplicate timestamps and a file with a single row', () => {
    expect(issuesOf([HEADER, row('2024-01-01T00:00:00Z'), row('2024-01-01T00:00:00Z')].join('\n'))[0]).toMatchObject({
      line: 3,
      column: 'timestamp',
    });
    expect(issuesOf([HEADER, row('2024-01-01T00:00:00Z')].join('\n'))[0]?.message).toMatch(/at least two/);
  });

  it('parses explicit offsets and rejects garbage timestamps', () => {
    expect(parseIsoTimestamp('2024-04-01T00:00:00+02:00')).toBe(Date.UTC(2024, 2, 31, 22));
    expect(parseIsoTimestamp('2024-04-01T00:00Z')).toBe(Date.UTC(2024, 3, 1));
    expect(parseIsoTimestamp('2024-04-01 00:00:00Z')).toBeNull();
    expect(parseIsoTimestamp('2024-13-01T00:00:00Z')).toBeNull();
  });
});

describe('parseZonePricesCsv and parseFilledCellsCsv validation', () => {
  it('names the zone column of a bad price', () => {
    const text = 'timestamp,price_fr_eur_per_mwh\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,x\n';
    expect(issuesOf(text, parseZonePricesCsv)[0]).toMatchObject({ line: 3, column: 'price_fr_eur_per_mwh' });
  });

  it('rejects a price column that does not follow price_<zone>_eur_per_mwh', () => {
    expect(issuesOf('timestamp,fr\n', parseZonePricesCsv)[0]).toMatchObject({ line: 1, column: 'fr' });
  });

  it('rejects an unknown column name and a repeated cell in the filled-intervals file', () => {
    const text =
      'timestamp,column,fill_method\n2024-01-01T00:00:00Z,temp_c,linear_interpolation\n2024-01-01T00:00:00Z,pv_w,x\n2024-01-01T00:00:00Z,pv_w,x\n';
    expect(issuesOf(text, parseFilledCellsCsv).map((i) => [i.line, i.column])).toEqual([
      [2, 'column'],
      [4, 'column'],
    ]);
  });

  it('refuses filled cells that are not on the series grid', () => {
    const series: SiteSeries = { stepMs: HALF_HOUR_MS, points: [{ atMs: 0, loadW: 1, pvW: 0, priceEurPerMwh: 0 }] };
    expect(() => applyFilledCells(series, [{ atMs: 60_000, column: 'pvW', method: 'linear_interpolation' }])).toThrow(
      RangeError,
    );
  });
});

describe('resample', () => {
  const halfHours: SiteSeries = {
    stepMs: HALF_HOUR_MS,
    points: [
      { atMs: 0, loadW: 100, pvW: 0, priceEurPerMwh: 40 },
      { atMs: HALF_HOUR_MS, loadW: 300, pvW: 1_000, priceEurPerMwh: 40, imputed: ['pvW'] },
      { atMs: 2 * HALF_HOUR_MS, loadW: 500, pvW: 2_000, priceEurPerMwh: 60 },
      { atMs: 3 * HALF_HOUR_MS, loadW: 700, pvW: 0, priceEurPerMwh: 60 },
    ],
  };

  it('averages power into hours, keeping energy (100+300 W → 200 W for 1 h = 200 Wh)', () => {
    const hourly = resample(halfHours, 3_600_000);
    expect(hourly.points).toEqual([
      { atMs: 0, loadW: 200, pvW: 500, priceEurPerMwh: 40, imputed: ['pvW'] },
      { atMs: 3_600_000, loadW: 600, pvW: 1_000, priceEurPerMwh: 60 },
    ]);
    expect(energyWh(hourly, 'loadW')).toBe(energyWh(halfHours, 'loadW'));
  });

  it('holds power and price over quarter hours when upsampling', () => {
    const quarters = resample(halfHours, 900_000);
    expect(quarters.points.map((p) => [p.loadW, p.priceEurPerMwh])).toEqual([
      [100, 40],
      [100, 40],
      [300, 40],
      [300, 40],
      [500, 60],
      [500, 60],
      [700, 60],
      [700, 60],
    ]);
    expect(energyWh(quarters, 'pvW')).toBe(energyWh(halfHours, 'pvW'));
  });

  it('handles a step that is not a multiple (20 min) by overlap weights', () => {
    const twenty = resample(halfHours, 1_200_000);
    // [0,20): 100; [20,40): 10 min at 100 + 10 min at 300 = 200; [40,60): 300; …
    expect(twenty.points.slice(0, 3).map((p) => p.loadW)).toEqual([100, 200, 300]);
    expect(twenty.points).toHaveLength(6);
    expect(energyWh(twenty, 'loadW')).toBeCloseTo(energyWh(halfHours, 'loadW'), 9);
  });

  it('drops a trailing partial interval', () => {
    const threeQuarters = resample(halfHours, 2_700_000);
    expect(threeQuarters.points).toHaveLength(2);
    expect(threeQuarters.points[0]?.loadW).toBeCloseTo((100 * 30 + 300 * 15) / 45, 12);
  });

  it('preserves energy for any series whose span is a multiple of the new step (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(300_000, 900_000, 1_800_000),
        fc.constantFrom(1, 2, 3, 4, 6),
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 10_000, noNaN: true }), fc.double({ min: 0, max: 10_000, noNaN: true })),
          {
            minLength: 12,
            maxLength: 72,
          },
        ),
        (srcStepMs, factor, values) => {
          const usable = values.slice(0, Math.floor(values.length / factor) * factor);
          const points: SitePoint[] = usable.map(([loadW, pvW], k) => ({
            atMs: k * srcStepMs,
            loadW,
            pvW,
            priceEurPerMwh: 1,
          }));
          const source: SiteSeries = { stepMs: srcStepMs, points };
          for (const target of [srcStepMs * factor, srcStepMs / factor]) {
            if (!Number.isInteger(target)) continue;
            const out = resample(source, target);
            const scale = 1 + energyWh(source, 'loadW');
            expect(Math.abs(energyWh(out, 'loadW') - energyWh(source, 'loadW')) / scale).toBeLessThan(1e-12);
            expect(
              Math.abs(energyWh(out, 'pvW') - energyWh(source, 'pvW')) / (1 + energyWh(source, 'pvW')),
            ).toBeLessThan(1e-12);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('resamples the development data to 15 min and back unchanged', () => {
    const series = parseSeriesCsv(readData(MAIN));
    const back = resample(resample(series, 900_000), HALF_HOUR_MS);
    expect(back.points).toHaveLength(series.points.length);
    back.points.forEach((p, k) => {
      expect(p.loadW).toBeCloseTo(series.points[k]?.loadW ?? Number.NaN, 9);
      expect(p.priceEurPerMwh).toBeCloseTo(series.points[k]?.priceEurPerMwh ?? Number.NaN, 9);
    });
  });
});
