import {
  DEFAULT_VIEW_OPTIONS,
  initialState,
  reduce,
  snapshot,
  type DashboardEvent,
  type DashboardState,
} from './state';
import { decision, heartbeat, metrics, reading, testSite } from './testing/fixtures';

const T0 = 1_750_000_000_000;
const site = { site: testSite(), source: 'file' as const, loadedAtMs: T0 };

function run(events: readonly DashboardEvent[], state: DashboardState = initialState(T0, site)): DashboardState {
  return events.reduce((s, e) => reduce(s, e), reduce(state, { type: 'bus', isConnected: true, atMs: T0 }));
}

/** A site where every device reports at `atMs`, the arbiter and the poller are alive. */
function liveSite(atMs: number): DashboardEvent[] {
  return [
    { type: 'reading', atMs, reading: reading('grid-1', 'grid-meter', atMs, { powerW: 1_200 }) },
    { type: 'reading', atMs, reading: reading('bat-1', 'battery', atMs, { powerW: -800, socPct: 55 }) },
    {
      type: 'reading',
      atMs,
      reading: reading('inv-1', 'hybrid-inverter', atMs, { pvPowerW: 2_500, loadPowerW: 2_000, gridPowerW: 1_150 }),
    },
    {
      type: 'reading',
      atMs,
      reading: reading('ev-1', 'ev-charger', atMs, { powerW: 900, currentLimitA: 6 }, { chargerState: 'charging' }),
    },
    { type: 'heartbeat', atMs, heartbeat: heartbeat('safety-arbiter', atMs) },
    { type: 'heartbeat', atMs, heartbeat: heartbeat('modbus-poller', atMs, { assets: ['grid-1', 'bat-1', 'inv-1'] }) },
  ];
}

describe('reduce', () => {
  it('keeps the newest reading per asset: a late, older reading does not replace it', () => {
    const state = run([
      { type: 'reading', atMs: T0, reading: reading('grid-1', 'grid-meter', T0 + 2_000, { powerW: 500 }) },
      { type: 'reading', atMs: T0, reading: reading('grid-1', 'grid-meter', T0 + 1_000, { powerW: 100 }) },
    ]);

    expect(state.readings.get('grid-1')?.values.powerW).toBe(500);
  });

  it('returns a new state and leaves the old one as it was', () => {
    const before = run([]);
    const after = reduce(before, {
      type: 'reading',
      atMs: T0,
      reading: reading('grid-1', 'grid-meter', T0, { powerW: 1 }),
    });

    expect(before.readings.size).toBe(0);
    expect(after.readings.size).toBe(1);
  });

  it('keeps at most the configured number of decisions and actions, newest last', () => {
    const events: DashboardEvent[] = Array.from({ length: 5 }, (_, i) => ({
      type: 'arbiter-decision' as const,
      atMs: T0 + i,
      decision: decision('bat-1', T0 + i),
    }));
    const state = events.reduce((s, e) => reduce(s, e, { decisions: 3, actions: 2 }), initialState(T0));

    expect(state.decisions.map((d) => d.atMs)).toEqual([T0 + 2, T0 + 3, T0 + 4]);
  });

  it('updates an action in place when its outcome arrives', () => {
    const sent = {
      id: 'a1',
      kind: 'intent' as const,
      atMs: T0,
      by: 'dashboard',
      summary: 'bat-1 1000 W',
      status: 'sent' as const,
    };
    const state = run([
      { type: 'action', action: sent },
      { type: 'action', action: { ...sent, status: 'decided', decision: decision('bat-1', T0, { source: 'manual' }) } },
    ]);

    expect(state.actions).toHaveLength(1);
    expect(state.actions[0]?.status).toBe('decided');
  });

  it('ignores an e-stop message older than the one it has', () => {
    const engage = { v: 1 as const, action: 'engage' as const, by: 'a', reason: 'r', atMs: T0 + 10 };
    const state = run([
      { type: 'estop', atMs: T0, message: engage },
      { type: 'estop', atMs: T0, message: { ...engage, action: 'release', atMs: T0 + 5 } },
    ]);

    expect(state.lastEstop?.value.action).toBe('engage');
  });
});

