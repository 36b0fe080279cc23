import { energyChartsToSeries } from './energy-charts';

const DAY = Date.parse('2026-01-15T23:00:00Z') / 1000; // 16 January 00:00 CET

describe('Energy-Charts answers as a PriceSeries', () => {
  it('hourly prices: each lasts until the next, the last one an hour', () => {
    const series = energyChartsToSeries(
      { unix_seconds: [DAY, DAY + 3600, DAY + 7200], price: [80.5, -3.2, 100], unit: 'EUR / MWh' },
      'DE-LU',
      7,
    );
    expect(series).toEqual({
      v: 1,
      zone: 'DE-LU',
      publishedAtMs: 7,
      series: [
        { startMs: DAY * 1000, endMs: (DAY + 3600) * 1000, eurPerMwh: 80.5 },
        { startMs: (DAY + 3600) * 1000, endMs: (DAY + 7200) * 1000, eurPerMwh: -3.2 },
        { startMs: (DAY + 7200) * 1000, endMs: (DAY + 10_800) * 1000, eurPerMwh: 100 },
      ],
    });
  });

  it('quarter-hourly prices: 15-minute points, the last one as long as the one before', () => {
    const unix = [0, 900, 1800, 2700].map((s) => DAY + s);
    const series = energyChartsToSeries({ unix_seconds: unix, price: [1, 2, 3, 4], unit: 'EUR/MWh' }, 'DE-LU', 0);
    expect(series.series.map((p) => (p.endMs - p.startMs) / 60_000)).toEqual([15, 15, 15, 15]);
  });

  it('leaves out missing prices, and a gap longer than an hour is a hole, not one long price', () => {
    const series = energyChartsToSeries(
      { unix_seconds: [DAY, DAY + 3600, DAY + 4 * 3600], price: [10, null, 30], unit: 'EUR / MWh' },
      'FR',
      0,
    );
    expect(series.series).toEqual([
      { startMs: DAY * 1000, endMs: (DAY + 3600) * 1000, eurPerMwh: 10 },
      { startMs: (DAY + 4 * 3600) * 1000, endMs: (DAY + 5 * 3600) * 1000, eurPerMwh: 30 },
    ]);
  });

  it('refuses another unit (a price in ct/kWh taken as EUR/MWh would be off by ×10)', () => {
    expect(() => energyChartsToSeries({ unix_seconds: [DAY], price: [8], unit: 'ct/kWh' }, 'FR', 0)).toThrow(
      /unexpected unit/,
    );
  });
});
