import { buildBattery, buildSiteState } from '../testing';
import { batteryPower } from './battery';
import { DEFAULT_DEMAND_OPTIONS, estimateDemand, recordBatterySetpoints, type DemandMemory } from './demand';
import type { BatteryState, SiteState } from './site-state';

const T0 = 1_700_000_000_000;

/** A site at `nowMs` whose grid was read at `gridAtMs` and whose battery was read at `batteryAtMs`. */
function site(
  nowMs: number,
  grid: { atMs: number; w: number },
  battery: { atMs: number; w: number },
  extra: Partial<BatteryState> = {},
): SiteState {
  return buildSiteState({
    gridPowerW: grid.w,
    gridAgeMs: nowMs - grid.atMs,
    batteries: [buildBattery({ powerW: battery.w, ageMs: nowMs - battery.atMs, ...extra })],
  });
}

/** One tick: the estimate, then the set-point sent (if any) recorded. */
function tick(state: SiteState, nowMs: number, memory: DemandMemory, sentW?: number) {
  const estimate = estimateDemand(state, nowMs, memory);
  const next =
    sentW === undefined
      ? estimate.memory
      : recordBatterySetpoints(estimate.memory, state, { 'bat-1': batteryPower(sentW) }, nowMs);
  return { ...estimate, memory: next };
}

