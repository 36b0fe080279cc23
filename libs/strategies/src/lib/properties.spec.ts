import fc from 'fast-check';
import { DecisionMetricsSchema, type StrategyName } from '@voltimax/contracts';
import { siteStateArbitrary } from '../testing';
import { batteryWindow, fleetSetpoints, gridBoundsForBatteriesW, isBatteryStale, isChargerStale, isGridStale, sumBatterySetpointsW } from './battery';
import { STRATEGY_REASONS } from './reasons';
import { parseStrategyConfig, strategyByName } from './registry';
import type { SiteState } from './site-state';
import { toDecisionMetrics, type StrategyResult } from './strategy';

/** Every strategy with a config that exercises it; EV charging once per mode. */
const CASES: readonly { readonly label: string; readonly name: StrategyName; readonly raw: unknown }[] = [
  { label: 'null', name: 'null', raw: {} },
  { label: 'charge', name: 'charge', raw: {} },
  { label: 'discharge', name: 'discharge', raw: {} },
  { label: 'net-zero', name: 'net-zero', raw: {} },
  { label: 'peak-shaving', name: 'peak-shaving', raw: { thresholdW: 4_000 } },
  { label: 'peak-shaving monthly', name: 'peak-shaving', raw: { thresholdW: 4_000, mode: 'monthly-peak' } },
  { label: 'peak-shaving forecast', name: 'peak-shaving', raw: { mode: 'forecast' } },
  { label: 'time-of-use plan', name: 'time-of-use', raw: {} },
  { label: 'time-of-use rules', name: 'time-of-use', raw: { mode: 'rules', neutralMode: 'self-consumption' } },
  { label: 'self-consumption', name: 'self-consumption', raw: {} },
  { label: 'grid-services', name: 'grid-services', raw: { frequencyResponse: { reservedPowerW: 3_000 }, demandResponse: [{ startMs: 0, endMs: 3_600_000, powerW: 2_000 }] } },
  { label: 'arbitrage', name: 'arbitrage', raw: {} },
  { label: 'arbitrage no export, no grid charge', name: 'arbitrage', raw: { socStepPct: 5, allowExport: false, allowGridCharge: false } },
  { label: 'backup-power', name: 'backup-power', raw: { reserveSocPct: 40, restoreFrom: 'grid' } },
  { label: 'ev-charging solar', name: 'ev-charging', raw: { mode: 'solar', startDelayMs: 0 } },
  { label: 'ev-charging min+solar', name: 'ev-charging', raw: { mode: 'min+solar' } },
  { label: 'ev-charging fast', name: 'ev-charging', raw: { mode: 'fast' } },
  { label: 'ev-charging scheduled', name: 'ev-charging', raw: { mode: 'scheduled' } },
];

const EPS = 1e-6;
/** Reasons that say the batteries charge / discharge: the setpoints sent must do so. */
const CHARGING: ReadonlySet<string> = new Set(['arbitrage-charging', 'tou-plan-charging', 'recharging', 'charging', 'cheap-charging', 'storing-surplus']);
const DISCHARGING: ReadonlySet<string> = new Set(['arbitrage-discharging', 'tou-plan-discharging', 'discharging', 'expensive-discharging', 'shaving-peak']);

