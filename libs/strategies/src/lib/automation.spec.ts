import { AutomationRuleSchema, ControlIntentSchema, DecisionMetricsSchema, type AutomationRule, type StrategyName } from '@voltimax/contracts';
import { buildBattery, buildEvCharger, buildPriceSeries, buildSiteState, buildTariff, localTimeMs } from '../testing';
import fc from 'fast-check';
import {
  AutomationOptionsSchema,
  applyRuleLimits,
  evaluateRules,
  INITIAL_AUTOMATION_MEMORY,
  rulesDecisionMetrics,
  toControlIntent,
  unknownRuleOptionIds,
  type AutomationMemory,
} from './automation';
import type { SiteState } from './site-state';

const TZ = 'Europe/Paris';
const HOUR = 3_600_000;
const rule = (input: unknown): AutomationRule => AutomationRuleSchema.parse(input);
const noOptions = AutomationOptionsSchema.parse({});
const configured: StrategyName[] = ['self-consumption', 'backup-power'];

function evaluate(rules: AutomationRule[], state: SiteState, nowMs: number, memory: AutomationMemory = INITIAL_AUTOMATION_MEMORY, options = noOptions) {
  return evaluateRules(rules, options, state, { nowMs }, memory, configured);
}

describe('evaluateRules: conditions', () => {
  const wednesdayNoon = localTimeMs('2025-01-15T12:00', TZ);
  const setBattery = { type: 'set-battery-power', assetId: 'bat-1', powerW: -2_000 };

  it.each([
    { name: 'time window: inside', when: { type: 'time', from: '11:00', to: '13:00' }, state: buildSiteState(), status: 'fired' },
    { name: 'time window: outside', when: { type: 'time', from: '13:00', to: '14:00' }, state: buildSiteState(), status: 'inactive' },
    { name: 'time window: wrong weekday', when: { type: 'time', from: '11:00', to: '13:00', days: [0, 6] }, state: buildSiteState(), status: 'inactive' },
    { name: 'time window: invalid time zone', when: { type: 'time', from: '11:00', to: '13:00' }, state: buildSiteState({ timezone: 'Nowhere/Land' }), status: 'unknown', detail: 'invalid-timezone' },
    { name: 'soc below: yes', when: { type: 'soc-below', assetId: 'bat-1', socPct: 60 }, state: buildSiteState(), status: 'fired' },
    { name: 'soc below: equal is not below', when: { type: 'soc-below', assetId: 'bat-1', socPct: 50 }, state: buildSiteState(), status: 'inactive' },
    { name: 'soc above: yes', when: { type: 'soc-above', assetId: 'bat-1', socPct: 40 }, state: buildSiteState(), status: 'fired' },
    { name: 'soc: stale battery', when: { type: 'soc-below', assetId: 'bat-1', socPct: 60 }, state: buildSiteState({ batteries: [buildBattery({ quality: 'stale' })] }), status: 'unknown', detail: 'stale-data' },
    { name: 'soc: unknown battery', when: { type: 'soc-below', assetId: 'bat-9', socPct: 60 }, state: buildSiteState(), status: 'unknown', detail: 'unknown-asset' },
    { name: 'price below: yes', when: { type: 'price-below', eurPerMwh: 0 }, state: buildSiteState({ prices: buildPriceSeries(wednesdayNoon, HOUR, [-10]) }), status: 'fired' },
    { name: 'price above: no', when: { type: 'price-above', eurPerMwh: 200 }, state: buildSiteState({ prices: buildPriceSeries(wednesdayNoon, HOUR, [150]) }), status: 'inactive' },
    { name: 'price: no price known', when: { type: 'price-above', eurPerMwh: 200 }, state: buildSiteState(), status: 'unknown', detail: 'no-price' },
    { name: 'price: dynamic tariff, no spot price yet (its fixed fallback is no price)', when: { type: 'price-above', eurPerMwh: 200 }, state: buildSiteState({ tariff: buildTariff({ kind: 'dynamic', fixedEurPerMwh: 250 }) }), status: 'unknown', detail: 'no-price' },
    { name: 'price: fixed tariff', when: { type: 'price-above', eurPerMwh: 200 }, state: buildSiteState({ tariff: buildTariff({ kind: 'fixed', fixedEurPerMwh: 250 }) }), status: 'fired' },
    { name: 'grid import above: yes', when: { type: 'grid-import-above', powerW: 400 }, state: buildSiteState(), status: 'fired' },
    { name: 'grid import above: no', when: { type: 'grid-import-above', powerW: 600 }, state: buildSiteState(), status: 'inactive' },
    { name: 'grid import: stale meter', when: { type: 'grid-import-above', powerW: 400 }, state: buildSiteState({ gridAgeMs: 60_000 }), status: 'unknown', detail: 'stale-data' },
  ])('$name → $status', ({ when, state, status, detail }) => {
    const outcome = evaluate([rule({ id: 'r', when, then: setBattery })], state, wednesdayNoon);
    expect(outcome.evaluations[0]).toMatchObject({ ruleId: 'r', status, ...(detail ? { detail } : {}) });
    expect(outcome.intents.length).toBe(status === 'fired' ? 1 : 0);
  });

  it('skips disabled rules', () => {
    const outcome = evaluate([rule({ id: 'r', enabled: false, when: { type: 'grid-import-above', powerW: 0 }, then: setBattery })], buildSiteState(), 0);
    expect(outcome.evaluations[0]?.status).toBe('disabled');
  });
});

