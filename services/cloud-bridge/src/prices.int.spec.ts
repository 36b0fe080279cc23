/**
 * Day-ahead prices: the Platform API double and an Energy-Charts double on loopback, KV `prices` on a real
 * nats-server (written as `cloud-bridge`, read as `strategy-engine`), and a virtual clock for the schedule.
 */
import { Kvm } from '@nats-io/kv';
import { connectBus, ensureKv, type BusConnection } from '@voltimax/bus';
import { PriceSeriesSchema, type PriceSeries } from '@voltimax/contracts';
import { HealthState, healthControl } from '@voltimax/service-kit';
import {
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  startPlatformApi,
  waitFor,
  type NatsTestServer,
  type NatsUser,
  type PlatformApiDouble,
} from '@voltimax/testing';
import { pino } from 'pino';
import { bridgeHealth, type BridgeHealth } from './bridge-health';
import { fetchEnergyCharts } from './energy-charts';
import { platformApi } from './platform-api';
import { coverageEndMs, createPriceSync, type PriceSync } from './prices';
import { natsPriceStore } from './stores';
import { hourly, startEnergyChartsDouble, type EnergyChartsDouble } from './testing/energy-charts-double';
import { VirtualClock } from './testing/virtual-clock';

jest.setTimeout(30_000);
const quiet = pino({ level: 'silent' });
const SETTINGS = { publication: { hour: 13, minute: 15 }, retryMinMs: 60_000, retryMaxMs: 1_800_000 };
const H = 3_600_000;
/** 15 January 2026, 00:00 CET. */
const TODAY = Date.parse('2026-01-14T23:00:00Z');
const TOMORROW = TODAY + 24 * H;
const DAY_AFTER = TOMORROW + 24 * H;

let nats: NatsTestServer;
let api: PlatformApiDouble;
let charts: EnergyChartsDouble;
const connections: BusConnection[] = [];

async function connectAs(user: NatsUser): Promise<BusConnection> {
  const c = await connectBus({
    servers: nats.url,
    name: `prices-${user}`,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    log: quiet,
  });
  connections.push(c);
  return c;
}

beforeAll(async () => {
  [nats, api, charts] = await Promise.all([
    startNats({ config: NATS_CONFIG_PATH }),
    startPlatformApi(),
    startEnergyChartsDouble(),
  ]);
});
afterAll(async () => {
  for (const c of connections) await c.nc.close();
  await Promise.all([nats?.stop(), api?.stop(), charts?.stop()]);
});

function platformDay(zone: string, fromMs: number, hours: number, price: (i: number) => number): PriceSeries {
  return {
    v: 1,
    zone,
    publishedAtMs: fromMs - 11 * H,
    series: Array.from({ length: hours }, (_, i) => ({
      startMs: fromMs + i * H,
      endMs: fromMs + (i + 1) * H,
      eurPerMwh: price(i),
    })),
  };
}

interface Rig {
  readonly sync: PriceSync;
  readonly clock: VirtualClock;
  readonly health: BridgeHealth;
  /** KV `prices` as the strategy-engine reads it. */
  engineView(zone: string): Promise<PriceSeries | undefined>;
}

