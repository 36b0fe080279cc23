import { readiness, startHealthServer, type HealthServer, type Readiness } from './health-server';

describe('readiness', () => {
  const all = { natsConnected: true, started: true, serviceReady: true, stopping: false };
  it.each([
    { name: 'everything fine', input: all, ready: true },
    { name: 'NATS disconnected', input: { ...all, natsConnected: false }, ready: false },
    { name: 'still starting', input: { ...all, started: false }, ready: false },
    { name: 'service not ready', input: { ...all, serviceReady: false }, ready: false },
    { name: 'shutting down', input: { ...all, stopping: true }, ready: false },
  ])('$name -> ready=$ready', ({ input, ready }) => {
    expect(readiness(input).ready).toBe(ready);
  });
});

describe('startHealthServer', () => {
  let server: HealthServer;
  let report: Readiness;

  beforeAll(async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', service: 'svc', readiness: () => report });
  });
  afterAll(() => server.close());

  const get = (path: string, method = 'GET'): Promise<Response> =>
    fetch(`http://127.0.0.1:${server.port}${path}`, { method });

  it('answers /healthz with 200 while the process serves', async () => {
    report = readiness({ natsConnected: false, started: false, serviceReady: false, stopping: false });
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'alive', service: 'svc' });
  });

  it('answers /readyz with 503 and the failing checks when not ready, 200 when ready', async () => {
    report = readiness({ natsConnected: false, started: true, serviceReady: true, stopping: false });
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, checks: { nats: false } });

    report = readiness({ natsConnected: true, started: true, serviceReady: true, stopping: false });
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers 404 for other paths (and /metrics without a metrics source) and 405 for other methods', async () => {
    expect((await get('/metrics')).status).toBe(404);
    expect((await get('/nothing')).status).toBe(404);
    expect((await get('/readyz', 'POST')).status).toBe(405);
  });
});

describe('startHealthServer with metrics', () => {
  it('serves /metrics as Prometheus text, freshly rendered on each scrape', async () => {
    let scrapes = 0;
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      service: 'svc',
      readiness: () => readiness({ natsConnected: true, started: true, serviceReady: true, stopping: false }),
      metrics: () => `scrape_number ${++scrapes}\n`,
    });
    try {
      const first = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(first.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await first.text()).toBe('scrape_number 1\n');
      expect(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()).toBe('scrape_number 2\n');
    } finally {
      await server.close();
    }
  });
});
