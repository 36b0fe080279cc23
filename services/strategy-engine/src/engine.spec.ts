import { createMemoryNetwork, type MemoryBus } from '@voltimax/bus/testing';
import { ControlIntentSchema, DecisionMetricsSchema, subjects, type SiteConfigInput } from '@voltimax/contracts';
import { exampleConfigUpdated } from '@voltimax/contracts/testing';
import { healthControl, HealthState } from '@voltimax/service-kit';
import { pino } from 'pino';
import { parseEngineConfig, type EngineConfig } from './config';
import { createEngine, systemScheduler, type Engine } from './engine';
import { inMemoryMemoryStore, noMemoryStore, type MemoryStore } from './memory-store';
import { buildSite, siteReadings, T0 } from './testing';

const silent = pino({ level: 'silent' });

function engineConfig(site: SiteConfigInput = buildSite()): EngineConfig {
  const outcome = parseEngineConfig(site);
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.problems));
  return outcome.config;
}

interface Harness {
  readonly engine: Engine;
  /** The engine's own connection. */
  readonly bus: MemoryBus;
  /** Another party on the network: drivers, cloud-bridge. */
  readonly peer: MemoryBus;
  readonly health: HealthState;
  /** The configuration `config.updated` makes the engine read. */
  nextConfig: unknown;
}

function harness(opts: { site?: SiteConfigInput; store?: MemoryStore; intentTtlMs?: number } = {}): Harness {
  const network = createMemoryNetwork();
  const bus = network.connect();
  const peer = network.connect();
  const state = new HealthState();
  let id = 0;
  const h: Harness = {
    bus,
    peer,
    health: state,
    nextConfig: undefined,
    engine: createEngine({
      bus,
      log: silent,
      health: healthControl(state, () => undefined),
      store: opts.store ?? noMemoryStore,
      config: engineConfig(opts.site),
      settings: { maxTelemetryAgeMs: 15_000, ...(opts.intentTtlMs ? { intentTtlMs: opts.intentTtlMs } : {}) },
      scheduler: systemScheduler,
      readConfig: async () => (h.nextConfig === undefined ? undefined : { raw: h.nextConfig, source: 'kv' }),
      newId: () => `int-${++id}`,
    }),
  };
  return h;
}

function sendTelemetry(peer: MemoryBus, ...args: Parameters<typeof siteReadings>): void {
  for (const r of siteReadings(...args)) peer.publish(subjects.telemetry, { assetId: r.assetId }, r);
}

const intentsFor = (bus: MemoryBus, assetId: string) =>
  bus.published(subjects.intent).filter((m) => m.params.assetId === assetId).map((m) => m.payload);
const decisionsOf = (bus: MemoryBus, strategy: string) =>
  bus.published(subjects.strategyDecision).filter((m) => m.params.strategy === strategy).map((m) => m.payload);

let running: Engine[] = [];
beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  await Promise.all(running.map((e) => e.stop()));
  running = [];
  jest.useRealTimers();
});

async function started(h: Harness): Promise<Harness> {
  await h.engine.start();
  running.push(h.engine);
  return h;
}

