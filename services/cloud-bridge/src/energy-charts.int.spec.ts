import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@voltimax/testing';
import { fetchEnergyCharts } from './energy-charts';
import { DEFAULT_MAX_BODY_BYTES, HttpSourceError } from './http-json';
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

describe('response size limit, against a real HTTP server on 127.0.0.1', () => {
  const CHUNK = Buffer.alloc(64 * 1024, ' ');
  const DECLARED = 16 * 1024 * 1024;
  let server: Server;
  let url: string;
  /** Per response: bytes written before the client went away, and whether it did. */
  const responses: { written: number; closed: boolean }[] = [];
  beforeAll(async () => {
    // A JSON body far too large: endless (chunked, no content-length), or with `declare` in the URL one of
    // DECLARED bytes with its content-length.
    server = createServer((request, response) => {
      const declared = request.url?.includes('declare') === true;
      const prefix = '{"unix_seconds": [], "price": [], "unit": "EUR / MWh", "pad": "';
      response.writeHead(200, {
        'content-type': 'application/json',
        ...(declared ? { 'content-length': String(DECLARED) } : {}),
      });
      const state = { written: prefix.length, closed: false };
      responses.push(state);
      response.on('close', () => (state.closed = true));
      response.write(prefix);
      const pump = (): void => {
        while (!state.closed) {
          if (declared && state.written + CHUNK.length >= DECLARED) {
            response.end(`${' '.repeat(DECLARED - state.written - 2)}"}`);
            return;
          }
          state.written += CHUNK.length;
          if (!response.write(CHUNK)) {
            response.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('aborts a body that grows past maxBodyBytes with a clear error, and the server sees the download end', async () => {
    const failure = await fetchEnergyCharts(
      { baseUrl: url, timeoutMs: 10_000, now: () => 0, maxBodyBytes: 1024 * 1024 },
      'DE-LU',
      0,
      1,
    ).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(HttpSourceError);
    expect(failure).toMatchObject({ code: 'invalid-body', retryable: false });
    expect((failure as Error).message).toMatch(
      /^energy-charts prices: body larger than 1048576 bytes \(aborted after \d+ bytes\)$/,
    );
    await waitFor(() => responses.at(-1)?.closed === true, { message: 'the server saw the client go away' });
    expect(responses.at(-1)?.written).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses a declared content-length past the limit before reading it', async () => {
    const failure = await fetchEnergyCharts(
      { baseUrl: `${url}/declare`, timeoutMs: 10_000, now: () => 0 },
      'DE-LU',
      0,
      1,
    ).catch((err: unknown) => err);
    expect((failure as Error).message).toBe(
      `energy-charts prices: body larger than ${DEFAULT_MAX_BODY_BYTES} bytes (content-length ${DECLARED})`,
    );
  });
});
