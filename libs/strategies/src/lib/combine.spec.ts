import fc from 'fast-check';
import { DecisionMetricsSchema, type StrategyName } from '@voltimax/contracts';
import { batteryPowerOf, buildBattery, buildEvCharger, buildSiteState, evCurrentOf, siteStateArbitrary } from '../testing';
import { batteryWindow } from './battery';
import { combine, LAYER_ORDER } from './combine';
import { parseStrategySelection, strategies, type StrategyConfigs } from './registry';
import { toDecisionMetrics } from './strategy';

const configsFor = (active: readonly StrategyName[], raw: Partial<Record<StrategyName, unknown>> = {}): StrategyConfigs => {
  const parsed = parseStrategySelection({ active, config: raw });
  expect(parsed.errors).toEqual([]);
  return parsed.configs;
};

describe('combine', () => {
  it.each([
    { active: ['self-consumption', 'net-zero'], primary: 'self-consumption' },
    { active: ['backup-power', 'net-zero'], primary: 'net-zero' },
    { active: ['ev-charging', 'peak-shaving', 'arbitrage'], primary: 'arbitrage' },
    { active: ['peak-shaving', 'backup-power'], primary: 'peak-shaving' },
    { active: ['backup-power', 'peak-shaving'], primary: 'peak-shaving' },
    { active: ['backup-power'], primary: 'backup-power' },
    { active: ['ev-charging'], primary: 'null' },
    { active: [], primary: 'null' },
  ] as { active: StrategyName[]; primary: StrategyName }[])('primary of $active is $primary', ({ active, primary }) => {
    const result = combine(buildSiteState(), { nowMs: 0 }, { active, configs: configsFor(active, { 'peak-shaving': { thresholdW: 5_000 } }), memories: {} });
    expect(result.primary).toBe(primary);
  });

  it('applies layers in the fixed order whatever the order of the active list', () => {
    const active: StrategyName[] = ['backup-power', 'peak-shaving', 'ev-charging', 'self-consumption'];
    const result = combine(buildSiteState(), { nowMs: 0 }, {
      active,
      configs: configsFor(active, { 'peak-shaving': { thresholdW: 5_000 } }),
      memories: {},
    });
    expect(LAYER_ORDER).toEqual(['ev-charging', 'peak-shaving', 'backup-power']);
    expect(result.layers).toEqual(['ev-charging', 'peak-shaving', 'backup-power']);
    expect(result.decisions.map((d) => `${d.stage}:${d.name}`)).toEqual([
      'primary:self-consumption',
      'ev:ev-charging',
      'layer:ev-charging',
      'layer:peak-shaving',
      'layer:backup-power',
    ]);
  });

  it('lets peak-shaving add a discharge floor under a primary that idles', () => {
    const active: StrategyName[] = ['null', 'peak-shaving'];
    const result = combine(buildSiteState({ loadPowerW: 8_000 }), { nowMs: 0 }, {
      active,
      configs: configsFor(active, { 'peak-shaving': { thresholdW: 5_000 } }),
      memories: {},
    });
    expect(batteryPowerOf(result)).toBe(3_000);
    expect(result.shapedBy['bat-1']).toEqual(['null', 'peak-shaving']);
  });

  it('lets the backup reserve win over a peak (later layer wins a conflict)', () => {
    const active: StrategyName[] = ['null', 'peak-shaving', 'backup-power'];
    const state = buildSiteState({ loadPowerW: 8_000, batteries: [buildBattery({ socPct: 30 })] });
    const result = combine(state, { nowMs: 0 }, {
      active,
      configs: configsFor(active, { 'peak-shaving': { thresholdW: 5_000 }, 'backup-power': { reserveSocPct: 30 } }),
      memories: {},
    });
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.shapedBy['bat-1']).toEqual(['null', 'peak-shaving', 'backup-power']);
  });

  it('without a primary, the layers keep their order whatever the order of active', () => {
    // 8 kW of load, a 4 kW threshold, the battery at 30 % under a 40 % reserve: the reserve wins either way. Before,
    // with backup-power first in `active` it ran alone and peak-shaving then discharged 4 kW below the reserve.
    const state = buildSiteState({ loadPowerW: 8_000, batteries: [buildBattery({ socPct: 30 })] });
    const raw = { 'backup-power': { reserveSocPct: 40 }, 'peak-shaving': { thresholdW: 4_000 } };
    for (const active of [['backup-power', 'peak-shaving'], ['peak-shaving', 'backup-power']] as StrategyName[][]) {
      const result = combine(state, { nowMs: 1_000_000 }, { active, configs: configsFor(active, raw), memories: {} });
      expect(result.primary).toBe('peak-shaving');
      expect(batteryPowerOf(result)).toBe(0);
    }
    // The EV guard does not undo a shave: peak-shaving alone shaves as it does behind an idle primary (3 kW of house
    // and a car at 7 kW over a 5 kW threshold: 5 kW from the battery). Before, alone it was cut back to 3 kW.
    const car = buildSiteState({ loadPowerW: 3_000, evChargers: [buildEvCharger({ powerW: 7_000, currentLimitA: 10 })] });
    const evRaw = { 'peak-shaving': { thresholdW: 5_000 }, 'ev-charging': { mode: 'fast' } };
    for (const active of [['peak-shaving', 'ev-charging'], ['ev-charging', 'peak-shaving'], ['null', 'peak-shaving', 'ev-charging']] as StrategyName[][]) {
      const result = combine(car, { nowMs: 1_000_000 }, { active, configs: configsFor(active, evRaw), memories: {} });
      expect(batteryPowerOf(result)).toBe(5_000);
      expect(result.shapedBy['bat-1']?.at(-1)).toBe('peak-shaving');
    }
  });

  it('a peak-shaving layer raises the batteries the proposal charges before those it left alone', () => {
    // Charge to 50 %: a (40 %) charges 5 kW, b (80 %) is left idle. A 4 kW threshold with 1 kW of load caps the charge
    // at 3 kW: a charges 3 kW and b stays idle. Before, the layer re-split the fleet and charged b (at 80 %) 1.5 kW.
    const active: StrategyName[] = ['charge', 'peak-shaving'];
    const state = buildSiteState({
      loadPowerW: 1_000,
      batteries: [buildBattery({ assetId: 'a', socPct: 40 }), buildBattery({ assetId: 'b', socPct: 80 })],
    });
    const result = combine(state, { nowMs: 1_000_000 }, {
      active,
      configs: configsFor(active, { charge: { targetSocPct: 50 }, 'peak-shaving': { thresholdW: 4_000 } }),
      memories: {},
    });
    expect(batteryPowerOf(result, 'a')).toBe(-3_000);
    expect(batteryPowerOf(result, 'b')).toBe(0);
  });

  it('a reserve restored from the grid leaves the headroom a car in fast mode was just given', () => {
    // 4 kW of house on a 12 kW connection, a car plugged in and offered nothing yet, the battery at 20 % under a 30 %
    // reserve. The car is offered 11 A on three phases (7.59 kW); before, the restore took the same 8 kW of headroom
    // and asked 5 kW: 16.6 kW on a 12 kW connection. Now it takes what is left (410 W).
    const active: StrategyName[] = ['self-consumption', 'ev-charging', 'backup-power'];
    const limits = { maxImportW: 12_000, maxExportW: 10_000, phases: 3 as const, nominalVoltageV: 230 };
    const car = buildEvCharger({ powerW: 0, currentLimitA: 0 });
    const state = buildSiteState({ loadPowerW: 4_000, limits, evChargers: [car], batteries: [buildBattery({ socPct: 20 })] });
    const raw = { 'ev-charging': { mode: 'fast' }, 'backup-power': { reserveSocPct: 30, restoreFrom: 'grid' } };
    const result = combine(state, { nowMs: 1_000_000 }, { active, configs: configsFor(active, raw), memories: {} });
    const carW = (evCurrentOf(result) ?? 0) * 3 * 230;
    expect(carW).toBeGreaterThan(4_000);
    const batteryW = batteryPowerOf(result) ?? 0;
    expect(batteryW).toBeLessThan(0);
    expect(4_000 + carW - batteryW).toBeLessThanOrEqual(12_000);
    expect(4_000 + carW - batteryW).toBeGreaterThan(11_500);
    // A car already offered its current and drawing less (full) does not hold the restore back.
    const full = buildEvCharger({ powerW: 0, currentLimitA: 16 });
    const idle = combine(
      buildSiteState({ loadPowerW: 2_000, limits, evChargers: [full], batteries: [buildBattery({ socPct: 20 })] }),
      { nowMs: 1_000_000 },
      { active, configs: configsFor(active, raw), memories: {} },
    );
    expect(batteryPowerOf(idle)).toBe(-5_000);
  });

  it('the EV guard holds the house covered when the grid reading is newer than the battery’s', () => {
    // A live run: 1.79 kW of house, a car at 16 A (11.04 kW). The battery covers the house; the next grid reading
    // shows it, the battery's reading (polled apart) not yet. The one-instant demand then said 0 W of house and the
    // guard dropped the battery to 35 W, then back to 1.79 kW at the next battery reading, every few seconds.
    const active: StrategyName[] = ['ev-charging', 'self-consumption'];
    const configs = configsFor(active, { 'ev-charging': { mode: 'fast' }, 'self-consumption': { minHoldMs: 0, deadbandW: 0 } });
    const car = buildEvCharger({ powerW: 11_040, currentLimitA: 16 });
    const tick1 = combine(buildSiteState({ loadPowerW: 1_790, evChargers: [car], batteries: [buildBattery({ powerW: 0 })] }), { nowMs: 1_000_000 }, { active, configs, memories: {} });
    expect(batteryPowerOf(tick1)).toBe(1_790);
    const newerGrid = buildSiteState({
      gridPowerW: 11_040,
      loadPowerW: 1_790,
      evChargers: [car],
      batteries: [buildBattery({ powerW: 0, ageMs: 900 })],
    });
    const tick2 = combine(newerGrid, { nowMs: 1_001_000 }, { active, configs, memories: tick1.memories, demand: tick1.demand.memory });
    expect(batteryPowerOf(tick2)).toBe(1_790);
  });

  it('keeps the home battery out of the car: self-consumption + fast EV charging', () => {
    const active: StrategyName[] = ['self-consumption', 'ev-charging'];
    // The car draws 11 kW, the house 1 kW: self-consumption alone would discharge 5 kW into the car.
    const state = buildSiteState({ loadPowerW: 1_000, evChargers: [buildEvCharger({ powerW: 11_040 })] });
    const result = combine(state, { nowMs: 0 }, { active, configs: configsFor(active, { 'ev-charging': { mode: 'fast' } }), memories: {} });
    expect(batteryPowerOf(result)).toBe(1_000);
    expect(evCurrentOf(result)).toBe(16);
    expect(result.shapedBy['ev-1']).toEqual(['ev-charging']);
  });

  it('curtails the PV last, on the battery set-points the strategies left (the feed-in limit)', () => {
    const active: StrategyName[] = ['self-consumption'];
    const sunny = (socPct: number, batteryW: number) =>
      buildSiteState({
        pvPowerW: 8_000,
        loadPowerW: 500,
        batteries: [buildBattery({ socPct, powerW: batteryW })],
        pvInverters: [{ assetId: 'pv-1', powerW: 8_000, ratedPowerW: 10_000, quality: 'good', ageMs: 0 }],
        limits: { maxImportW: 17_000, maxExportW: 3_000, phases: 3, nominalVoltageV: 230 },
      });
    const configs = configsFor(active);
    // Room in the battery: it charges 5 kW, 2.5 kW go out — under the limit, no PV set-point.
    const charging = combine(sunny(50, -5_000), { nowMs: 0 }, { active, configs, memories: {} });
    expect(batteryPowerOf(charging)).toBe(-5_000);
    expect(charging.setpoints['pv-1']).toBeUndefined();
    expect(charging.exportLimit.reason).toBe('within-limit');
    // A full battery: 7.5 kW would go out; the PV is held to 500 W + 2.94 kW.
    const full = combine(sunny(95, 0), { nowMs: 0 }, { active, configs, memories: {} });
    expect(batteryPowerOf(full)).toBe(0);
    expect(full.setpoints['pv-1']).toEqual({ kind: 'pv-limit', maxPowerW: 3_440 });
    expect(full.exportLimit.memory).toEqual({
      limitW: 3_440,
      sentAtMs: 0,
      changedAtMs: 0,
      boundAtMs: 0,
      history: [{ atMs: 0, limitW: 3_440 }],
      readings: { 'pv-1': [{ atMs: 0, powerW: 8_000 }] },
      historyRatedW: 10_000,
    });
    // Its memory goes into the next tick: the same readings (the inverter not at its limit yet) keep it curtailing.
    const next = combine(sunny(95, 0), { nowMs: 1_000 }, { active, configs, memories: full.memories, exportLimit: full.exportLimit.memory });
    expect(next.exportLimit.reason).toBe('curtailing');
  });

  it('skips an active strategy whose config is invalid and says so', () => {
    const result = combine(buildSiteState({ loadPowerW: 1_000 }), { nowMs: 0 }, {
      active: ['grid-services', 'self-consumption'],
      configs: {},
      memories: {},
    });
    expect(result.primary).toBe('self-consumption');
    expect(result.decisions[0]).toMatchObject({ name: 'grid-services', stage: 'skipped', metrics: { reason: 'invalid-config' } });
  });

  it('keeps memories only for strategies that ran, so a re-activated strategy starts fresh', () => {
    const first = combine(buildSiteState({ loadPowerW: 2_000 }), { nowMs: 0 }, { active: ['net-zero'], configs: {}, memories: {} });
    expect(first.memories['net-zero']?.initialized).toBe(true);
    const second = combine(buildSiteState(), { nowMs: 1_000 }, { active: ['self-consumption'], configs: {}, memories: first.memories });
    expect(second.memories['net-zero']).toBeUndefined();
    expect(second.memories['self-consumption']).toBeDefined();
  });

  it('gives every battery a setpoint and publishes valid decision metrics', () => {
    const active: StrategyName[] = ['time-of-use', 'ev-charging', 'backup-power'];
    const state = buildSiteState({ batteries: [buildBattery({ assetId: 'a' }), buildBattery({ assetId: 'b' })], evChargers: [buildEvCharger()] });
    const result = combine(state, { nowMs: 0 }, { active, configs: configsFor(active), memories: {} });
    expect(Object.keys(result.setpoints).sort()).toEqual(['a', 'b', 'ev-1']);
    for (const d of result.decisions) expect(DecisionMetricsSchema.safeParse(toDecisionMetrics(d.name, d.metrics, { nowMs: 0 })).success).toBe(true);
  });

  describe('properties', () => {
    const names = Object.keys(strategies) as StrategyName[];
    const activeArbitrary = fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 4 });
    const raw = { 'peak-shaving': { thresholdW: 4_000 }, 'grid-services': { frequencyResponse: { reservedPowerW: 3_000 } } };

    it('keeps every battery setpoint inside its window, and is deterministic', () => {
      fc.assert(
        fc.property(siteStateArbitrary(), activeArbitrary, ({ state, clock }, active) => {
          const input = { active, configs: configsFor(active, raw), memories: {} };
          const result = combine(state, clock, input);
          for (const b of state.batteries) {
            const w = batteryPowerOf(result, b.assetId) ?? NaN;
            const window = batteryWindow(b);
            expect(w).toBeGreaterThanOrEqual(-window.maxChargeW - 1e-6);
            expect(w).toBeLessThanOrEqual(window.maxDischargeW + 1e-6);
          }
          expect(combine(state, clock, input)).toEqual(result);
        }),
        { numRuns: 150 },
      );
    });

    it('backup-power only ever lowers and peak-shaving only ever raises the primary’s battery power', () => {
      fc.assert(
        fc.property(siteStateArbitrary(), fc.constantFrom<StrategyName>('self-consumption', 'net-zero', 'arbitrage', 'discharge', 'charge'), ({ state, clock }, primary) => {
          const alone = combine(state, clock, { active: [primary], configs: configsFor([primary], raw), memories: {} });
          const withBackup = combine(state, clock, { active: [primary, 'backup-power'], configs: configsFor([primary, 'backup-power'], raw), memories: {} });
          const withPeak = combine(state, clock, { active: [primary, 'peak-shaving'], configs: configsFor([primary, 'peak-shaving'], raw), memories: {} });
          for (const b of state.batteries) {
            const base = batteryPowerOf(alone, b.assetId) ?? 0;
            expect(batteryPowerOf(withBackup, b.assetId) ?? 0).toBeLessThanOrEqual(base + 1e-6);
            const peakTotal = Object.values(withPeak.setpoints).reduce((s, sp) => s + (sp.kind === 'battery-power' ? sp.powerW : 0), 0);
            const baseTotal = Object.values(alone.setpoints).reduce((s, sp) => s + (sp.kind === 'battery-power' ? sp.powerW : 0), 0);
            expect(peakTotal).toBeGreaterThanOrEqual(baseTotal - 1e-6);
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});
