import { gzipSync } from 'node:zlib';
import { exampleSiteConfig, exampleTelemetryFrame, examplePriceSeries } from '@voltimax/contracts/testing';
import { startPlatformApi, type PlatformApiDouble } from './platform-api';
import { waitFor } from './wait-for';

describe('the Platform API double', () => {
  let api: PlatformApiDouble;
  beforeEach(async () => {
    api = await startPlatformApi({ basePath: '/v1' });
  });
  afterEach(() => api.stop());

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { headers });

  it('serves a configuration with an ETag, then 304 for that ETag, and 404 for an unknown gateway', async () => {
    const etag = api.setConfiguration('gw-1', exampleSiteConfig);

    const first = await get('/gateways/gw-1/configuration');
    expect(first.status).toBe(200);
    expect(first.headers.get('etag')).toBe(etag);
    expect(await first.json()).toEqual(exampleSiteConfig);
    expect((await get('/gateways/gw-1/configuration', { 'if-none-match': etag ?? '' })).status).toBe(304);
    expect((await get('/gateways/gw-2/configuration')).status).toBe(404);
    expect(api.requests('configuration').map((r) => r.status)).toEqual([200, 304, 404]);
  });

  it('gives another ETag for another configuration, and the same for the same one with keys reordered', () => {
    const a = api.setConfiguration('gw-1', { x: 1, y: 2 });
    expect(api.setConfiguration('gw-1', { y: 2, x: 1 })).toBe(a);
    expect(api.setConfiguration('gw-1', { x: 1, y: 3 })).not.toBe(a);
  });

  it('serves prices of a zone, only the points in the asked window', async () => {
    api.setPrices('FR', examplePriceSeries);
    const [first, second] = examplePriceSeries.series;
    const body = (await (await get(`/prices/FR?startMs=${second.startMs}&endMs=${second.endMs}`)).json()) as {
      series: unknown[];
    };
    expect(body.series).toEqual([second]);
    expect(first).toBeDefined();
    expect((await get('/prices/DE-LU')).status).toBe(404);
  });

  it('requires the bearer token when one is set', async () => {
    api.setToken('s3cret');
    api.setConfiguration('gw-1', exampleSiteConfig);
    expect((await get('/gateways/gw-1/configuration')).status).toBe(401);
    expect((await get('/gateways/gw-1/configuration', { authorization: 'Bearer s3cret' })).status).toBe(200);
    expect(api.requests().map((r) => r.authorization)).toEqual([undefined, 'Bearer s3cret']);
  });

  it('records telemetry POSTs, plain or gzip, accepts valid frames once and refuses the rest', async () => {
    const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
      fetch(`${api.url}/gateways/${exampleTelemetryFrame.gatewayId}/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const json = JSON.stringify(exampleTelemetryFrame);

    const plain = await post(json, { 'idempotency-key': exampleTelemetryFrame.frameId });
    const zipped = await post(gzipSync(json), { 'content-encoding': 'gzip' });
    const invalid = await post('{"v":1}');

    expect([plain.status, zipped.status, invalid.status]).toEqual([202, 202, 400]);
    expect(await zipped.json()).toEqual({ accepted: true, duplicate: true });
    expect(api.telemetry().map((p) => [p.gzip, p.status, p.idempotencyKey])).toEqual([
      [false, 202, exampleTelemetryFrame.frameId],
      [true, 202, undefined],
      [false, 400, undefined],
    ]);
    expect(api.frames()).toEqual([exampleTelemetryFrame]);
  });

  it('injects a status for the next N requests of one route', async () => {
    api.setConfiguration('gw-1', exampleSiteConfig);
    api.fault('configuration', { kind: 'status', status: 503 }, 2);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await get('/gateways/gw-1/configuration')).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('injects a hang (the client times out), a reset and a non-JSON body', async () => {
    api.setConfiguration('gw-1', exampleSiteConfig);
    api.fault('configuration', { kind: 'timeout' }, 1);
    await expect(
      fetch(`${api.url}/gateways/gw-1/configuration`, { signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    api.fault('configuration', { kind: 'reset' }, 1);
    await expect(get('/gateways/gw-1/configuration')).rejects.toThrow(/fetch failed/);
    api.fault('configuration', { kind: 'invalid-json' }, 1);
    await expect((await get('/gateways/gw-1/configuration')).json()).rejects.toThrow();
    expect((await get('/gateways/gw-1/configuration')).status).toBe(200);
  });

  it('stops even with a request hanging', async () => {
    api.fault('telemetry', { kind: 'timeout' });
    const hanging = fetch(`${api.url}/gateways/gw-1/telemetry`, { method: 'POST', body: '{}' }).catch(
      (err: unknown) => err,
    );
    await waitFor(() => api.requests('telemetry').length === 1, { message: 'the POST to reach the double' });
    await api.stop();
    expect(await hanging).toMatchObject({ message: 'fetch failed' });
  });
});
