import { batteryPowerOf, buildBattery, buildEvCharger, buildSiteState, evCurrentOf, localTimeMs, runScenario } from '../../testing';
import { batteryPower } from '../battery';
import type { EvChargerState, SiteState } from '../site-state';
import { evChargingStrategy, EvChargingConfigSchema, type EvChargingConfig, type EvChargingMemory } from './ev-charging';

const MINUTE = 60_000;
const HOUR = 3_600_000;

describe('ev-charging strategy', () => {
  const fresh: EvChargingMemory = { chargers: {} };
  const cfg = (input: Record<string, unknown> = {}): EvChargingConfig => EvChargingConfigSchema.parse(input);
  const site = (charger: Partial<EvChargerState>, overrides: Partial<SiteState> = {}): SiteState =>
    buildSiteState({ batteries: [], evChargers: [buildEvCharger(charger)], ...overrides });
  const decide = (state: SiteState, config: EvChargingConfig, nowMs = 0, memory = fresh) =>
    evChargingStrategy.decide(state, config, { nowMs }, memory);
  /** The decision once the current has had time to rise (maxRiseAPerS): the same state every second for 20 s. */
  const settle = (state: SiteState, config: EvChargingConfig, fromMs = 0) =>
    runScenario(evChargingStrategy, config, fresh, Array.from({ length: 21 }, (_, i) => ({ atMs: fromMs + i * 1_000, state }))).at(-1)!;

  it('pauses a charger without a car', () => {
    const result = decide(site({ connected: false }), cfg({ mode: 'fast' }));
    expect(evCurrentOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('not-connected');
  });

  describe('fast', () => {
    it('charges at the charger’s maximum current', () => {
      expect(evCurrentOf(decide(site({}), cfg({ mode: 'fast' })))).toBe(16);
    });

    it('stays under the grid import limit', () => {
      // 17 kW limit, 10 kW load: 7 kW left = 10.1 A on three phases → 10 A.
      expect(evCurrentOf(decide(site({}, { loadPowerW: 10_000 }), cfg({ mode: 'fast' })))).toBe(10);
    });

    it('pauses when the headroom is below the minimum current', () => {
      const result = decide(site({}, { loadPowerW: 14_000 }), cfg({ mode: 'fast' }));
      expect(evCurrentOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('grid-limit-pause');
    });

    it('stays under the main fuse on the most loaded phase', () => {
      const state = site({}, {
        gridPhasePowersW: [1_000, 3_000, 2_000],
        limits: { maxImportW: 40_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230, maxPhaseCurrentA: 25 },
      });
      // 3 000 W / 230 V = 13.04 A on L2 → 11.96 A left → 11 A.
      expect(evCurrentOf(decide(state, cfg({ mode: 'fast' })))).toBe(11);
    });

    it('gives each charger its own reason: the second, paused by the grid limit, does not read "fast"', () => {
      const state = buildSiteState({
        batteries: [],
        loadPowerW: 3_000,
        evChargers: [buildEvCharger(), buildEvCharger({ assetId: 'ev-2' }), buildEvCharger({ assetId: 'ev-3', connected: false })],
      });
      const result = decide(state, cfg({ mode: 'fast' }));
      expect([result.setpoints['ev-1'], result.setpoints['ev-2']]).toEqual([
        { kind: 'ev-current', currentA: 16 },
        { kind: 'ev-current', currentA: 0 },
      ]);
      expect(result.metrics.reason).toBe('fast');
      expect(result.metrics.assetReasons).toEqual({ 'ev-1': 'fast', 'ev-2': 'grid-limit-pause', 'ev-3': 'not-connected' });
    });

    it('a car that has not drawn its offer for a minute keeps only its minimum; the next car gets the rest', () => {
      // 14 kW import limit, 3 kW of house load: 11 kW for the cars. ev-1 is full (draws nothing at 15 A).
      const state = buildSiteState({
        batteries: [],
        loadPowerW: 3_000,
        limits: { maxImportW: 14_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
        evChargers: [buildEvCharger(), buildEvCharger({ assetId: 'ev-2' })],
      });
      const results = runScenario(
        evChargingStrategy,
        cfg({ mode: 'fast' }),
        fresh,
        Array.from({ length: 62 }, (_, i) => ({ atMs: i * 1_000, state })),
      );
      const currents = (i: number) => [evCurrentOf(results[i]!, 'ev-1'), evCurrentOf(results[i]!, 'ev-2')];
      expect(currents(59)).toEqual([15, 0]);
      // From 60 s: 6 A offered to ev-1 (it can resume), 11 kW − 4.14 kW = 6.86 kW → 9 A for ev-2.
      expect(currents(61)).toEqual([6, 9]);
      expect(results[61]!.metrics.assetReasons).toEqual({ 'ev-1': 'ev-not-drawing', 'ev-2': 'fast' });
      // Drawing again, it gets its share back on the next tick.
      const resumed = evChargingStrategy.decide(
        buildSiteState({
          ...state,
          gridPowerW: undefined,
          evChargers: [buildEvCharger({ powerW: 4_140, currentLimitA: 6 }), buildEvCharger({ assetId: 'ev-2' })],
        }),
        cfg({ mode: 'fast' }),
        { nowMs: 62_000 },
        results[61]!.memory,
      );
      expect(resumed.metrics.assetReasons?.['ev-1']).toBe('fast');
      expect(evCurrentOf(resumed, 'ev-1')).toBe(15);
    });

    it('counts the car’s own current as available headroom', () => {
      const state = site({ powerW: 11_040 }, { loadPowerW: 5_000 });
      expect(evCurrentOf(decide(state, cfg({ mode: 'fast' })))).toBe(16);
    });
  });

  describe('solar', () => {
    const config = cfg({ mode: 'solar' });

    it('starts at the minimum current only after the surplus held for startDelayMs, then follows it', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 5_500 });
      const results = runScenario(evChargingStrategy, config, fresh, [
        { atMs: 0, state },
        { atMs: 30_000, state },
        { atMs: 60_000, state },
        { atMs: 61_000, state },
      ]);
      // 5 000 W / 690 W/A = 7.2 A: the start at 6 A, one second later 7 A.
      expect(results.map((r) => evCurrentOf(r))).toEqual([0, 0, 6, 7]);
      expect(results.map((r) => r.metrics.reason)).toEqual(['solar-waiting', 'solar-waiting', 'solar', 'solar']);
    });

    it('does not start below minimum power + start margin', () => {
      const result = decide(site({}, { loadPowerW: 500, pvPowerW: 4_500 }), config);
      expect(evCurrentOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('solar-insufficient');
    });

    it('keeps the minimum current through a short cloud and stops after stopDelayMs', () => {
      const charging: EvChargingMemory = { chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: null, lastPhaseSwitchAtMs: null } } };
      // The car draws 6 A (4 140 W); PV dropped so the grid imports 1 500 W: surplus 2 640 W < 4 140 − 300.
      const cloudy = site({ powerW: 4_140 }, { loadPowerW: 500, pvPowerW: 3_140 });
      const results = runScenario(evChargingStrategy, config, charging, [
        { atMs: 0, state: cloudy },
        { atMs: MINUTE, state: cloudy },
        { atMs: 2 * MINUTE, state: cloudy },
      ]);
      expect(results.map((r) => evCurrentOf(r))).toEqual([6, 6, 0]);
      expect(results.map((r) => r.metrics.reason)).toEqual(['solar-stopping', 'solar-stopping', 'solar-insufficient']);
    });

    it('switches to one phase when the surplus is too small for three', () => {
      const state = site({ canSwitchPhases: true }, { loadPowerW: 500, pvPowerW: 2_500 });
      const config0 = cfg({ mode: 'solar', startDelayMs: 0 });
      expect(decide(state, config0).setpoints['ev-1']).toEqual({ kind: 'ev-current', currentA: 6, phases: 1 });
      expect(settle(state, config0).setpoints['ev-1']).toEqual({ kind: 'ev-current', currentA: 8, phases: 1 });
    });

    it('does not switch phases again within the minimum interval', () => {
      const config0 = cfg({ mode: 'solar', startDelayMs: 0 });
      const results = runScenario(evChargingStrategy, config0, fresh, [
        { atMs: 0, state: site({ canSwitchPhases: true }, { loadPowerW: 500, pvPowerW: 2_500 }) },
        { atMs: MINUTE, state: site({ canSwitchPhases: true, phases: 1, powerW: 1_840 }, { loadPowerW: 500, pvPowerW: 9_000 }) },
        { atMs: 6 * MINUTE, state: site({ canSwitchPhases: true, phases: 1, powerW: 1_840 }, { loadPowerW: 500, pvPowerW: 9_000 }) },
      ]);
      // Ticks a minute apart: each decision's memory is older than maxReadingAgeMs, so the rise limit starts from what
      // the car draws (1 840 W: 8 A on one phase, 2.7 A → the 6 A start on three).
      expect(results.map((r) => r.setpoints['ev-1'])).toEqual([
        { kind: 'ev-current', currentA: 6, phases: 1 },
        { kind: 'ev-current', currentA: 8, phases: 1 },
        { kind: 'ev-current', currentA: 6, phases: 3 },
      ]);
      expect(results.map((r) => r.metrics.terms['ev0TargetA'])).toEqual([8, 16, 12]);
    });

    it('switches phases only when the surplus asks for it for phaseSwitchDelayMs while a car charges', () => {
      // Charging at 10 A on three phases (6 900 W) on 7.4 kW of surplus.
      const sunny = (surplusW: number) =>
        site({ canSwitchPhases: true, phases: 3, powerW: 6_900, currentLimitA: 10 }, { loadPowerW: 500, pvPowerW: 500 + surplusW });
      const memory: EvChargingMemory = {
        chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: 3, lastPhaseSwitchAtMs: -HOUR, offeredA: 10, offeredAtMs: 0, offeredPhases: 3 } },
      };
      const cloud = (seconds: number) =>
        runScenario(evChargingStrategy, cfg({ mode: 'solar' }), memory, [
          ...Array.from({ length: seconds }, (_, i) => ({ atMs: (1 + i) * 1_000, state: sunny(3_000) })),
          ...Array.from({ length: 10 }, (_, i) => ({ atMs: (1 + seconds + i) * 1_000, state: sunny(7_400) })),
        ]);
      // One tick of cloud: still three phases, after it too (before: one phase, held for 5 min).
      expect(cloud(1).every((r) => (r.setpoints['ev-1'] as { phases?: number }).phases === 3)).toBe(true);
      // A cloud of 40 s: one phase from its 31st second on.
      const phases = cloud(40).map((r) => (r.setpoints['ev-1'] as { phases?: number }).phases);
      expect(phases.indexOf(1)).toBe(30);
    });

    it('a moment of surplus does not restart a pending stop (pendingClearMs), a lasting one ends it', () => {
      // Charging at 6 A (4 140 W) on 1 kW of surplus, with one tick of 4.5 kW every 100 s.
      // (Surplus = PV − house load: the grid shows the car's draw, which the strategy counts back.)
      const charging = (surplusW: number) =>
        site({ powerW: 4_140, currentLimitA: 6 }, { loadPowerW: 500, pvPowerW: 500 + surplusW });
      const memory: EvChargingMemory = {
        chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: null, lastPhaseSwitchAtMs: null } },
      };
      const ticks = Array.from({ length: 400 }, (_, i) => ({ atMs: i * 1_000, state: charging(i % 100 === 50 ? 4_500 : 1_000) }));
      const results = runScenario(evChargingStrategy, cfg({ mode: 'solar' }), memory, ticks);
      const stoppedAt = results.findIndex((r) => evCurrentOf(r) === 0);
      // The stop delay (120 s) runs from the first tick, through the moment at 50 s.
      expect(stoppedAt).toBe(120);
      expect(results.slice(0, 120).every((r) => evCurrentOf(r) === 6 && r.metrics.reason === 'solar-stopping')).toBe(true);
      // Without the grace (the behaviour before) each moment restarted it: never stopped in 400 s.
      const before = runScenario(evChargingStrategy, cfg({ mode: 'solar', pendingClearMs: 0 }), memory, ticks);
      expect(before.every((r) => evCurrentOf(r) === 6)).toBe(true);
      // Surplus that lasts 10 s ends the pending stop.
      const recovered = runScenario(evChargingStrategy, cfg({ mode: 'solar' }), memory, [
        ...ticks.slice(0, 30),
        ...Array.from({ length: 15 }, (_, i) => ({ atMs: (30 + i) * 1_000, state: charging(6_000) })),
      ]);
      expect(recovered.slice(30, 39).map((r) => r.metrics.reason)).toEqual(Array(9).fill('solar-stopping'));
      expect(recovered.at(-1)!.metrics.reason).toBe('solar');
      expect(recovered.at(-1)!.memory.chargers['ev-1']?.pendingSinceMs).toBeNull();
    });

    it('a pending start needs the surplus through its whole delay: a moment of sun every 9 s does not start a car', () => {
      const idle = (surplusW: number) => site({}, { loadPowerW: 500, pvPowerW: 500 + surplusW });
      const ticks = Array.from({ length: 900 }, (_, i) => ({ atMs: i * 1_000, state: idle(i % 9 === 0 ? 5_000 : 1_500) }));
      const results = runScenario(evChargingStrategy, cfg({ mode: 'solar' }), fresh, ticks);
      expect(results.every((r) => evCurrentOf(r) === 0)).toBe(true);
    });

    it('with a short stop delay a car switches down to one phase before it would stop', () => {
      // Charging at 6 A on three phases on 2 kW of surplus, stopDelayMs 20 s: one phase (2 kW ≥ 1.38 kW) at 10 s.
      const state = site({ canSwitchPhases: true, phases: 3, powerW: 4_140, currentLimitA: 6 }, { loadPowerW: 500, pvPowerW: 2_500 });
      const memory: EvChargingMemory = {
        chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: 3, lastPhaseSwitchAtMs: -HOUR, offeredA: 6, offeredAtMs: 0, offeredPhases: 3 } },
      };
      const results = runScenario(
        evChargingStrategy,
        cfg({ mode: 'solar', stopDelayMs: 20_000 }),
        memory,
        Array.from({ length: 25 }, (_, i) => ({ atMs: (1 + i) * 1_000, state })),
      );
      const phases = results.map((r) => (r.setpoints['ev-1'] as { phases?: number }).phases);
      expect(phases.indexOf(1)).toBe(10);
      expect(results.every((r) => evCurrentOf(r)! >= 6)).toBe(true);
    });

    it('a stale reading pauses the charger but keeps its session: no early phase switch, no new start delay', () => {
      const config0 = cfg({ mode: 'solar', startDelayMs: 60_000 });
      const sunny = (charger: Partial<EvChargerState>, grid: Partial<SiteState> = {}) =>
        site({ canSwitchPhases: true, phases: 1, powerW: 1_840, ...charger }, { loadPowerW: 500, pvPowerW: 9_000, ...grid });
      // Charging on one phase since a switch at 0 s (started with no delay so the test needs no minute of ticks).
      const [start] = runScenario(evChargingStrategy, cfg({ mode: 'solar', startDelayMs: 0 }), fresh, [
        { atMs: 0, state: site({ canSwitchPhases: true }, { loadPowerW: 500, pvPowerW: 2_500 }) },
      ]);
      expect(start!.setpoints['ev-1']).toEqual({ kind: 'ev-current', currentA: 6, phases: 1 });
      for (const stale of [sunny({ quality: 'stale' }), sunny({}, { gridQuality: 'stale' })]) {
        const results = runScenario(evChargingStrategy, config0, start!.memory, [
          { atMs: 5_000, state: stale },
          { atMs: 6_000, state: sunny({}) },
        ]);
        expect(results.map((r) => r.metrics.reason)).toEqual(['stale-data', 'solar']);
        // Still one phase (a switch waits 300 s after the last), charging at once from the 6 A start.
        expect(results.map((r) => r.setpoints['ev-1'])).toEqual([
          { kind: 'ev-current', currentA: 0 },
          { kind: 'ev-current', currentA: 6, phases: 1 },
        ]);
      }
    });

    it('with battery priority leaves PV surplus to a charging home battery', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 8_500, batteries: [buildBattery({ powerW: -5_000 })] });
      expect(evCurrentOf(settle(state, cfg({ mode: 'solar', startDelayMs: 0 })))).toBe(0);
      expect(evCurrentOf(settle(state, cfg({ mode: 'solar', startDelayMs: 0, surplusPriority: 'ev' })))).toBe(11);
    });

    it('does not count home-battery discharge as solar surplus', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 0, batteries: [buildBattery({ powerW: 5_000 })] });
      expect(state.gridPowerW).toBe(-4_500);
      expect(evCurrentOf(decide(state, cfg({ mode: 'solar', startDelayMs: 0 })))).toBe(0);
    });

    it('gives the surplus to the first charger first', () => {
      const state = buildSiteState({
        batteries: [],
        loadPowerW: 500,
        pvPowerW: 9_000,
        evChargers: [buildEvCharger({ assetId: 'ev-1' }), buildEvCharger({ assetId: 'ev-2' })],
      });
      // While the first charger rises to its 12 A it keeps its share: the second does not start on it meanwhile.
      const first = decide(state, cfg({ mode: 'solar', startDelayMs: 0 }));
      expect([evCurrentOf(first, 'ev-1'), evCurrentOf(first, 'ev-2')]).toEqual([6, 0]);
      const result = settle(state, cfg({ mode: 'solar', startDelayMs: 0 }));
      expect([evCurrentOf(result, 'ev-1'), evCurrentOf(result, 'ev-2')]).toEqual([12, 0]);
    });
  });

  describe('min+solar', () => {
    it('charges at least the minimum current, more with surplus', () => {
      expect(evCurrentOf(decide(site({}), cfg({ mode: 'min+solar' })))).toBe(6);
      expect(evCurrentOf(settle(site({}, { loadPowerW: 500, pvPowerW: 8_500 }), cfg({ mode: 'min+solar' })))).toBe(11);
    });
  });

  describe('scheduled', () => {
    const config = cfg({ mode: 'scheduled' });
    const departureAtMs = 10 * HOUR;
    const session = { departureAtMs, energyWantedWh: 20_000, energyDeliveredWh: 0 };

    it('waits for solar before the latest start, then charges at the required current', () => {
      // 22 kWh (10 % margin) at 16 A × 3 × 230 V = 11.04 kW takes 1.993 h → latest start 8.007 h after epoch.
      const latestStartMs = departureAtMs - (22_000 / 11_040) * HOUR;
      const early = decide(site({ session }), config, 2 * HOUR);
      expect(evCurrentOf(early)).toBe(0);
      expect(early.metrics.reason).toBe('scheduled-waiting');
      expect(early.metrics.terms['ev0LatestStartMs']).toBe(Math.round(latestStartMs));
      expect(decide(site({ session }), config, latestStartMs - 1).metrics.reason).toBe('scheduled-waiting');
      const late = decide(site({ session }), config, latestStartMs);
      expect(evCurrentOf(late)).toBe(16);
      expect(late.metrics.reason).toBe('scheduled-deadline');
    });

    it('uses surplus while waiting', () => {
      const result = settle(site({ session }, { loadPowerW: 500, pvPowerW: 6_000 }), cfg({ mode: 'scheduled', startDelayMs: 0 }), 2 * HOUR);
      expect(evCurrentOf(result)).toBe(7);
      expect(result.metrics.reason).toBe('scheduled-solar');
    });

    it('keeps full current once the latest start was reached, though the energy delivered moves it later again', () => {
      const latestStartMs = departureAtMs - (22_000 / 11_040) * HOUR;
      const late = decide(site({ session }), config, latestStartMs);
      expect(late.metrics.reason).toBe('scheduled-deadline');
      // Ten minutes of 11 kW later the latest start for what is still wanted lies after now: still the deadline.
      const delivered = { ...session, energyDeliveredWh: 2_000 };
      const later = decide(site({ session: delivered }), config, latestStartMs + 10 * MINUTE, late.memory);
      expect(Number(later.metrics.terms['ev0LatestStartMs'])).toBeGreaterThan(latestStartMs + 10 * MINUTE);
      expect([evCurrentOf(later), later.metrics.reason]).toEqual([16, 'scheduled-deadline']);
      // Without that memory (or for another departure) it is recomputed as before.
      expect(decide(site({ session: delivered }), config, latestStartMs + 10 * MINUTE).metrics.reason).toBe('scheduled-waiting');
      const moved = { ...delivered, departureAtMs: departureAtMs + HOUR };
      expect(decide(site({ session: moved }), config, latestStartMs + 10 * MINUTE, late.memory).metrics.reason).not.toBe('scheduled-deadline');
    });

    it('stops when the energy target is reached', () => {
      const result = decide(site({ session: { ...session, energyDeliveredWh: 20_000 } }), config, 9 * HOUR);
      expect(evCurrentOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('energy-target-reached');
    });

    it('charges at full current after the departure time passed', () => {
      const result = decide(site({ session }), config, 11 * HOUR);
      expect(evCurrentOf(result)).toBe(16);
      expect(result.metrics.reason).toBe('departure-passed');
    });

    it('plans the latest start on the power the import limit leaves, and says when the target cannot be met', () => {
      // 8 kW import limit, 2 kW of house load: 6 kW left, not the charger's 11.04 kW.
      const busy = (nowMs: number, memory = fresh) =>
        decide(site({ session }, { loadPowerW: 2_000, limits: { maxImportW: 8_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 } }), config, nowMs, memory);
      const latestStartMs = departureAtMs - (22_000 / 6_000) * HOUR;
      expect(busy(2 * HOUR).metrics.terms['ev0LatestStartMs']).toBe(Math.round(latestStartMs));
      expect(busy(latestStartMs - MINUTE).metrics.reason).toBe('scheduled-waiting');
      const due = busy(latestStartMs);
      expect([evCurrentOf(due), due.metrics.reason]).toEqual([8, 'scheduled-deadline']);
      // 30 kWh wanted an hour before departure: full current, and the reason says it will not be enough.
      const short = decide(site({ session: { ...session, energyWantedWh: 30_000 } }), config, departureAtMs - HOUR);
      expect([evCurrentOf(short), short.metrics.reason]).toEqual([16, 'departure-unreachable']);
      // No headroom at all an hour before departure: paused by the grid, and the deadline latches, so the car
      // charges at full current the moment there is room (before: 'scheduled-waiting', the latest start equal to the
      // departure, nothing latched).
      const full = decide(site({ session }, { loadPowerW: 17_000 }), config, departureAtMs - HOUR);
      expect(full.metrics.reason).toBe('grid-limit-pause');
      expect(full.memory.chargers['ev-1']?.deadlineFor).toBe(departureAtMs);
      // Just enough (10.5 kWh in 1 h at 11.04 kW; with the 10 % margin past the latest start): the deadline, not unreachable.
      const enough = decide(site({ session: { ...session, energyWantedWh: 10_500 } }), config, departureAtMs - HOUR);
      expect(enough.metrics.reason).toBe('scheduled-deadline');
    });

    describe('a recurring departure from the configuration (site-local time)', () => {
      const commuter = (departure: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
        cfg({ mode: 'scheduled', departures: { 'ev-1': { at: '07:30', energyWh: 20_000, ...departure } }, ...extra });
      const plugged = site({ session: { energyDeliveredWh: 0 } });

      it('charges for the next 07:30 in Europe/Paris: surplus first, full current from the latest start', () => {
        const departure = localTimeMs('2024-05-14T07:30', 'Europe/Paris');
        const evening = decide(plugged, commuter({}), localTimeMs('2024-05-13T22:00', 'Europe/Paris'));
        expect(evening.metrics.reason).toBe('scheduled-waiting');
        expect(evening.metrics.terms['ev0DepartureAtMs']).toBe(departure);
        const latestStartMs = departure - (22_000 / 11_040) * HOUR;
        expect(evening.metrics.terms['ev0LatestStartMs']).toBe(Math.round(latestStartMs));
        const due = decide(plugged, commuter({}), Math.ceil(latestStartMs));
        expect([evCurrentOf(due), due.metrics.reason]).toEqual([16, 'scheduled-deadline']);
        // The energy the charger reports for the session counts; the target met, it stops.
        const full = decide(site({ session: { energyDeliveredWh: 20_000 } }), commuter({}), Math.ceil(latestStartMs));
        expect([evCurrentOf(full), full.metrics.reason]).toEqual([0, 'energy-target-reached']);
      });

      it('skips the days not listed (Friday evening → Monday 07:30) and keeps the wall-clock time over a clock change', () => {
        const friday = decide(plugged, commuter({ days: [1, 2, 3, 4, 5] }), localTimeMs('2024-05-17T22:00', 'Europe/Paris'));
        expect(friday.metrics.terms['ev0DepartureAtMs']).toBe(localTimeMs('2024-05-20T07:30', 'Europe/Paris'));
        // Saturday 26 October 2024, 22:00 CEST → Sunday 07:30 CET (UTC+1): 06:30Z.
        const autumn = decide(plugged, commuter({}), localTimeMs('2024-10-26T22:00', 'Europe/Paris'));
        expect(autumn.metrics.terms['ev0DepartureAtMs']).toBe(Date.parse('2024-10-27T06:30:00Z'));
        // Saturday 30 March 2024 → Sunday 07:30 CEST (UTC+2): 05:30Z.
        const spring = decide(plugged, commuter({}), localTimeMs('2024-03-30T22:00', 'Europe/Paris'));
        expect(spring.metrics.terms['ev0DepartureAtMs']).toBe(Date.parse('2024-03-31T05:30:00Z'));
      });

      it('a session’s own departure and target win over the configured one', () => {
        const own = decide(site({ session }), commuter({}), 2 * HOUR);
        expect(own.metrics.terms['ev0DepartureAtMs']).toBe(departureAtMs);
      });

      it('refuses a departure for a charger that does not run scheduled, naming the charger and its mode', () => {
        const parsed = EvChargingConfigSchema.safeParse({
          mode: 'scheduled',
          modeByCharger: { 'ev-2': 'solar' },
          departures: { 'ev-2': { at: '07:30', energyWh: 10_000 } },
        });
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues).toEqual([
          expect.objectContaining({
            path: ['departures', 'ev-2'],
            message: "charger ev-2 runs in mode 'solar'; a departure applies in mode 'scheduled' (set mode or modeByCharger)",
          }),
        ]);
        expect(EvChargingConfigSchema.safeParse({ departures: { 'ev-1': { at: '7:30', energyWh: 1 } } }).success).toBe(false);
      });
    });

    it('falls back to solar without a departure time and says why', () => {
      const result = decide(site({ session: { energyDeliveredWh: 0 } }), config);
      expect(evCurrentOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('no-departure-fallback-solar');
    });
  });

  describe('readings of different polls and the rise limit (maxRiseAPerS)', () => {
    const SURPLUS_W = 6_500; // PV 7 kW − load 500 W: 9.42 A on three phases at 230 V
    const evFirst = cfg({ mode: 'solar', surplusPriority: 'ev', startDelayMs: 0 });

    /**
     * The site of the whole-gateway day scenario: NetZero holds the grid at 0 W by charging the battery with what the
     * car leaves of a 6.5 kW surplus, 500 ms after the car's draw changes; the car draws what was offered on the
     * tick before. The engine ticks every 250 ms on a fresh grid reading; the battery is read every second (at
     * 200 ms past), the charger every second (at 500 ms past). So on the tick after the car starts drawing the grid
     * reading already shows NetZero charging the battery less, and the battery reading does not yet.
     */
    function polledSite(config: EvChargingConfig, durationMs: number, keepReadings = true) {
      const offers: { readonly atMs: number; readonly currentA: number }[] = [];
      const evW = (t: number): number => 690 * (offers.filter((o) => o.atMs < t).at(-1)?.currentA ?? 0);
      const batteryW = (t: number): number => -(SURPLUS_W - evW(t - 500));
      const lastPoll = (t: number, phaseMs: number): number => Math.floor((t - phaseMs) / 1_000) * 1_000 + phaseMs;
      let memory: EvChargingMemory = fresh;
      const ticks: { readonly atMs: number; readonly currentA: number; readonly surplusW: number; readonly latestSurplusW: number }[] = [];
      for (let t = 1_000; t <= durationMs; t += 250) {
        const batteryAt = lastPoll(t, 200);
        const chargerAt = lastPoll(t, 500);
        const state = buildSiteState({
          gridPowerW: evW(t) - SURPLUS_W - batteryW(t),
          pvPowerW: 7_000,
          loadPowerW: 500,
          batteries: [buildBattery({ powerW: batteryW(batteryAt), maxChargePowerW: 10_000, ageMs: t - batteryAt })],
          evChargers: [buildEvCharger({ powerW: evW(chargerAt), currentLimitA: offers.at(-1)?.currentA ?? 0, ageMs: t - chargerAt })],
        });
        const result = evChargingStrategy.decide(state, config, { nowMs: t }, memory);
        memory = keepReadings ? result.memory : { chargers: result.memory.chargers };
        const currentA = evCurrentOf(result) ?? 0;
        offers.push({ atMs: t, currentA });
        ticks.push({ atMs: t, currentA, surplusW: result.metrics.terms['surplusW'] ?? NaN, latestSurplusW: result.metrics.terms['latestSurplusW'] ?? NaN });
      }
      return ticks;
    }

    it('does not count the surplus twice when the grid reading is newer than the battery reading after the car starts', () => {
      const ticks = polledSite(evFirst, 15_000);
      // The double count is in the readings: summed as they are, they show up to 15.4 A of surplus.
      expect(Math.max(...ticks.map((t) => t.latestSurplusW))).toBeGreaterThan(SURPLUS_W + 3_000);
      // Taken at one instant they show the 6 500 W, off by at most what the car's draw changed within a poll (a step).
      expect(Math.max(...ticks.map((t) => t.surplusW))).toBeLessThanOrEqual(SURPLUS_W + 690);
      // The car starts at the minimum and rises by at most 1 A a second to the surplus: never more than a step over it.
      const currents = ticks.map((t) => t.currentA);
      expect(currents[0]).toBe(6);
      ticks.forEach((t, i) => {
        const previous = ticks[i - 1];
        if (previous) expect(t.currentA - previous.currentA).toBeLessThanOrEqual(Math.max(0, 1 * ((t.atMs - previous.atMs) / 1_000)) + 1);
      });
      expect(Math.max(...currents)).toBeLessThanOrEqual(Math.floor(SURPLUS_W / 690) + 1);
      expect(currents.slice(-20)).toEqual(Array(20).fill(9));
      expect(new Set(currents)).toEqual(new Set([6, 7, 8, 9]));
    });

    it('reproduces the chase without them (each meter’s latest reading, no rise limit, no rise hold): the car is asked far beyond the surplus', () => {
      const currents = polledSite(cfg({ mode: 'solar', surplusPriority: 'ev', startDelayMs: 0, maxRiseAPerS: 1_000, riseHoldMs: 0, pendingClearMs: 0 }), 15_000, false).map((t) => t.currentA);
      expect(Math.max(...currents)).toBeGreaterThanOrEqual(13);
    });

    it('rises per second of clock time, whatever the tick spacing', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 12_000 }); // 16.7 A of surplus
      const at = (times: readonly number[]) =>
        runScenario(evChargingStrategy, evFirst, fresh, times.map((atMs) => ({ atMs, state }))).map((r) => evCurrentOf(r));
      const tenPerSecond = at(Array.from({ length: 51 }, (_, i) => i * 100));
      expect([0, 10, 20, 30, 40, 50].map((i) => tenPerSecond[i])).toEqual([6, 7, 8, 9, 10, 11]);
      expect(at([0, 1_000, 2_000, 3_000, 4_000, 5_000])).toEqual([6, 7, 8, 9, 10, 11]);
      // Irregular: the level adds up 0.3, 1.4, 0.1, 2.2 and 0.1 A, and the offer is the whole ampere below it.
      expect(at([0, 300, 1_700, 1_800, 4_000, 4_100])).toEqual([6, 6, 7, 7, 10, 10]);
      // A rise held back reports the target.
      const results = runScenario(evChargingStrategy, evFirst, fresh, [{ atMs: 0, state }]);
      expect(results[0]?.metrics.terms['ev0TargetA']).toBe(16);
    });

    it('falls at once when the surplus drops', () => {
      const sunny = site({}, { loadPowerW: 500, pvPowerW: 12_000 });
      const cloudy = site({}, { loadPowerW: 500, pvPowerW: 5_500 }); // 7.2 A
      const results = runScenario(evChargingStrategy, evFirst, fresh, [
        ...Array.from({ length: 9 }, (_, i) => ({ atMs: i * 1_000, state: sunny })),
        { atMs: 8_100, state: cloudy },
        { atMs: 8_200, state: sunny },
      ]);
      expect(results.map((r) => evCurrentOf(r))).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 7, 7]);
    });

    it('after a fall does not rise again for riseHoldMs, then rises at the rise limit', () => {
      const sunny = site({}, { loadPowerW: 500, pvPowerW: 12_000 }); // 16.7 A
      const cloudy = site({}, { loadPowerW: 500, pvPowerW: 5_500 }); // 7.2 A
      const times = [...Array.from({ length: 5 }, (_, i) => i * 1_000), 5_000, ...Array.from({ length: 14 }, (_, i) => 6_000 + i * 1_000)];
      const results = runScenario(evChargingStrategy, evFirst, fresh, times.map((atMs) => ({ atMs, state: atMs === 5_000 ? cloudy : sunny })));
      // 6 → 10 A, the cloud cuts it to 7 A at 5 s; sunny again, it holds 7 A until 15 s (10 s), then rises 1 A/s.
      expect(results.map((r) => evCurrentOf(r))).toEqual([6, 7, 8, 9, 10, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 9, 10, 11, 12]);
      // Without the hold it rises from the next second on.
      const free = runScenario(evChargingStrategy, { ...evFirst, riseHoldMs: 0 }, fresh, times.map((atMs) => ({ atMs, state: atMs === 5_000 ? cloudy : sunny })));
      expect(free.slice(5, 9).map((r) => evCurrentOf(r))).toEqual([7, 8, 9, 10]);
    });

    it('falls at once under the main fuse while the surplus would still allow more', () => {
      const sunny = site({}, { loadPowerW: 500, pvPowerW: 12_000 }); // 16.7 A of surplus
      const rising = runScenario(evChargingStrategy, evFirst, fresh, Array.from({ length: 6 }, (_, i) => ({ atMs: i * 1_000, state: sunny })));
      expect(rising.map((r) => evCurrentOf(r))).toEqual([6, 7, 8, 9, 10, 11]);
      // The car draws its 11 A; another load puts L1 at 27.5 A on a 25 A fuse: 25 − 27.5 + 11 = 8.5 A left for the car.
      const fused = site(
        { powerW: 7_590, currentLimitA: 11 },
        {
          loadPowerW: 500,
          pvPowerW: 12_000,
          gridPhasePowersW: [6_325, 0, 0],
          limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230, maxPhaseCurrentA: 25 },
        },
      );
      const result = decide(fused, evFirst, 5_100, rising.at(-1)?.memory);
      expect(evCurrentOf(result)).toBe(8);
      expect(result.metrics.terms['ev0TargetA']).toBe(8);
      expect(result.metrics.terms['surplusW']).toBe(11_500);
    });

    it('after a restart (no memory) starts from what the charger does, not from 0 and not from the target', () => {
      // The car draws 10 A (6 900 W) of a 10 A offer; the surplus would take 14 A.
      const state = site({ powerW: 6_900, currentLimitA: 10 }, { loadPowerW: 500, pvPowerW: 10_600 });
      const results = runScenario(evChargingStrategy, evFirst, fresh, [
        { atMs: 0, state },
        { atMs: 1_000, state },
        { atMs: 2_000, state },
      ]);
      expect(results.map((r) => evCurrentOf(r))).toEqual([10, 11, 12]);
      // A memory written before the rise limit existed, or one older than maxReadingAgeMs, counts as none.
      const old: EvChargingMemory = { chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: null, lastPhaseSwitchAtMs: null } } };
      expect(evCurrentOf(decide(state, evFirst, 0, old))).toBe(10);
      const stale = results[2]?.memory as EvChargingMemory;
      expect(evCurrentOf(decide(state, evFirst, 2_000 + 15_001, stale))).toBe(10);
      // A charger that reports no offer: the measured draw rounded up (9.6 A → 10 A), never cut below it.
      expect(evCurrentOf(decide(site({ powerW: 6_624 }, { loadPowerW: 500, pvPowerW: 10_600 }), evFirst))).toBe(10);
    });

    it('does not limit fast charging (grid-limited, not a surplus estimate)', () => {
      const state = site({ powerW: 4_830, currentLimitA: 7 }, { loadPowerW: 500, pvPowerW: 5_500 });
      const solar = decide(state, evFirst, 0);
      expect(evCurrentOf(solar)).toBe(7);
      const fast = decide(state, cfg({ mode: 'fast' }), 100, solar.memory);
      expect(evCurrentOf(fast)).toBe(16);
      // Back to solar at 16 A: the fall to the surplus is immediate.
      expect(evCurrentOf(decide(site({ powerW: 11_040, currentLimitA: 16 }, { loadPowerW: 500, pvPowerW: 5_500 }), evFirst, 200, fast.memory))).toBe(7);
    });

    it('converts the level at equal power when the phases switch', () => {
      // 16 A on one phase (3 680 W); the surplus grows to 11 kW: three phases, where 3 680 W is 5.3 A — the 6 A start.
      const memory: EvChargingMemory = {
        // (The surplus has asked for three phases for longer than phaseSwitchDelayMs.)
        chargers: { 'ev-1': { charging: true, pendingSinceMs: null, requestedPhases: 1, lastPhaseSwitchAtMs: -HOUR, offeredA: 16, offeredAtMs: 0, offeredPhases: 1, phasesWanted: 3, phasesWantedSinceMs: -HOUR } },
      };
      const state = site({ canSwitchPhases: true, phases: 1, powerW: 3_680, currentLimitA: 16 }, { loadPowerW: 500, pvPowerW: 11_500 });
      const results = runScenario(evChargingStrategy, evFirst, memory, [
        { atMs: 1_000, state },
        { atMs: 2_000, state },
      ]);
      expect(results.map((r) => r.setpoints['ev-1'])).toEqual([
        { kind: 'ev-current', currentA: 6, phases: 3 },
        { kind: 'ev-current', currentA: 7, phases: 3 },
      ]);
    });
  });

  it('pauses every charger on a stale grid reading', () => {
    const result = decide(site({}, { gridAgeMs: 60_000 }), cfg({ mode: 'fast' }));
    expect(evCurrentOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  it('pauses a stale charger', () => {
    const result = decide(site({ quality: 'error' }), cfg({ mode: 'fast' }));
    expect(evCurrentOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  describe('battery guard (layer)', () => {
    const guard = (proposedW: number, state: SiteState, config: EvChargingConfig) => {
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      return fn({ 'bat-1': batteryPower(proposedW) }, state, config, { nowMs: 0 }, fresh);
    };
    const charging = buildSiteState({ loadPowerW: 1_000, evChargers: [buildEvCharger({ powerW: 7_000 })] });

    it('caps home-battery discharge at the non-EV demand while a car charges', () => {
      const result = guard(5_000, charging, cfg());
      expect(batteryPowerOf(result)).toBe(1_000);
      expect(result.metrics.reason).toBe('battery-guard');
    });

    it('lets the battery discharge into the car when configured', () => {
      expect(batteryPowerOf(guard(5_000, charging, cfg({ allowBatteryDischarge: true })))).toBe(5_000);
    });

    it('does nothing while no car charges', () => {
      expect(batteryPowerOf(guard(5_000, buildSiteState({ loadPowerW: 1_000 }), cfg()))).toBe(5_000);
    });

    it('does not count a car draw the grid reading still shows after the car was turned down as house demand', () => {
      // The day scenario's cloud: 1.3 kW of PV, 400 W of house, the car at 11 A (2.53 kW); then turned down to 6 A. The
      // charger reads 1.38 kW at once, while the grid meter still shows the 11 A: 1 630 W. Grid + battery − car from
      // these readings says the house needs 250 W; it needs none (load − PV = −900 W).
      const config = cfg({ mode: 'min+solar' });
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      const at11A = buildSiteState({
        pvPowerW: 1_300,
        loadPowerW: 400,
        evChargers: [buildEvCharger({ powerW: 2_530, phases: 1 })],
        batteries: [buildBattery({ powerW: 0 })],
      });
      const tick1 = decide(at11A, config, 0);
      const guard1 = fn({ 'bat-1': batteryPower(0) }, at11A, config, { nowMs: 0 }, tick1.memory);
      const turnedDown: SiteState = { ...at11A, evChargers: [buildEvCharger({ powerW: 1_380, phases: 1 })] };
      expect(turnedDown.gridPowerW).toBe(1_630);
      const tick2 = decide(turnedDown, config, 1_000, guard1.memory);
      const result = fn({ 'bat-1': batteryPower(1_000) }, turnedDown, config, { nowMs: 1_000 }, tick2.memory);
      expect(result.metrics.inputs['nonEvDemandW']).toBe(250);
      expect(result.metrics.inputs['recentEvPowerW']).toBe(2_530);
      expect(batteryPowerOf(result)).toBe(0);
      // Once the window has passed, the guard goes by the latest readings again (here: still no house demand).
      const later = fn({ 'bat-1': batteryPower(1_000) }, turnedDown, config, { nowMs: 7_000 }, result.memory);
      expect(later.metrics.inputs['recentEvPowerW']).toBe(1_380);
    });

    it('keeps the reading standing at the window’s start for a slow charger, and only a running maximum', () => {
      const config = cfg({ mode: 'min+solar' });
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      const car = (powerW: number, ageMs = 0) =>
        buildSiteState({ pvPowerW: 1_300, loadPowerW: 400, evChargers: [buildEvCharger({ powerW, phases: 1, ageMs })] });
      // A charger read every 8 s: 2 530 W at 0 s, 1 380 W at 8 s. At 8 s the 0 s reading is older than the window,
      // but it stood until the new one came: it counts.
      let memory = fn({}, car(2_530), config, { nowMs: 0 }, { chargers: {} }).memory;
      memory = fn({}, car(2_530, 4_000), config, { nowMs: 4_000 }, memory).memory;
      const slow = fn({ 'bat-1': batteryPower(500) }, car(1_380), config, { nowMs: 8_000 }, memory);
      expect(slow.metrics.inputs['recentEvPowerW']).toBe(2_530);
      // Ten readings a second for 2 s, rising then falling: the trail keeps only the running maximum.
      let fast: EvChargingMemory = { chargers: {} };
      for (let i = 0; i < 20; i++) fast = fn({}, car(i < 10 ? 1_400 + i * 100 : 2_300 - (i - 10) * 50), config, { nowMs: 10_000 + i * 100 }, fast).memory;
      expect(fast.guardEv?.['ev-1']?.length).toBeLessThanOrEqual(11);
      expect(Math.max(...(fast.guardEv?.['ev-1'] ?? []).map(([, w]) => w))).toBe(2_300);
    });

    it('counts a car whose charger stopped answering at the current the charger last allowed', () => {
      // 1 kW of house, the car at 16 A on three phases (11 kW). Then the charger's readings stop: the engine reports it
      // at 0 W, unplugged, while the grid meter still shows the car. Counted at 0 W, the car looked like 12 kW of house
      // load and the battery was let discharge 5 kW into it; the 0 A sent to the charger may not reach it either.
      const config = cfg({ mode: 'fast' });
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      const car = buildEvCharger({ powerW: 11_040, currentLimitA: 16 });
      const before = buildSiteState({ loadPowerW: 1_000, evChargers: [car] });
      const tick1 = decide(before, config, 0);
      const guard1 = fn({ 'bat-1': batteryPower(5_000) }, before, config, { nowMs: 0 }, tick1.memory);
      expect(batteryPowerOf(guard1)).toBe(1_000);
      const silent = buildEvCharger({ powerW: 0, connected: false, currentLimitA: 16, quality: 'error', ageMs: 60_000 });
      const outage: SiteState = { ...before, gridPowerW: 12_040, evChargers: [silent] };
      let memory = guard1.memory;
      for (const nowMs of [1_000, 30_000, 600_000]) {
        const tick = decide(outage, config, nowMs, memory);
        expect(evCurrentOf(tick)).toBe(0);
        const result = fn({ 'bat-1': batteryPower(5_000) }, outage, config, { nowMs }, tick.memory);
        expect(result.metrics.inputs['staleEvAssumedW']).toBe(11_040);
        expect(batteryPowerOf(result)).toBe(1_000);
        expect(result.metrics.reason).toBe('battery-guard');
        memory = result.memory;
      }
      // A driver's error reading carries no values: no limit, no power. What the charger was offered before counts.
      const bare = buildEvCharger({ powerW: 0, connected: false, currentLimitA: 0, quality: 'error', ageMs: 0 });
      const errorState: SiteState = { ...outage, evChargers: [bare] };
      const first = decide(before, config, 0);
      const errorTick = decide(errorState, config, 1_000, first.memory);
      const errorGuard = fn({ 'bat-1': batteryPower(5_000) }, errorState, config, { nowMs: 1_000 }, errorTick.memory);
      expect(errorGuard.metrics.inputs['staleEvAssumedW']).toBe(11_040);
      expect(batteryPowerOf(errorGuard)).toBe(1_000);
      // A charger that stops the car as it loses its network: from the first stale tick the grid shows only the house.
      // The house of the charger's last answering tick bounds the car at 0 W (from that tick's demand alone, the
      // bound was 0 W of house and the battery was held off the house).
      const stopped: SiteState = { ...errorState, gridPowerW: 1_000 };
      const stoppedTick = decide(stopped, config, 1_000, first.memory);
      const stoppedGuard = fn({ 'bat-1': batteryPower(1_000) }, stopped, config, { nowMs: 1_000 }, stoppedTick.memory);
      expect(stoppedGuard.metrics.inputs['staleEvAssumedW']).toBe(0);
      expect(batteryPowerOf(stoppedGuard)).toBe(1_000);
      // A stale grid reading in between (every charger paused) keeps what the guard knows of the car.
      const gridStale = decide({ ...outage, gridAgeMs: 60_000 }, config, 601_000, memory);
      const after = decide(outage, config, 602_000, gridStale.memory);
      const guardAfter = fn({ 'bat-1': batteryPower(5_000) }, outage, config, { nowMs: 602_000 }, after.memory);
      expect(batteryPowerOf(guardAfter)).toBe(1_000);
      // The car finishes (or leaves) while the charger is still silent: the grid shows only the house. The car is
      // counted at no more than the grid shows beyond the house of the outage's start, so the battery covers the
      // house again (before, it was held at 0 W for as long as the charger stayed silent, days if need be).
      const finished: SiteState = { ...outage, gridPowerW: 1_000 };
      const later = decide(finished, config, 2 * 86_400_000, guardAfter.memory);
      const guardLater = fn({ 'bat-1': batteryPower(1_000) }, finished, config, { nowMs: 2 * 86_400_000 }, later.memory);
      expect(guardLater.metrics.inputs['staleEvAssumedW']).toBe(0);
      expect(batteryPowerOf(guardLater)).toBe(1_000);
      // A house load that rises meanwhile (3 kW) may be the car: the battery covers the house of the outage's start.
      const oven: SiteState = { ...outage, gridPowerW: 4_000 };
      const ovenTick = decide(oven, config, 2 * 86_400_000 + 1_000, later.memory);
      expect(batteryPowerOf(fn({ 'bat-1': batteryPower(4_000) }, oven, config, { nowMs: 2 * 86_400_000 + 1_000 }, ovenTick.memory))).toBe(1_000);
      // A charger that had no car when it was last read is not counted: the battery covers the house as before.
      const empty = buildSiteState({ loadPowerW: 1_000, evChargers: [buildEvCharger({ connected: false, currentLimitA: 16 })] });
      const none = decide(empty, config, 0);
      const stillEmpty: SiteState = { ...empty, evChargers: [{ ...silent }] };
      const noneStale = decide(stillEmpty, config, 1_000, none.memory);
      expect(batteryPowerOf(fn({ 'bat-1': batteryPower(1_000) }, stillEmpty, config, { nowMs: 1_000 }, noneStale.memory))).toBe(1_000);
    });

    it('counts a car rising to a raised offer at the offer while its reading is older than the grid’s', () => {
      // 1 kW of house, the car at 6 A (4.14 kW), the charger applying 16 A. Two seconds later the grid reading (11 kW of car in it)
      // is new, the charger's and the battery's are not: from these readings the house needs 7.9 kW, and the battery
      // could discharge 5 kW into the car until the charger is read again (an OCPP meter value may be a minute away).
      const config = cfg({ mode: 'fast' });
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      const at6A = buildSiteState({ loadPowerW: 1_000, evChargers: [buildEvCharger({ powerW: 4_140, currentLimitA: 16 })], batteries: [buildBattery({ powerW: 0 })] });
      const tick0 = decide(at6A, config, 0);
      const guard0 = fn({ 'bat-1': batteryPower(1_000) }, at6A, config, { nowMs: 0 }, tick0.memory);
      const rising: SiteState = {
        ...at6A,
        gridPowerW: 12_040,
        evChargers: [buildEvCharger({ powerW: 4_140, currentLimitA: 16, ageMs: 2_000 })],
        batteries: [buildBattery({ powerW: 0, ageMs: 2_000 })],
      };
      const tick1 = decide(rising, config, 2_000, guard0.memory);
      const result = fn({ 'bat-1': batteryPower(5_000) }, rising, config, { nowMs: 2_000 }, tick1.memory);
      expect(result.metrics.inputs['risingEvAssumedW']).toBeGreaterThan(0);
      expect(batteryPowerOf(result)).toBeLessThanOrEqual(1_000);
      // Once the charger's reading is as new as the grid's, the car counts at what it reads.
      const read: SiteState = { ...rising, evChargers: [buildEvCharger({ powerW: 11_040, currentLimitA: 16 })], batteries: [buildBattery({ powerW: 0 })] };
      const tick2 = decide(read, config, 3_000, result.memory);
      const settled = fn({ 'bat-1': batteryPower(5_000) }, read, config, { nowMs: 3_000 }, tick2.memory);
      expect(settled.metrics.inputs['risingEvAssumedW']).toBeUndefined();
      expect(batteryPowerOf(settled)).toBe(1_000);
    });

    it('does not count a battery discharge the grid reading does not show yet as demand', () => {
      // 1.3 kW of PV, 400 W of house load, the car at its 1.38 kW minimum: 480 W come from the grid, none of it for
      // the house (load − PV = −900 W). A tick later the battery reads +1 kW while the grid reading is still the old
      // one: grid + battery − car from these latest readings says the house needs 100 W; it needs none.
      const config = cfg({ mode: 'min+solar' });
      const car = buildEvCharger({ powerW: 1_380, phases: 1 });
      const before = buildSiteState({ pvPowerW: 1_300, loadPowerW: 400, evChargers: [car], batteries: [buildBattery({ powerW: 0 })] });
      expect(before.gridPowerW).toBe(480);
      const tick1 = decide(before, config, 0);
      const after: SiteState = { ...before, gridAgeMs: 1_000, batteries: [buildBattery({ powerW: 1_000 })] };
      const tick2 = decide(after, config, 1_000, tick1.memory);
      const fn = evChargingStrategy.constrain;
      if (!fn) throw new Error('ev-charging must have a battery guard');
      const result = fn({ 'bat-1': batteryPower(1_000) }, after, config, { nowMs: 1_000 }, tick2.memory);
      expect(result.metrics.inputs['nonEvDemandW']).toBe(100);
      expect(result.metrics.inputs['alignedNonEvDemandW']).toBe(-900);
      expect(batteryPowerOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('battery-guard');
    });
  });
});