async function rig(startIso: string, zone: string, opts: { stored?: PriceSeries } = {}): Promise<Rig> {
  const bridge = await connectAs('cloud-bridge');
  const { kv } = await ensureKv(bridge.nc, { name: 'prices' });
  await kv.delete(zone);
  if (opts.stored !== undefined) await kv.put(zone, JSON.stringify(opts.stored));
  const engine = await connectAs('strategy-engine');
  const engineKv = await new Kvm(engine.nc).open('prices');
  const clock = new VirtualClock({ startMs: Date.parse(startIso), autoRun: false });
  const health = bridgeHealth(healthControl(new HealthState(), () => undefined));
  // Generous HTTP timeouts: a loaded CI machine must not turn a slow local answer into a "missing prices" retry.
  const platform = platformApi({ baseUrl: api.url, gatewayId: 'gw-test', timeoutMs: 10_000 });
  const sync = createPriceSync({
    log: quiet,
    health,
    scheduler: clock,
    store: natsPriceStore(kv, quiet),
    sources: [
      { name: 'platform', fetch: (z, s, e) => platform.fetchPrices(z, s, e) },
      {
        name: 'energy-charts',
        fetch: (z, s, e) => fetchEnergyCharts({ baseUrl: charts.url, timeoutMs: 10_000, now: clock.now }, z, s, e),
      },
    ],
    settings: SETTINGS,
  });
  return {
    sync,
    clock,
    health,
    async engineView(z) {
      const entry = await engineKv.get(z);
      return entry && entry.operation === 'PUT' ? PriceSeriesSchema.parse(JSON.parse(entry.string())) : undefined;
    },
  };
}