describe('snapshot', () => {
  it('shows the power flows of the latest readings, with the reading each number came from', () => {
    const view = snapshot(run(liveSite(T0)), T0 + 500);

    expect(view.flow).toMatchObject({
      gridW: 1_200, // the grid meter wins over the hybrid's own grid figure
      pvW: 2_500,
      batteryW: -800,
      evW: 900,
      loadW: 2_000,
      loadSource: 'measured',
      socPct: 55,
    });
    expect(view.flow.sources.grid).toEqual([{ assetId: 'grid-1', atMs: T0 }]);
    expect(view.flow.chargers).toEqual([
      expect.objectContaining({ assetId: 'ev-1', powerW: 900, currentLimitA: 6, state: 'charging', isStale: false }),
    ]);
    expect(view.alarms).toEqual([]);
  });

  it('leaves a stale reading out of the flows and raises a device-stale alarm', () => {
    const view = snapshot(run(liveSite(T0)), T0 + DEFAULT_VIEW_OPTIONS.minStaleMs + 1);

    expect(view.flow.gridW).toBeNull();
    // inv-1 polls every 2 s: stale after 3 polls = 6 s < 10 s minimum, so also stale here.
    expect(view.alarms.filter((a) => a.code === 'device-stale').map((a) => a.assetId)).toEqual([
      'bat-1',
      'ev-1',
      'grid-1',
      'inv-1',
    ]);
    expect(view.devices.find((d) => d.assetId === 'grid-1')?.health).toBe('stale');
  });

  it('names a device that never reported, after a start-up grace, and one in error with its reason', () => {
    const state = run([
      {
        type: 'reading',
        atMs: T0,
        reading: reading(
          'bat-1',
          'battery',
          T0 + 20_000,
          { socPct: 50 },
          { quality: 'error', error: 'timeout after 1000 ms' },
        ),
      },
    ]);

    expect(snapshot(state, T0 + 1_000).alarms.some((a) => a.code === 'device-missing')).toBe(false);
    const later = snapshot(state, T0 + 20_500);
    expect(later.alarms.find((a) => a.assetId === 'grid-1')).toMatchObject({
      code: 'device-missing',
      severity: 'warning',
    });
    expect(later.alarms.find((a) => a.assetId === 'bat-1')).toMatchObject({
      code: 'device-error',
      text: 'Battery: device not answering (timeout after 1000 ms)',
    });
  });

  it('lists the configured strategy, active while its decisions keep coming, with its DecisionMetrics', () => {
    const state = run([
      { type: 'strategy-decision', atMs: T0, metrics: metrics('self-consumption', T0, { terms: { p: 1.5 } }) },
      { type: 'strategy-decision', atMs: T0, metrics: metrics('net-zero', T0 - 1_000) },
    ]);
    const view = snapshot(state, T0 + 1_000);

    expect(view.configuredStrategies).toEqual(['self-consumption']);
    expect(view.strategies.map((s) => [s.strategy, s.isConfigured, s.isActive])).toEqual([
      ['self-consumption', true, true],
      ['net-zero', false, true],
    ]);
    expect(view.strategies[0]).toMatchObject({
      reason: 'self-consumption',
      outputs: { batteryPowerW: 800 },
      terms: { p: 1.5 },
    });
    expect(snapshot(state, T0 + 6_000).strategies.map((s) => s.isActive)).toEqual([false, false]);
  });

  it('shows the feed-in limit beside the strategies, marked as such (it is no strategy one configures)', () => {
    const state = run([
      { type: 'strategy-decision', atMs: T0, metrics: metrics('self-consumption', T0) },
      {
        type: 'strategy-decision',
        atMs: T0,
        metrics: metrics('export-limit', T0, { outputs: { limitW: 2_950 }, reason: 'curtail-start' }),
      },
    ]);
    const view = snapshot(state, T0 + 1_000);
    expect(view.strategies.map((s) => [s.strategy, s.isConfigured, s.isActive, s.isFeedInLimit])).toEqual([
      ['self-consumption', true, true, false],
      ['export-limit', false, true, true],
    ]);
    expect(view.strategies[1]).toMatchObject({ reason: 'curtail-start', outputs: { limitW: 2_950 } });
  });

  it('switches the configured strategies when a new site configuration arrives', () => {
    const next = {
      site: testSite({ strategy: { active: ['net-zero'], tickMs: 1_000, config: {} } }),
      source: 'kv' as const,
      loadedAtMs: T0,
    };
    const view = snapshot(run([{ type: 'site', entry: next }]), T0);

    expect(view.configuredStrategies).toEqual(['net-zero']);
    expect(view.site).toEqual({ gatewayId: 'gw-test', siteName: 'Test site', source: 'kv' });
  });

  describe('emergency stop', () => {
    const engage = {
      v: 1 as const,
      action: 'engage' as const,
      by: 'dashboard@127.0.0.1',
      reason: 'test',
      atMs: T0 + 100,
    };

    it('is pending after an engage until the arbiter confirms it, then engaged with the safe assets', () => {
      const pending = run([...liveSite(T0), { type: 'estop', atMs: T0 + 100, message: engage }]);
      expect(snapshot(pending, T0 + 200).estop).toMatchObject({ state: 'pending', isConfirmedByArbiter: false });
      expect(snapshot(pending, T0 + 200).alarms[0]).toMatchObject({ code: 'estop', severity: 'critical' });

      const confirmed = run(
        [
          {
            type: 'arbiter-decision',
            atMs: T0 + 150,
            decision: decision('bat-1', T0 + 150, {
              outcome: 'safe',
              applied: { kind: 'safe' },
              violations: [{ code: 'emergency-stop' }],
            }),
          },
        ],
        pending,
      );
      expect(snapshot(confirmed, T0 + 200).estop).toMatchObject({
        state: 'engaged',
        safeAssets: ['bat-1'],
        isConfirmedByArbiter: true,
      });

      // A lower-priority intent superseded meanwhile does not change what the asset is doing.
      const superseded = run(
        [
          {
            type: 'arbiter-decision',
            atMs: T0 + 160,
            decision: decision('bat-1', T0 + 160, { outcome: 'superseded', applied: undefined }),
          },
        ],
        confirmed,
      );
      expect(snapshot(superseded, T0 + 200).estop.safeAssets).toEqual(['bat-1']);
      expect(snapshot(superseded, T0 + 200).devices.find((d) => d.assetId === 'bat-1')?.lastDecision).toEqual({
        outcome: 'safe',
        atMs: T0 + 150,
      });
    });

    it('follows the arbiter heartbeat: engaged while its detail says so, released when it clears', () => {
      const engaged = run([
        ...liveSite(T0),
        {
          type: 'heartbeat',
          atMs: T0 + 1,
          heartbeat: heartbeat('safety-arbiter', T0 + 1, {
            status: 'degraded',
            detail: 'emergency stop engaged by cli:root',
          }),
        },
      ]);
      const view = snapshot(engaged, T0 + 2);
      expect(view.estop.state).toBe('engaged');
      // The arbiter's degraded status is the e-stop alarm, not a second "degraded" alarm.
      expect(view.alarms.map((a) => a.code)).toEqual(['estop']);

      const released = run(
        [
          { type: 'estop', atMs: T0 + 3, message: { ...engage, action: 'release', atMs: T0 + 3 } },
          { type: 'heartbeat', atMs: T0 + 4, heartbeat: heartbeat('safety-arbiter', T0 + 4) },
        ],
        engaged,
      );
      expect(snapshot(released, T0 + 5).estop.state).toBe('released');
    });
  });

  it('raises breaker-open from the poller counters and write-failed until the arbiter reports recovery', () => {
    const failed = decision('bat-1', T0 + 10, {
      outcome: 'applied',
      violations: [{ code: 'write-failed', detail: 'timeout after 3 attempt(s): no answer' }],
    });
    const state = run([
      ...liveSite(T0),
      {
        type: 'heartbeat',
        atMs: T0 + 5,
        heartbeat: heartbeat('modbus-poller', T0 + 5, { assets: ['bat-1'], counters: { 'breaker.bat-1': 2 } }),
      },
      { type: 'arbiter-decision', atMs: T0 + 10, decision: failed },
    ]);
    const alarms = snapshot(state, T0 + 20).alarms;

    expect(alarms.find((a) => a.code === 'write-failed')).toMatchObject({
      assetId: 'bat-1',
      severity: 'critical',
      text: "bat-1: the device did not take the arbiter's write (timeout after 3 attempt(s): no answer)",
    });
    expect(alarms.find((a) => a.code === 'breaker-open')?.text).toMatch(/circuit breaker is open/);

    const stillFailing = run(
      [
        {
          type: 'heartbeat',
          atMs: T0 + 30,
          heartbeat: heartbeat('safety-arbiter', T0 + 30, {
            status: 'degraded',
            detail: 'write to bat-1 failed: timeout',
          }),
        },
      ],
      state,
    );
    expect(snapshot(stillFailing, T0 + 40).alarms.some((a) => a.code === 'write-failed')).toBe(true);
    const recovered = run(
      [{ type: 'heartbeat', atMs: T0 + 50, heartbeat: heartbeat('safety-arbiter', T0 + 50) }],
      stillFailing,
    );
    expect(snapshot(recovered, T0 + 60).alarms.some((a) => a.code === 'write-failed')).toBe(false);
  });

  it.each([
    ['cloudOnline 0 and cloudOfflineSinceMs set', { counters: { cloudOnline: 0, cloudOfflineSinceMs: T0 - 60_000 } }],
    ['only a counter cloudOnline = 0 (no offline-since counter)', { counters: { cloudOnline: 0 } }],
    [
      'a detail saying offline',
      { status: 'degraded' as const, detail: 'cloud offline since 2025-06-15T15:06:40.000Z (ECONNREFUSED)' },
    ],
  ])('raises cloud-offline from the cloud-bridge heartbeat (%s)', (_name, extra) => {
    const state = run([
      ...liveSite(T0),
      { type: 'heartbeat', atMs: T0, heartbeat: heartbeat('cloud-bridge', T0, extra) },
    ]);

    expect(snapshot(state, T0 + 1).alarms.find((a) => a.code === 'cloud-offline')?.severity).toBe('warning');
  });

  it('does not call a cloud link offline while it first connects', () => {
    const connecting = { counters: { cloudOnline: 0, cloudOfflineSinceMs: 0 } };
    const state = run([
      ...liveSite(T0),
      { type: 'heartbeat', atMs: T0, heartbeat: heartbeat('cloud-bridge', T0, connecting) },
    ]);
    expect(snapshot(state, T0 + 1).alarms).toEqual([]);
  });

  it('says nothing about the cloud when the site has no cloud link and no cloud-bridge runs', () => {
    const view = snapshot(run(liveSite(T0 + 30_000)), T0 + 30_000);
    expect(view.alarms.filter((a) => a.service === 'cloud-bridge')).toEqual([]);
  });

  it('raises telemetry-backlog and telemetry-lost from the telemetry-publisher heartbeat counters', () => {
    const small = run([
      ...liveSite(T0),
      {
        type: 'heartbeat',
        atMs: T0,
        heartbeat: heartbeat('telemetry-publisher', T0, { counters: { backlogReadings: 10, readingsLost: 0 } }),
      },
    ]);
    expect(snapshot(small, T0 + 1).alarms.some((a) => a.code === 'telemetry-backlog')).toBe(false);

    const big = run(
      [
        {
          type: 'heartbeat',
          atMs: T0 + 1,
          heartbeat: heartbeat('telemetry-publisher', T0 + 1, {
            counters: { backlogReadings: 5_000, backlogOldestAgeMs: 1_800_000, readingsLost: 12 },
          }),
        },
      ],
      small,
    );
    expect(snapshot(big, T0 + 2).alarms.find((a) => a.code === 'telemetry-backlog')?.text).toBe(
      'Telemetry backlog: 5000 readings waiting for the cloud, oldest 30 min',
    );
    expect(snapshot(small, T0 + 1).alarms.some((a) => a.code === 'telemetry-lost')).toBe(false);
    expect(snapshot(big, T0 + 2).alarms.find((a) => a.code === 'telemetry-lost')?.text).toBe(
      '12 readings were dropped by the stream limits before they reached the cloud',
    );
  });

  it('marks a silent service lost after three heartbeat intervals (critical for the arbiter)', () => {
    const state = run(liveSite(T0));
    expect(snapshot(state, T0 + 15_000).services.find((s) => s.service === 'safety-arbiter')?.status).toBe('ok');

    const view = snapshot(state, T0 + 15_001);
    expect(view.services.find((s) => s.service === 'safety-arbiter')).toMatchObject({ status: 'lost', instances: 0 });
    expect(view.alarms.find((a) => a.id === 'service:safety-arbiter')).toMatchObject({
      code: 'service-lost',
      severity: 'critical',
    });
  });

  it('raises a critical alarm when the bus is disconnected', () => {
    const state = reduce(run(liveSite(T0)), { type: 'bus', isConnected: false, atMs: T0 + 1 });
    expect(snapshot(state, T0 + 2).alarms[0]).toMatchObject({ code: 'bus-disconnected', severity: 'critical' });
  });

  it('offers the manual setpoints each enabled controllable asset takes', () => {
    expect(snapshot(run([]), T0).controllable.map((c) => [c.assetId, c.setpoints])).toEqual([
      ['bat-1', ['battery-power', 'safe']],
      ['inv-1', ['pv-limit', 'safe']],
      ['ev-1', ['ev-current', 'safe']],
    ]);
  });

  it('offers only what the asset\'s driver can execute, when its profile says (a SunSpec device takes no writes)', () => {
    const configured = testSite();
    const sunspec = {
      ...configured,
      assets: configured.assets.map((a) => (a.id === 'inv-1' ? { ...a, profile: 'sunspec.generic' } : a)),
    };
    const state = initialState(T0, { site: sunspec, source: 'file', loadedAtMs: T0 });
    expect(snapshot(state, T0).controllable.map((c) => c.assetId)).toEqual(['bat-1', 'ev-1']);
  });

  it('lists decisions and actions newest first', () => {
    const state = run([
      { type: 'arbiter-decision', atMs: T0, decision: decision('bat-1', T0) },
      { type: 'arbiter-decision', atMs: T0 + 1, decision: decision('bat-1', T0 + 1, { outcome: 'clamped' }) },
    ]);
    expect(snapshot(state, T0 + 2).decisions.map((d) => d.outcome)).toEqual(['clamped', 'applied']);
  });
});
