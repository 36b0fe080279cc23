import { z } from 'zod';
import { batteryPowerOf, buildBattery, buildEvCharger, buildSiteState, localTimeMs, runScenario } from './testing';
import type { Strategy } from './lib/strategy';

describe('testing helpers', () => {
  it('runScenario threads the memory from step to step and passes each step its clock', () => {
    const seen: { nowMs: number; memory: number }[] = [];
    const counter: Strategy<Record<string, never>, number> = {
      name: 'null',
      role: 'primary',
      configSchema: z.strictObject({}),
      initialMemory: () => 0,
      decide(_state, _config, clock, memory) {
        seen.push({ nowMs: clock.nowMs, memory });
        return { setpoints: {}, metrics: { inputs: {}, outputs: {}, terms: {}, reason: 'idle' }, memory: memory + 1 };
      },
    };
    const results = runScenario(counter, {}, 10, [
      { atMs: 0, state: buildSiteState() },
      { atMs: 1_000, state: buildSiteState(), expect: (r) => expect(r.memory).toBe(12) },
    ]);
    expect(seen).toEqual([
      { nowMs: 0, memory: 10 },
      { nowMs: 1_000, memory: 11 },
    ]);
    expect(results).toHaveLength(2);
  });

  it('buildSiteState derives the grid from the balance', () => {
    const state = buildSiteState({
      loadPowerW: 1_000,
      pvPowerW: 3_000,
      batteries: [buildBattery({ powerW: -1_500 })],
      evChargers: [buildEvCharger({ powerW: 1_000 })],
    });
    // grid = load + ev − pv − battery = 1 000 + 1 000 − 3 000 + 1 500
    expect(state.gridPowerW).toBe(500);
    expect(buildSiteState({ gridPowerW: 42 }).gridPowerW).toBe(42);
  });

  it('batteryPowerOf reads a battery setpoint', () => {
    expect(batteryPowerOf({ setpoints: { 'bat-1': { kind: 'battery-power', powerW: 5 } } })).toBe(5);
    expect(batteryPowerOf({ setpoints: {} })).toBeUndefined();
  });

  it('localTimeMs converts local wall time to epoch ms', () => {
    expect(localTimeMs('2025-01-15T12:00', 'Europe/Paris')).toBe(Date.UTC(2025, 0, 15, 11, 0));
    expect(localTimeMs('2025-07-15T12:00', 'Europe/Paris')).toBe(Date.UTC(2025, 6, 15, 10, 0));
  });
});
