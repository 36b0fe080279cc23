import { buildBattery, buildEvCharger, buildSiteState } from '../../testing';
import type { SiteState } from '../site-state';
import { ACCEPTED_FOR_MS, alignedSurplus, EXPORT_PROOF_MS, type SurplusTrails } from './ev-charging-surplus';

const EV_FIRST = { surplusPriority: 'ev', allowBatteryDischarge: false, maxReadingAgeMs: 15_000 } as const;

/** A site whose meters were read `gridAgeMs`, `batteryAgeMs`, `chargerAgeMs` before `nowMs`. */
function site(
  gridW: number,
  batteryW: number,
  evW: number,
  ages: { grid?: number; battery?: number; charger?: number } = {},
): SiteState {
  return buildSiteState({
    gridPowerW: gridW,
    gridAgeMs: ages.grid ?? 0,
    batteries: [buildBattery({ powerW: batteryW, ageMs: ages.battery ?? 0 })],
    evChargers: [buildEvCharger({ powerW: evW, ageMs: ages.charger ?? 0 })],
  });
}

function surplus(
  state: SiteState,
  nowMs: number,
  trails?: SurplusTrails,
  options: Parameters<typeof alignedSurplus>[2] = EV_FIRST,
) {
  return alignedSurplus(state, state.evChargers, options, nowMs, trails);
}

