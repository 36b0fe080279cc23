import {
  exampleArbiterDecision,
  exampleDecisionMetrics,
  exampleHeartbeat,
  exampleIntent,
  exampleReadings,
} from '@voltimax/contracts/testing';
import {
  emptyMonitorState,
  formatAge,
  formatNumber,
  formatPower,
  formatSetpoint,
  noteIntent,
  renderMonitor,
  type MonitorState,
} from './monitor-view';

const AT = exampleReadings.battery.atMs; // 2026-01-01T00:00:00Z

function fullState(): MonitorState {
  const state = emptyMonitorState();
  state.telemetry.set('bat-1', exampleReadings.battery);
  state.telemetry.set('grid-1', { ...exampleReadings.gridMeter, atMs: AT - 1_500 });
  state.telemetry.set('ev-1', exampleReadings.evCharger);
  noteIntent(state, exampleIntent);
  state.arbiter.set('bat-1', exampleArbiterDecision);
  state.decisions.set('net-zero', exampleDecisionMetrics);
  state.decisions.set('peak-shaving', {
    ...exampleDecisionMetrics,
    strategy: 'peak-shaving',
    reason: 'below-threshold',
    atMs: AT - 60_000,
    terms: {},
  });
  state.health.set('modbus-poller', exampleHeartbeat);
  return state;
}