describe('evaluateRules: actions', () => {
  const importAbove = (powerW: number) => ({ type: 'grid-import-above', powerW });

  it('emits a battery intent with the source and ttl from the rule options', () => {
    const options = AutomationOptionsSchema.parse({ rules: { shed: { source: 'safety', ttlMs: 5_000 } } });
    const outcome = evaluate(
      [rule({ id: 'shed', when: importAbove(0), then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 3_000 } })],
      buildSiteState(),
      0,
      INITIAL_AUTOMATION_MEMORY,
      options,
    );
    expect(outcome.intents).toEqual([
      { ruleId: 'shed', source: 'safety', assetId: 'bat-1', setpoint: { kind: 'battery-power', powerW: 3_000 }, ttlMs: 5_000, reason: 'rule:shed' },
    ]);
  });

  it('emits an EV current intent', () => {
    const outcome = evaluate(
      [rule({ id: 'ev', when: importAbove(0), then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 6 } })],
      buildSiteState({ evChargers: [buildEvCharger()] }),
      0,
    );
    expect(outcome.intents[0]?.setpoint).toEqual({ kind: 'ev-current', currentA: 6 });
  });

  it('does not emit an intent for an asset the site does not have', () => {
    const outcome = evaluate([rule({ id: 'ev', when: importAbove(0), then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 6 } })], buildSiteState(), 0);
    expect(outcome.intents).toEqual([]);
    expect(outcome.evaluations[0]).toMatchObject({ status: 'unknown', detail: 'unknown-asset' });
  });

  it('lets a safety rule win an asset over an earlier scheduled rule, and marks the loser superseded', () => {
    const options = AutomationOptionsSchema.parse({ rules: { guard: { source: 'safety' } } });
    const outcome = evaluate(
      [
        rule({ id: 'plan', when: importAbove(0), then: { type: 'set-battery-power', assetId: 'bat-1', powerW: -3_000 } }),
        rule({ id: 'guard', when: importAbove(0), then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 0 } }),
      ],
      buildSiteState(),
      0,
      INITIAL_AUTOMATION_MEMORY,
      options,
    );
    expect(outcome.intents.map((i) => i.ruleId)).toEqual(['guard']);
    expect(outcome.evaluations.map((e) => e.status)).toEqual(['superseded', 'fired']);
  });

  it('puts activated strategies in front of the configured list, in rule order', () => {
    const outcome = evaluate(
      [
        rule({ id: 'a', when: importAbove(0), then: { type: 'activate-strategy', strategy: 'peak-shaving' } }),
        rule({ id: 'b', when: importAbove(0), then: { type: 'activate-strategy', strategy: 'backup-power' } }),
        rule({ id: 'c', when: importAbove(10_000), then: { type: 'activate-strategy', strategy: 'charge' } }),
      ],
      buildSiteState(),
      0,
    );
    expect(outcome.activated).toEqual(['peak-shaving', 'backup-power']);
    expect(outcome.active).toEqual(['peak-shaving', 'backup-power', 'self-consumption']);
  });

  it('keeps the configured list when no activation fires', () => {
    expect(evaluate([], buildSiteState(), 0).active).toEqual(configured);
  });
});