describe('day-ahead prices into KV prices', () => {
  let r: Rig | undefined;
  afterEach(() => {
    r?.sync.stop();
    r?.clock.dispose();
    api.setPrices('DE-LU', undefined);
    api.setPrices('FR', undefined);
    api.fault('prices', undefined);
    charts.setPrices('DE-LU', []);
    charts.setPrices('FR', []);
  });

  it('in the morning, today from the Platform API; next fetch at 13:15 CET', async () => {
    api.setPrices(
      'DE-LU',
      platformDay('DE-LU', TODAY, 24, (i) => 50 + i),
    );
    r = await rig('2026-01-15T08:00:00Z', 'DE-LU');
    r.sync.setZone('DE-LU');
    await r.clock.advance(0);

    const stored = await r.engineView('DE-LU');
    expect(stored?.series).toHaveLength(24);
    expect(coverageEndMs(stored)).toBe(TOMORROW);
    expect(r.sync.nextFetchAtMs()).toBe(Date.parse('2026-01-15T12:15:00Z'));
    expect(charts.requests).toHaveLength(0); // the preferred source had what was wanted
    expect(r.health.problems().has('prices')).toBe(false);
  });

  it('falls back to Energy-Charts when the Platform API fails', async () => {
    api.fault('prices', { kind: 'status', status: 503 });
    charts.setPrices(
      'FR',
      hourly(TODAY / 1000, 48, (i) => 70 - i),
    );
    r = await rig('2026-01-15T15:00:00Z', 'FR');
    r.sync.setZone('FR');
    await r.clock.advance(0);

    const stored = await r.engineView('FR');
    expect(stored?.zone).toBe('FR');
    expect(coverageEndMs(stored)).toBe(DAY_AFTER);
    expect(stored?.series[0]).toEqual({ startMs: TODAY, endMs: TODAY + H, eurPerMwh: 70 });
    expect(r.health.counters()['priceFetchFailures']).toBe(1);
    expect(r.sync.nextFetchAtMs()).toBe(Date.parse('2026-01-16T12:15:00Z'));
  });

  it('after 13:15 without tomorrow: keeps today, retries with a doubling backoff, stores tomorrow once it is out', async () => {
    api.setPrices(
      'DE-LU',
      platformDay('DE-LU', TODAY, 24, () => 80),
    );
    r = await rig('2026-01-15T12:20:00Z', 'DE-LU');
    r.sync.setZone('DE-LU');
    await r.clock.advance(0);

    expect(coverageEndMs(await r.engineView('DE-LU'))).toBe(TOMORROW);
    expect(r.health.problems().get('prices')).toMatch(/no day-ahead prices for DE-LU/);
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const before = r.clock.now();
      const next = r.sync.nextFetchAtMs() ?? 0;
      delays.push(Math.round((next - before) / 60_000));
      await r.clock.advance(next - before);
      // The fetch is real HTTP: wait until it is answered and the next retry is scheduled (a loaded machine once
      // read the old schedule here and saw delays of 0).
      const sync = r.sync;
      await waitFor(() => (sync.nextFetchAtMs() ?? 0) > next, { message: `retry ${i + 1} scheduled` });
    }
    expect(delays).toEqual([1, 2, 4]);

    charts.setPrices(
      'DE-LU',
      hourly(TODAY / 1000, 48, (i) => (i < 24 ? 80 : 30)),
    );
    await r.clock.advance((r.sync.nextFetchAtMs() ?? 0) - r.clock.now());

    const stored = await r.engineView('DE-LU');
    expect(coverageEndMs(stored)).toBe(DAY_AFTER);
    expect(stored?.series.at(-1)?.eurPerMwh).toBe(30);
    expect(r.health.problems().has('prices')).toBe(false);
    expect(r.sync.nextFetchAtMs()).toBe(Date.parse('2026-01-16T12:15:00Z'));
  });

  it('a point running years past the window asked for is cut to it, so the next day’s prices replace it', async () => {
    const YEARS = TODAY + 10 * 365 * 24 * H;
    const bogus = platformDay('DE-LU', TODAY, 48, () => 50);
    api.setPrices('DE-LU', {
      ...bogus,
      series: bogus.series.map((p, i) => (i === 47 ? { ...p, endMs: YEARS } : p)),
    });
    r = await rig('2026-01-15T15:00:00Z', 'DE-LU');
    r.sync.setZone('DE-LU');
    await r.clock.advance(0);
    expect(coverageEndMs(await r.engineView('DE-LU'))).toBe(DAY_AFTER);

    api.setPrices(
      'DE-LU',
      platformDay('DE-LU', TOMORROW, 48, () => 99),
    );
    await r.clock.advance((r.sync.nextFetchAtMs() ?? 0) - r.clock.now());
    const sync = r.sync;
    await waitFor(() => (sync.nextFetchAtMs() ?? 0) > Date.parse('2026-01-16T12:15:00Z'), {
      message: 'the next day’s fetch done',
    });

    const stored = await r.engineView('DE-LU');
    expect(coverageEndMs(stored)).toBe(DAY_AFTER + 24 * H);
    expect(stored?.series.every((p) => p.eurPerMwh === 99)).toBe(true);
  });

  it('a series in KV that reaches years ahead (stored before trimming) does not keep correct prices out', async () => {
    const stale = platformDay('DE-LU', TODAY - 24 * H, 48, () => 50);
    r = await rig('2026-01-15T15:00:00Z', 'DE-LU', {
      stored: {
        ...stale,
        series: [...stale.series, { startMs: TOMORROW, endMs: TODAY + 3650 * 24 * H, eurPerMwh: 50 }],
      },
    });
    api.setPrices(
      'DE-LU',
      platformDay('DE-LU', TODAY, 48, () => 99),
    );
    r.sync.setZone('DE-LU');
    await r.clock.advance(0);

    const stored = await r.engineView('DE-LU');
    expect(coverageEndMs(stored)).toBe(DAY_AFTER);
    expect(stored?.series.every((p) => p.eurPerMwh === 99)).toBe(true);
  });

  it('nothing anywhere: nothing stored (the strategies keep their fallback), retried', async () => {
    r = await rig('2026-01-15T08:00:00Z', 'DE-LU');
    r.sync.setZone('DE-LU');
    await r.clock.advance(0);
    expect(await r.engineView('DE-LU')).toBeUndefined();
    // The first retry, a minute after the attempt (the clock also moves in real time meanwhile).
    const inMs = (r.sync.nextFetchAtMs() ?? 0) - r.clock.now();
    expect(inMs).toBeGreaterThan(50_000);
    expect(inMs).toBeLessThanOrEqual(60_000);
  });

  it('without a price zone nothing is fetched', async () => {
    r = await rig('2026-01-15T08:00:00Z', 'DE-LU');
    const before = api.requests('prices').length;
    r.sync.setZone(undefined);
    await r.clock.advance(24 * H);
    expect(api.requests('prices').length).toBe(before);
    expect(r.sync.nextFetchAtMs()).toBeUndefined();
  });
});