describe('renderMonitor', () => {
  it('marks the feed-in limit among the strategies (it decides beside them but is none)', () => {
    const state = fullState();
    state.decisions.set('export-limit', {
      ...exampleDecisionMetrics,
      strategy: 'export-limit',
      reason: 'curtail-hold',
      inputs: { pvW: 3_440 },
      outputs: { limitW: 3_440 },
      terms: {},
    });
    const text = renderMonitor(state, AT + 2_000, { source: 'nats://127.0.0.1:4222 as cli' });
    expect(text).toContain(
      '  export-limit (feed-in limit)  curtail-hold\n      in     pvW=3440\n      out    limitW=3440\n',
    );
    expect(text).toContain('  net-zero  pid\n');
  });

  it('shows the automation rules’ statuses among the strategies, marked as the site’s rules', () => {
    const state = fullState();
    state.decisions.set('automation-rules', {
      ...exampleDecisionMetrics,
      strategy: 'automation-rules',
      reason: 'fired: protect-reserve; unknown: shed (stale-data)',
      inputs: { 'protect-reserve': 12 },
      outputs: { 'protect-reserve': 1, shed: 0 },
      terms: {},
    });
    const text = renderMonitor(state, AT + 2_000, { source: 'nats://127.0.0.1:4222 as cli' });
    expect(text).toContain(
      "  automation-rules (the site's if-then rules)  fired: protect-reserve; unknown: shed (stale-data)\n      in     protect-reserve=12\n",
    );
  });

  it('draws services, assets, strategy decisions and arbiter outcomes', () => {
    const text = renderMonitor(fullState(), AT + 2_000, { source: 'nats://127.0.0.1:4222 as cli' });
    expect(text).toBe(
      [
        'voltimax monitor  00:00:02Z  ·  nats://127.0.0.1:4222 as cli',
        'signs: grid + import / − export, battery + discharge / − charge',
        '',
        'services: modbus-poller ok (2.0 s)',
        '',
        'ASSETS',
        // The decision in force is a manual intent from before the window: shown from the decision, over the
        // strategy's newer intent.
        '  asset   kind        power     SoC     quality        age    intent    source                      why  arbiter',
        '  bat-1   battery     −2.50 kW  63.5 %  good           2.0 s  +8.00 kW  manual (over optimization)       clamped +5.00 kW',
        '  ev-1    ev-charger  +7.20 kW          good/charging  2.0 s  —                                          —',
        '  grid-1  grid-meter  +1.20 kW          good           3.5 s  —                                          —',
        '',
        'STRATEGIES  (last tick 00:00:00Z, 2.0 s ago)',
        '  net-zero  pid',
        '      in     gridPowerW=850 socPct=55',
        '      out    batteryPowerW=800',
        '      terms  p=600 i=180 d=20',
        '  peak-shaving  below-threshold  (inactive, last 62 s ago)',
        '      in     gridPowerW=850 socPct=55',
        '      out    batteryPowerW=800',
        '',
        'ARBITER  (last outcome per asset)',
        '  bat-1  clamped  manual  +8.00 kW → +5.00 kW  2.0 s  max-discharge-power (value 8000 W, limit 5000 W)',
        '',
      ].join('\n'),
    );
  });

  it('shows the intent in force, not the newest: a strategy goes on publishing under a manual intent', () => {
    const state = emptyMonitorState();
    const manual = {
      ...exampleIntent,
      id: 'int-manual',
      source: 'manual' as const,
      setpoint: { kind: 'battery-power' as const, powerW: 3_000 },
      reason: 'operator test',
      issuedAtMs: AT,
      ttlMs: 60_000,
    };
    noteIntent(state, manual);
    noteIntent(state, { ...exampleIntent, id: 'int-opt', issuedAtMs: AT + 5_000, ttlMs: 30_000 });
    state.arbiter.set('bat-1', {
      ...exampleArbiterDecision,
      intentId: 'int-manual',
      source: 'manual',
      outcome: 'applied',
      requested: manual.setpoint,
      applied: manual.setpoint,
      violations: [],
    });
    const row = (nowMs: number) =>
      renderMonitor(state, nowMs)
        .split('\n')
        .find((l) => l.startsWith('  bat-1'));
    expect(row(AT + 6_000)).toMatch(/\+3\.00 kW +manual \(over optimization\) +operator test +applied \+3\.00 kW/);
    // Without a decision yet, the live intent of the highest priority.
    state.arbiter.clear();
    expect(row(AT + 6_000)).toMatch(/\+3\.00 kW +manual \(over optimization\) +operator test/);
    // The manual one over: the strategy's.
    expect(row(AT + 61_000)).toMatch(/−2\.50 kW +optimization +self-consumption/);
    // A manual intent the arbiter refused at the door (no `applied`) is not in force: the strategy's is.
    state.arbiter.set('bat-1', {
      v: 1,
      assetId: 'bat-1',
      intentId: 'int-manual',
      source: 'manual',
      outcome: 'rejected',
      requested: manual.setpoint,
      violations: [{ code: 'future-dated' }],
      atMs: AT + 5_500,
    });
    expect(row(AT + 6_000)).toMatch(/−2\.50 kW +optimization +self-consumption +rejected —$/);
    // The safe default with no intent named (the arbiter restarted and holds no intent): none is in force.
    state.arbiter.set('bat-1', {
      v: 1,
      assetId: 'bat-1',
      outcome: 'safe',
      applied: { kind: 'safe' },
      violations: [],
      atMs: AT + 5_500,
      reason: 'start-up: safe',
    });
    expect(row(AT + 6_000)).toMatch(/ {2}bat-1( +—){5} +safe safe$/);
  });

  it('says what it has not seen yet', () => {
    const text = renderMonitor(emptyMonitorState(), AT, { windowMs: 1_500 });
    expect(text).toContain('snapshot after 1.5 s');
    expect(text).toContain('services: no heartbeat seen');
    expect(text).toContain('  no telemetry yet');
    expect(text).toContain('  no strategy decision yet');
    expect(text).toContain('  no arbiter decision yet');
  });

  it('counts dropped invalid messages', () => {
    const state = emptyMonitorState();
    state.dropped = 3;
    expect(renderMonitor(state, AT)).toContain('(3 invalid messages dropped)');
  });

  it('counts intents that claim another source than their subject', () => {
    const state = emptyMonitorState();
    state.sourceMismatches = 1;
    expect(renderMonitor(state, AT)).toContain('(1 intent claiming another source or asset than its subject ignored)');
    state.sourceMismatches = 2;
    expect(renderMonitor(state, AT)).toContain(
      '(2 intents claiming another source or asset than their subject ignored)',
    );
  });

  it('limits the terms per decision', () => {
    const state = emptyMonitorState();
    state.decisions.set('net-zero', {
      ...exampleDecisionMetrics,
      inputs: {},
      outputs: {},
      terms: { a: 1, b: 2, c: 3 },
    });
    expect(renderMonitor(state, AT, { maxTerms: 2 })).toContain('      terms  a=1 b=2 +1');
    expect(renderMonitor(state, AT, { maxTerms: Number.POSITIVE_INFINITY })).toContain('      terms  a=1 b=2 c=3\n');
  });

  it('shows a frequency inside a 0.01-Hz deadband as it is', () => {
    expect([50.004, 49.5, 12.3456, 150.4, 0.01234, 7].map(formatNumber)).toEqual([
      '50.004',
      '49.5',
      '12.346',
      '150',
      '0.0123',
      '7',
    ]);
  });

  it('is pure: the same state and time give the same text', () => {
    expect(renderMonitor(fullState(), AT)).toBe(renderMonitor(fullState(), AT));
  });
});

describe('formatting', () => {
  it.each([
    [1_200, '+1.20 kW'],
    [-2_500, '−2.50 kW'],
    [850, '+850 W'],
    [-12.4, '−12 W'],
    [0, ' 0 W'],
  ])('power %p W → %p', (w, text) => expect(formatPower(w)).toBe(text));

  it.each([
    [400, '0.4 s'],
    [15_000, '15 s'],
    [180_000, '3 min'],
    [Number.POSITIVE_INFINITY, '—'],
  ])('age %p ms → %p', (ms, text) => expect(formatAge(ms)).toBe(text));

  it.each([
    [{ kind: 'ev-current', currentA: 10, phases: 3 } as const, '10 A ×3'],
    [{ kind: 'pv-limit', maxPowerW: 4_000 } as const, '≤ +4.00 kW'],
    [{ kind: 'safe' } as const, 'safe'],
    [undefined, '—'],
  ])('setpoint %j → %p', (sp, text) => expect(formatSetpoint(sp)).toBe(text));
});