describe('evaluateRules: for-duration hold', () => {
  const options = AutomationOptionsSchema.parse({ rules: { hot: { forMs: 60_000 } } });
  const hot = [rule({ id: 'hot', when: { type: 'grid-import-above', powerW: 5_000 }, then: { type: 'activate-strategy', strategy: 'peak-shaving' } })];
  const high = buildSiteState({ loadPowerW: 6_000 });
  const low = buildSiteState({ loadPowerW: 1_000 });

  it('fires only after the condition held continuously for forMs', () => {
    const steps: [SiteState, number, string][] = [
      [high, 0, 'pending'],
      [high, 30_000, 'pending'],
      [high, 60_000, 'fired'],
      [low, 70_000, 'inactive'],
      [high, 80_000, 'pending'],
      [high, 140_000, 'fired'],
    ];
    let memory = INITIAL_AUTOMATION_MEMORY;
    for (const [state, nowMs, status] of steps) {
      const outcome = evaluateRules(hot, options, state, { nowMs }, memory, configured);
      expect(outcome.evaluations[0]?.status).toBe(status);
      memory = outcome.memory;
    }
  });

  it('restarts the hold when the condition becomes unknown', () => {
    const first = evaluateRules(hot, options, high, { nowMs: 0 }, INITIAL_AUTOMATION_MEMORY, configured);
    const stale = evaluateRules(hot, options, { ...high, gridQuality: 'stale' }, { nowMs: 30_000 }, first.memory, configured);
    const again = evaluateRules(hot, options, high, { nowMs: 60_000 }, stale.memory, configured);
    expect(again.evaluations[0]?.status).toBe('pending');
  });
});

describe('automation helpers', () => {
  it('builds a valid control intent', () => {
    const intent = { ruleId: 'r', source: 'scheduled' as const, assetId: 'bat-1', setpoint: { kind: 'battery-power' as const, powerW: 100 }, ttlMs: 60_000, reason: 'rule:r' };
    expect(ControlIntentSchema.safeParse(toControlIntent(intent, 'intent-1', { nowMs: 1_000 })).success).toBe(true);
  });

  it('reports option keys that name no rule', () => {
    const options = AutomationOptionsSchema.parse({ rules: { typo: {} } });
    expect(unknownRuleOptionIds([], options)).toEqual(['typo']);
  });

  it('refuses unknown option keys', () => {
    expect(AutomationOptionsSchema.safeParse({ rules: { r: { sauce: 'x' } } }).success).toBe(false);
  });
});

