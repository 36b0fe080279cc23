import { createMemoryNetwork, type MemoryBus } from '@voltimax/bus/testing';
import { ControlIntentSchema, DecisionMetricsSchema, subjects, type SiteConfigInput, type StrategyHistoryImportRequest } from '@voltimax/contracts';
import { exampleConfigUpdated } from '@voltimax/contracts/testing';
import { healthControl, HealthState } from '@voltimax/service-kit';
import { pino } from 'pino';
import { parseEngineConfig, type EngineConfig } from './config';
import { createEngine, minTickMsOf, systemScheduler, type Engine } from './engine';
import { inMemoryHistoryStore, type HistoryStore } from './history-store';
import { inMemoryMemoryStore, noMemoryStore, type MemoryStore } from './memory-store';
import { buildSite, reading, siteReadings, T0 } from './testing';

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

function harness(
  opts: { site?: SiteConfigInput; store?: MemoryStore; history?: HistoryStore; intentTtlMs?: number; newId?: () => string } = {},
): Harness {
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
      ...(opts.history ? { history: opts.history } : {}),
      config: engineConfig(opts.site),
      settings: { maxTelemetryAgeMs: 15_000, ...(opts.intentTtlMs ? { intentTtlMs: opts.intentTtlMs } : {}) },
      scheduler: systemScheduler,
      readConfig: async () => (h.nextConfig === undefined ? undefined : { raw: h.nextConfig, source: 'kv' }),
      newId: opts.newId ?? (() => `int-${++id}`),
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

/** A rule that discharges 1 kW once the grid imports more than `powerW` for `forMs`. */
function shedRule(powerW: number, forMs: number) {
  return {
    id: 'shed',
    forMs,
    when: { type: 'grid-import-above' as const, powerW },
    then: { type: 'set-battery-power' as const, assetId: 'bat-1', powerW: 1_000 },
  };
}

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

  it('curtails the PV inverter when a full battery leaves more export than the grid connection takes', async () => {
    const site = buildSite({ grid: { maxImportW: 17_000, maxExportW: 2_000, phases: 3, nominalVoltageV: 230 } });
    const h = harness({ site });
    await started(h);
    // 6 kW of PV, 1 kW of load, the battery full: 5 kW go out, 1.95 kW may (the limit less its 50 W margin).
    sendTelemetry(h.peer, T0, { gridW: -5_000, batteryW: 0, socPct: 95, pvW: 6_000 });
    jest.advanceTimersByTime(0);
    const [intent] = intentsFor(h.bus, 'pv-1');
    expect(ControlIntentSchema.parse(intent)).toMatchObject({
      source: 'optimization',
      assetId: 'pv-1',
      setpoint: { kind: 'pv-limit', maxPowerW: 6_000 - (5_000 - 1_950) },
      reason: 'export-limit:curtailing',
    });
    // The export back under the limit with room to spare (the load rose): the limit rises, by 600 W a tick. (The
    // readings come at T0 + 1 s: a grid reading taken at the moment the limit was sent could not show it.)
    jest.advanceTimersByTime(1_000);
    sendTelemetry(h.peer, T0 + 1_000, { gridW: -1_000, batteryW: 0, socPct: 95, pvW: 2_950 });
    jest.advanceTimersByTime(1_000);
    expect(intentsFor(h.bus, 'pv-1').at(-1)?.setpoint).toEqual({ kind: 'pv-limit', maxPowerW: 3_550 });
    // Each tick explains itself on strategy.decision.export-limit: what it measured, the limit and what it did.
    const decisions = decisionsOf(h.bus, 'export-limit').map((d) => DecisionMetricsSchema.parse(d));
    // (The tick at T0 + 1 s before the readings came holds: its grid reading is the one the start answered.)
    expect(decisions.map((d) => [d.reason, d.outputs['limitW']])).toEqual([
      ['curtail-start', 2_950],
      ['curtail-hold', 2_950],
      ['curtail-rise', 3_550],
    ]);
    expect(decisions[0]).toMatchObject({ inputs: { gridW: -5_000, pvW: 6_000, ratedW: 6_000, maxExportW: 2_000 } });
  });

  it('publishes no feed-in limit decision on a site without a PV inverter it may curtail', async () => {
    const site = buildSite();
    const h = harness({ site: { ...site, assets: site.assets.filter((a) => a.kind !== 'pv-inverter') } });
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: -5_000, batteryW: 0, socPct: 95 });
    jest.advanceTimersByTime(0);
    expect(decisionsOf(h.bus, 'self-consumption')).not.toHaveLength(0);
    expect(decisionsOf(h.bus, 'export-limit')).toEqual([]);
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

  it('keeps the battery out of a car whose charger stopped answering', async () => {
    // 1 kW of house and a car at 16 A (11 kW). Then the charger's readings stop while the grid meter still shows the
    // car: the engine reports the charger stale, at 0 W and unplugged. Before, the car's draw then looked like house
    // load and self-consumption discharged 5 kW into it.
    const site = buildSite({ strategy: { active: ['ev-charging', 'self-consumption'], tickMs: 1_000, config: { 'ev-charging': { mode: 'fast' }, 'self-consumption': { minHoldMs: 0, deadbandW: 0 } } } });
    const h = harness({ site });
    await started(h);
    const send = (atMs: number, withCharger: boolean) => {
      for (const r of siteReadings(atMs, { gridW: 12_040, batteryW: 0, socPct: 50 })) {
        if (r.assetId === 'ev-1') {
          if (withCharger) h.peer.publish(subjects.telemetry, { assetId: 'ev-1' }, { ...r, values: { powerW: 11_040, currentLimitA: 16 }, chargerState: 'charging' });
          continue;
        }
        h.peer.publish(subjects.telemetry, { assetId: r.assetId }, r);
      }
    };
    send(T0, true);
    jest.advanceTimersByTime(0);
    // The driver first says so: an error reading without values (no limit, no power), then nothing.
    h.peer.publish(subjects.telemetry, { assetId: 'ev-1' }, reading('ev-1', 'ev-charger', T0 + 500, {}, { quality: 'error' }));
    for (let s = 1; s <= 30; s++) {
      send(T0 + s * 1_000, false);
      jest.advanceTimersByTime(1_000);
    }
    const battery = intentsFor(h.bus, 'bat-1');
    expect(battery.at(-1)).toMatchObject({ reason: 'ev-charging:battery-guard' });
    for (const intent of battery) expect(intent.setpoint).toMatchObject({ kind: 'battery-power' });
    expect(Math.max(...battery.map((i) => (i.setpoint.kind === 'battery-power' ? i.setpoint.powerW : 0)))).toBeLessThanOrEqual(1_000);
    expect(intentsFor(h.bus, 'ev-1').at(-1)).toMatchObject({ setpoint: { currentA: 0 }, reason: 'ev-charging:stale-data' });
  });

  it('gives each charger’s intent its own reason (the second, without a car, is not "fast")', async () => {
    const base = buildSite({ strategy: { active: ['ev-charging', 'self-consumption'], tickMs: 1_000, config: { 'ev-charging': { mode: 'fast' } } } });
    const ev1 = base.assets.find((a) => a.id === 'ev-1')!;
    const site = { ...base, assets: [...base.assets, { ...ev1, id: 'ev-2', name: 'Second wallbox' }] };
    const h = harness({ site });
    await started(h);
    h.peer.publish(subjects.telemetry, { assetId: 'ev-2' }, reading('ev-2', 'ev-charger', T0, { powerW: 0 }, { chargerState: 'available' }));
    sendTelemetry(h.peer, T0, { evW: 3_000 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'ev-1')[0]).toMatchObject({ setpoint: { currentA: 16 }, reason: 'ev-charging:fast' });
    expect(intentsFor(h.bus, 'ev-2')[0]).toMatchObject({ setpoint: { currentA: 0 }, reason: 'ev-charging:not-connected' });
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

  it('refuses a reading no meter of this site can show, counts it, and acts on the last good one', async () => {
    // A 17 kW connection: beyond 3 × its largest rating (51 kW), and 100 kW in any case, a reading is a glitch. Before, one 1e8 W grid reading
    // became the month's peak (113 kW, saved with the site history) and peak-shaving charged from the grid under it.
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 2_000 });
    jest.advanceTimersByTime(0);
    h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'grid-meter', T0 + 500, { powerW: 1e8 }));
    jest.advanceTimersByTime(500);
    expect(h.health.counters.get('implausibleReadings')).toBe(1);
    expect(h.engine.telemetry.get('grid-1')?.values.powerW).toBe(2_000);
    // A large but possible reading (90 kW: PV the configuration gives no rating could be that large) is kept.
    h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'grid-meter', T0 + 600, { powerW: -90_000 }));
    expect(h.engine.telemetry.get('grid-1')?.values.powerW).toBe(-90_000);
  });

  it('is degraded after a failed tick only until a tick succeeds again', async () => {
    let n = 0;
    const h = harness({
      newId: () => {
        n++;
        if (n === 1) throw new Error('boom');
        return `int-${n}`;
      },
    });
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    expect(h.health.counters.get('tickErrors')).toBe(1);
    expect(h.health.status).toBe('degraded');
    sendTelemetry(h.peer, T0 + 1_000);
    jest.advanceTimersByTime(1_000);
    expect(intentsFor(h.bus, 'bat-1').length).toBeGreaterThan(0);
    expect(h.health.status).toBe('ok');
  });

  it('refuses a reading of another kind than its configured asset', async () => {
    const h = harness();
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 2_000 });
    jest.advanceTimersByTime(0);
    h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'battery', T0 + 500, { powerW: -4_000, socPct: 50 }));
    expect(h.health.counters.get('telemetryMismatch')).toBe(1);
    expect(h.engine.telemetry.get('grid-1')?.values.powerW).toBe(2_000);
  });

  it('a reading stamped a day ahead does not hold back the correct ones after it', async () => {
    const h = harness();
    await started(h);
    h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'grid-meter', T0 + 86_400_000, { powerW: 9_999 }));
    sendTelemetry(h.peer, T0 + 1_000, { gridW: 1_500 });
    jest.advanceTimersByTime(1_000);
    expect(h.engine.telemetry.get('grid-1')?.values.powerW).toBe(1_500);
    expect(intentsFor(h.bus, 'bat-1').at(-1)).toMatchObject({ setpoint: { kind: 'battery-power', powerW: 1_500 } });
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

  it('a limit rule caps the strategy’s set-point (no discharge under 15 %) and lets a charge through; its intents live 3 ticks', async () => {
    const site = buildSite({
      rules: [
        { id: 'protect-reserve', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } },
        { id: 'cheap-night', when: { type: 'soc-below', assetId: 'bat-1', socPct: 13 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 2_000 } },
      ],
    });
    const h = harness({ site });
    await started(h);
    // Importing 1 kW at 12 %: self-consumption would discharge 1 kW; the cap holds it at 0 W, and the other rule's
    // 2 kW discharge is capped too.
    sendTelemetry(h.peer, T0, { gridW: 1_000, socPct: 12 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1').map((i) => [i.source, i.setpoint, i.reason, i.ttlMs])).toEqual([
      ['optimization', { kind: 'battery-power', powerW: 0 }, 'rule:protect-reserve (limits self-consumption:self-consumption)', 3_000],
      ['scheduled', { kind: 'battery-power', powerW: 0 }, 'rule:cheap-night (limited by rule:protect-reserve)', 3_000],
    ]);
    // Exporting 2 kW at 14 %: the battery charges — before, the 0 W set-point kept a low battery from ever charging.
    jest.advanceTimersByTime(1_000);
    sendTelemetry(h.peer, T0 + 1_000, { gridW: -2_000, socPct: 14 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1').at(-1)).toMatchObject({ setpoint: { powerW: -2_000 }, reason: 'self-consumption:self-consumption' });
  });

  it('a scheduled cap does not weaken a safety rule’s set-point', async () => {
    const site = buildSite({
      rules: [
        { id: 'protect-reserve', when: { type: 'soc-below', assetId: 'bat-1', socPct: 30 }, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } },
        { id: 'fuse-guard', source: 'safety', when: { type: 'grid-import-above', powerW: 15_000 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 4_000 } },
      ],
    });
    const h = harness({ site });
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 16_000, socPct: 25 });
    jest.advanceTimersByTime(0);
    expect(intentsFor(h.bus, 'bat-1').map((i) => [i.source, i.setpoint, i.reason])).toEqual([
      ['optimization', { kind: 'battery-power', powerW: 0 }, 'rule:protect-reserve (limits self-consumption:self-consumption)'],
      ['safety', { kind: 'battery-power', powerW: 4_000 }, 'rule:fuse-guard'],
    ]);
  });

  it('publishes the rules’ statuses as strategy.decision.automation-rules (none on a site without rules)', async () => {
    const site = buildSite({
      rules: [
        { id: 'protect-reserve', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } },
        { id: 'shed', forMs: 30_000, when: { type: 'grid-import-above', powerW: 500 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 1_000 } },
      ],
    });
    const h = harness({ site });
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000, socPct: 12 });
    jest.advanceTimersByTime(0);
    const [decision] = decisionsOf(h.bus, 'automation-rules').map((d) => DecisionMetricsSchema.parse(d));
    expect(decision).toMatchObject({
      reason: 'fired: protect-reserve; pending: shed',
      inputs: { 'protect-reserve': 12, shed: 1_000 },
      outputs: { 'protect-reserve': 1, shed: 0 },
    });
    const plain = harness();
    await started(plain);
    sendTelemetry(plain.peer, T0, {});
    jest.advanceTimersByTime(0);
    expect(decisionsOf(plain.bus, 'automation-rules')).toEqual([]);
  });

  it('starts a rule’s forMs hold over when the rule is edited', async () => {
    const hold = (powerW: number) => shedRule(powerW, 30_000);
    const h = harness({ site: buildSite({ rules: [hold(10_000)] }) });
    await started(h);
    const ruleIntents = () => intentsFor(h.bus, 'bat-1').filter((i) => i.source === 'scheduled');
    for (let s = 0; s <= 40; s += 1) {
      sendTelemetry(h.peer, T0 + s * 1_000, { gridW: 16_000 });
      jest.advanceTimersByTime(1_000);
    }
    expect(ruleIntents().length).toBeGreaterThan(0);
    // The threshold raised at 41 s (16 kW is still above it): the 30 s hold starts again, no intent before 71 s.
    expect(h.engine.applyConfig(buildSite({ rules: [hold(15_000)] }), 'test').kind).toBe('applied');
    const before = ruleIntents().length;
    for (let s = 41; s <= 75; s += 1) {
      sendTelemetry(h.peer, T0 + s * 1_000, { gridW: 16_000 });
      jest.advanceTimersByTime(1_000);
    }
    const after = ruleIntents().slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after.map((i) => i.issuedAtMs))).toBeGreaterThanOrEqual(T0 + 71_000);
  });

  it('restores a rule’s forMs hold after a restart only while the rule is unchanged', async () => {
    const hold = (powerW: number) => shedRule(powerW, 60_000);
    /** 50 s into the hold, a stop, and a restart 5 s later with `rule`; the first rule intent after it, or undefined. */
    const restartWith = async (powerW: number): Promise<number | undefined> => {
      const store = inMemoryMemoryStore(() => Date.now());
      const first = harness({ site: buildSite({ rules: [hold(10_000)] }), store });
      await started(first);
      const t0 = Date.now();
      for (let s = 0; s <= 50; s += 1) {
        sendTelemetry(first.peer, t0 + s * 1_000, { gridW: 16_000 });
        jest.advanceTimersByTime(1_000);
      }
      await Promise.resolve();
      await first.engine.stop();
      running = running.filter((e) => e !== first.engine);
      jest.advanceTimersByTime(5_000);
      const second = harness({ site: buildSite({ rules: [hold(powerW)] }), store });
      await started(second);
      const t1 = Date.now();
      for (let s = 0; s <= 20; s += 1) {
        sendTelemetry(second.peer, t1 + s * 1_000, { gridW: 16_000 });
        jest.advanceTimersByTime(1_000);
      }
      const fired = intentsFor(second.bus, 'bat-1').filter((i) => i.source === 'scheduled');
      return fired.length === 0 ? undefined : Math.min(...fired.map((i) => i.issuedAtMs)) - t1;
    };
    // Unchanged: the hold goes on (60 s from its start, about 5 s after the restart).
    expect(await restartWith(10_000)).toBeLessThanOrEqual(10_000);
    // Edited while the engine was down: the hold starts over (before, it fired about 1 s after the restart).
    expect(await restartWith(15_000)).toBeUndefined();
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
    expect(h.health.counters.get('pricesOtherZone')).toBe(1);
    expect(h.health.counters.get('priceUpdates')).toBeUndefined();
  });

  it('takes the same series again as no update (no count, no extra tick)', async () => {
    const h = harness({ site: arbitrageSite });
    await started(h);
    sendTelemetry(h.peer, T0);
    jest.advanceTimersByTime(0);
    h.engine.setPrices('FR', series);
    jest.advanceTimersByTime(0);
    const ticks = h.health.counters.get('ticks');
    h.engine.setPrices('FR', structuredClone(series));
    jest.advanceTimersByTime(0);
    expect(h.health.counters.get('priceUpdates')).toBe(1);
    expect(h.health.counters.get('pricesUnchanged')).toBe(1);
    expect(h.health.counters.get('ticks')).toBe(ticks);
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

  it('keeps the memory in the store for two ticks on a site ticking slower than its 5-minute TTL', async () => {
    // 10-min ticks: before, Redis held no memory 5 min after each tick, and a restart then started afresh.
    const store = inMemoryMemoryStore(() => Date.now());
    const h = harness({ site: buildSite({ strategy: { active: ['self-consumption'], tickMs: 600_000, config: {} } }), store });
    await started(h);
    sendTelemetry(h.peer, T0, { gridW: 1_000 });
    jest.advanceTimersByTime(0);
    await Promise.resolve();
    jest.advanceTimersByTime(9 * 60_000);
    const restored = await store.load('gw-test', ['bat-1']);
    expect(restored.snapshot).toBeDefined();
    expect(restored.setpoints).toHaveLength(1);
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

  it('goes on curtailing the PV at the limit in force after a restart within the intent TTL, not after it', async () => {
    const site = buildSite({ grid: { maxImportW: 17_000, maxExportW: 2_000, phases: 3, nominalVoltageV: 230 } });
    /** Curtails, stops, restarts `downMs` later; the PV inverter reports only after the first tick of the new engine. */
    const runThenRestartCurtailing = async (store: MemoryStore, downMs: number) => {
      const first = harness({ site, store });
      await started(first);
      sendTelemetry(first.peer, T0, { gridW: -5_000, batteryW: 0, socPct: 95, pvW: 6_000 });
      jest.advanceTimersByTime(0);
      await first.engine.stop();
      jest.advanceTimersByTime(downMs);
      const second = harness({ site, store });
      await started(second);
      // The inverter still runs at the limit if its intent has not expired: 1 940 W out, just under the target.
      const readings = siteReadings(T0 + downMs, { gridW: -1_940, batteryW: 0, socPct: 95, pvW: 2_950 });
      for (const r of readings.filter((r) => r.assetId !== 'pv-1')) second.peer.publish(subjects.telemetry, { assetId: r.assetId }, r);
      jest.advanceTimersByTime(0); // the first tick: no PV reading yet
      const pv = readings.find((r) => r.assetId === 'pv-1');
      if (pv) second.peer.publish(subjects.telemetry, { assetId: 'pv-1' }, { ...pv, atMs: T0 + downMs + 500 });
      jest.advanceTimersByTime(1_000);
      return { lastBefore: intentsFor(first.bus, 'pv-1').at(-1), after: intentsFor(second.bus, 'pv-1') };
    };
    const kept = await runThenRestartCurtailing(inMemoryMemoryStore(() => Date.now()), 1_000);
    expect(kept.lastBefore?.setpoint).toEqual({ kind: 'pv-limit', maxPowerW: 2_950 });
    expect(kept.after[0]).toMatchObject({ setpoint: kept.lastBefore?.setpoint, reason: 'export-limit:curtailing' });
    // Without the memory the export looks fine, nothing is curtailed, and the intent in force expires: 5 kW out again.
    expect((await runThenRestartCurtailing(noMemoryStore, 1_000)).after).toEqual([]);
    // Down longer than the intent TTL (3 s): the arbiter has released the inverter, the old limit binds nothing.
    expect((await runThenRestartCurtailing(inMemoryMemoryStore(() => Date.now()), 4_000)).after).toEqual([]);
  });

  it('counts a feed-in limit saved without its time from when the snapshot was saved', async () => {
    const site = buildSite({ grid: { maxImportW: 17_000, maxExportW: 2_000, phases: 3, nominalVoltageV: 230 } });
    const restartWith = async (savedAgoMs: number) => {
      const store = inMemoryMemoryStore(() => Date.now());
      const snapshot = { v: 1 as const, savedAtMs: Date.now() - savedAgoMs, memories: {}, configHashes: {}, automation: { conditionSinceMs: {} } };
      await store.save('gw-test', { ...snapshot, exportLimit: { limitW: 2_950 } }, []);
      const h = harness({ site, store });
      await started(h);
      sendTelemetry(h.peer, Date.now(), { gridW: -1_940, batteryW: 0, socPct: 95, pvW: 2_950 });
      jest.advanceTimersByTime(0);
      return intentsFor(h.bus, 'pv-1');
    };
    expect((await restartWith(1_000))[0]?.setpoint).toEqual({ kind: 'pv-limit', maxPowerW: 2_950 });
    expect(await restartWith(10_000)).toEqual([]);
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

describe('reactive ticks', () => {
  /** NetZero (reacts to the grid meter) with a 1 s cadence and 100 ms between reading ticks. */
  const netZeroSite = (extra: Partial<SiteConfigInput> = {}): SiteConfigInput =>
    buildSite({ strategy: { active: ['net-zero'], tickMs: 1_000, minTickMs: 100, config: { 'net-zero': {} } }, ...extra });
  /** A grid meter reading measured at `atMs` arrives now; timers due now run. */
  const sendGrid = (h: Harness, atMs: number, gridW: number): void => {
    h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'grid-meter', atMs, { powerW: gridW, frequencyHz: 50 }));
    jest.advanceTimersByTime(0);
  };
  const counter = (h: Harness, name: string): number => h.health.counters.get(name) ?? 0;
  /** Started, with the first tick (all telemetry at T0, grid at 0 W: NetZero holds 0 W) done. */
  async function startedNetZero(site = netZeroSite()): Promise<Harness> {
    const h = await started(harness({ site }));
    sendTelemetry(h.peer, T0, { gridW: 0, batteryW: 0 });
    jest.advanceTimersByTime(0);
    expect(counter(h, 'ticks')).toBe(1);
    return h;
  }
  /** Advances the fake clock to T0 + `ms`. */
  const at = (ms: number): void => void jest.advanceTimersByTime(T0 + ms - Date.now());
  /** At T0 + `ms`, a grid reading measured then arrives. */
  const gridAt = (h: Harness, ms: number, gridW: number): void => {
    at(ms);
    sendGrid(h, T0 + ms, gridW);
  };

  it('ticks at once when a fresh grid reading arrives, without waiting for the cadence', async () => {
    const h = await startedNetZero();
    gridAt(h, 300, 2_000);

    expect(counter(h, 'ticks')).toBe(2);
    expect(counter(h, 'readingTicks')).toBe(1);
    // 300 ms of a 2 kW error: kp·e + ki·e·dt = 800 + 240 W, rate-limited to 2 000 W/s × 0.3 s.
    expect(intentsFor(h.bus, 'bat-1').at(-1)).toMatchObject({
      issuedAtMs: T0 + 300,
      setpoint: { kind: 'battery-power', powerW: 600 },
      reason: 'net-zero:rate-limited',
    });
    expect(decisionsOf(h.bus, 'net-zero').at(-1)).toMatchObject({ atMs: T0 + 300, terms: { dtS: 0.3 } });
  });

  it('keeps minTickMs between reading ticks: the readings that arrive in between are taken by one tick', async () => {
    const h = await startedNetZero();
    gridAt(h, 300, 2_000);
    gridAt(h, 320, 2_100);
    gridAt(h, 350, 2_200);
    at(399);
    expect(counter(h, 'ticks')).toBe(2);

    at(400);
    expect(counter(h, 'ticks')).toBe(3);
    expect(decisionsOf(h.bus, 'net-zero').at(-1)).toMatchObject({ atMs: T0 + 400, inputs: { gridPowerW: 2_200 } });
    // Nothing new after that: no further tick until the fallback cadence (tickMs + minTickMs after the last reading tick).
    at(1_499);
    expect(counter(h, 'ticks')).toBe(3);
    at(1_500);
    expect(counter(h, 'ticks')).toBe(4);
    expect(counter(h, 'readingTicks')).toBe(2);
  });

  it('does not tick twice for one measurement: a repeated or an older reading is no fresh reading', async () => {
    const h = await startedNetZero();
    gridAt(h, 300, 2_000);
    sendGrid(h, T0 + 300, 2_000);
    at(500);
    sendGrid(h, T0 + 250, 1_000);
    at(999);

    expect(counter(h, 'ticks')).toBe(2);
    expect(decisionsOf(h.bus, 'net-zero').at(-1)?.inputs['gridPowerW']).toBe(2_000);
  });

  it('falls back to the cadence when no reading arrives', async () => {
    const h = await startedNetZero();
    at(3_000);

    expect(counter(h, 'ticks')).toBe(4);
    expect(counter(h, 'readingTicks')).toBe(0);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs - T0)).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it('with readings at the cadence, ticks once per reading, when it arrives (no cadence tick just before it)', async () => {
    const h = await startedNetZero();
    // The meter shows 2 kW import from now on; the battery does not follow, so NetZero moves on every tick.
    for (let k = 1; k <= 5; k++) {
      gridAt(h, k * 1_000 + 5, 2_000);
    }
    at(5_500);

    // One cadence tick at 1 000 (the first reading tick comes 5 ms later: a cadence tick does not hold it back), then
    // only reading ticks: the fallback waits tickMs + minTickMs after each.
    expect(counter(h, 'ticks')).toBe(7);
    expect(counter(h, 'readingTicks')).toBe(5);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs - T0)).toEqual([0, 1_000, 1_005, 2_005, 3_005, 4_005, 5_005]);
  });

  it('publishes an unchanged intent from reading ticks only once per tickMs, and a changed one at once', async () => {
    const h = await startedNetZero();
    // A 10 Hz meter inside the deadband: NetZero holds 0 W on every reading.
    for (let k = 1; k <= 25; k++) {
      gridAt(h, k * 100, 20);
    }
    expect(counter(h, 'readingTicks')).toBe(25);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs - T0)).toEqual([0, 1_000, 2_000]);
    expect(counter(h, 'intentsUnchanged')).toBe(23);
    // The decisions go with the intents (and at least once a tick).
    expect(decisionsOf(h.bus, 'net-zero').map((d) => d.atMs - T0)).toEqual([0, 1_000, 2_000]);

    gridAt(h, 2_600, 2_000);
    expect(intentsFor(h.bus, 'bat-1').at(-1)).toMatchObject({ issuedAtMs: T0 + 2_600, setpoint: { powerW: 200 } });
  });

  it('with the default minTickMs, ticks on every reading of a 10 Hz meter when it arrives, despite its jitter', async () => {
    const site = buildSite({ strategy: { active: ['net-zero'], tickMs: 1_000, config: { 'net-zero': {} } } });
    const h = await startedNetZero(site);
    expect(minTickMsOf(h.engine.config.site)).toBe(50);
    // Readings 70 or 130 ms apart; the battery does not follow, so NetZero moves on every one of them.
    const arrivals = Array.from({ length: 10 }, (_, i) => (i + 1) * 100 + (i % 2 === 0 ? 15 : -15));
    for (const ms of arrivals) {
      gridAt(h, ms, 2_000);
    }
    expect(counter(h, 'readingTicks')).toBe(10);
    expect(intentsFor(h.bus, 'bat-1').map((i) => i.issuedAtMs - T0)).toEqual([0, ...arrivals]);
  });

  it('does not tick on readings for cadence-only strategies (a planner)', async () => {
    const site = buildSite({ strategy: { active: ['arbitrage'], tickMs: 60_000, config: {} }, tariff: { kind: 'dynamic', priceZone: 'FR' } });
    const h = await startedNetZero(site);
    gridAt(h, 300, 2_000);
    at(59_999);

    expect(counter(h, 'ticks')).toBe(1);
    at(60_000);
    expect(counter(h, 'ticks')).toBe(2);
  });

  it('ticks on readings once a rule activates a reactive strategy', async () => {
    const site = buildSite({
      strategy: { active: ['arbitrage'], tickMs: 60_000, minTickMs: 100, config: { 'net-zero': {} } },
      tariff: { kind: 'dynamic', priceZone: 'FR' },
      rules: [{ id: 'shave', when: { type: 'grid-import-above', powerW: 1_500 }, then: { type: 'activate-strategy', strategy: 'net-zero' } }],
    });
    const h = await startedNetZero(site);
    gridAt(h, 300, 2_000);
    expect(counter(h, 'ticks')).toBe(1);

    // The cadence tick sees 2 kW import and activates net-zero: from then on the meter triggers ticks.
    at(59_900);
    sendTelemetry(h.peer, T0 + 59_900, { gridW: 2_000 });
    expect(counter(h, 'ticks')).toBe(1);
    at(60_000);
    expect(decisionsOf(h.bus, 'net-zero')).toHaveLength(1);
    gridAt(h, 60_300, 1_800);
    expect(counter(h, 'ticks')).toBe(3);
    expect(counter(h, 'readingTicks')).toBe(1);
  });

  it('follows a config switch: the triggers of the new strategies and their minTickMs', async () => {
    const site = buildSite({ strategy: { active: ['arbitrage'], tickMs: 1_000, config: {} }, tariff: { kind: 'dynamic', priceZone: 'FR' } });
    const h = await startedNetZero(site);
    h.engine.applyConfig(netZeroSite({ strategy: { active: ['net-zero'], tickMs: 1_000, minTickMs: 400, config: {} } }), 'kv');
    at(0);
    expect(counter(h, 'ticks')).toBe(2);

    gridAt(h, 100, 2_000);
    expect(counter(h, 'ticks')).toBe(3);
    gridAt(h, 200, 2_100);
    at(499);
    expect(counter(h, 'ticks')).toBe(3);
    at(500);
    expect(counter(h, 'ticks')).toBe(4);
    expect(counter(h, 'readingTicks')).toBe(2);
  });
});