describe('the tick', () => {
  it('publishes a valid optimization intent for the battery and a decision for the strategy', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000, batteryW: 0, socPct: 50 });
    jest.advanceTimersByTime(0);

    const [intent] = intentsFor(h.bus, 'bat-1');
    expect(ControlIntentSchema.parse(intent)).toEqual({
      v: 1,
      id: 'int-1',
      source: 'optimization',
      assetId: 'bat-1',
      setpoint: { kind: 'battery-power', powerW: 1_000 },
      issuedAtMs: T0,
      ttlMs: 3_000,
      reason: 'self-consumption:self-consumption',
      issuedBy: 'strategy-engine',
    });
    const [decision] = decisionsOf(h.bus, 'self-consumption');
    expect(DecisionMetricsSchema.parse(decision)).toMatchObject({
      strategy: 'self-consumption',
      atMs: T0,
      reason: 'self-consumption',
      outputs: { batteryPowerW: 1_000 },
    });
  });

  it('publishes intents only for assets with a setpoint (no EV intent without ev-charging)', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(new Set(h.bus.published(subjects.intent).map((m) => m.params.assetId))).toEqual(new Set(['bat-1']));
  });

  it('sets EV currents when ev-charging is active', async () => {
    const site = buildSite({ strategy: { active: ['ev-charging', 'self-consumption'], tickMs: 1_000, config: { 'ev-charging': { mode: 'fast' } } } });
    const h = harness({ site });
    await started(h);
    sendTelemetry(h.peer, T0, { evW: 3_000 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'ev-1')[0]).toMatchObject({ setpoint: { kind: 'ev-current', currentA: 16 }, reason: 'ev-charging:fast' });
    // ev-charging decides twice per tick: the chargers, then its battery guard layer.
    expect(decisionsOf(h.bus, 'ev-charging').map((d) => d.reason)).toEqual(['fast', 'battery-guard']);
    // The car draws more than the grid imports: the guard stops the battery from discharging into it.
    expect(intentsFor(h.bus, 'bat-1')[0]).toMatchObject({ setpoint: { powerW: 0 }, reason: 'ev-charging:battery-guard' });
  });

  it('ticks on the configured cadence', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    jest.advanceTimersByTime(3_000);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs)).toEqual([T0, T0 + 1_000, T0 + 2_000, T0 + 3_000]);
  });

  it('holds the battery at 0 W with stale-data when telemetry stops', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000 });
    jest.advanceTimersByTime(16_000);
    const last = intentsFor(h.bus, 'bat-1').at(-1);
    expect(last).toMatchObject({ setpoint: { kind: 'battery-power', powerW: 0 }, reason: 'self-consumption:stale-data' });
    expect(h.health.counters.get('staleAssets')).toBe(4);
  });

  it('stamps a TTL of three ticks unless INTENT_TTL_MS says otherwise', async () => {
    const h = harness({ intentTtlMs: 10_000 });
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1')[0]?.ttlMs).toBe(10_000);
  });

  it('publishes automation rule intents with their source and rule reason', async () => {
    const site = buildSite({
      rules: [{ id: 'protect-reserve', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 0 } }],
    });
    const h = harness({ site });
    await started(h);
    sendTelemetry(h.peer, T0, { socPct: 12 });
    jest.advanceTimersByTime(0);
    const sources = intentsFor(h.bus, 'bat-1').map((i) => [i.source, i.reason]);
    expect(sources).toEqual([
      ['optimization', 'self-consumption:self-consumption'],
      ['scheduled', 'rule:protect-reserve'],
    ]);
  });

  it('publishes every intent on the subject of its own source (nats.conf grants the engine no manual subject)', async () => {
    const site = buildSite({
      rules: [
        { id: 'protect-reserve', source: 'safety', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 0 } },
        { id: 'ev-pause', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 0 } },
      ],
    });
    const h = harness({ site });
    await started(h);
    sendTelemetry(h.peer, T0, { socPct: 12 });
    jest.advanceTimersByTime(0);
    const published = h.bus.published(subjects.intent).map((m) => [m.subject, m.params.source, m.payload.source, m.payload.reason]);
    expect(published).toEqual([
      ['control.intent.optimization.bat-1', 'optimization', 'optimization', 'self-consumption:self-consumption'],
      ['control.intent.safety.bat-1', 'safety', 'safety', 'rule:protect-reserve'],
      ['control.intent.scheduled.ev-1', 'scheduled', 'scheduled', 'rule:ev-pause'],
    ]);
  });
});