describe('limit rules: caps, not set-points', () => {
  const lowSoc = { type: 'soc-below', assetId: 'bat-1', socPct: 60 };
  const stopDischarge = rule({ id: 'protect-reserve', when: lowSoc, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } });

  it('a firing limit claims no asset and emits no intent: it lists a cap, and another rule on the asset still acts', () => {
    const charge = rule({ id: 'night', when: { type: 'grid-import-above', powerW: 0 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: -2_000 } });
    const outcome = evaluate([stopDischarge, charge], buildSiteState(), 0);
    expect(outcome.limits).toEqual([{ ruleId: 'protect-reserve', source: 'scheduled', assetId: 'bat-1', maxDischargeW: 0 }]);
    expect(outcome.intents.map((i) => i.ruleId)).toEqual(['night']);
    expect(outcome.evaluations.map((e) => e.status)).toEqual(['fired', 'fired']);
    // The shipped example before: a set-point of 0 W at source safety, which also forbade charging, so a battery
    // under 15 % could never leave it. The cap leaves the charge through and stops the discharge.
    expect(applyRuleLimits('bat-1', { kind: 'battery-power', powerW: -2_000 }, outcome.limits).setpoint).toEqual({ kind: 'battery-power', powerW: -2_000 });
    expect(applyRuleLimits('bat-1', { kind: 'battery-power', powerW: 3_000 }, outcome.limits)).toEqual({
      setpoint: { kind: 'battery-power', powerW: 0 },
      ruleIds: ['protect-reserve'],
    });
    expect(evaluate([stopDischarge], buildSiteState({ batteries: [buildBattery({ socPct: 80 })] }), 0).limits).toEqual([]);
  });

  it('caps an EV current, pausing the car when the cap is under its minimum; another asset is untouched', () => {
    const cap = (maxCurrentA: number) => [{ ruleId: 'r', source: 'scheduled' as const, assetId: 'ev-1', maxCurrentA }];
    expect(applyRuleLimits('ev-1', { kind: 'ev-current', currentA: 16, phases: 3 }, cap(6), 6).setpoint).toEqual({ kind: 'ev-current', currentA: 6, phases: 3 });
    expect(applyRuleLimits('ev-1', { kind: 'ev-current', currentA: 16 }, cap(4), 6).setpoint).toEqual({ kind: 'ev-current', currentA: 0 });
    // A paused car stays paused (the old set-ev-current 6 A started it exactly when the import was already high).
    expect(applyRuleLimits('ev-1', { kind: 'ev-current', currentA: 0 }, cap(6), 6)).toEqual({ setpoint: { kind: 'ev-current', currentA: 0 }, ruleIds: [] });
    expect(applyRuleLimits('ev-2', { kind: 'ev-current', currentA: 16 }, cap(6), 6).ruleIds).toEqual([]);
    // A scheduled cap limits the strategies' and scheduled intents, never a safety rule's.
    expect(applyRuleLimits('ev-1', { kind: 'ev-current', currentA: 16 }, cap(6), 6, 'scheduled').setpoint).toEqual({ kind: 'ev-current', currentA: 6 });
    expect(applyRuleLimits('ev-1', { kind: 'ev-current', currentA: 16 }, cap(6), 6, 'safety').ruleIds).toEqual([]);
  });

  it('property: the result lies within every cap, and a set-point within them is unchanged', () => {
    const limitArb = fc.record({
      ruleId: fc.constantFrom('a', 'b', 'c'),
      source: fc.constant('safety' as const),
      assetId: fc.constant('bat-1'),
      maxDischargeW: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
      maxChargeW: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(limitArb, { maxLength: 4 }), fc.integer({ min: -20_000, max: 20_000 }), (limits, powerW) => {
        const { setpoint, ruleIds } = applyRuleLimits('bat-1', { kind: 'battery-power', powerW }, limits);
        const out = setpoint.kind === 'battery-power' ? setpoint.powerW : NaN;
        for (const l of limits) {
          expect(out).toBeLessThanOrEqual(l.maxDischargeW ?? Infinity);
          expect(out).toBeGreaterThanOrEqual(-(l.maxChargeW ?? Infinity));
        }
        const within = limits.every((l) => powerW <= (l.maxDischargeW ?? Infinity) && powerW >= -(l.maxChargeW ?? Infinity));
        if (within) expect([out, ruleIds]).toEqual([powerW, []]);
        else expect(ruleIds.length).toBeGreaterThan(0);
      }),
    );
  });

  it('the schema wants at least one of maxDischargeW and maxChargeW', () => {
    const parsed = AutomationRuleSchema.safeParse({ id: 'x', when: lowSoc, then: { type: 'limit-battery-power', assetId: 'bat-1' } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('give maxDischargeW, maxChargeW or both');
  });
});

describe('rulesDecisionMetrics', () => {
  it('lists the rules by status with why, the compared values and the firing ones; the contract takes it', () => {
    const state = buildSiteState({ batteries: [buildBattery({ socPct: 12 })], gridAgeMs: 60_000 });
    // The longest id the schema takes (64): its `SinceMs` term key is cut to stay within the contract's 64.
    const long = 'a-rule-with-a-name-as-long-as-a-rule-id-may-be-sixty-four-chars-';
    const outcome = evaluate(
      [
        rule({ id: 'protect-reserve', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } }),
        rule({ id: 'shed', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 2_000 } }),
        rule({ id: long, forMs: 60_000, when: { type: 'soc-below', assetId: 'bat-1', socPct: 20 }, then: { type: 'activate-strategy', strategy: 'charge' } }),
        rule({ id: 'high', when: { type: 'soc-above', assetId: 'bat-1', socPct: 90 }, then: { type: 'activate-strategy', strategy: 'discharge' } }),
      ],
      state,
      1_000,
      INITIAL_AUTOMATION_MEMORY,
      AutomationOptionsSchema.parse({ rules: { [long]: { forMs: 60_000 } } }),
    );
    const metrics = rulesDecisionMetrics(outcome.evaluations);
    expect(metrics.reason).toBe(`fired: protect-reserve; pending: ${long}; unknown: shed (stale-data)`);
    expect(metrics.outputs).toEqual({ 'protect-reserve': 1, shed: 0, [long.slice(0, 64)]: 0, high: 0 });
    expect(metrics.inputs).toMatchObject({ 'protect-reserve': 12, high: 12 });
    expect(metrics.terms[`${long.slice(0, 57)}SinceMs`]).toBe(1_000);
    expect(DecisionMetricsSchema.safeParse({ v: 1, strategy: 'automation-rules', atMs: 1_000, ...metrics }).success).toBe(true);
    expect(rulesDecisionMetrics([{ ruleId: 'high', status: 'inactive', value: 12 }]).reason).toBe('none firing');
  });
});