function checkLimits(state: SiteState, result: StrategyResult<unknown>, name: StrategyName): void {
  const batteries = new Map(state.batteries.map((b) => [b.assetId, b]));
  const chargers = new Map(state.evChargers.map((c) => [c.assetId, c]));
  let totalBatteryW = 0;
  for (const [assetId, sp] of Object.entries(result.setpoints)) {
    if (sp.kind === 'battery-power') {
      const b = batteries.get(assetId);
      expect(b).toBeDefined();
      if (!b) continue;
      const window = batteryWindow(b);
      expect(Number.isFinite(sp.powerW)).toBe(true);
      expect(sp.powerW).toBeGreaterThanOrEqual(-window.maxChargeW - EPS);
      expect(sp.powerW).toBeLessThanOrEqual(window.maxDischargeW + EPS);
      if (isBatteryStale(b, 15_000)) expect(sp.powerW).toBe(0);
      totalBatteryW += sp.powerW;
    } else if (sp.kind === 'ev-current') {
      const c = chargers.get(assetId);
      expect(c).toBeDefined();
      if (!c) continue;
      expect(sp.currentA === 0 || (sp.currentA >= c.minCurrentA - EPS && sp.currentA <= c.maxCurrentA + EPS)).toBe(true);
      if (!c.connected || isChargerStale(c, 15_000) || isGridStale(state, 15_000)) expect(sp.currentA).toBe(0);
    } else {
      throw new Error(`unexpected setpoint kind ${sp.kind}`);
    }
  }
  if (name !== 'ev-charging' && !isGridStale(state, 15_000)) {
    // The batteries together never push the grid beyond a limit it is not already beyond.
    const bounds = gridBoundsForBatteriesW(state);
    expect(totalBatteryW).toBeGreaterThanOrEqual(bounds.minW - EPS);
    expect(totalBatteryW).toBeLessThanOrEqual(bounds.maxW + EPS);
  }
  if (name !== 'ev-charging' && name !== 'backup-power' && isGridStale(state, 15_000)) {
    for (const sp of Object.values(result.setpoints)) if (sp.kind === 'battery-power') expect(sp.powerW).toBe(0);
  }
  expect(STRATEGY_REASONS).toContain(result.metrics.reason);
  // What the decision reports is what the batteries are asked: each share is cut to its setpoint step, so a plan's
  // 0.4 W (or 99 W on a 100 W step) asks 0 W — and is then neither reported nor named as charging.
  const reportedW = result.metrics.outputs['batteryPowerW'];
  if (name !== 'ev-charging' && reportedW !== undefined) expect(reportedW).toBe(totalBatteryW === 0 ? 0 : totalBatteryW);
  const reason = result.metrics.reason;
  if (CHARGING.has(reason)) expect(totalBatteryW).toBeLessThan(0);
  if (DISCHARGING.has(reason)) expect(totalBatteryW).toBeGreaterThan(0);
  if (reason === 'arbitrage-idle' || reason === 'tou-plan-idle' || reason === 'below-power-step') expect(totalBatteryW).toBe(0);
  expect(DecisionMetricsSchema.safeParse(toDecisionMetrics(name, result.metrics, { nowMs: 0 })).success).toBe(true);
}

/** The strategy and its parsed config of a case. */
function configured(name: StrategyName, raw: unknown) {
  const parsed = parseStrategyConfig(name, raw);
  if (!parsed.success) throw new Error(parsed.error);
  return { strategy: strategyByName(name), config: parsed.config };
}

describe.each(CASES.filter((c) => c.name === 'peak-shaving'))('$label as a layer', ({ name, raw }) => {
  const { strategy, config } = configured(name, raw);

  it('only raises the battery power it is given, and reports what it sends', () => {
    fc.assert(
      fc.property(siteStateArbitrary(), fc.integer({ min: -12_000, max: 12_000 }), ({ state, clock }, proposedW) => {
        const constrain = strategy.constrain;
        if (!constrain) throw new Error('peak-shaving has no constrain');
        const proposal = fleetSetpoints(proposedW, state.batteries, (b) => !isBatteryStale(b, 15_000));
        const result = constrain(proposal, state, config, clock, strategy.initialMemory(config));
        const sentW = sumBatterySetpointsW(result.setpoints);
        expect(sentW).toBeGreaterThanOrEqual(sumBatterySetpointsW(proposal) - EPS);
        const reportedW = result.metrics.outputs['batteryPowerW'];
        if (reportedW !== undefined) expect(reportedW).toBe(sentW);
        if (DISCHARGING.has(result.metrics.reason)) expect(sentW).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  }, 30_000);
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe.each(CASES)('properties of $label', ({ name, raw }) => {
  const { strategy, config } = configured(name, raw);

  it('stays within the limits of the state, with valid metrics, tick after tick', () => {
    fc.assert(
      fc.property(fc.array(siteStateArbitrary(), { minLength: 1, maxLength: 4 }), (ticks) => {
        let memory = strategy.initialMemory(config);
        let nowMs = 0;
        for (const { state, clock } of ticks) {
          nowMs = Math.max(nowMs + 1_000, clock.nowMs);
          const result = strategy.decide(state, config, { nowMs }, memory);
          checkLimits(state, result, name);
          memory = result.memory;
        }
      }),
      { numRuns: 120 },
    );
  }, 30_000);

  it('is deterministic, mutates nothing and keeps JSON-serializable memory', () => {
    fc.assert(
      fc.property(siteStateArbitrary(), siteStateArbitrary(), ({ state: first, clock }, { state: second }) => {
        const warm = strategy.decide(first, config, clock, strategy.initialMemory(config)).memory;
        const memory = deepFreeze(structuredClone(warm));
        const frozenState = deepFreeze(structuredClone(second));
        const a = strategy.decide(frozenState, config, { nowMs: clock.nowMs + 1_000 }, memory);
        const b = strategy.decide(frozenState, config, { nowMs: clock.nowMs + 1_000 }, memory);
        expect(a).toEqual(b);
        expect(JSON.parse(JSON.stringify(a.memory))).toEqual(a.memory);
      }),
      { numRuns: 80 },
    );
  }, 30_000);
});
