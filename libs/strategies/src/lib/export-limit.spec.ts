import fc from 'fast-check';
import { batteryPower } from './battery';
import { DEFAULT_EXPORT_LIMIT_OPTIONS, limitExport, type ExportLimitMemory } from './export-limit';
import type { PvInverterState, SiteState } from './site-state';
import { buildBattery, buildSiteState, driveExportPlant } from '../testing';

const pv = (powerW: number, overrides: Partial<PvInverterState> = {}): PvInverterState => ({
  assetId: 'pv-1',
  powerW,
  ratedPowerW: 6_000,
  quality: 'good',
  ageMs: 0,
  ...overrides,
});

/** A site exporting `pvW − loadW` with a full battery at 0 W and a 3 kW export limit. */
function site(pvW: number, loadW: number, overrides: Partial<SiteState> = {}): SiteState {
  return buildSiteState({
    pvPowerW: pvW,
    loadPowerW: loadW,
    batteries: [buildBattery({ socPct: 95, powerW: 0 })],
    pvInverters: [pv(pvW)],
    limits: { maxImportW: 17_000, maxExportW: 3_000, phases: 3, nominalVoltageV: 230 },
    ...overrides,
  });
}
const idle = { 'bat-1': batteryPower(0) };
const TARGET_W = 3_000 - 60; // 2 % of the limit
const T0 = Date.parse('2024-06-01T10:00:00Z');
/** The memory just after the limit changed at T0 from `fromW` (in force a minute) to `toW`, with one inverter reading. */
const changedAtT0 = (fromW: number, toW: number, reading: { atMs: number; powerW: number }): ExportLimitMemory => ({
  limitW: toW,
  sentAtMs: T0,
  changedAtMs: T0,
  boundAtMs: T0,
  history: [
    { atMs: T0 - 60_000, limitW: fromW },
    { atMs: T0, limitW: toW },
  ],
  readings: { 'pv-1': [reading] },
});