describe('the demand from meters polled apart', () => {
  it('peak shaving holds its discharge while the battery is read once a second and the grid ten times', async () => {
    const site = buildSite({ strategy: { active: ['peak-shaving'], tickMs: 1_000, minTickMs: 100, config: { 'peak-shaving': { thresholdW: 2_000 } } } });
    const h = await started(harness({ site }));
    // The plant: 6 kW of load, no PV; a set-point takes effect 300 ms after its intent; the battery is read at +150 ms
    // of each second, the grid every 100 ms (each grid reading triggers a tick).
    const loadW = 6_000;
    const commands: (readonly [number, number])[] = [[T0, 0]];
    const batteryAt = (t: number): number => commands.filter(([sentAt]) => sentAt + 300 <= t).at(-1)?.[1] ?? 0;
    let batteryRead = { atMs: T0, powerW: 0 };
    sendTelemetry(h.peer, T0, { gridW: loadW, batteryW: 0 });
    jest.advanceTimersByTime(0);
    for (let t = T0 + 100; t <= T0 + 10_000; t += 100) {
      jest.advanceTimersByTime(t - Date.now());
      const last = intentsFor(h.bus, 'bat-1').at(-1);
      if (last?.setpoint.kind === 'battery-power' && commands.at(-1)?.[1] !== last.setpoint.powerW) commands.push([last.issuedAtMs, last.setpoint.powerW]);
      if ((t - T0) % 1_000 === 200) {
        // Read 50 ms before the grid reading of this step (readings of one instant would always pair).
        batteryRead = { atMs: t - 50, powerW: batteryAt(t - 50) };
        h.peer.publish(subjects.telemetry, { assetId: 'bat-1' }, reading('bat-1', 'battery', batteryRead.atMs, { powerW: batteryRead.powerW, socPct: 50 }));
      }
      h.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, reading('grid-1', 'grid-meter', t, { powerW: loadW - batteryAt(t), frequencyHz: 50 }));
      jest.advanceTimersByTime(0);
    }
    // 4 kW from the first tick on, never 0 W or the battery's 5 kW (what the latest readings as they are would ask
    // each time the grid shows the discharge and the battery's reading does not yet).
    const powers = intentsFor(h.bus, 'bat-1').map((i) => (i.setpoint.kind === 'battery-power' ? i.setpoint.powerW : Number.NaN));
    expect(powers.length).toBeGreaterThan(5);
    expect(new Set(powers)).toEqual(new Set([4_000]));
    expect(h.health.counters.get('demandHeldTicks')).toBeGreaterThan(0);
  });
});

