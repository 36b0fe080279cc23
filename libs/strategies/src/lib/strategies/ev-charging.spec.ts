import { batteryPowerOf, buildBattery, buildEvCharger, buildSiteState, evCurrentOf, runScenario } from '../../testing';
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

    it('counts the car’s own current as available headroom', () => {
      const state = site({ powerW: 11_040 }, { loadPowerW: 5_000 });
      expect(evCurrentOf(decide(state, cfg({ mode: 'fast' })))).toBe(16);
    });
  });

  describe('solar', () => {
    const config = cfg({ mode: 'solar' });

    it('starts only after the surplus held for startDelayMs, then follows it', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 5_500 });
      const results = runScenario(evChargingStrategy, config, fresh, [
        { atMs: 0, state },
        { atMs: 30_000, state },
        { atMs: 60_000, state },
      ]);
      expect(results.map((r) => evCurrentOf(r))).toEqual([0, 0, 7]);
      expect(results.map((r) => r.metrics.reason)).toEqual(['solar-waiting', 'solar-waiting', 'solar']);
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
      const result = decide(state, config0);
      expect(result.setpoints['ev-1']).toEqual({ kind: 'ev-current', currentA: 8, phases: 1 });
    });

    it('does not switch phases again within the minimum interval', () => {
      const config0 = cfg({ mode: 'solar', startDelayMs: 0 });
      const results = runScenario(evChargingStrategy, config0, fresh, [
        { atMs: 0, state: site({ canSwitchPhases: true }, { loadPowerW: 500, pvPowerW: 2_500 }) },
        { atMs: MINUTE, state: site({ canSwitchPhases: true, phases: 1, powerW: 1_840 }, { loadPowerW: 500, pvPowerW: 9_000 }) },
        { atMs: 6 * MINUTE, state: site({ canSwitchPhases: true, phases: 1, powerW: 1_840 }, { loadPowerW: 500, pvPowerW: 9_000 }) },
      ]);
      expect(results.map((r) => r.setpoints['ev-1'])).toEqual([
        { kind: 'ev-current', currentA: 8, phases: 1 },
        { kind: 'ev-current', currentA: 16, phases: 1 },
        { kind: 'ev-current', currentA: 12, phases: 3 },
      ]);
    });

    it('with battery priority leaves PV surplus to a charging home battery', () => {
      const state = site({}, { loadPowerW: 500, pvPowerW: 8_500, batteries: [buildBattery({ powerW: -5_000 })] });
      expect(evCurrentOf(decide(state, cfg({ mode: 'solar', startDelayMs: 0 })))).toBe(0);
      expect(evCurrentOf(decide(state, cfg({ mode: 'solar', startDelayMs: 0, surplusPriority: 'ev' })))).toBe(11);
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
      const result = decide(state, cfg({ mode: 'solar', startDelayMs: 0 }));
      expect([evCurrentOf(result, 'ev-1'), evCurrentOf(result, 'ev-2')]).toEqual([12, 0]);
    });
  });

  describe('min+solar', () => {
    it('charges at least the minimum current, more with surplus', () => {
      expect(evCurrentOf(decide(site({}), cfg({ mode: 'min+solar' })))).toBe(6);
      expect(evCurrentOf(decide(site({}, { loadPowerW: 500, pvPowerW: 8_500 }), cfg({ mode: 'min+solar' })))).toBe(11);
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
      const result = decide(site({ session }, { loadPowerW: 500, pvPowerW: 6_000 }), cfg({ mode: 'scheduled', startDelayMs: 0 }), 2 * HOUR);
      expect(evCurrentOf(result)).toBe(7);
      expect(result.metrics.reason).toBe('scheduled-solar');
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

    it('falls back to solar without a departure time and says why', () => {
      const result = decide(site({ session: { energyDeliveredWh: 0 } }), config);
      expect(evCurrentOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('no-departure-fallback-solar');
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
  });
});