describe('start-up', () => {
  it('waits for the grid meter and battery before the first decision, at most one intent TTL', async () => {
    const h = await started(harness());
    jest.advanceTimersByTime(2_999);
    expect(intentsFor(h.bus, 'bat-1')).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(intentsFor(h.bus, 'bat-1')[0]).toMatchObject({ setpoint: { powerW: 0 }, reason: 'self-consumption:stale-data' });
  });

  it('ticks as soon as the telemetry is complete', async () => {
    const h = await started(harness());
    jest.advanceTimersByTime(500);
    sendTelemetry(h.peer, T0 + 500, { gridW: 700 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1')).toEqual([expect.objectContaining({ issuedAtMs: T0 + 500, setpoint: { kind: 'battery-power', powerW: 700 } })]);
  });
});

describe('configuration switching', () => {
  it('switches strategy on config.updated without a restart', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000 });
    jest.advanceTimersByTime(0);
    h.nextConfig = buildSite({ strategy: { active: ['net-zero'], tickMs: 1_000, config: {} } });
    h.peer.publish(subjects.configUpdated, {}, exampleConfigUpdated);
    await h.bus.settle();
    jest.advanceTimersByTime(0);

    expect(h.engine.config.site.strategy.active).toEqual(['net-zero']);
    expect(decisionsOf(h.bus, 'net-zero')).toHaveLength(1);
    expect(intentsFor(h.bus, 'bat-1').at(-1)?.reason).toMatch(/^net-zero:/);
    expect(h.health.counters.get('configSwitches')).toBe(1);
  });

  it('keeps the old configuration when the new one is invalid, counts it and reports degraded', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0);
    const before = h.engine.config.hash;
    h.nextConfig = buildSite({ strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { gridTargetW: 0 } } } });
    h.peer.publish(subjects.configUpdated, {}, exampleConfigUpdated);
    await h.bus.settle();
    jest.advanceTimersByTime(1_000);

    expect(h.engine.config.hash).toBe(before);
    expect(h.health.counters.get('configRejected')).toBe(1);
    expect(h.health.status).toBe('degraded');
    expect(intentsFor(h.bus, 'bat-1').at(-1)?.reason).toBe('self-consumption:self-consumption');
  });

  it('returns to ok once a valid configuration follows a rejected one', async () => {
    const h = await started(harness());
    expect(h.engine.applyConfig({ v: 1 }, 'kv').kind).toBe('rejected');
    expect(h.engine.applyConfig(buildSite({ siteName: 'Renamed' }), 'kv').kind).toBe('applied');
    expect(h.health.status).toBe('ok');
  });

  it('ignores an identical configuration', async () => {
    const h = await started(harness());
    expect(h.engine.applyConfig(buildSite(), 'kv').kind).toBe('unchanged');
  });

  it('follows a new tick cadence', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    h.engine.applyConfig(buildSite({ strategy: { active: ['self-consumption'], tickMs: 5_000, config: {} } }), 'kv');
    jest.advanceTimersByTime(10_000);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs - T0)).toEqual([0, 0, 5_000, 10_000]);
    expect(intentsFor(h.bus, 'bat-1').at(-1)?.ttlMs).toBe(15_000);
  });
});

describe('prices', () => {
  const hour = 3_600_000;
  const series = { v: 1, zone: 'FR', series: [0, 1, 2, 3].map((i) => ({ startMs: T0 + i * hour, endMs: T0 + (i + 1) * hour, eurPerMwh: [20, 300, 20, 300][i] })) };
  // Feed-in at spot: Arbitrage values energy as the tariff bills it, so selling at 300 pays for buying at 20.
  const arbitrageSite = buildSite({
    strategy: { active: ['arbitrage'], tickMs: 60_000, config: {} },
    tariff: { kind: 'dynamic', priceZone: 'FR', feedIn: { rule: 'spot' } },
  });

  it('re-plans at once when prices arrive, not only on the next tick', async () => {
    const h = harness({ site: arbitrageSite });
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(decisionsOf(h.bus, 'arbitrage').map((d) => d.reason)).toEqual(['no-prices']);

    jest.advanceTimersByTime(1_000);
    h.engine.setPrices('FR', series);
    jest.advanceTimersByTime(0);
    const decisions = decisionsOf(h.bus, 'arbitrage');
    expect(decisions).toHaveLength(2);
    expect(decisions[1]).toMatchObject({ atMs: T0 + 1_000, reason: 'arbitrage-charging', terms: { replanned: 1 } });
  });

  it('drops invalid prices, counts them and keeps the previous ones', async () => {
    const h = harness({ site: arbitrageSite });
    await started(h);
    h.engine.setPrices('FR', series);
    h.engine.setPrices('FR', { v: 1, zone: 'FR', series: [{ startMs: 2, endMs: 1, eurPerMwh: 5 }] });
    expect(h.health.counters.get('pricesRejected')).toBe(1);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(decisionsOf(h.bus, 'arbitrage')[0]?.reason).toBe('arbitrage-charging');
  });

  it('ignores prices of another zone', async () => {
    const h = harness({ site: arbitrageSite });
    await started(h);
    h.engine.setPrices('DE-LU', { ...series, zone: 'DE-LU' });
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(decisionsOf(h.bus, 'arbitrage')[0]?.reason).toBe('no-prices');
  });
});