describe('site history across restarts (KV strategy-history)', () => {
  const hour = 3_600_000;
  const arbitrageSite = buildSite({
    strategy: { active: ['arbitrage'], tickMs: 60_000, config: {} },
    tariff: { kind: 'dynamic', priceZone: 'FR', feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4 },
  });
  const series = { v: 1, zone: 'FR', series: Array.from({ length: 48 }, (_, i) => ({ startMs: T0 - hour + i * hour, endMs: T0 + i * hour, eurPerMwh: 80 })) };
  const counter = (h: Harness, name: string): number => h.health.counters.get(name) ?? 0;

  /** A minute of readings every 10 s (the cadence tick, every 60 s, then always has a fresh one). */
  async function minute(h: Harness, gridW: number): Promise<void> {
    for (let i = 0; i < 6; i++) {
      sendTelemetry(h.peer, Date.now(), { gridW });
      await jest.advanceTimersByTimeAsync(10_000); // and the saves' promises
    }
  }

  /** Runs an engine for `minutes`: 3 kW import for the first half hour, then 500 W. */
  async function runFor(history: HistoryStore, minutes: number, store: MemoryStore = noMemoryStore): Promise<Harness> {
    const h = harness({ site: arbitrageSite, store, history });
    await started(h);
    h.engine.setPrices('FR', series);
    for (let m = 0; m < minutes; m++) await minute(h, m < 30 ? 3_000 : 500);
    return h;
  }

  it('keeps the month’s peak and what the planners learned through a restart longer than the memory TTL', async () => {
    const history = inMemoryHistoryStore();
    const store = inMemoryMemoryStore(() => Date.now());
    const first = await runFor(history, 45, store);
    expect(first.engine.siteMeter.monthPeakW).toBeCloseTo(3_000, 0);
    expect(history.saves).toBeGreaterThanOrEqual(3); // one per metering block
    await first.engine.stop();
    running = running.filter((e) => e !== first.engine);

    jest.advanceTimersByTime(2 * hour); // the 5-minute memory is gone
    expect((await store.load('gw-test', ['bat-1'])).snapshot).toBeUndefined();
    const second = harness({ site: arbitrageSite, store, history });
    await started(second);
    expect(second.engine.siteMeter.monthPeakW).toBeCloseTo(3_000, 0);
    second.engine.setPrices('FR', series);
    sendTelemetry(second.peer, Date.now(), { gridW: 500 });
    jest.advanceTimersByTime(0);
    expect(counter(second, 'memoriesSeeded')).toBe(1);
    // The planner knows the month's peak of 3 kW: it does not try to hold a lower one.
    expect(decisionsOf(second.bus, 'arbitrage').at(-1)?.terms).toMatchObject({ monthPeakW: 3_000 });
  });

  it('without the history a restarted planner starts blind (the month’s peak forgotten)', async () => {
    const first = await runFor(inMemoryHistoryStore(), 45);
    await first.engine.stop();
    running = running.filter((e) => e !== first.engine);
    jest.advanceTimersByTime(2 * hour);
    const second = harness({ site: arbitrageSite });
    await started(second);
    second.engine.setPrices('FR', series);
    sendTelemetry(second.peer, Date.now(), { gridW: 500 });
    jest.advanceTimersByTime(0);
    expect(decisionsOf(second.bus, 'arbitrage').at(-1)?.terms).toMatchObject({ monthPeakW: 0 });
  });

  it('counts a planner as started from the history once, not on every tick it is listed but does not run', async () => {
    // arbitrage is active but self-consumption, first in the list, is the primary: arbitrage never runs.
    const site = buildSite({ strategy: { active: ['self-consumption', 'arbitrage'], tickMs: 60_000, config: {} }, tariff: arbitrageSite.tariff });
    const h = harness({ site, history: inMemoryHistoryStore() });
    await started(h);
    for (let m = 0; m < 5; m++) await minute(h, 500);
    expect(counter(h, 'memoriesSeeded')).toBe(0);
    const planner = await runFor(inMemoryHistoryStore(), 5);
    expect(counter(planner, 'memoriesSeeded')).toBe(1);
  });

  it('leaves a history saved by a newer version alone (after a rollback) instead of saving over it', async () => {
    const newer = { v: 2, savedAtMs: T0, somethingNew: true };
    const history = inMemoryHistoryStore(newer);
    const h = await runFor(history, 20);
    expect(counter(h, 'historyNewerVersion')).toBeGreaterThanOrEqual(1);
    expect(history.saves).toBe(0);
    expect(history.value).toEqual(newer);
    await h.engine.stop();
    running = running.filter((e) => e !== h.engine);
    expect(history.value).toEqual(newer);
  });

  it('refuses an invalid stored history, counts it, and rebuilds it from readings', async () => {
    const history = inMemoryHistoryStore({ v: 1, savedAtMs: 0, monthPeakW: 'a lot' });
    const h = await runFor(history, 20);
    expect(counter(h, 'historyRejected')).toBe(1);
    expect(h.engine.siteMeter.monthPeakW).toBeCloseTo(3_000, 0);
    expect(history.value).toMatchObject({ v: 1, monthPeakW: 3_000 });
  });

  it('does not overwrite a history it could not read, and reads it once the store answers', async () => {
    const stored = inMemoryHistoryStore();
    const first = await runFor(stored, 45);
    await first.engine.stop();
    running = running.filter((e) => e !== first.engine);
    const kept = stored.value;

    stored.failing = true;
    const h = harness({ site: arbitrageSite, history: stored });
    await started(h);
    h.engine.setPrices('FR', series);
    for (let m = 0; m < 20; m++) await minute(h, 400);
    expect(counter(h, 'historyLoadFailures')).toBeGreaterThanOrEqual(1);
    expect(stored.value).toBe(kept);
    expect(h.engine.siteMeter.monthPeakW).toBeCloseTo(400, 0);

    stored.failing = false;
    for (let m = 0; m < 31; m++) await minute(h, 400);
    expect(h.engine.siteMeter.monthPeakW).toBeCloseTo(3_000, 0);
    expect(decisionsOf(h.bus, 'arbitrage').at(-1)?.terms).toMatchObject({ monthPeakW: 3_000 });
  });
});

