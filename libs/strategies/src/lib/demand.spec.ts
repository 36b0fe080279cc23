import { buildBattery, buildSiteState } from '../testing';
import { batteryPower } from './battery';
import { DEFAULT_DEMAND_OPTIONS, estimateDemand, recordBatterySetpoints, type DemandMemory } from './demand';
import type { BatteryState, SiteState } from './site-state';

const T0 = 1_700_000_000_000;
const SETTLE = DEFAULT_DEMAND_OPTIONS.settleMs;

/** A site at `nowMs` whose grid was read at `grid.atMs` and whose battery was read at `battery.atMs`. */
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

/** One tick at `nowMs`: the estimate, then the set-point sent (if any) recorded. */
function tick(
  nowMs: number,
  grid: { atMs: number; w: number },
  battery: { atMs: number; w: number },
  memory: DemandMemory,
  sentW?: number,
  extra: Partial<BatteryState> = {},
) {
  const state = site(nowMs, grid, battery, extra);
  const estimate = estimateDemand(state, nowMs, memory);
  const next =
    sentW === undefined
      ? estimate.memory
      : recordBatterySetpoints(estimate.memory, state, { 'bat-1': batteryPower(sentW) }, nowMs);
  return { ...estimate, memory: next };
}

/** Demand 6 kW with the battery idle (read 800 ms ago); the tick at T0 asks 5 kW. */
const afterAsking5kW = (extra: Partial<BatteryState> = {}): DemandMemory =>
  tick(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }, {}, 5_000, extra).memory;