describe('alignedSurplus', () => {
  it('without earlier readings sums each meter’s latest reading', () => {
    const result = surplus(site(-200, -3_000, 4_000, { battery: 800 }), 10_000);
    expect(result.surplusW).toBe(200 + 4_000 + 3_000);
    expect(result.latestSurplusW).toBe(result.surplusW);
    expect(result.atMs).toBe(9_200);
  });

  it('takes the grid and the charger at the time of the older battery reading', () => {
    // t = 0: all read together, battery charging 6 500 W. t = 1 000: the car draws 4 140 W, NetZero already charges
    // 4 140 W less (the grid shows 0 W again), the battery reading is still the one of t = 0.
    const first = surplus(site(0, -6_500, 0), 0);
    const second = surplus(site(0, -6_500, 4_140, { battery: 1_000 }), 1_000, first.trails);
    expect(second.latestSurplusW).toBe(10_640);
    expect(second.surplusW).toBe(6_500);
    expect(second.atMs).toBe(0);
    // The battery's new reading (t = 1 200) is the oldest no more: the charger's of t = 1 000 is.
    const third = surplus(site(0, -2_360, 4_140, { charger: 200 }), 1_200, second.trails);
    expect(third.atMs).toBe(1_000);
    expect(third.surplusW).toBe(0 + 4_140 + 6_500); // battery held at its t = 0 reading at t = 1 000
  });

  it('tells how much a charger read after the instant shows it rose since the reading held there', () => {
    // t = 0: the car draws 4 140 W, the battery is idle. t = 250: the car rises to 7 A; t = 300: the grid shows it,
    // the battery is read. t = 700: the car is read at 4 830 W; at t = 1 000 the battery's reading of t = 300 makes
    // t = 300 the instant: the grid held there shows the rise, the car held there (t = 0) does not, so the surplus is
    // short by the rise — or not, had the car risen after t = 300: it may be short by up to 690 W.
    const first = surplus(site(-1_360, 0, 4_140), 0, undefined);
    const second = surplus(site(-670, 0, 4_140, { charger: 300 }), 300, first.trails);
    const risen = surplus(site(-670, 0, 4_830, { battery: 700, charger: 300 }), 1_000, second.trails);
    expect(risen.atMs).toBe(300);
    expect(risen.surplusW).toBe(670 + 4_140);
    expect(risen.riseAheadW).toEqual({ 'ev-1': 690 });
    // A fall after the instant, or no reading after it, is no rise ahead.
    expect(risen.fallAheadW).toEqual({ 'ev-1': 0 });
    // A fall after the instant is a fall ahead (the car paused on its own: the surplus may be too high by its draw).
    // The battery read at t = 1 000, the car (back at 6 A) at t = 1 700: held at the instant 4 830 W, next 4 140 W.
    const fell = surplus(site(-1_360, 0, 4_140, { battery: 1_000, charger: 300 }), 2_000, risen.trails);
    expect(fell.atMs).toBe(1_000);
    expect(fell.riseAheadW).toEqual({ 'ev-1': 0 });
    expect(fell.fallAheadW).toEqual({ 'ev-1': 690 });
    // No reading after the instant: nothing ahead.
    expect(first.riseAheadW).toEqual({ 'ev-1': 0 });
    expect(first.fallAheadW).toEqual({ 'ev-1': 0 });
  });

  it('sees nothing ahead when the charger’s trail starts after the instant (no reading held there)', () => {
    // The battery read at t = 100 is the instant; the charger was first read at t = 500, again at t = 1 000.
    const first = surplus(site(0, 0, 4_140, { battery: 400 }), 500, undefined);
    const second = surplus(site(0, 0, 4_830, { battery: 900 }), 1_000, first.trails);
    expect(second.atMs).toBe(100);
    expect(second.riseAheadW).toEqual({ 'ev-1': 0 });
  });

  it('holds a reading until the next one (the last taken at or before the instant)', () => {
    let trails: SurplusTrails | undefined;
    for (const [t, gridW] of [
      [0, 100],
      [100, 200],
      [200, 300],
      [300, 400],
    ] as const) {
      trails = surplus(site(gridW, 0, 0, { battery: t - 0, charger: 0 }), t, trails).trails;
    }
    // Battery read at 0 with powerW 0 → the instant is 0: the grid held at its t = 0 reading.
    const result = surplus(site(500, 0, 0, { battery: 350 }), 350, trails);
    expect(result.atMs).toBe(0);
    expect(result.surplusW).toBe(-100);
    // Readings older than the one used are dropped; the newer ones are kept.
    expect(result.trails.grid.map(([at]) => at)).toEqual([0, 100, 200, 300, 350]);
    const later = surplus(site(500, 0, 0, { battery: 50 }), 350, result.trails);
    expect(later.atMs).toBe(300);
    expect(later.surplusW).toBe(-400);
    expect(later.trails.grid.map(([at]) => at)).toEqual([300, 350]);
  });

  it('keeps at most 64 readings a meter and then uses the oldest it has', () => {
    let trails: SurplusTrails | undefined;
    for (let t = 0; t <= 10_000; t += 100) trails = surplus(site(t, -1_000, 0, { battery: t }), t, trails).trails;
    expect(trails?.grid.length).toBe(64);
    // The battery still read at t = 0; the grid's oldest reading left is the one of t = 3 800 (grid 3 800 W).
    const result = surplus(site(0, -1_000, 0, { battery: 10_100 }), 10_100, trails);
    expect(result.atMs).toBe(0);
    expect(result.surplusW).toBe(-3_800 + 1_000);
  });

  it('does not use readings older than maxReadingAgeMs (a memory restored after a restart)', () => {
    const before = surplus(site(-5_000, 0, 0), 0);
    const after = surplus(site(0, -6_500, 0, { battery: 500 }), 120_000, before.trails);
    expect(after.trails.grid).toEqual([[120_000, 0]]);
    expect(after.surplusW).toBe(6_500);
  });

  it('starts a meter’s trail over when its reading time goes back', () => {
    const first = surplus(site(0, 0, 0), 5_000);
    const back = surplus(site(300, 0, 0), 1_000, first.trails);
    expect(back.trails.grid).toEqual([[1_000, 300]]);
    expect(back.surplusW).toBe(-300);
  });

  it('counts batteries as the surplus priority says; a stale battery by its latest reading, outside the instant', () => {
    const state = site(0, -2_000, 0, { battery: 500 });
    expect(surplus(state, 1_000, undefined, { ...EV_FIRST, surplusPriority: 'battery' }).surplusW).toBe(0);
    const discharging = site(-1_000, 1_000, 0);
    expect(surplus(discharging, 0).surplusW).toBe(0);
    // Allowed to discharge into the car or not, battery energy is not PV surplus.
    expect(surplus(discharging, 0, undefined, { ...EV_FIRST, allowBatteryDischarge: true }).surplusW).toBe(0);
    const stale = buildSiteState({
      gridPowerW: -500,
      batteries: [buildBattery({ powerW: -2_000, ageMs: 60_000 })],
      evChargers: [buildEvCharger()],
    });
    const result = surplus(stale, 100_000);
    expect(result.surplusW).toBe(2_500);
    expect(result.atMs).toBe(100_000);
    expect(result.trails.batteries).toEqual({});
  });

  describe('battery priority behind a primary that charges the batteries with the surplus', () => {
    const BATTERY_FIRST = { ...EV_FIRST, surplusPriority: 'battery' } as const;
    /** Exporting 300 W, the battery charging 1 kW of its 5 kW, the car drawing 4 140 W; read at one instant. */
    const follower = (
      overrides: Partial<SiteState> = {},
      battery: Parameters<typeof buildBattery>[0] = {},
    ): SiteState =>
      buildSiteState({
        gridPowerW: -300,
        batteries: [buildBattery({ powerW: -1_000, maxChargePowerW: 5_000, ...battery })],
        evChargers: [buildEvCharger({ powerW: 4_140 })],
        batteriesFollowSurplus: true,
        ...overrides,
      });

    /** A memory in which the battery showed it takes `chargeW` at `atMs`. */
    const shown = (atMs: number, chargeW: number): SurplusTrails => ({
      grid: [],
      chargers: {},
      batteries: {},
      accepted: { 'bat-1': [atMs, chargeW] },
    });

    it('takes the charge the battery has shown it takes and does not use off the surplus', () => {
      const result = surplus(follower(), 60_000, shown(0, 5_000), BATTERY_FIRST);
      // 300 exported + 4 140 the car draws + 1 000 the battery takes − the 5 000 W it took a minute ago.
      expect(result.surplusW).toBe(300 + 4_140 + 1_000 - 5_000);
      expect(result.batteryRoomW).toBe(4_000);
      expect(result.latestSurplusW).toBe(result.surplusW);
      expect(result.trails.accepted).toEqual({ 'bat-1': [0, 5_000] });
    });

    it('not its nominal rate: a battery that has not shown more leaves the car the surplus', () => {
      // First tick (nothing shown yet), or the 5 kW shown longer ago than ACCEPTED_FOR_MS: it takes what it takes now.
      for (const previous of [undefined, shown(0, 5_000)]) {
        const result = surplus(follower(), ACCEPTED_FOR_MS + 1, previous, BATTERY_FIRST);
        expect(result.batteryRoomW).toBe(0);
        expect(result.surplusW).toBe(300 + 4_140);
        expect(result.trails.accepted).toEqual({ 'bat-1': [ACCEPTED_FOR_MS + 1, 1_000] });
      }
      // A battery that charges as much as it showed (within the tolerance) renews it.
      const renewed = surplus(follower({}, { powerW: -4_900 }), 60_000, shown(0, 5_000), BATTERY_FIRST);
      expect(renewed.trails.accepted).toEqual({ 'bat-1': [60_000, 5_000] });
    });

    it('export lasting EXPORT_PROOF_MS with the battery charging no more: it takes no more than it does', () => {
      // A battery held at `chargeW` (a manual set-point, a temperature rule, a BMS taper): the car stopped, export.
      const tick = (t: number, trails: SurplusTrails, chargeW = 1_000) =>
        surplus(
          follower({ gridPowerW: -3_000 + chargeW, evChargers: [buildEvCharger({ powerW: 0 })] }, { powerW: -chargeW }),
          t,
          trails,
          BATTERY_FIRST,
        );
      let trails = shown(0, 5_000);
      const rooms: number[] = [];
      for (let t = 10_000; t <= 10_000 + EXPORT_PROOF_MS; t += 1_000) {
        const result = tick(t, trails);
        rooms.push(result.batteryRoomW);
        trails = result.trails;
      }
      expect(rooms.slice(0, -1).every((w) => w === 4_000)).toBe(true);
      expect(rooms.at(-1)).toBe(0);
      expect(trails.accepted).toEqual({ 'bat-1': [10_000 + EXPORT_PROOF_MS, 1_000] });
      // No export (the car draws it): the export window closes.
      const drawn = surplus(follower({ gridPowerW: 0 }), 10_000 + EXPORT_PROOF_MS + 1_000, trails, BATTERY_FIRST);
      expect(drawn.trails.exportSince).toBeUndefined();
      expect(drawn.batteryRoomW).toBe(0);
    });

    it('no proof while the battery still charges more (the primary ramping), nor across a gap in the ticks', () => {
      let trails = shown(0, 5_000);
      let last = tickAt(10_000);
      function tickAt(t: number, chargeW = 1_000) {
        const result = surplus(
          follower({ gridPowerW: -3_000 + chargeW, evChargers: [buildEvCharger({ powerW: 0 })] }, { powerW: -chargeW }),
          t,
          trails,
          BATTERY_FIRST,
        );
        trails = result.trails;
        return result;
      }
      // The battery's charge rises 100 W every 5 s (a slow ramp): the window starts over each time it is 200 W up.
      const rampW = (t: number) => 1_000 + 100 * Math.floor((t - 10_000) / 5_000);
      for (let t = 11_000; t <= 10_000 + 2 * EXPORT_PROOF_MS; t += 1_000) last = tickAt(t, rampW(t));
      expect(last.trails.exportSince?.[0]).toBeGreaterThan(10_000 + EXPORT_PROOF_MS);
      expect(last.batteryRoomW).toBe(5_000 - rampW(10_000 + 2 * EXPORT_PROOF_MS));
      // After a 20 s gap (longer than maxReadingAgeMs) the window starts afresh at the tick.
      const after = tickAt(10_000 + 2 * EXPORT_PROOF_MS + 20_000, 2_200);
      expect(after.trails.exportSince?.[0]).toBe(10_000 + 2 * EXPORT_PROOF_MS + 20_000);
      expect(after.batteryRoomW).toBeGreaterThan(0);
    });

    it('counts the battery’s charge in its reading after the instant as room the grid may already show', () => {
      // t = 60 000: all read together, the battery charging 3 100 W (room 1 900 W). t = 60 500: the battery read again
      // at 5 000 W, the charger not (its reading of t = 60 000 makes that the instant): the battery's reading after the
      // instant shows 1 900 W more charge — the grid at the instant may already show it, the room held there does not.
      const first = surplus(
        follower({ gridPowerW: -1_900 }, { powerW: -3_100 }),
        60_000,
        shown(0, 5_000),
        BATTERY_FIRST,
      );
      expect(first.batteryRoomW).toBe(1_900);
      const second = surplus(
        follower({ gridPowerW: 0, evChargers: [buildEvCharger({ powerW: 4_140, ageMs: 500 })] }, { powerW: -5_000 }),
        60_500,
        first.trails,
        BATTERY_FIRST,
      );
      expect(second.atMs).toBe(60_000);
      expect(second.roomAheadW).toEqual({ shortW: 1_900, overW: 0 });
    });

    it('takes a damaged memory (restored from an older or broken store) as none', () => {
      const damaged = { chargers: {}, batteries: {}, accepted: { 'bat-1': null }, exportSince: 5 } as unknown as SurplusTrails;
      const result = surplus(follower(), 60_000, damaged, BATTERY_FIRST);
      expect(result.batteryRoomW).toBe(0);
      expect(result.trails.accepted).toEqual({ 'bat-1': [60_000, 1_000] });
      expect(result.trails.exportSince).toEqual([60_000, 1_000]);
    });

    it('leaves nothing to a full battery', () => {
      const full = surplus(follower({}, { socPct: 95, maxSocPct: 95 }), 0, undefined, BATTERY_FIRST);
      expect(full.batteryRoomW).toBe(0);
      expect(full.surplusW).toBe(300 + 4_140);
    });

    it('leaves no room with the EV first, with discharge into the car allowed, or behind any other primary', () => {
      expect(surplus(follower(), 0, undefined, EV_FIRST)).toMatchObject({
        surplusW: 300 + 4_140 + 1_000,
        batteryRoomW: 0,
      });
      expect(surplus(follower(), 0, undefined, { ...BATTERY_FIRST, allowBatteryDischarge: true })).toMatchObject({
        surplusW: 300 + 4_140,
        batteryRoomW: 0,
      });
      expect(surplus(follower({ batteriesFollowSurplus: false }), 0, undefined, BATTERY_FIRST)).toMatchObject({
        surplusW: 300 + 4_140,
        batteryRoomW: 0,
      });
    });

    it('a discharging battery could charge at the rate it showed instead', () => {
      const result = surplus(follower({ gridPowerW: 0 }, { powerW: 500 }), 60_000, shown(0, 5_000), BATTERY_FIRST);
      expect(result.surplusW).toBe(4_140 - 500 - 5_000);
      expect(result.batteryRoomW).toBe(5_000);
    });
  });
});