describe('estimateDemand', () => {
  it('counts the latest readings on a first tick, and while no set-point changed the battery', () => {
    const first = tick(site(T0, { atMs: T0, w: 2_000 }, { atMs: T0 - 700, w: 1_000 }), T0, {});
    expect(first).toMatchObject({ netDemandW: 3_000, source: 'paired' });
    // Same set-point as the battery makes (within the tolerance): no new epoch.
    const second = tick(
      site(T0 + 100, { atMs: T0 + 100, w: 2_200 }, { atMs: T0 - 700, w: 1_000 }),
      T0 + 100,
      tick(site(T0, { atMs: T0, w: 2_000 }, { atMs: T0 - 700, w: 1_000 }), T0, {}, 1_050).memory,
    );
    expect(second).toMatchObject({ netDemandW: 3_200, source: 'paired' });
  });

  it('holds the demand while the grid shows a set-point the battery reading does not yet, and pairs once it does', () => {
    // Demand 6 kW, battery idle: the tick asks 5 kW.
    let m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    // 300 ms later the battery discharges 5 kW: the grid shows 1 kW, the battery's reading is still the old one.
    const held = tick(site(T0 + 400, { atMs: T0 + 400, w: 1_000 }, { atMs: T0 - 800, w: 0 }), T0 + 400, m);
    expect(held).toMatchObject({ netDemandW: 6_000, source: 'held' });
    m = held.memory;
    // The battery is read at +200 ms after its set-point took effect; a grid reading after that pairs with it.
    const paired = tick(
      site(T0 + 1_300, { atMs: T0 + 1_300, w: 1_100 }, { atMs: T0 + 1_200, w: 4_980 }),
      T0 + 1_300,
      m,
    );
    expect(paired).toMatchObject({ netDemandW: 6_080, source: 'paired' });
  });

  it('does not pair a grid reading with a battery reading taken before the set-point took effect', () => {
    let m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    // The battery was read 100 ms after the set-point was sent, before it took effect; the grid after it took effect.
    const held = tick(site(T0 + 900, { atMs: T0 + 900, w: 1_000 }, { atMs: T0 + 100, w: 0 }), T0 + 900, m);
    expect(held.source).toBe('held');
    expect(held.netDemandW).toBe(6_000);
    m = held.memory;
    // A battery that cannot follow (the arbiter clamped it to 3 kW) counts once the settling time has passed.
    const settled = T0 + DEFAULT_DEMAND_OPTIONS.settleMs;
    const late = tick(
      site(settled + 100, { atMs: settled + 100, w: 3_000 }, { atMs: settled, w: 3_000 }),
      settled + 100,
      m,
    );
    expect(late).toMatchObject({ netDemandW: 6_000, source: 'paired' });
  });

  it('pairs a grid reading from before the change with the battery reading from before it', () => {
    let m = tick(site(T0, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    m = tick(site(T0 + 100, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0 + 100, m).memory;
    // The battery (read after its set-point took effect) is newer than the grid (read before the set-point was sent):
    // grid + the new battery power would count the 5 kW twice; the battery's previous reading pairs.
    const state = site(T0 + 1_000, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 + 900, w: 5_000 });
    const out = tick(state, T0 + 1_000, m);
    expect(out).toMatchObject({ netDemandW: 6_000, source: 'paired' });
    // The plain sum would have said 11 kW.
    expect(state.gridPowerW + (state.batteries[0]?.powerW ?? 0)).toBe(11_000);
  });

  it('places a change no set-point explains between the two battery readings that show it', () => {
    // Another source (a manual intent at the arbiter) makes the battery discharge 3 kW between two of its readings.
    let m = tick(site(T0, { atMs: T0, w: 4_000 }, { atMs: T0 - 100, w: 0 }), T0, {}).memory;
    // The grid was read between the two battery readings: it may show the change or not.
    const between = tick(site(T0 + 1_000, { atMs: T0 + 500, w: 1_000 }, { atMs: T0 + 900, w: 3_000 }), T0 + 1_000, m);
    expect(between).toMatchObject({ netDemandW: 4_000, source: 'held' });
    m = between.memory;
    // A grid reading after the battery's pairs with its latest reading.
    expect(
      tick(site(T0 + 1_100, { atMs: T0 + 1_100, w: 1_050 }, { atMs: T0 + 900, w: 3_000 }), T0 + 1_100, m),
    ).toMatchObject({
      netDemandW: 4_050,
      source: 'paired',
    });
    // A grid reading no newer than the battery's previous reading pairs with that one.
    expect(
      tick(site(T0 + 1_000, { atMs: T0 - 100, w: 4_000 }, { atMs: T0 + 900, w: 3_000 }), T0 + 1_000, m),
    ).toMatchObject({
      netDemandW: 4_000,
      source: 'paired',
    });
  });

  it('takes a change within the tolerance for noise', () => {
    const m = tick(site(T0, { atMs: T0, w: 4_000 }, { atMs: T0 - 100, w: 1_000 }), T0, {}).memory;
    expect(
      tick(site(T0 + 1_000, { atMs: T0 + 500, w: 3_950 }, { atMs: T0 + 900, w: 1_080 }), T0 + 1_000, m),
    ).toMatchObject({
      netDemandW: 5_030,
      source: 'paired',
    });
  });

  it('holds no longer than maxHoldMs, then counts the latest readings', () => {
    const m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    const at = T0 + DEFAULT_DEMAND_OPTIONS.maxHoldMs + 1;
    // The battery has not been read since (it is not stale yet in this test): the latest readings count.
    const out = tick(site(at, { atMs: at, w: 1_000 }, { atMs: T0 + 100, w: 0 }), at, m);
    expect(out).toMatchObject({ netDemandW: 1_000, source: 'latest' });
  });

  it('counts the latest readings whenever the grid reading is stale, and a stale battery as it reads', () => {
    const m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    const stale = {
      ...site(T0 + 400, { atMs: T0 + 400, w: 1_000 }, { atMs: T0 - 800, w: 0 }),
      gridQuality: 'stale' as const,
    };
    expect(tick(stale, T0 + 400, m)).toMatchObject({ netDemandW: 1_000, source: 'latest' });
    const staleBattery = buildSiteState({
      gridPowerW: 1_000,
      batteries: [
        buildBattery({ powerW: 2_000, quality: 'stale', ageMs: 30_000 }),
        buildBattery({ assetId: 'bat-2', powerW: 500 }),
      ],
    });
    expect(tick(staleBattery, T0, {})).toMatchObject({ netDemandW: 3_500, source: 'paired' });
  });

  it('gives a battery with a ramp limit the ramp time to reach its set-point', () => {
    const ramp = { maxRampWPerS: 1_000 };
    const m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }, ramp), T0, {}, 5_000).memory;
    // 4 s after the change (settleMs 3 s, but 5 s of ramp) the battery at 3.8 kW is still on its way: held.
    const on = T0 + 4_000;
    expect(tick(site(on + 50, { atMs: on + 50, w: 2_200 }, { atMs: on, w: 3_800 }, ramp), on + 50, m).source).toBe(
      'held',
    );
    const change = m.batteries?.['bat-1']?.changes.at(-1);
    expect(change).toEqual([T0, 5_000, T0 + DEFAULT_DEMAND_OPTIONS.settleMs + 5_000]);
  });

  it('forgets set-point changes older than two minutes and any from a clock that went back', () => {
    let m = tick(site(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }), T0, {}, 5_000).memory;
    m = tick(
      site(T0 + 1_000, { atMs: T0 + 1_000, w: 1_000 }, { atMs: T0 + 900, w: 5_000 }),
      T0 + 1_000,
      m,
      2_000,
    ).memory;
    expect(m.batteries?.['bat-1']?.changes.map((c) => c[1])).toEqual([5_000, 2_000]);
    m = tick(
      site(T0 + 200_000, { atMs: T0 + 200_000, w: 4_000 }, { atMs: T0 + 199_900, w: 2_000 }),
      T0 + 200_000,
      m,
      2_000,
    ).memory;
    expect(m.batteries?.['bat-1']?.changes.map((c) => c[1])).toEqual([2_000]);
    m = tick(
      site(T0 - 5_000, { atMs: T0 - 5_000, w: 4_000 }, { atMs: T0 - 5_100, w: 2_000 }),
      T0 - 5_000,
      m,
      2_000,
    ).memory;
    expect(m.batteries?.['bat-1']?.changes).toEqual([]);
  });
});