describe('memory across restarts', () => {
  // A long hold: a restored memory keeps the last setpoint; a fresh one would jump to the new target at once.
  const holdSite = buildSite({ strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { minHoldMs: 60_000, deadbandW: 0 } } } });

  async function runThenRestart(store: MemoryStore, site: SiteConfigInput = holdSite) {
    const first = harness({ site, store });
    await first.engine.start();
    sendTelemetry(first.peer, T0, { gridW: 1_000, batteryW: 0 });
    jest.advanceTimersByTime(0);
    await first.engine.stop();
    const lastBefore = intentsFor(first.bus, 'bat-1').at(-1);

    jest.advanceTimersByTime(5_000);
    const second = harness({ site, store });
    // After the restart the battery really discharges 1 kW and the grid shows 500 W: demand is now 1.5 kW.
    await started(second);
    sendTelemetry(second.peer, T0 + 5_000, { gridW: 500, batteryW: 1_000 });
    jest.advanceTimersByTime(0);
    return { lastBefore, firstAfter: intentsFor(second.bus, 'bat-1')[0] };
  }

  it('restores strategy memories so the first intent after a restart equals the last before', async () => {
    const { lastBefore, firstAfter } = await runThenRestart(inMemoryMemoryStore(() => Date.now()));
    expect(lastBefore?.setpoint).toEqual({ kind: 'battery-power', powerW: 1_000 });
    expect(firstAfter).toMatchObject({ setpoint: lastBefore?.setpoint, reason: 'self-consumption:min-hold' });
  });

  it('starts fresh without a store', async () => {
    const { firstAfter } = await runThenRestart(noMemoryStore);
    expect(firstAfter).toMatchObject({ setpoint: { kind: 'battery-power', powerW: 1_500 }, reason: 'self-consumption:self-consumption' });
  });

  it('starts fresh when the memory has expired (5-minute TTL)', async () => {
    const store = inMemoryMemoryStore(() => Date.now());
    const first = harness({ site: holdSite, store });
    await first.engine.start();
    sendTelemetry(first.peer, T0, { gridW: 1_000 });
    jest.advanceTimersByTime(0);
    await first.engine.stop();
    jest.advanceTimersByTime(5 * 60_000 + 1);
    expect(await store.load('gw-test', ['bat-1'])).toEqual({ snapshot: undefined, setpoints: [] });
  });

  it('stores the last setpoint per asset under the gateway prefix', async () => {
    const store = inMemoryMemoryStore(() => Date.now());
    const h = harness({ site: holdSite, store });
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000 });
    jest.advanceTimersByTime(0);
    await Promise.resolve();
    expect([...store.entries.keys()].sort()).toEqual(['voltimax:gw-test:strategy-engine:memory', 'voltimax:gw-test:strategy-engine:setpoint:bat-1']);
    expect((await store.load('gw-test', ['bat-1'])).setpoints).toEqual([
      { v: 1, assetId: 'bat-1', setpoint: { kind: 'battery-power', powerW: 1_000 }, atMs: T0, reason: 'self-consumption:self-consumption' },
    ]);
  });

  it('does not restore a memory made under a different strategy config', async () => {
    const store = inMemoryMemoryStore(() => Date.now());
    await runThenRestart(store);
    const other = buildSite({ strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { minHoldMs: 30_000, deadbandW: 0 } } } });
    const h = harness({ site: other, store });
    await started(h);
    sendTelemetry(h.peer, Date.now(), { gridW: 500, batteryW: 1_000 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1')[0]?.setpoint).toEqual({ kind: 'battery-power', powerW: 1_500 });
  });
});
