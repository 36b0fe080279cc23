import { batteryPowerOf, buildBattery, buildSiteState, localTimeMs, runScenario, type ScenarioStep } from '../../testing';
import { batteryPower } from '../battery';
import { peakShavingStrategy, PeakShavingConfigSchema, type PeakShavingMemory } from './peak-shaving';

const MINUTE = 60_000;

describe('peak-shaving strategy', () => {
  const config = PeakShavingConfigSchema.parse({ thresholdW: 5_000 });
  const initial = peakShavingStrategy.initialMemory(config);
  const decide = (state = buildSiteState(), memory: PeakShavingMemory = initial, cfg = config) =>
    peakShavingStrategy.decide(state, cfg, { nowMs: 0 }, memory);

  it('requires a threshold with a clear message', () => {
    const result = PeakShavingConfigSchema.safeParse({});
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('thresholdW is required');
  });

  it.each([
    { name: 'import above threshold → discharge the excess', loadPowerW: 7_000, socPct: 50, expectedW: 2_000, reason: 'shaving-peak' },
    { name: 'import between threshold − margin and threshold → idle', loadPowerW: 4_800, socPct: 50, expectedW: 0, reason: 'below-threshold' },
    { name: 'import well below → recharge up to threshold − margin', loadPowerW: 1_000, socPct: 50, expectedW: -3_500, reason: 'recharging' },
    { name: 'full battery → no recharge', loadPowerW: 1_000, socPct: 95, expectedW: 0, reason: 'below-threshold' },
    { name: 'empty battery → peak exceeded', loadPowerW: 7_000, socPct: 10, expectedW: 0, reason: 'peak-exceeded' },
    { name: 'peak larger than the battery → discharge all, peak exceeded', loadPowerW: 12_000, socPct: 50, expectedW: 5_000, reason: 'peak-exceeded' },
  ])('$name', ({ loadPowerW, socPct, expectedW, reason }) => {
    const result = decide(buildSiteState({ loadPowerW, batteries: [buildBattery({ socPct })] }));
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('computes the need from the demand, not from the last grid reading (no double counting)', () => {
    // The battery already discharges 2 kW, the grid shows 5 kW: the demand is 7 kW, so 2 kW is still right.
    const result = decide(buildSiteState({ loadPowerW: 7_000, batteries: [buildBattery({ powerW: 2_000 })] }));
    expect(batteryPowerOf(result)).toBe(2_000);
  });

  it('recharges from PV only when grid recharging is off', () => {
    const cfg = PeakShavingConfigSchema.parse({ thresholdW: 5_000, rechargeFromGrid: false });
    expect(batteryPowerOf(decide(buildSiteState({ loadPowerW: 1_000 }), initial, cfg))).toBe(0);
    expect(batteryPowerOf(decide(buildSiteState({ loadPowerW: 1_000, pvPowerW: 2_500 }), initial, cfg))).toBe(-1_500);
  });

  it('holds 0 W on stale data', () => {
    const result = decide(buildSiteState({ loadPowerW: 9_000, gridQuality: 'error' }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  describe('monthly-peak mode', () => {
    const monthly = PeakShavingConfigSchema.parse({ thresholdW: 5_000, mode: 'monthly-peak' });
    const startMs = localTimeMs('2025-01-31T23:00', 'Europe/Paris');

    it('raises the target to a peak already reached this month and resets it at the local month boundary', () => {
      const steps: ScenarioStep<PeakShavingMemory>[] = [];
      // 23:00–23:15: an empty battery cannot shave 7 kW: that quarter-hour becomes the month's peak.
      for (let m = 0; m <= 15; m++) {
        steps.push({ atMs: startMs + m * MINUTE, state: buildSiteState({ loadPowerW: 7_000, batteries: [buildBattery({ socPct: 10 })] }) });
      }
      // 23:16: the battery is available again, but 6.5 kW is under this month's 7 kW peak: no need to spend energy.
      steps.push({
        atMs: startMs + 16 * MINUTE,
        state: buildSiteState({ loadPowerW: 6_500 }),
        expect: (r) => {
          expect(r.metrics.terms['targetW']).toBe(7_000);
          expect(batteryPowerOf(r)).toBe(0);
        },
      });
      // 00:00 local on 1 February: a new billing month, the target is the threshold again.
      steps.push({
        atMs: localTimeMs('2025-02-01T00:00', 'Europe/Paris'),
        state: buildSiteState({ loadPowerW: 6_500 }),
        expect: (r) => {
          expect(r.memory.monthKey).toBe('2025-02');
          expect(r.metrics.terms['targetW']).toBe(5_000);
          expect(batteryPowerOf(r)).toBe(1_500);
        },
      });
      const results = runScenario(peakShavingStrategy, monthly, peakShavingStrategy.initialMemory(monthly), steps);
      expect(results[15]?.memory.monthPeakW).toBe(7_000);
    });

    it('does not let a short spike (shaved within the quarter hour) raise the target', () => {
      const steps: ScenarioStep<PeakShavingMemory>[] = [];
      for (let m = 0; m <= 16; m++) {
        const spike = m === 3;
        steps.push({ atMs: startMs + m * MINUTE, state: buildSiteState({ gridPowerW: spike ? 9_000 : 4_000 }) });
      }
      const results = runScenario(peakShavingStrategy, monthly, peakShavingStrategy.initialMemory(monthly), steps);
      expect(results[16]?.memory.monthPeakW).toBeLessThan(5_000);
      expect(results[16]?.metrics.terms['targetW']).toBe(5_000);
    });
  });

  describe('as a layer', () => {
    const constrain = (proposedW: number, loadPowerW: number) => {
      const state = buildSiteState({ loadPowerW });
      const constrainFn = peakShavingStrategy.constrain;
      if (!constrainFn) throw new Error('peak-shaving must be a layer');
      return constrainFn({ 'bat-1': batteryPower(proposedW) }, state, config, { nowMs: 0 }, initial);
    };

    it('adds a discharge floor when the proposal would let import exceed the threshold', () => {
      const result = constrain(0, 8_000);
      expect(batteryPowerOf(result)).toBe(3_000);
      expect(result.metrics.reason).toBe('shaving-peak');
    });

    it('caps charging that would push import over the threshold', () => {
      const result = constrain(-4_000, 3_000);
      expect(batteryPowerOf(result)).toBe(-2_000);
      expect(result.metrics.reason).toBe('charge-capped-by-peak');
    });

    it('leaves a proposal alone that already keeps import under the threshold', () => {
      const result = constrain(4_000, 8_000);
      expect(batteryPowerOf(result)).toBe(4_000);
      expect(result.metrics.reason).toBe('peak-ok');
    });
  });
});
