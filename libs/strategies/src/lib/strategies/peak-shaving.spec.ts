import { batteryPowerOf, buildBattery, buildForecast, buildSiteState, localTimeMs, runScenario, type ScenarioStep } from '../../testing';
import { batteryPower } from '../battery';
import { peakShavingStrategy, PeakShavingConfigSchema, type PeakShavingMemory } from './peak-shaving';

const MINUTE = 60_000;

describe('peak-shaving strategy', () => {
  const config = PeakShavingConfigSchema.parse({ thresholdW: 5_000 });
  const initial = peakShavingStrategy.initialMemory(config);
  const decide = (state = buildSiteState(), memory: PeakShavingMemory = initial, cfg = config) =>
    peakShavingStrategy.decide(state, cfg, { nowMs: 0 }, memory);

  it('requires a threshold with a clear message, except in forecast mode', () => {
    const result = PeakShavingConfigSchema.safeParse({});
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('thresholdW is required');
    expect(PeakShavingConfigSchema.safeParse({ mode: 'monthly-peak' }).success).toBe(false);
    expect(PeakShavingConfigSchema.safeParse({ mode: 'forecast' }).success).toBe(true);
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
          expect(r.memory.meter.monthKey).toBe('2025-02');
          expect(r.metrics.terms['targetW']).toBe(5_000);
          expect(batteryPowerOf(r)).toBe(1_500);
        },
      });
      const results = runScenario(peakShavingStrategy, monthly, peakShavingStrategy.initialMemory(monthly), steps);
      expect(results[15]?.memory.meter.monthPeakW).toBe(7_000);
    });

    it('does not let a short spike (shaved within the quarter hour) raise the target', () => {
      const steps: ScenarioStep<PeakShavingMemory>[] = [];
      for (let m = 0; m <= 16; m++) {
        const spike = m === 3;
        steps.push({ atMs: startMs + m * MINUTE, state: buildSiteState({ gridPowerW: spike ? 9_000 : 4_000 }) });
      }
      const results = runScenario(peakShavingStrategy, monthly, peakShavingStrategy.initialMemory(monthly), steps);
      expect(results[16]?.memory.meter.monthPeakW).toBeLessThan(5_000);
      expect(results[16]?.metrics.terms['targetW']).toBe(5_000);
    });
  });

  describe('monthly-peak mode at 15-min ticks (readings a quarter hour apart)', () => {
    const monthly = PeakShavingConfigSchema.parse({ thresholdW: 2_000, mode: 'monthly-peak' });
    const startMs = localTimeMs('2025-03-10T18:00', 'Europe/Paris');

    it('still tracks the month’s peak: each reading holds for its quarter hour, net of what the battery did', () => {
      const results = runScenario(peakShavingStrategy, monthly, peakShavingStrategy.initialMemory(monthly), [
        // 18:00: 6 kW with an empty battery: it cannot shave; 18:15: the quarter hour is billed at 6 kW.
        { atMs: startMs, state: buildSiteState({ loadPowerW: 6_000, batteries: [buildBattery({ socPct: 10 })] }) },
        { atMs: startMs + 15 * MINUTE, state: buildSiteState({ loadPowerW: 5_000, batteries: [buildBattery({ socPct: 80 })] }) },
        // 18:30: the battery discharged 2 kW during 18:15–18:30 (5 kW demand): that quarter hour imported 3 kW.
        { atMs: startMs + 30 * MINUTE, state: buildSiteState({ loadPowerW: 1_000, batteries: [buildBattery({ socPct: 75, powerW: 2_000 })] }) },
      ]);
      expect(results[1]?.metrics.terms['monthPeakW']).toBe(6_000);
      expect(results[1]?.metrics.terms['targetW']).toBe(6_000);
      // Under the month's 6 kW peak, 5 kW needs no shaving (that peak is billed anyway): it recharges up to 5.5 kW.
      expect(batteryPowerOf(results[1] ?? { setpoints: {} })).toBe(-500);
      expect(results[1]?.metrics.reason).toBe('recharging');
      expect(results[2]?.memory.meter.monthPeakW).toBe(6_000);
    });

    it('rounds a shaving discharge up to the setpoint step, so a held peak does not creep up a watt at a time', () => {
      // Month's peak 2 000.4 W; 3 000 W of demand: the excess is 999.6 W. Cut toward zero (999 W) the grid would draw
      // 2 001 W and raise the billed peak; rounded up (1 000 W, or 1 100 W on a 100 W step) it stays under the peak.
      const state = (powerStepW?: number) =>
        buildSiteState({ loadPowerW: 3_000, batteries: [buildBattery({ socPct: 80, ...(powerStepW ? { powerStepW } : {}) })] });
      const memory = { meter: { ...peakShavingStrategy.initialMemory(monthly).meter, monthKey: '2025-03', monthPeakW: 2_000.4 } };
      const config = PeakShavingConfigSchema.parse({ mode: 'monthly-peak', thresholdW: 500 });
      const nowMs = localTimeMs('2025-03-10T18:00', 'Europe/Paris');
      expect(batteryPowerOf(peakShavingStrategy.decide(state(), config, { nowMs }, memory))).toBe(1_000);
      expect(batteryPowerOf(peakShavingStrategy.decide(state(100), config, { nowMs }, memory))).toBe(1_000);
      const stepped = peakShavingStrategy.decide(state(300), config, { nowMs }, memory);
      expect(batteryPowerOf(stepped)).toBe(1_200);
    });
  });

  describe('forecast mode', () => {
    const forecastConfig = PeakShavingConfigSchema.parse({ mode: 'forecast' });
    const nowMs = localTimeMs('2025-03-10T17:00', 'Europe/Paris');
    const HOUR = 60 * MINUTE;
    /** 4 kW for two hours, then 500 W for the rest of two days. */
    const evening = buildForecast(nowMs, HOUR, { loadW: [4_000, 4_000, ...Array(46).fill(500)], pvW: Array(48).fill(0) });

    it('sizes the target to the lowest import the battery can hold over the forecast and shaves to it', () => {
      // 4 kWh usable at 50 %: 2 h × (4 kW − G) / 0.95 = 4 kWh → G ≈ 2.1 kW.
      const result = peakShavingStrategy.decide(
        buildSiteState({ loadPowerW: 4_000, forecast: evening, batteries: [buildBattery({ socPct: 50 })] }),
        forecastConfig,
        { nowMs },
        peakShavingStrategy.initialMemory(forecastConfig),
      );
      expect(result.metrics.terms['forecastTargetW']).toBeGreaterThan(2_050);
      expect(result.metrics.terms['forecastTargetW']).toBeLessThan(2_150);
      expect(result.metrics.reason).toBe('shaving-peak');
      // The excess, rounded up to the whole watt (the term is rounded to the nearest one).
      const excessW = 4_000 - (result.metrics.terms['targetW'] ?? 0);
      expect(batteryPowerOf(result)).toBeGreaterThanOrEqual(excessW - 0.5);
      expect(batteryPowerOf(result)).toBeLessThanOrEqual(excessW + 1);
      expect(Number.isInteger(batteryPowerOf(result))).toBe(true);
    });

    it('recharges from the grid up to the target while import is below it (no margin in this mode)', () => {
      const result = peakShavingStrategy.decide(
        buildSiteState({ loadPowerW: 500, forecast: buildForecast(nowMs, HOUR, { loadW: [500, 4_000, 4_000], pvW: [0, 0, 0] }), batteries: [buildBattery({ socPct: 30 })] }),
        forecastConfig,
        { nowMs },
        peakShavingStrategy.initialMemory(forecastConfig),
      );
      expect(result.metrics.reason).toBe('recharging');
      expect(500 - (batteryPowerOf(result) ?? 0)).toBeCloseTo(result.metrics.terms['targetW'] ?? -1, -1);
    });

    it('without a forecast or a learned profile it falls back to the month’s peak (and says so in its terms)', () => {
      const result = peakShavingStrategy.decide(
        buildSiteState({ loadPowerW: 3_000, batteries: [buildBattery({ socPct: 50 })] }),
        forecastConfig,
        { nowMs },
        peakShavingStrategy.initialMemory(forecastConfig),
      );
      expect(result.metrics.terms['forecastTargetW']).toBe(-1);
      expect(result.metrics.terms['targetSource']).toBe(0);
      expect(batteryPowerOf(result)).toBe(3_000);
    });

    it('when the forecast was wrong (a bigger evening than expected) the month’s peak rises once and the target follows', () => {
      const low = buildForecast(nowMs, HOUR, { loadW: Array(48).fill(500), pvW: Array(48).fill(0) });
      const steps: ScenarioStep<PeakShavingMemory>[] = [];
      // 17:00–18:00: 5 kW instead of 500 W, an almost empty battery: the quarter hours import 5 kW.
      for (let k = 0; k <= 4; k++) {
        steps.push({ atMs: nowMs + k * 15 * MINUTE, state: buildSiteState({ loadPowerW: 5_000, forecast: low, batteries: [buildBattery({ socPct: 10 })] }) });
      }
      const results = runScenario(peakShavingStrategy, forecastConfig, peakShavingStrategy.initialMemory(forecastConfig), steps);
      const last = results[results.length - 1];
      expect(last?.metrics.terms['monthPeakW']).toBe(5_000);
      expect(last?.metrics.terms['targetW']).toBe(5_000);
      expect(last?.metrics.reason).toBe('below-threshold');
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

    it('never lowers the total it is given when the batteries’ steps cut its own split', () => {
      // Three batteries on 100 W steps (3 000 / 1 000 / 1 000 W); the proposal asks 100 W of b and c. The site needs
      // 250 W from them to stay at the 5 kW threshold: split 150 / 50 / 50 and cut to 100 / 0 / 0 it would be 100 W.
      const batteries = [
        buildBattery({ assetId: 'a', maxDischargePowerW: 3_000, powerStepW: 100 }),
        buildBattery({ assetId: 'b', maxDischargePowerW: 1_000, powerStepW: 100 }),
        buildBattery({ assetId: 'c', maxDischargePowerW: 1_000, powerStepW: 100 }),
      ];
      const state = buildSiteState({ loadPowerW: 5_250, batteries });
      const constrainFn = peakShavingStrategy.constrain;
      if (!constrainFn) throw new Error('peak-shaving must be a layer');
      const result = constrainFn({ a: batteryPower(0), b: batteryPower(100), c: batteryPower(100) }, state, config, { nowMs: 0 }, initial);
      const sentW = Object.values(result.setpoints).reduce((s, sp) => s + (sp.kind === 'battery-power' ? sp.powerW : 0), 0);
      expect(sentW).toBeGreaterThanOrEqual(250);
      expect(result.metrics.outputs['batteryPowerW']).toBe(sentW);
      expect(result.metrics.reason).toBe('shaving-peak');
    });
  });
});
