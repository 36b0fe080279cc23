import { fetchEnergyCharts } from './energy-charts';
import { HttpSourceError } from './http-json';
import { hourly, startEnergyChartsDouble, type EnergyChartsDouble } from './testing/energy-charts-double';

const DAY = Date.parse('2026-01-15T23:00:00Z') / 1000; // 16 January 00:00 CET

describe('fetchEnergyCharts against a local Energy-Charts double', () => {
  let api: EnergyChartsDouble;
  beforeAll(async () => {
    api = await startEnergyChartsDouble();
  });
  afterAll(() => api.stop());
  const opts = () => ({ baseUrl: api.url, timeoutMs: 2_000, now: () => 42 });

  it('asks for the bidding zone and the window in unix seconds and gets the window’s prices', async () => {
    api.setPrices(
      'DE-LU',
      hourly(DAY - 24 * 3600, 48, (i) => i),
    );
    const series = await fetchEnergyCharts(opts(), 'DE-LU', DAY * 1000, (DAY + 24 * 3600) * 1000);
    expect(api.requests.at(-1)).toEqual({ bzn: 'DE-LU', start: String(DAY), end: String(DAY + 24 * 3600) });
    expect(series.series).toHaveLength(24);
    expect(series.series[0]).toEqual({ startMs: DAY * 1000, endMs: (DAY + 3600) * 1000, eurPerMwh: 24 });
    expect(series.publishedAtMs).toBe(42);
  });

  it.each([
    ['an unknown zone', 'XX', undefined, 'not-found'],
    ['a server error', 'DE-LU', 503, 'status'],
  ] as const)('fails with HttpSourceError for %s', async (_name, zone, status, code) => {
    api.failWith(status);
    const failure = await fetchEnergyCharts(opts(), zone, DAY * 1000, (DAY + 3600) * 1000).catch((err: unknown) => err);
    api.failWith(undefined);
    expect(failure).toBeInstanceOf(HttpSourceError);
    expect(failure).toMatchObject({ code });
  });

  it('fails as unreachable when nothing listens', async () => {
    const failure = await fetchEnergyCharts({ ...opts(), baseUrl: 'http://127.0.0.1:1' }, 'DE-LU', 0, 1).catch(
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({ code: 'unreachable', retryable: true });
  });
});