describe('estimateDemand', () => {
  it('counts the latest readings on a first tick, and while no set-point changed the battery by more than the tolerance', () => {
    const first = tick(T0, { atMs: T0, w: 2_000 }, { atMs: T0 - 700, w: 1_000 }, {}, 1_050);
    expect(first).toMatchObject({ netDemandW: 3_000, source: 'paired' });
    expect(first.memory.batteries?.['bat-1']?.changes).toEqual([]);
    expect(tick(T0 + 100, { atMs: T0 + 100, w: 2_200 }, { atMs: T0 - 700, w: 1_000 }, first.memory)).toMatchObject({
      netDemandW: 3_200,
      source: 'paired',
    });
  });

  it('holds the paired demand while only the grid shows a set-point, and pairs once the battery is read', () => {
    let m = afterAsking5kW();
    // 300 ms later the battery discharges 5 kW: the grid shows 1 kW, the battery's reading is the old one (the plain
    // sum says 1 kW).
    const held = tick(T0 + 400, { atMs: T0 + 400, w: 1_000 }, { atMs: T0 - 800, w: 0 }, m);
    expect(held).toMatchObject({ netDemandW: 6_000, source: 'held' });
    // The load rises by 1.5 kW before the battery is read again: the hold does not see it (the price of a hold).
    const risen = tick(T0 + 500, { atMs: T0 + 500, w: 2_500 }, { atMs: T0 - 800, w: 0 }, held.memory);
    expect(risen).toMatchObject({ netDemandW: 6_000, source: 'held' });
    m = risen.memory;
    // The battery is read after its set-point took effect; a grid reading after that pairs with it.
    expect(tick(T0 + 1_300, { atMs: T0 + 1_300, w: 2_600 }, { atMs: T0 + 1_200, w: 4_980 }, m)).toMatchObject({
      netDemandW: 7_580,
      source: 'paired',
    });
  });

  it('holds from the set-point on, before its effect too (the grid reading may show it or not)', () => {
    const m = afterAsking5kW();
    expect(tick(T0 + 100, { atMs: T0 + 100, w: 6_050 }, { atMs: T0 - 800, w: 0 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'held',
    });
  });

  it('does not pair a battery reading taken before the set-point took effect; one held short of it pairs once it moved half-way', () => {
    let m = afterAsking5kW();
    // The battery was read 100 ms after the set-point was sent, before it took effect; the grid after the effect.
    const early = tick(T0 + 900, { atMs: T0 + 900, w: 1_000 }, { atMs: T0 + 100, w: 0 }, m);
    expect(early).toMatchObject({ netDemandW: 6_000, source: 'held' });
    m = early.memory;
    // The arbiter holds it at 3 kW (60 % of the step): that reading shows the change.
    expect(tick(T0 + 1_200, { atMs: T0 + 1_200, w: 3_000 }, { atMs: T0 + 1_100, w: 3_000 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
    // At 40 % it does not, until the settling time has passed.
    const short = tick(T0 + 1_200, { atMs: T0 + 1_200, w: 4_000 }, { atMs: T0 + 1_100, w: 2_000 }, m);
    expect(short.source).toBe('held');
    const settled = T0 + SETTLE;
    expect(
      tick(settled + 100, { atMs: settled + 100, w: 4_000 }, { atMs: settled, w: 2_000 }, short.memory),
    ).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
  });

  it('pairs a grid reading from before the change with the battery reading from before it', () => {
    let m = tick(T0, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 - 800, w: 0 }, {}, 5_000).memory;
    m = tick(T0 + 100, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 - 800, w: 0 }, m).memory;
    // The battery (read after its set-point took effect) is newer than the grid (read before the set-point was sent):
    // grid + the new battery power would count the 5 kW twice (11 kW); the battery's previous reading pairs.
    expect(tick(T0 + 1_000, { atMs: T0 - 50, w: 6_000 }, { atMs: T0 + 900, w: 5_000 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
  });

  it('pairs readings taken at one instant (a hybrid inverter reports grid and battery together)', () => {
    const m = afterAsking5kW();
    expect(tick(T0 + 100, { atMs: T0 + 100, w: 6_000 }, { atMs: T0 + 100, w: 0 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
  });

  it('pairs a battery that shows its change only by the time passed with a grid reading taken right after it only', () => {
    const m = afterAsking5kW();
    // A battery slower than its response time: still idle at T0 + 3.1 s.
    const read = T0 + SETTLE + 100;
    expect(tick(read + 200, { atMs: read + 200, w: 6_000 }, { atMs: read, w: 0 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
    // A grid reading 400 ms after it may already show the battery moving (here 5 kW): held, not 1 kW.
    expect(tick(read + 400, { atMs: read + 400, w: 1_000 }, { atMs: read, w: 0 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'held',
    });
  });

  it('does not take a grid reading from before the effect for one after it because the battery was read after it', () => {
    // 4 kW asked at T0; the grid read at T0 + 250 (before the effect at T0 + 300), the battery at T0 + 350 (after).
    const s0 = site(T0, { atMs: T0, w: 4_000 }, { atMs: T0 - 50, w: 0 });
    const m = recordBatterySetpoints(estimateDemand(s0, T0, {}).memory, s0, { 'bat-1': batteryPower(4_000) }, T0);
    const out = estimateDemand(site(T0 + 350, { atMs: T0 + 250, w: 4_000 }, { atMs: T0 + 350, w: 4_000 }), T0 + 350, m);
    // Counted together they would say 8 kW.
    expect(out).toMatchObject({ netDemandW: 4_000, source: 'held' });
  });

  it('pairs a battery held short of its set-point, below half the step, once two readings agree (not after responseMs)', () => {
    let m = afterAsking5kW({ responseMs: 30_000 });
    // Held at 1.5 kW of the 5 kW asked: read twice at that power.
    m = tick(T0 + 1_000, { atMs: T0 + 1_000, w: 4_500 }, { atMs: T0 + 950, w: 1_500 }, m, undefined, {
      responseMs: 30_000,
    }).memory;
    expect(m.batteries?.['bat-1']?.latest).toEqual([T0 + 950, 1_500]);
    const second = T0 + 1_950;
    // A grid reading right after the second reading pairs (the load dropped by 1 kW meanwhile); a later one holds.
    const out = tick(second + 50, { atMs: second + 50, w: 3_500 }, { atMs: second, w: 1_500 }, m, undefined, {
      responseMs: 30_000,
    });
    expect(out).toMatchObject({ netDemandW: 5_000, source: 'paired' });
    expect(
      tick(second + 400, { atMs: second + 400, w: 3_000 }, { atMs: second, w: 1_500 }, out.memory, undefined, {
        responseMs: 30_000,
      }),
    ).toMatchObject({
      netDemandW: 5_000,
      source: 'held',
    });
  });

  it('when the hold runs out, counts the latest readings once and holds them', () => {
    const m = afterAsking5kW();
    // The battery's readings 900 ms apart (T0 − 800, T0 + 100): the hold lasts 3 000 + 2 250 ms.
    const at = T0 + SETTLE + 2_250 + 1;
    const out = tick(at, { atMs: at, w: 1_000 }, { atMs: T0 + 100, w: 0 }, m);
    expect(out).toMatchObject({ netDemandW: 1_000, source: 'latest' });
    // The next tick holds that, instead of taking the latest readings tick after tick.
    expect(tick(at + 100, { atMs: at + 100, w: 1_200 }, { atMs: T0 + 100, w: 0 }, out.memory)).toMatchObject({
      netDemandW: 1_000,
      source: 'held',
    });
  });

  it("keeps a battery's poll interval while it is stale, for the length of a hold", () => {
    let m = afterAsking5kW();
    // Read every 5 s: at T0 − 800 and T0 + 4 200 (still idle).
    m = tick(T0 + 4_300, { atMs: T0 + 4_300, w: 6_000 }, { atMs: T0 + 4_200, w: 0 }, m).memory;
    expect(m.batteries?.['bat-1']?.pollMs).toBe(5_000);
    const stale = estimateDemand(
      {
        ...site(T0 + 4_400, { atMs: T0 + 4_400, w: 6_000 }, { atMs: T0 + 4_200, w: 0 }),
        batteries: [buildBattery({ quality: 'stale', ageMs: 200 })],
      },
      T0 + 4_400,
      m,
    );
    expect(stale.memory.batteries?.['bat-1']?.pollMs).toBe(5_000);
  });

  it('places a change no set-point explains between the two battery readings that show it', () => {
    // Another source (a manual intent at the arbiter) makes the battery discharge 3 kW between two of its readings.
    let m = tick(T0, { atMs: T0, w: 4_000 }, { atMs: T0 - 100, w: 0 }, {}).memory;
    // The grid was read between the two battery readings and may show the change or not: held.
    const between = tick(T0 + 1_000, { atMs: T0 + 500, w: 1_000 }, { atMs: T0 + 900, w: 3_000 }, m);
    expect(between).toMatchObject({ netDemandW: 4_000, source: 'held' });
    m = between.memory;
    // A grid reading after the battery's pairs with its latest reading.
    expect(tick(T0 + 1_100, { atMs: T0 + 1_100, w: 1_050 }, { atMs: T0 + 900, w: 3_000 }, m)).toMatchObject({
      netDemandW: 4_050,
      source: 'paired',
    });
    // A grid reading no newer than the battery's previous reading pairs with that one.
    expect(tick(T0 + 1_000, { atMs: T0 - 100, w: 4_000 }, { atMs: T0 + 900, w: 3_000 }, m)).toMatchObject({
      netDemandW: 4_000,
      source: 'paired',
    });
  });

  it('takes a change within the tolerance for noise', () => {
    const m = tick(T0, { atMs: T0, w: 4_000 }, { atMs: T0 - 100, w: 1_000 }, {}).memory;
    expect(tick(T0 + 1_000, { atMs: T0 + 500, w: 3_950 }, { atMs: T0 + 900, w: 1_080 }, m)).toMatchObject({
      netDemandW: 5_030,
      source: 'paired',
    });
  });

  it('holds no longer than maxHoldMs or the response time plus 2.5 battery polls, and never with a stale grid reading', () => {
    let m = afterAsking5kW();
    // Read at T0 − 800 and T0 + 100 (before the effect): a 900 ms poll, so the hold lasts 3 000 + 2 250 ms.
    m = tick(T0 + 200, { atMs: T0 + 200, w: 6_000 }, { atMs: T0 + 100, w: 0 }, m).memory;
    const within = T0 + SETTLE + 2_250;
    expect(tick(within, { atMs: within, w: 1_000 }, { atMs: T0 + 100, w: 0 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'held',
    });
    const after = within + 1;
    expect(tick(after, { atMs: after, w: 1_000 }, { atMs: T0 + 100, w: 0 }, m)).toMatchObject({
      netDemandW: 1_000,
      source: 'latest',
    });
    const stale = {
      ...site(T0 + 400, { atMs: T0 + 400, w: 1_000 }, { atMs: T0 - 800, w: 0 }),
      gridQuality: 'stale' as const,
    };
    expect(estimateDemand(stale, T0 + 400, m)).toMatchObject({ netDemandW: 1_000, source: 'latest' });
  });

  it('counts a stale battery as it reads and pairs the others', () => {
    const state = buildSiteState({
      gridPowerW: 1_000,
      batteries: [
        buildBattery({ powerW: 2_000, quality: 'stale', ageMs: 30_000 }),
        buildBattery({ assetId: 'bat-2', powerW: 500 }),
      ],
    });
    const out = estimateDemand(state, T0, {});
    expect(out).toMatchObject({ netDemandW: 3_500, source: 'paired' });
    expect(out.memory.batteries?.['bat-1']).toEqual({ changes: [] });
  });

  it('holds while any of several batteries does not pair', () => {
    const two = (
      nowMs: number,
      gridW: number,
      b1: { atMs: number; w: number },
      b2: { atMs: number; w: number },
    ): SiteState =>
      buildSiteState({
        gridPowerW: gridW,
        gridAgeMs: 0,
        batteries: [
          buildBattery({ powerW: b1.w, ageMs: nowMs - b1.atMs }),
          buildBattery({ assetId: 'bat-2', powerW: b2.w, ageMs: nowMs - b2.atMs }),
        ],
      });
    const first = two(T0, 8_000, { atMs: T0 - 500, w: 0 }, { atMs: T0 - 300, w: 0 });
    const est = estimateDemand(first, T0, {});
    const m = recordBatterySetpoints(
      est.memory,
      first,
      { 'bat-1': batteryPower(3_000), 'bat-2': batteryPower(3_000) },
      T0,
    );
    // Both took effect (grid 2 kW), neither has been read since: 2 + 3 + 3 kW.
    expect(
      estimateDemand(two(T0 + 500, 2_000, { atMs: T0 - 500, w: 0 }, { atMs: T0 - 300, w: 0 }), T0 + 500, m),
    ).toMatchObject({
      netDemandW: 8_000,
      source: 'held',
    });
    // The first has been read since: its reading pairs, the second does not yet.
    expect(
      estimateDemand(two(T0 + 600, 2_000, { atMs: T0 + 550, w: 3_000 }, { atMs: T0 - 300, w: 0 }), T0 + 600, m),
    ).toMatchObject({
      netDemandW: 8_000,
      source: 'held',
    });
  });

  it('gives a battery with a ramp limit the ramp time, pairs it on its way only near its reading, and at the set-point freely', () => {
    const ramp = { maxRampWPerS: 1_000 };
    const m = afterAsking5kW(ramp);
    expect(m.batteries?.['bat-1']?.changes.at(-1)).toEqual([T0, 5_000, T0 + SETTLE + 5_000, 0]);
    // 4 s in, the battery is at 3.8 kW on its way: at 1 kW/s it moves by the 100 W tolerance in 100 ms, so it pairs
    // with a grid reading taken 50 ms after it, not 200 ms after.
    const on = T0 + 4_000;
    expect(tick(on + 50, { atMs: on + 50, w: 2_000 }, { atMs: on, w: 3_800 }, m, undefined, ramp)).toMatchObject({
      netDemandW: 5_800,
      source: 'paired',
    });
    expect(tick(on + 200, { atMs: on + 200, w: 2_000 }, { atMs: on, w: 3_800 }, m, undefined, ramp).source).toBe(
      'held',
    );
    // With a ramp limit, within a tenth of the step of the set-point it has arrived (the ramp has ended; a noisy
    // meter): it pairs with any grid reading of the epoch.
    expect(
      tick(on + 1_700, { atMs: on + 1_700, w: 1_200 }, { atMs: on + 1_000, w: 4_600 }, m, undefined, ramp),
    ).toMatchObject({
      netDemandW: 5_800,
      source: 'paired',
    });
    // 4.4 kW, 12 % short: still on its way (or stopped short), so not 700 ms later.
    expect(
      tick(on + 1_700, { atMs: on + 1_700, w: 1_600 }, { atMs: on + 1_000, w: 4_400 }, m, undefined, ramp).source,
    ).toBe('held');
  });

  it('opens an epoch once the set-points have moved more than the tolerance from the last one; jitter opens none', () => {
    // Battery read at 3 kW; the load jitters: 3 080, then 2 960 W sent — neither is 100 W from 3 000.
    let m = tick(T0, { atMs: T0, w: 0 }, { atMs: T0 - 700, w: 3_000 }, {}, 3_080).memory;
    m = tick(T0 + 100, { atMs: T0 + 100, w: 0 }, { atMs: T0 - 700, w: 3_000 }, m, 2_960).memory;
    expect(m.batteries?.['bat-1']?.changes).toEqual([]);
    // A jump of 1 kW opens one (no creep rate).
    m = tick(T0 + 200, { atMs: T0 + 200, w: 0 }, { atMs: T0 - 700, w: 3_000 }, m, 4_000).memory;
    expect(m.batteries?.['bat-1']?.changes).toEqual([[T0 + 200, 4_000, T0 + 200 + SETTLE, 3_000]]);
  });

  it('pairs a battery whose set-points only crept with grid readings no further from its reading than the creep needs to move the tolerance', () => {
    // Set-points creep 70 W a tick (700 W/s) for 6 s; the battery, read 50 ms before the grid, follows 300 ms behind.
    // Every other tick passes 100 W from the last change: a change with its creep rate.
    const sentW = (k: number) => 1_000 + 70 * Math.max(0, k);
    const sources: string[] = [];
    let m: DemandMemory = {};
    for (let k = 0; k < 60; k++) {
      const t = T0 + 100 * k;
      // From 5.5 s on the battery is not read again: its reading ages.
      const readK = Math.min(k, 55);
      const battery = { atMs: T0 + 100 * readK - 50, w: sentW(readK - 3) };
      const out = tick(t, { atMs: t, w: 5_000 - sentW(k - 3) }, battery, m, sentW(k));
      sources.push(out.source);
      m = out.memory;
    }
    const creeps = (m.batteries?.['bat-1']?.changes ?? []).filter((c) => c[0] > T0 + 3_000);
    expect(creeps.length).toBeGreaterThanOrEqual(10);
    for (const c of creeps) expect(c[4]).toBeCloseTo(700, -1);
    // Read 50 ms before the grid reading (35 W of movement at 700 W/s) it pairs; 150 ms before (105 W) and older, the
    // demand is held.
    expect(sources.slice(40, 56)).toEqual(Array(16).fill('paired'));
    expect(sources.slice(56)).toEqual(['held', 'held', 'held', 'held']);
    // A reading that does not follow the set-points (a BMS derate to 0 W, lifted again by the grid reading 50 ms
    // later) is no creep: it does not pair in the creep window, the demand (5 kW) is held.
    const t = T0 + 6_000;
    expect(tick(t, { atMs: t, w: 5_000 - sentW(57) }, { atMs: t - 50, w: 0 }, m)).toMatchObject({
      netDemandW: 5_000,
      source: 'held',
    });
  });

  it('pairs a battery still catching up (past half its step, not within 2 % of it) only with a grid reading near it', () => {
    const m = afterAsking5kW();
    // 1.2 s in, a lagging battery is at 4.5 kW, 10 % short: it pairs with the grid read 50 ms after it …
    expect(tick(T0 + 1_250, { atMs: T0 + 1_250, w: 1_450 }, { atMs: T0 + 1_200, w: 4_500 }, m)).toMatchObject({
      netDemandW: 5_950,
      source: 'paired',
    });
    // … not with one read 400 ms after it (it has moved on since).
    expect(tick(T0 + 1_600, { atMs: T0 + 1_600, w: 1_150 }, { atMs: T0 + 1_200, w: 4_500 }, m).source).toBe('held');
    // At 4.95 kW it has arrived: any grid reading of the epoch.
    expect(tick(T0 + 2_600, { atMs: T0 + 2_600, w: 1_050 }, { atMs: T0 + 2_000, w: 4_950 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'paired',
    });
  });

  it('pairs a battery that stopped a few per cent short from its second reading on, with any grid reading', () => {
    const m0 = afterAsking5kW();
    // Read at 4.85 kW (3 % short: approaching) 1.2 s in: not with a grid reading 400 ms later …
    const first = tick(T0 + 1_250, { atMs: T0 + 1_250, w: 1_150 }, { atMs: T0 + 1_200, w: 4_850 }, m0);
    expect(first.source).toBe('paired');
    expect(tick(T0 + 1_600, { atMs: T0 + 1_600, w: 1_150 }, { atMs: T0 + 1_200, w: 4_850 }, first.memory).source).toBe(
      'held',
    );
    // … read again at 4.84 kW: it has stopped there; it pairs 700 ms later too.
    const second = tick(T0 + 2_250, { atMs: T0 + 2_250, w: 1_160 }, { atMs: T0 + 2_200, w: 4_840 }, first.memory);
    expect(
      tick(T0 + 2_900, { atMs: T0 + 2_900, w: 1_660 }, { atMs: T0 + 2_200, w: 4_840 }, second.memory),
    ).toMatchObject({ netDemandW: 6_500, source: 'paired' });
  });

  it('does not take a battery stopped where an earlier set-point put it for one stopped short of the later one', () => {
    // Demand 6 kW, the battery idle; 4 kW asked at T0, 6 kW 100 ms later. The battery reaches 4 kW and is read there
    // twice; the 6 kW arrives late, after the second reading (a retried write): the grid then shows 0 W.
    let m = tick(T0, { atMs: T0, w: 6_000 }, { atMs: T0 - 800, w: 0 }, {}, 4_000).memory;
    m = tick(T0 + 100, { atMs: T0 + 100, w: 6_000 }, { atMs: T0 - 800, w: 0 }, m, 6_000).memory;
    m = tick(T0 + 1_050, { atMs: T0 + 1_050, w: 2_000 }, { atMs: T0 + 1_000, w: 4_000 }, m).memory;
    expect(tick(T0 + 2_500, { atMs: T0 + 2_500, w: 0 }, { atMs: T0 + 2_000, w: 4_000 }, m)).toMatchObject({
      netDemandW: 6_000,
      source: 'held',
    });
  });

  it('gives a creep the rate of its fastest move: a burst after a pause is not slow', () => {
    // A change of 1 kW at T0; quiet for 20 s; then two sends of 90 W 100 ms apart open a creep change.
    let m = tick(T0, { atMs: T0, w: 0 }, { atMs: T0 - 50, w: 0 }, {}, 1_000).memory;
    m = tick(T0 + 20_000, { atMs: T0 + 20_000, w: 0 }, { atMs: T0 + 19_950, w: 1_000 }, m, 1_000).memory;
    m = tick(T0 + 20_100, { atMs: T0 + 20_100, w: 0 }, { atMs: T0 + 19_950, w: 1_000 }, m, 1_090).memory;
    m = tick(T0 + 20_200, { atMs: T0 + 20_200, w: 0 }, { atMs: T0 + 19_950, w: 1_000 }, m, 1_180).memory;
    const creep = m.batteries?.['bat-1']?.changes.at(-1);
    expect(creep?.[1]).toBe(1_180);
    // 900 W/s, not 180 W over 20 s (9 W/s).
    expect(creep?.[4]).toBeCloseTo(900, 0);
  });

  it('does not take a set-point sent back within the write delay for shown by a reading of the old power', () => {
    // 5 kW asked at T0, 0 W again 100 ms later; the battery read at +150 ms still idles, the grid at +350 ms shows the
    // brief 5 kW discharge.
    let m = afterAsking5kW();
    m = tick(T0 + 100, { atMs: T0 + 100, w: 6_000 }, { atMs: T0 - 800, w: 0 }, m, 0).memory;
    const out = tick(T0 + 400, { atMs: T0 + 350, w: 1_000 }, { atMs: T0 + 150, w: 0 }, m);
    expect(out).toMatchObject({ netDemandW: 6_000, source: 'held' });
  });

  it('starts a battery afresh when the clock went back, and chooses by no demand from the future', () => {
    let m = afterAsking5kW();
    m = tick(T0 + 1_300, { atMs: T0 + 1_300, w: 1_000 }, { atMs: T0 + 1_200, w: 5_000 }, m).memory;
    // 30 s back: the battery stopped (grid 6 kW, battery 0 W). The stored reading is from the future.
    const back = T0 - 30_000;
    const out = tick(back, { atMs: back, w: 6_000 }, { atMs: back - 100, w: 0 }, m);
    expect(out).toMatchObject({ netDemandW: 6_000, source: 'paired' });
    expect(out.memory.batteries?.['bat-1']).toEqual({ changes: [], latest: [back - 100, 0], pollMs: 2_000 });
    // A paired demand from the future is not held.
    const ahead: DemandMemory = { ...afterAsking5kW(), lastPaired: [T0 + 60_000, 9_999] };
    expect(tick(T0 + 400, { atMs: T0 + 400, w: 1_000 }, { atMs: T0 - 800, w: 0 }, ahead)).toMatchObject({
      netDemandW: 1_000,
      source: 'latest',
    });
  });

  it('forgets set-point changes older than two minutes and any from a clock that went back', () => {
    let m = afterAsking5kW();
    m = tick(T0 + 1_000, { atMs: T0 + 1_000, w: 1_000 }, { atMs: T0 + 900, w: 5_000 }, m, 2_000).memory;
    expect(m.batteries?.['bat-1']?.changes.map((c) => c[1])).toEqual([5_000, 2_000]);
    m = tick(T0 + 200_000, { atMs: T0 + 200_000, w: 4_000 }, { atMs: T0 + 199_900, w: 2_000 }, m, 2_000).memory;
    expect(m.batteries?.['bat-1']?.changes.map((c) => c[1])).toEqual([2_000]);
    m = tick(T0 - 5_000, { atMs: T0 - 5_000, w: 4_000 }, { atMs: T0 - 5_100, w: 2_000 }, m, 2_000).memory;
    expect(m.batteries?.['bat-1']?.changes).toEqual([]);
  });
});