describe('importing past readings (gateway.strategy.history.import)', () => {
  const day = 86_400_000;
  const arbitrageSite = buildSite({
    strategy: { active: ['arbitrage'], tickMs: 60_000, config: {} },
    tariff: { kind: 'dynamic', priceZone: 'FR', feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4 },
  });
  /** Three days of a utility's quarter-hour export from T0: 500 W, 3 kW from 18:00 UTC for two hours, a battery that held 2 kW. */
  const readings = Array.from({ length: 3 * 96 }, (_, q) => {
    const atMs = T0 + q * 900_000;
    const hour = new Date(atMs).getUTCHours();
    const netW = hour >= 18 && hour < 20 ? 3_000 : 500;
    return { atMs, netW, gridW: Math.min(netW, 2_000) };
  });
  const request = (extra: Record<string, unknown> = {}) => ({ v: 1 as const, readings, requestedBy: 'cli:installer', sentAtMs: Date.now(), ...extra });

  async function commissioned(history = inMemoryHistoryStore()): Promise<Harness> {
    jest.setSystemTime(T0 + 3 * day + 600_000); // the morning after the exported days
    const h = harness({ site: arbitrageSite, history });
    await started(h);
    const hour = 3_600_000;
    h.engine.setPrices('FR', { v: 1, zone: 'FR', series: Array.from({ length: 48 }, (_, i) => ({ startMs: Date.now() - hour + i * hour, endMs: Date.now() + i * hour, eurPerMwh: 80 })) });
    sendTelemetry(h.peer, Date.now(), { gridW: 400 });
    await jest.advanceTimersByTimeAsync(0);
    return h;
  }
  const ask = (h: Harness, payload: unknown) =>
    // A malformed payload on purpose in one test: the engine's side validates it.
    h.peer.request(subjects.gatewayStrategyHistoryImport, {}, payload as StrategyHistoryImportRequest, { timeoutMs: 1_000 });

  it('learns the days, hands them to the planner at once and keeps them in the store', async () => {
    const history = inMemoryHistoryStore();
    const h = await commissioned(history);
    const reply = await ask(h, request());
    expect(reply).toMatchObject({ v: 1, outcome: 'imported', days: 3, monthPeakW: 2_000, saved: true });
    expect(history.value).toMatchObject({ v: 1, monthPeakW: 2_000 });
    expect(h.health.counters.get('historyImports')).toBe(1);
    // The next cadence tick, with a fresh reading.
    await jest.advanceTimersByTimeAsync(55_000);
    sendTelemetry(h.peer, Date.now(), { gridW: 400 });
    await jest.advanceTimersByTimeAsync(5_000);
    expect(decisionsOf(h.bus, 'arbitrage').at(-1)?.reason).not.toBe('stale-data');
    expect(decisionsOf(h.bus, 'arbitrage').at(-1)?.terms).toMatchObject({ monthPeakW: 2_000 });
  });

  it('does not overwrite days the engine holds unless asked to, and refuses readings from the future', async () => {
    const h = await commissioned();
    expect(await ask(h, request())).toMatchObject({ outcome: 'imported', days: 3 });
    const again = await ask(h, request());
    expect(again).toMatchObject({ outcome: 'refused', days: 3, saved: false });
    expect(again.reason).toMatch(/already holds 3 complete days.*replace/);
    expect(await ask(h, request({ replace: true }))).toMatchObject({ outcome: 'imported', days: 3 });
    const future = readings.map((r) => ({ ...r, atMs: r.atMs + 2 * day }));
    expect(await ask(h, request({ readings: future, replace: true }))).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/future/) });
    expect(await ask(h, request({ readings: readings.slice(0, 50), replace: true }))).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/no complete day/) });
  });

  it('a store read still in flight when an import arrives does not undo the import', async () => {
    const store = inMemoryHistoryStore();
    // What the store held: last month's peak, and the import's first day (UTC day 20454) with other readings.
    const firstDay = 20_454;
    const historyDay = Array<number>(7).fill(-1);
    historyDay[firstDay % 7] = firstDay;
    const historyW = Array<number | null>(672).fill(null);
    historyW.fill(9_000, (firstDay % 7) * 96, (firstDay % 7 + 1) * 96);
    const empty96 = Array<null>(96).fill(null);
    const stale = { v: 1, savedAtMs: T0 - 30 * day, monthKey: '2025-12', monthPeakW: 9_000, profileW: empty96, profileAtMs: Array<number>(96).fill(0), profileHighW: empty96, profilePrevW: empty96, profilePrevAtMs: Array<number>(96).fill(0), historyW, historyDay, forecastMse: 0, altMse: 0, errorSamples: 0 };
    store.failing = true; // unreadable at start: asked again at the next block
    const h = await commissioned(store);
    let release: (value: { status: 'found'; value: unknown }) => void = () => undefined;
    store.failing = false;
    store.load = () => new Promise((resolve) => (release = resolve));
    await jest.advanceTimersByTimeAsync(15 * 60_000); // the retry starts and waits
    expect(await ask(h, request())).toMatchObject({ outcome: 'imported', days: 3, monthPeakW: 2_000 });
    release({ status: 'found', value: stale });
    await jest.advanceTimersByTimeAsync(0);
    // Merged under what the engine holds now: the imported days stay, last month's peak does not count.
    expect(h.engine.siteMeter.monthPeakW).toBe(2_000);
    expect(h.engine.siteMeter.historyDay.filter((d) => d >= 0).sort()).toEqual([20454, 20455, 20456]);
    expect(h.engine.siteMeter.historyW.includes(9_000)).toBe(false);
  });

  it('answers a malformed request with an error and keeps running', async () => {
    const h = await commissioned();
    await expect(ask(h, { v: 1, readings: [{ atMs: T0, netW: 'lots' }], requestedBy: 'x', sentAtMs: T0 })).rejects.toThrow();
    expect(await ask(h, request())).toMatchObject({ outcome: 'imported' });
  });
});