describe('limitExport (the feed-in limit)', () => {
  it('does nothing while the export stays under the limit', () => {
    const result = limitExport(site(3_000, 500), idle, {}, T0);
    expect(result).toMatchObject({ setpoints: {}, reason: 'within-limit', memory: {} });
  });

  it('curtails the PV by the excess over the target when the battery cannot take it', () => {
    // 5 kW of PV, 500 W of load: 4.5 kW would go out; the target is 2.94 kW → the PV may make 3.44 kW.
    const result = limitExport(site(5_000, 500), idle, {}, T0);
    expect(result.reason).toBe('curtailing');
    expect(result.setpoints).toEqual({ 'pv-1': { kind: 'pv-limit', maxPowerW: 5_000 - (4_500 - TARGET_W) } });
    expect(result.memory.limitW).toBe(3_440);
  });

  it('counts the larger export of the measured one and the one the battery set-points would leave', () => {
    // A battery charging 2 kW, about to stop (full): the 2 kW are about to go out too.
    const charging = site(5_000, 500, { batteries: [buildBattery({ socPct: 94, powerW: -2_000 })] });
    expect(charging.gridPowerW).toBe(-2_500);
    expect(limitExport(charging, idle, {}, T0).limitW).toBe(3_440);
    // Going on charging, nothing changes: 2.5 kW go out, under the limit.
    expect(limitExport(charging, { 'bat-1': batteryPower(-2_000) }, {}, T0).reason).toBe('within-limit');
    // 4.5 kW going out now, the battery asked to start charging 2 kW: it may not (a BMS stopping short of full), so
    // the measured export counts until it does.
    expect(limitExport(site(5_000, 500), { 'bat-1': batteryPower(-2_000) }, {}, T0).limitW).toBe(3_440);
  });

  it('falls at once when the load drops, rises by at most a tenth of the rating a tick, and releases at the top', () => {
    const memory: ExportLimitMemory = { limitW: 3_440 };
    // Load 500 → 100 W with the PV at its limit: 400 W more go out → the limit falls by 400 W.
    expect(limitExport(site(3_440, 100), idle, memory, T0).limitW).toBe(3_040);
    // Load 500 → 2 500 W: room for 2 kW more, but 600 W (10 % of 6 kW) a tick.
    expect(limitExport(site(3_440, 2_500), idle, memory, T0).limitW).toBe(4_040);
    // 20 W over the target (less than half the 60 W margin): a flicker, the limit stays.
    expect(limitExport(site(3_440, 480), idle, memory, T0).limitW).toBe(3_440);
    // A rise under 1 % of the rating (60 W) is not sent: the limit stays.
    expect(limitExport(site(3_440, 540), idle, memory, T0).limitW).toBe(3_440);
    // The PV below its limit (a cloud) and room under the target: the limit does not bind, so it stays (a rise would
    // cost a write and change nothing the PV makes) — for a minute after it last changed, then it rises by a step …
    const changed = { limitW: 3_440, sentAtMs: T0 + 59_000, changedAtMs: T0 };
    expect(limitExport(site(2_000, 500), idle, changed, T0 + 59_999)).toMatchObject({
      limitW: 3_440,
      reason: 'curtailing',
      memory: { changedAtMs: T0, sentAtMs: T0 + 59_999 },
    });
    expect(limitExport(site(2_000, 500), idle, changed, T0 + 60_000)).toMatchObject({
      limitW: 4_040,
      memory: { changedAtMs: T0 + 60_000 },
    });
    // The minute counts from when it last bound too: a cloud that just came leaves it where it is.
    expect(limitExport(site(2_000, 500), idle, { ...changed, boundAtMs: T0 + 50_000 }, T0 + 60_000).limitW).toBe(3_440);
    // … and rises again once the PV reaches it (here 2 % of the rating under its limit counts as reaching it).
    expect(limitExport(site(3_320, 2_500), idle, memory, T0).limitW).toBe(3_440 + 600);
    // Even 6 kW would stay under the target (load 3.5 kW): released, no set-point.
    expect(limitExport(site(3_440, 3_500), idle, memory, T0)).toMatchObject({ setpoints: {}, reason: 'released', memory: {} });
  });

  it('explains each tick in its metrics: what it measured, the limit sent and what it did with it', () => {
    const start = limitExport(site(5_000, 500), idle, {}, T0);
    expect(start.step).toBe('start');
    expect(start.metrics).toEqual({
      inputs: { gridW: -4_500, projectedGridW: -4_500, maxExportW: 3_000, pvW: 5_000, ratedW: 6_000 },
      outputs: { limitW: 3_440, limitPct: (100 * 3_440) / 6_000 },
      terms: { targetExportW: TARGET_W, headroomW: TARGET_W - 4_500, pairedPvW: 5_000 },
      reason: 'curtail-start',
    });
    const memory: ExportLimitMemory = { limitW: 3_440, sentAtMs: T0, changedAtMs: T0 - 2_000 };
    const fall = limitExport(site(3_440, 100), idle, memory, T0 + 1_000);
    expect(fall.metrics).toMatchObject({
      terms: { inForceW: 3_440, binds: 1, sinceChangeS: 3 },
      outputs: { limitW: 3_040 },
      reason: 'curtail-fall',
    });
    expect(limitExport(site(3_440, 2_500), idle, memory, T0 + 1_000).metrics.reason).toBe('curtail-rise');
    // Inside the dead band, and a flicker over the target: held.
    expect(limitExport(site(3_440, 480), idle, memory, T0 + 1_000).metrics.reason).toBe('curtail-hold');
    expect(limitExport(site(3_440, 540), idle, memory, T0 + 1_000).metrics.reason).toBe('curtail-hold');
    // Still more PV than the limit and readings 5 s after the change: cut in proportion.
    const over = site(4_128, 500, { pvInverters: [pv(4_128)], gridAgeMs: 0 });
    expect(limitExport(over, idle, { ...memory, sentAtMs: T0 + 4_000 }, T0 + 5_000).step).toBe('cut');
    // The PV above its limit within 5 s of the change (still ramping down): nothing lower than the limit is sent.
    const ramping = site(4_000, 500, { pvInverters: [pv(4_000)], gridAgeMs: 0 });
    expect(limitExport(ramping, idle, { ...memory, changedAtMs: T0 }, T0 + 1_000)).toMatchObject({
      limitW: 3_440,
      step: 'hold',
    });
    // Not curtailing: the reason alone, no limit.
    const within = limitExport(site(3_000, 500), idle, {}, T0);
    expect(within.step).toBeUndefined();
    expect(within.metrics.reason).toBe('within-limit');
    expect(within.metrics.outputs).toEqual({});
    expect(limitExport(site(3_440, 3_500), idle, memory, T0 + 1_000).metrics.reason).toBe('released');
    const stale = limitExport(site(5_000, 500, { gridAgeMs: 60_000 }), idle, memory, T0 + 1_000);
    expect(stale.metrics).toMatchObject({ reason: 'stale-data', outputs: { limitW: 3_440 } });
    // The stale grid's figures are not shown as if measured, nor the held limit against the inverters reporting now.
    expect(Object.keys(stale.metrics.inputs).sort()).toEqual(['maxExportW', 'ratedW']);
    expect(stale.metrics.outputs).toEqual({ limitW: 3_440 });
    expect(stale.metrics.terms).not.toHaveProperty('headroomW');
    // The grid and the inverters stale together (one poller down): no-curtailable-pv, and no grid figures either.
    const allStale = site(5_000, 500, { gridAgeMs: 60_000, pvInverters: [pv(5_000, { ageMs: 60_000 })] });
    expect(limitExport(allStale, idle, {}, T0).metrics).toEqual({
      inputs: { maxExportW: 3_000 },
      outputs: {},
      terms: { targetExportW: TARGET_W },
      reason: 'no-curtailable-pv',
    });
    expect(limitExport(site(5_000, 500, { pvInverters: [] }), idle, {}, T0).metrics).toEqual({
      inputs: { gridW: -4_500, projectedGridW: -4_500, maxExportW: 3_000 },
      outputs: {},
      terms: { targetExportW: TARGET_W, headroomW: TARGET_W - 4_500 },
      reason: 'no-curtailable-pv',
    });
  });

  it('rises from what the binding inverter makes, not from the limit it runs a little under (no overshoot)', () => {
    // 3 380 W against a 3 440 W limit counts as binding (within 2 % of the rating); 2 800 W go out, 140 W under the
    // target. Added to the limit, the rise (140 − 15 W) let the PV grow by 185 W: the export went 45 W over the target
    // (seen over the whole gateway: 2 020 W against maxExportW 2 000 W, the device 80 % against an 80.8 % limit).
    expect(limitExport(site(3_380, 580), idle, { limitW: 3_440 }, T0)).toMatchObject({ limitW: 3_380 + 125, step: 'rise' });
    // 100 W under the target: 85 W of rise from the limit, but 25 W from what the PV makes — under a step: held.
    expect(limitExport(site(3_380, 540), idle, { limitW: 3_440 }, T0)).toMatchObject({ limitW: 3_440, step: 'hold' });
  });

  it('shares the limit in proportion to the ratings, so a stopped inverter keeps its share', () => {
    const state = site(6_000, 500, {
      pvInverters: [pv(6_000, { assetId: 'pv-1', ratedPowerW: 8_000 }), pv(0, { assetId: 'pv-2', ratedPowerW: 4_000 })],
    });
    const result = limitExport(state, idle, {}, T0);
    // 5.5 kW would go out, 2.94 kW may: 3.44 kW of PV, 2/3 and 1/3 (pv-2 makes nothing now; it may when it starts).
    expect(result.setpoints).toEqual({
      'pv-1': { kind: 'pv-limit', maxPowerW: 2_293 },
      'pv-2': { kind: 'pv-limit', maxPowerW: 1_146 },
    });
  });

  it('cuts the limit in proportion when the inverters still make more than it 5 s after a change', () => {
    // The inverter makes 1.2 × its 3 440 W limit: 4 128 W, 688 W too much with 500 W of load.
    const over = (ageMs: number) => site(4_128, 500, { pvInverters: [pv(4_128, { ageMs })], gridAgeMs: ageMs });
    const changedAt = { limitW: 3_440, sentAtMs: T0 + 9_000, changedAtMs: T0 };
    const excessW = 4_128 - 500 - TARGET_W;
    // Readings taken within 5 s of the change: it may still be ramping down, only PV − excess (= the limit here).
    expect(limitExport(over(6_000), idle, changedAt, T0 + 10_000).limitW).toBe(3_440);
    // Readings taken 5 s or more after it: cut in proportion to the excess (exact for a device 1.2 × larger).
    expect(limitExport(over(0), idle, changedAt, T0 + 10_000).limitW).toBeCloseTo((3_440 * (4_128 - excessW)) / 4_128, 6);
    // A larger inverter beside one at its share: the totals count (PV − excess alone would never cut enough).
    const mixed = site(4_600, 500, {
      pvInverters: [
        pv(3_600, { assetId: 'pv-1', ratedPowerW: 6_000 }),
        pv(1_000, { assetId: 'pv-2', ratedPowerW: 2_000 }),
      ],
    });
    const mixedLimit = { limitW: 4_000, sentAtMs: T0 + 9_000, changedAtMs: T0 };
    const mixedExcessW = 4_600 - 500 - TARGET_W;
    expect(limitExport(mixed, idle, mixedLimit, T0 + 10_000).limitW).toBeCloseTo((4_000 * (4_600 - mixedExcessW)) / 4_600, 6);
    // Slightly larger (1.03 ×): cut all the same, else the export would stay a little over maxExportW for good.
    const slightly = site(3_543, 500, { pvInverters: [pv(3_543)], gridAgeMs: 0 });
    expect(limitExport(slightly, idle, changedAt, T0 + 10_000).limitW).toBeLessThan(3_440);
  });

  it('rises while one inverter runs at its share, even with the other shaded (it would hold the whole site down)', () => {
    // 3 kW limit over 4 + 2 kW: shares 2 000 / 1 000 W. pv-1 makes its share, pv-2 is shaded (300 W).
    const pvs = (firstW: number) => [pv(firstW, { assetId: 'pv-1', ratedPowerW: 4_000 }), pv(300, { assetId: 'pv-2', ratedPowerW: 2_000 })];
    const shaded = site(2_300, 500, { pvInverters: pvs(2_000) });
    expect(limitExport(shaded, idle, { limitW: 3_000 }, T0).limitW).toBe(3_000 + 600);
    // Both under their shares (a cloud over both): no rise.
    expect(limitExport(site(1_800, 500, { pvInverters: pvs(1_500) }), idle, { limitW: 3_000 }, T0).limitW).toBe(3_000);
  });

  it('holds a limit in force on a stale grid reading, starts none, and leaves a stale inverter alone', () => {
    expect(limitExport(site(5_000, 500, { gridQuality: 'error' }), idle, { limitW: 3_440 }, T0)).toMatchObject({
      setpoints: { 'pv-1': { kind: 'pv-limit', maxPowerW: 3_440 } },
      reason: 'stale-data',
      memory: { limitW: 3_440 },
    });
    expect(limitExport(site(5_000, 500, { gridQuality: 'error' }), idle, {}, T0)).toMatchObject({
      setpoints: {},
      reason: 'stale-data',
      memory: {},
    });
    const staleInverter = site(5_000, 500, { pvInverters: [pv(5_000, { ageMs: 60_000 })] });
    expect(limitExport(staleInverter, idle, {}, T0)).toMatchObject({ setpoints: {}, reason: 'no-curtailable-pv' });
  });

  it('goes on from a limit only while it is still in force at the inverters (its intents last 3 s)', () => {
    const sentAt = { limitW: 3_440, sentAtMs: T0 };
    // 2 s later the limit binds still: the export just under the target → it is held (and sent again, fresh).
    expect(limitExport(site(3_440, 500), idle, sentAt, T0 + 2_000)).toMatchObject({
      limitW: 3_440,
      memory: { limitW: 3_440, sentAtMs: T0 + 2_000 },
    });
    // 4 s later the arbiter has released the inverters: the same readings start nothing (nothing to hold) …
    expect(limitExport(site(3_440, 500), idle, sentAt, T0 + 4_000)).toMatchObject({ setpoints: {}, reason: 'within-limit' });
    // … and too much export starts from what the PV makes now, not from the old limit.
    expect(limitExport(site(5_000, 500), idle, { limitW: 1_000, sentAtMs: T0 }, T0 + 4_000).limitW).toBe(3_440);
    // A time in the future (a clock stepped back) counts as in force as long (the arbiter keeps such an intent too).
    expect(limitExport(site(3_440, 500), idle, sentAt, T0 - 1_000).reason).toBe('curtailing');
    expect(limitExport(site(3_440, 500), idle, sentAt, T0 - 4_000).reason).toBe('within-limit');
  });

  it('keeps a limit while no inverter has reported (just after a restart) until it would have expired, sending nothing', () => {
    const sentAt = { limitW: 3_440, sentAtMs: T0, changedAtMs: T0 };
    const noReading = site(3_440, 500, { pvInverters: [] });
    expect(limitExport(noReading, idle, sentAt, T0 + 1_000)).toMatchObject({ setpoints: {}, reason: 'no-curtailable-pv', memory: sentAt });
    // Expired: no limit any more, and its history says when the inverters were let go (its intents lapsed at 3 s).
    expect(limitExport(noReading, idle, sentAt, T0 + 3_500).memory).toEqual({
      history: [{ atMs: T0, limitW: 3_440 }, { atMs: T0 + 3_000 }],
      readings: {},
    });
  });

  it('pairs the grid with what the inverter made when the grid was read, not with a reading on the other side of a change', () => {
    // A fall to 1 kW sent at T0. The inverter was read 100 ms later, before it followed (still 5 kW); the grid a second
    // later, with the PV at 1 kW (load 1 kW: 0 W). As read, 5 kW of PV and 2.94 kW of headroom look like all of the
    // rating fits: released — and started again at the next readings. Counted at its 1 kW share, the limit rises.
    const fell: ExportLimitMemory = { limitW: 1_000, sentAtMs: T0, changedAtMs: T0, history: [{ atMs: T0, limitW: 1_000 }] };
    const straddling = site(5_000, 1_000, { gridPowerW: 0, pvInverters: [pv(5_000, { ageMs: 900 })] });
    const rose = limitExport(straddling, idle, fell, T0 + 1_000);
    expect(rose).toMatchObject({ reason: 'curtailing', step: 'rise', limitW: 1_600 });
    expect(rose.metrics.terms).toMatchObject({ pairedPvW: 1_000 });
    expect(rose.metrics.inputs).toMatchObject({ pvW: 5_000 });
    // A reading taken followMs (5 s) after the change counts as it is: this inverter makes more than its limit → cut.
    const over = site(5_000, 1_000, { pvInverters: [pv(5_000, { ageMs: 900 })] });
    const resent = { ...fell, sentAtMs: T0 + 5_000 };
    expect(limitExport(over, idle, resent, T0 + 6_000)).toMatchObject({ step: 'cut', limitW: (1_000 * 3_940) / 5_000 });

    // A rise to 4 040 W sent at T0; the grid read 100 ms later, before the inverter followed (3 440 W, load 1.1 kW:
    // 2 340 W out, 600 W of headroom); the inverter read at the tick, at 4 040 W. Paired with the inverter's reading
    // before the grid's (3 440 W), what the target allows is 3 440 + 600 − 15 = 4 025 W: the limit holds. As read, it
    // rose another 585 W, to an export of 3.5 kW once followed.
    const rising = changedAtT0(3_440, 4_040, { atMs: T0 - 600, powerW: 3_440 });
    const gridFirst = site(4_040, 1_100, { gridPowerW: -2_340, gridAgeMs: 900 });
    expect(limitExport(gridFirst, idle, rising, T0 + 1_000)).toMatchObject({ step: 'hold', limitW: 4_040 });

    // The sun changing between the inverter's reading before the grid's and the grid's: its reading after counts too.
    // A cloud (4 200 → 1 846 W, load 2 311 W: 465 W imported): from the reading before alone, 4 200 W and 3 405 W of
    // headroom would fit the whole rating — released into the sun's return; with the lower of the two, held.
    const settled: ExportLimitMemory = {
      limitW: 4_200,
      sentAtMs: T0 - 1_000,
      changedAtMs: T0 - 60_000,
      boundAtMs: T0 - 1_000,
      history: [{ atMs: T0 - 60_000, limitW: 4_200 }],
      readings: { 'pv-1': [{ atMs: T0 - 1_400, powerW: 4_200 }] },
    };
    const cloud = site(1_846, 2_311, { gridPowerW: 465, gridAgeMs: 700, pvInverters: [pv(1_846, { ageMs: 400 })] });
    expect(limitExport(cloud, idle, settled, T0)).toMatchObject({ reason: 'curtailing', step: 'hold', limitW: 4_200 });
    // The sun back (1 722 W read before, 4 200 W after; load 400 W: 3 800 W out, 860 W over the target): the fall is
    // sized on the higher, to 3 340 W — from the reading before alone it cut to 862 W, and rose back for seconds.
    const cloudy = { ...settled, readings: { 'pv-1': [{ atMs: T0 - 1_400, powerW: 1_722 }] } };
    const sunBack = site(4_200, 400, { gridAgeMs: 700, pvInverters: [pv(4_200, { ageMs: 400 })] });
    expect(limitExport(sunBack, idle, cloudy, T0)).toMatchObject({ step: 'fall', limitW: 3_340 });

    // A fall not yet seen: 3 950 → 2 950 W sent at T0 (no load: 1 010 W over the 2 940 W target), the grid read 500 ms
    // later still showing the old excess, the inverter read before the fall. The PV counted at its new share less the
    // excess would cut the same kilowatt twice (to 1 940 W): held until a reading shows the fall.
    const falling = changedAtT0(3_950, 2_950, { atMs: T0 - 900, powerW: 3_950 });
    const notYet = site(3_950, 0, { gridPowerW: -3_950, gridAgeMs: 500, pvInverters: [pv(3_950, { ageMs: 900 })] });
    expect(limitExport(notYet, idle, falling, T0 + 1_000)).toMatchObject({ step: 'hold', limitW: 2_950 });
    // Once a reading shows the inverter at its new share, a grid reading after it that is still over falls again.
    const shown = site(2_950, 0, { gridPowerW: -3_950 + 1_000 - 500, gridAgeMs: 100, pvInverters: [pv(2_950, { ageMs: 300 })] });
    expect(limitExport(shown, idle, falling, T0 + 1_000)).toMatchObject({ step: 'fall', limitW: 2_950 - 510 });

    // A rise not yet seen: 3 440 → 3 540 W sent at T0 to an inverter running at its limit; read 100 ms later, before it
    // followed, and the grid 500 ms later (load 2.5 kW: 940 W out, 2 kW of headroom). Another 600 W now would come on
    // top of a rise the grid may not show yet: held until a reading shows the inverter past halfway (3 490 W).
    const smallRise = changedAtT0(3_440, 3_540, { atMs: T0 - 900, powerW: 3_440 });
    const notRisen = site(3_440, 2_500, { gridAgeMs: 500, pvInverters: [pv(3_440, { ageMs: 900 })] });
    expect(limitExport(notRisen, idle, smallRise, T0 + 1_000)).toMatchObject({ step: 'hold', limitW: 3_540 });
    const risen = site(3_540, 2_500, { gridAgeMs: 500, pvInverters: [pv(3_540, { ageMs: 600 })] });
    expect(limitExport(risen, idle, smallRise, T0 + 1_000)).toMatchObject({ step: 'rise', limitW: 4_140 });

    // A grid reading taken before the last change (here: the very reading the start answered) is not acted on again:
    // held until the grid is read after it. As read, the PV now at its limit and the same 1.56 kW excess cut it again.
    const start = limitExport(site(5_000, 500), idle, {}, T0);
    expect(start.limitW).toBe(3_440);
    const sameGrid = site(3_440, 500, { gridPowerW: -4_500, gridAgeMs: 1_000 });
    expect(limitExport(sameGrid, idle, start.memory, T0 + 1_000)).toMatchObject({ step: 'hold', limitW: 3_440 });
    expect(limitExport(site(3_440, 500), idle, start.memory, T0 + 1_000).limitW).toBe(3_440);
  });

  it('waits for a change the inverters do not show yet only as far as it answers the excess', () => {
    // A fall 4 950 → 3 940 W sent at T0 (load 1 kW, 1 010 W over the target) and not shown yet; then the load drops to
    // nothing: the grid, read 500 ms later, shows 2 010 W over. The pending fall answers 1 010 W of it: paired as if it
    // had not been sent (4 950 W), the limit falls to 2 940 W at once — held whole, the second drop went out for
    // seconds.
    const pending = changedAtT0(4_950, 3_940, { atMs: T0 - 900, powerW: 4_950 });
    const secondDrop = site(4_950, 0, { gridAgeMs: 500, pvInverters: [pv(4_950, { ageMs: 900 })] });
    expect(limitExport(secondDrop, idle, pending, T0 + 1_000)).toMatchObject({ step: 'fall', limitW: 2_940 });
    // A small fall on a zero-export site (64 → 12 W, 52 W: less than a step of 60 W) counts too: with 60 W over the
    // target, 52 W answered, the 8 W left is under half a margin — held (as read: a second fall, to 0 W).
    const zeroExport = { maxImportW: 17_000, maxExportW: 0, phases: 3 as const, nominalVoltageV: 230 };
    const small = changedAtT0(64, 12, { atMs: T0 - 900, powerW: 64 });
    const smallOver = site(64, 54, { gridPowerW: -10, gridAgeMs: 500, pvInverters: [pv(64, { ageMs: 900 })], limits: zeroExport });
    expect(limitExport(smallOver, idle, small, T0 + 1_000)).toMatchObject({ step: 'hold', limitW: 12 });
    // Two 3 kW inverters, 4 kW → 3 kW sent at T0: the first shows it (1 500 W), the second has made 2 900 W for
    // seconds under its 2 kW share — it does not keep to its limits and is not waited for: the limit falls (from the
    // paired 3 kW, 460 W over) instead of holding until followMs.
    const pair = [pv(1_500, { assetId: 'pv-0', ratedPowerW: 3_000, ageMs: 600 }), pv(2_900, { assetId: 'pv-1', ratedPowerW: 3_000, ageMs: 800 })];
    const ignoring: ExportLimitMemory = {
      ...changedAtT0(4_000, 3_000, { atMs: T0 - 900, powerW: 2_000 }),
      readings: {
        'pv-0': [{ atMs: T0 - 900, powerW: 2_000 }],
        'pv-1': [
          { atMs: T0 - 6_000, powerW: 2_900 },
          { atMs: T0 - 900, powerW: 2_900 },
        ],
      },
    };
    const oneIgnores = site(4_400, 1_000, { gridAgeMs: 500, pvInverters: pair });
    expect(limitExport(oneIgnores, idle, ignoring, T0 + 1_000)).toMatchObject({ step: 'fall', limitW: 2_540 });
    // A 1 kW inverter read 25 W over its share 6 s ago (meter noise, not a device ignoring its limit: within the least
    // margin) is waited for: 700 → 450 W pending, 450 W over the target, 250 W of it answered — the limit falls to
    // 250 W, what the target allows (counted as not following, it was cut to 0 W).
    const small1kW = [pv(700, { ratedPowerW: 1_000, ageMs: 900 })];
    const noisy: ExportLimitMemory = {
      ...changedAtT0(700, 450, { atMs: T0 - 900, powerW: 700 }),
      readings: {
        'pv-1': [
          { atMs: T0 - 6_000, powerW: 725 },
          { atMs: T0 - 900, powerW: 700 },
        ],
      },
    };
    const limit250 = { maxImportW: 17_000, maxExportW: 250, phases: 3 as const, nominalVoltageV: 230 };
    const noisyOver = site(700, 50, { gridAgeMs: 500, pvInverters: small1kW, limits: limit250 });
    expect(limitExport(noisyOver, idle, noisy, T0 + 1_000)).toMatchObject({ step: 'fall', limitW: 250 });
    // After a restart the memory knows the limit in force but no reading before it: the inverter is not waited for.
    const restored: ExportLimitMemory = { limitW: 3_540, sentAtMs: T0, changedAtMs: T0, boundAtMs: T0 };
    const afterRestart = site(3_560, 100, { gridPowerW: -3_460, pvInverters: [pv(3_560, { ageMs: 100 })] });
    expect(limitExport(afterRestart, idle, restored, T0 + 1_000)).toMatchObject({ step: 'fall', limitW: 3_020 });
  });

  it('two load drops a second apart, the inverter applying limits 1.5–4.5 s late: each fall once, none below the need', () => {
    // Sun 5.5 kW, load 2.5 kW → 1.5 kW at 60 s → 0.5 kW at 61 s, 2 kW allowed: the limit must end at 2 450 W. With two
    // falls pending, the first was counted at its share each tick and cut the same excess again — down to 0 W.
    for (const [gridPhaseMs, pvPhaseMs] of [[0, 900], [900, 300], [500, 500], [0, 0]] as const) {
      for (const delayMs of [1_500, 3_000, 4_500]) {
        const timing = { gridPhaseMs, gridPeriodMs: 1_000, pvPhaseMs, pvPeriodMs: 1_000, delayMs, rampWPerS: Infinity };
        let lowestW = Number.POSITIVE_INFINITY;
        const { writes } = driveExportPlant({
          timing,
          ratedW: 6_000,
          maxExportW: 2_000,
          startMs: T0,
          durationMs: 90_000,
          sunW: () => 5_500,
          loadW: (offsetMs) => (offsetMs < 60_000 ? 2_500 : offsetMs < 61_000 ? 1_500 : 500),
          onTick: (offsetMs, result) => {
            if (offsetMs >= 60_000 && result.limitW !== undefined) lowestW = Math.min(lowestW, result.limitW);
          },
        });
        expect({ timing, lowestW: Math.round(lowestW) }).toEqual({ timing, lowestW: 2_450 });
        expect(writes).toBeLessThanOrEqual(3);
      }
    }
  });

  it('keeps the limits sent and the readings for as long as a reading may be used', () => {
    const history = [
      { atMs: T0 - 30_000, limitW: 2_000 },
      { atMs: T0 - 25_000, limitW: 2_500 },
      { atMs: T0 - 10_000, limitW: 3_000 },
    ];
    const readings = { 'pv-1': [{ atMs: T0 - 20_000, powerW: 1 }, { atMs: T0 - 16_000, powerW: 2 }, { atMs: T0 - 10_000, powerW: 3 }] };
    const memory: ExportLimitMemory = { limitW: 3_000, sentAtMs: T0 - 1_000, changedAtMs: T0 - 10_000, history, readings };
    const next = limitExport(site(3_000, 500), idle, memory, T0).memory;
    // 15 s of readings and 20 s of changes (15 s and followMs), each with the one in force or read before them; this
    // tick's rise (440 W of headroom less a quarter margin) added.
    expect(next.history).toEqual([...history.slice(1), { atMs: T0, limitW: 3_425 }]);
    expect(next.readings).toEqual({ 'pv-1': [...readings['pv-1'].slice(1), { atMs: T0, powerW: 3_000 }] });
    // Another total rating (a second inverter added, one back from stale): the shares of the limits kept are wrong —
    // the history starts afresh (this tick's change only), the readings are kept.
    const added = site(3_000, 500, { pvInverters: [pv(3_000), pv(0, { assetId: 'pv-2', ratedPowerW: 3_000 })] });
    const regrouped = limitExport(added, idle, { ...memory, historyRatedW: 6_000 }, T0).memory;
    expect(regrouped.historyRatedW).toBe(9_000);
    expect(regrouped.history?.every((change) => change.atMs === T0)).toBe(true);
    expect(limitExport(site(3_000, 500), idle, { ...memory, historyRatedW: 6_000 }, T0).memory.history).toEqual(next.history);
    // A reading for the same moment as the last kept (reported again, or a clock that did not move) replaces it.
    const again = limitExport(site(3_000, 500), idle, { ...memory, readings: { 'pv-1': [{ atMs: T0, powerW: 9 }] } }, T0);
    expect(again.memory.readings).toEqual({ 'pv-1': [{ atMs: T0, powerW: 3_000 }] });
    // A reading or a change ahead of the clock (stepped back): dropped, this tick's reading kept.
    const ahead: ExportLimitMemory = { ...memory, history: [{ atMs: T0 + 5_000, limitW: 3_000 }], readings: { 'pv-1': [{ atMs: T0 + 5_000, powerW: 9 }] } };
    const fresh = limitExport(site(3_000, 500), idle, ahead, T0).memory;
    expect(fresh.readings).toEqual({ 'pv-1': [{ atMs: T0, powerW: 3_000 }] });
    expect(fresh.history).toEqual([{ atMs: T0, limitW: 3_425 }]);
  });

  it('holds a zero-export site at a small import', () => {
    const zero = site(4_000, 700, { limits: { maxImportW: 17_000, maxExportW: 0, phases: 3, nominalVoltageV: 230 } });
    // Target: 50 W of import (the smallest margin) → the PV may make 650 W.
    expect(limitExport(zero, idle, {}, T0).limitW).toBe(650);
  });

  it('closed loop: the export ends under the limit, and the PV is not curtailed more than the target needs', () => {
    // A PV inverter that follows its limit within one tick, a full battery, loads and sunshine changing in steps.
    const segment = fc.record({ availableW: fc.integer({ min: 0, max: 6_000 }), loadW: fc.integer({ min: 0, max: 8_000 }) });
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 5_000 }), (segments, maxExportW) => {
        const limits = { maxImportW: 17_000, maxExportW, phases: 3 as const, nominalVoltageV: 230 };
        const target = maxExportW - Math.max(50, 0.02 * maxExportW);
        let memory: ExportLimitMemory = {};
        let limitW = 6_000;
        let nowMs = T0;
        for (const { availableW, loadW } of segments) {
          let gridW = 0;
          let pvW = 0;
          let released = false;
          for (let tick = 0; tick < 700; tick++) {
            nowMs += 1_000;
            pvW = Math.min(availableW, limitW);
            gridW = loadW - pvW;
            const state = buildSiteState({
              gridPowerW: gridW,
              pvPowerW: pvW,
              loadPowerW: loadW,
              batteries: [buildBattery({ socPct: 95, powerW: 0 })],
              pvInverters: [pv(pvW)],
              limits,
            });
            const result = limitExport(state, idle, memory, nowMs);
            memory = result.memory;
            const sp = result.setpoints['pv-1'];
            limitW = sp?.kind === 'pv-limit' ? sp.maxPowerW : 6_000;
            released = sp === undefined;
          }
          // settled: under the limit …
          expect(-gridW).toBeLessThanOrEqual(maxExportW);
          // … and either the PV makes all it can, or the export is within a step (1 % of 6 kW) and a watt of the target
          // (and a quarter margin: the rises' dead band)
          const margin = Math.max(50, 0.02 * maxExportW);
          if (pvW < availableW) expect(-gridW).toBeGreaterThanOrEqual(target - 0.01 * 6_000 - margin / 4 - 1);
          // … and when all of the sun fits with a step to spare, the inverter is free again (no limit lingers)
          if (availableW - loadW <= target - 0.1 * 6_000) expect(released).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('closed loop with two inverters, one of them shaded: under the limit, and not held more than a step and the binding band too low', () => {
    const segment = fc.record({
      availableW: fc.tuple(fc.integer({ min: 0, max: 4_000 }), fc.integer({ min: 0, max: 2_000 })),
      loadW: fc.integer({ min: 0, max: 6_000 }),
    });
    const rated = [4_000, 2_000] as const;
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 4_000 }), (segments, maxExportW) => {
        const limits = { maxImportW: 17_000, maxExportW, phases: 3 as const, nominalVoltageV: 230 };
        const target = maxExportW - Math.max(50, 0.02 * maxExportW);
        let memory: ExportLimitMemory = {};
        let limitW: number[] = [...rated];
        let nowMs = T0;
        for (const { availableW, loadW } of segments) {
          let gridW = 0;
          let made: number[] = [0, 0];
          for (let tick = 0; tick < 60; tick++) {
            nowMs += 1_000;
            made = availableW.map((a, i) => Math.min(a, limitW[i] ?? 0));
            gridW = loadW - (made[0] ?? 0) - (made[1] ?? 0);
            const state = buildSiteState({
              gridPowerW: gridW,
              pvPowerW: (made[0] ?? 0) + (made[1] ?? 0),
              loadPowerW: loadW,
              batteries: [buildBattery({ socPct: 95, powerW: 0 })],
              pvInverters: rated.map((r, i) => pv(made[i] ?? 0, { assetId: `pv-${i}`, ratedPowerW: r })),
              limits,
            });
            const result = limitExport(state, idle, memory, nowMs);
            memory = result.memory;
            limitW = rated.map((r, i) => {
              const sp = result.setpoints[`pv-${i}`];
              return sp?.kind === 'pv-limit' ? sp.maxPowerW : r;
            });
          }
          expect(-gridW).toBeLessThanOrEqual(maxExportW);
          const curtailed = made.some((m, i) => m < (availableW[i] ?? 0));
          // Less the binding band (2 % of the rating): an inverter that makes less than its share for want of sun but
          // within the band of it counts as binding, and a rise is not let grow it past the headroom (no overshoot);
          // and a watt per inverter (each share is floored to a whole watt).
          const lowestW = target - 0.01 * 6_000 - Math.max(50, 0.02 * maxExportW) / 4 - 0.02 * 6_000 - 2;
          if (curtailed) expect(-gridW).toBeGreaterThanOrEqual(lowestW);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('closed loop with the PV and the grid read at other moments, an inverter that follows late: no start-and-release cycles', () => {
    // A plant at 100 ms: the inverter applies a limit `delayMs` after it is sent and ramps to it; the grid meter and the
    // inverter are each read at their own phase and period, and the controller ticks each second on the latest
    // readings. Read 100 ms after each tick, before a fall had reached the inverter, its PV summed with a grid reading
    // taken after it to a release, and every other second the limit started again (the export over the limit for a
    // quarter of the time).
    const plant = fc.record({
      gridPhaseMs: fc.integer({ min: 0, max: 9 }).map((n) => n * 100),
      pvPhaseMs: fc.integer({ min: 0, max: 9 }).map((n) => n * 100),
      gridPeriodMs: fc.constantFrom(1_000, 2_000),
      pvPeriodMs: fc.constantFrom(1_000, 2_000, 3_000, 5_000),
      delayMs: fc.integer({ min: 0, max: 30 }).map((n) => n * 100),
      rampWPerS: fc.constantFrom(Number.POSITIVE_INFINITY, 6_000, 2_000),
    });
    const segment = fc.record({ availableW: fc.integer({ min: 0, max: 6_000 }), loadW: fc.integer({ min: 0, max: 6_000 }) });
    fc.assert(
      fc.property(plant, fc.array(segment, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 5_000 }), (timing, segments, maxExportW) => {
        const marginW = Math.max(50, 0.02 * maxExportW);
        const segmentMs = 90_000;
        const at = (offsetMs: number) => segments[Math.min(segments.length - 1, Math.floor(offsetMs / segmentMs))];
        // Per segment, from its 60th second on: starts, tenths of a second over the limit, and the last step.
        const late = segments.map(() => ({ starts: 0, overSteps: 0, last: { pvW: 0, gridW: 0 } }));
        const isLate = (offsetMs: number) => offsetMs % segmentMs >= 60_000;
        driveExportPlant({
          timing,
          ratedW: 6_000,
          maxExportW,
          startMs: T0,
          durationMs: segments.length * segmentMs,
          sunW: (offsetMs) => at(offsetMs)?.availableW ?? 0,
          loadW: (offsetMs) => at(offsetMs)?.loadW ?? 0,
          onStep: ({ offsetMs, pvW, gridW }) => {
            const seg = late[Math.floor(offsetMs / segmentMs)];
            if (seg === undefined) return;
            if (isLate(offsetMs) && -gridW > maxExportW) seg.overSteps++;
            seg.last = { pvW, gridW };
          },
          onTick: (offsetMs, result) => {
            const seg = late[Math.floor(offsetMs / segmentMs)];
            if (seg !== undefined && isLate(offsetMs) && result.step === 'start') seg.starts++;
          },
        });
        segments.forEach(({ availableW, loadW }, i) => {
          const { starts, overSteps, last } = late[i] ?? { starts: 0, overSteps: 0, last: { pvW: 0, gridW: 0 } };
          // After a minute of the same sun and load: no limit started again (none released to be started) …
          expect(starts).toBe(0);
          // … the export under the limit (a second's slack: a reading taken as a limit lands) …
          expect(overSteps).toBeLessThanOrEqual(10);
          expect(last.gridW).toBeGreaterThanOrEqual(-maxExportW);
          // … and the PV not held more than a step, a quarter margin and the binding band under what the target allows
          const lowestW = maxExportW - marginW - 0.01 * 6_000 - marginW / 4 - 0.02 * 6_000 - 1;
          if (last.pvW < availableW) expect(last.pvW - loadW).toBeGreaterThanOrEqual(lowestW);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('uses the default options unless given others', () => {
    const strict = { ...DEFAULT_EXPORT_LIMIT_OPTIONS, minMarginW: 500 };
    expect(limitExport(site(5_000, 500), idle, {}, T0, strict).limitW).toBe(5_000 - (4_500 - 2_500));
  });
});
