/**
 * Strategies that set the battery from the demand, on a simulated site whose meters are polled apart: the engine
 * ticks on each grid reading (every 100 ms), the battery is read once a poll period at its own moment, a set-point
 * takes effect after the write path's delay, and the arbiter may hold the battery below what was asked. Without the
 * demand estimate (`combine` § 0) the battery flips between 0 and twice the demand; with it, it holds the demand.
 */
import fc from 'fast-check';
import {
  DEMAND_PLANT_TICK_MS,
  driveDemandPlant,
  gridExchange,
  meanDemandError,
  type DemandPlant,
  type DemandPlantRun,
} from '../testing';
import type { StrategyConfigs } from './registry';
import { PeakShavingConfigSchema } from './strategies/peak-shaving';
import { SelfConsumptionConfigSchema } from './strategies/self-consumption';
import { NetZeroConfigSchema } from './strategies/net-zero';

const within = (series: readonly (readonly [number, number])[], fromMs: number): number[] =>
  series.filter(([t]) => t >= fromMs).map(([, w]) => w);
const spread = (values: readonly number[]): number => Math.max(...values) - Math.min(...values);

// Without the 10 s hold of its defaults, which hides the flipping only as long as the readings agree when it decides.
const selfConsumption: StrategyConfigs = { 'self-consumption': SelfConsumptionConfigSchema.parse({ minHoldMs: 0 }) };
const peakShaving: StrategyConfigs = { 'peak-shaving': PeakShavingConfigSchema.parse({ thresholdW: 2_000 }) };
const step = (t: number): number => (t < 5_000 ? 1_000 : 6_000);
const plant: DemandPlant = {
  batteryPollMs: 1_000,
  batteryPhaseMs: 200,
  delayMs: 300,
  dischargeCapW: 10_000,
  loadW: step,
};

describe('the demand from meters polled apart', () => {
  it('self-consumption holds the battery at the demand after a load step', () => {
    const run = driveDemandPlant(plant, 'self-consumption', selfConsumption, 15_000);
    expect(new Set(within(run.setpoints, 7_000))).toEqual(new Set([6_000]));
    expect(Math.max(...within(run.gridW, 7_000).map(Math.abs))).toBe(0);
    // The latest readings as they are: the battery flips between 0 and the demand (the grid between 0 and 6 kW).
    const plain = driveDemandPlant(plant, 'self-consumption', selfConsumption, 15_000, false);
    expect(spread(within(plain.setpoints, 7_000))).toBeGreaterThanOrEqual(6_000);
  });

  it('peak shaving discharges what the threshold asks, steadily', () => {
    const run = driveDemandPlant(plant, 'peak-shaving', peakShaving, 15_000);
    expect(new Set(within(run.setpoints, 7_000))).toEqual(new Set([4_000]));
    expect(new Set(within(run.gridW, 7_000))).toEqual(new Set([2_000]));
    const plain = driveDemandPlant(plant, 'peak-shaving', peakShaving, 15_000, false);
    // Without it: 0, 4 and 8 kW in turn, the grid up to 6 kW against a 2 kW threshold.
    expect(spread(within(plain.setpoints, 7_000))).toBeGreaterThanOrEqual(8_000);
    expect(Math.max(...within(plain.gridW, 7_000))).toBeGreaterThanOrEqual(6_000);
  });

  it('on a zero-export site, a load that drops while a set-point is in flight is seen within a battery poll', () => {
    // 6.5 kW of load from 2 s; self-consumption (defaults: 10 s hold) decides at 10 s; the load drops to 0.5 kW at
    // 10.45 s, before the battery is read after the set-point took effect (11.15 s). A battery delivering 97 %.
    const drop: DemandPlant = {
      ...plant,
      trackFraction: 0.97,
      maxExportW: 0,
      loadW: (t) => (t < 2_000 ? 500 : t < 10_450 ? 6_500 : 500),
    };
    const defaults: StrategyConfigs = { 'self-consumption': SelfConsumptionConfigSchema.parse({}) };
    const exportMs = (run: DemandPlantRun): number =>
      run.gridW.filter(([t, w]) => t >= 10_000 && w < -500).length * DEMAND_PLANT_TICK_MS;
    // The held demand hides the drop until that reading pairs; the lowered set-point takes effect 300 ms later.
    expect(exportMs(driveDemandPlant(drop, 'self-consumption', defaults, 20_000))).toBeLessThanOrEqual(1_100);
    // The latest readings as they are see it at once.
    expect(exportMs(driveDemandPlant(drop, 'self-consumption', defaults, 20_000, false))).toBeLessThanOrEqual(400);
  });

  it('peak shaving on a battery delivering 97 %: a load step while its set-point is in flight is taken at the next pairing', () => {
    // 1 → 7 kW at 5 s (5 kW asked), 7 → 9 kW at 5.4 s, before the battery is read after the effect (at 6.15 s).
    const rise: DemandPlant = {
      ...plant,
      trackFraction: 0.97,
      loadW: (t) => (t < 5_000 ? 1_000 : t < 5_400 ? 7_000 : 9_000),
    };
    const run = driveDemandPlant(rise, 'peak-shaving', peakShaving, 15_000);
    // Until then the grid carries the 2 kW step; from the next set-point's effect on, the 2 kW threshold plus the 3 %
    // the battery misses.
    expect(Math.max(...within(run.gridW, 5_400).filter((w, i) => i < 12))).toBeLessThanOrEqual(4_400);
    const after = within(run.gridW, 6_600);
    expect(Math.max(...after)).toBeLessThanOrEqual(2_300);
    expect(Math.min(...after)).toBeGreaterThanOrEqual(1_900);
    // The latest readings as they are: the battery is read at 5.15 s, before the 5 kW took effect; the grid meanwhile
    // shows it, so the demand reads 5 kW short and the battery is sent back towards 0 W.
    const plain = driveDemandPlant(rise, 'peak-shaving', peakShaving, 15_000, false);
    expect(Math.max(...within(plain.gridW, 5_800))).toBeGreaterThanOrEqual(6_000);
  });

  it('on a zero-export site, a battery settled 3 % short and read every 5 s sees a load drop at any moment of its poll', () => {
    // 6.5 → 0.5 kW every 20 s, the drop 0.5 … 4.5 s after a battery reading; default self-consumption.
    let seconds = 0;
    for (const offsetMs of [500, 1_500, 2_500, 3_500, 4_500]) {
      const loadW = (t: number): number => (Math.floor((t - offsetMs) / 20_000) % 2 === 0 ? 6_500 : 500);
      const run = driveDemandPlant(
        { ...plant, batteryPollMs: 5_000, trackFraction: 0.97, maxExportW: 0, loadW },
        'self-consumption',
        { 'self-consumption': SelfConsumptionConfigSchema.parse({}) },
        120_000,
      );
      seconds += (run.gridW.filter(([t, w]) => t >= 10_000 && w < -500).length * DEMAND_PLANT_TICK_MS) / 1_000;
    }
    // Measured: 4.5 s in all (15 drops); 45 s when a reading 3 % short paired only within 250 ms of it.
    expect(seconds).toBeLessThanOrEqual(6);
  });

  it('a battery slower than 3 s holds the demand once its site config says how slow (responseMs)', () => {
    // 4 s from set-point to effect, ±200 W of load noise.
    const loadW = (t: number): number => step(t) + Math.round(200 * Math.sin(t / 137));
    const slow: DemandPlant = { ...plant, delayMs: 4_000, loadW, responseMs: 5_000 };
    const spreadFrom = (run: DemandPlantRun): number => spread(within(run.setpoints, 15_000));
    expect(spreadFrom(driveDemandPlant(slow, 'self-consumption', selfConsumption, 40_000))).toBeLessThanOrEqual(600);
    // Without it, readings of the battery not yet moving count as what it does after 3 s: it swings by over a kW.
    const unsaid: DemandPlant = { ...plant, delayMs: 4_000, loadW };
    expect(spreadFrom(driveDemandPlant(unsaid, 'self-consumption', selfConsumption, 40_000))).toBeGreaterThan(1_000);
  });

  it('a battery held below half its step is taken as read at its second reading, not after its response time', () => {
    // Capped at 2 kW by the arbiter, asked 5 kW; responseMs 30 s; zero export; the load drops to 0.5 kW at 20 s.
    const capped: DemandPlant = {
      ...plant,
      dischargeCapW: 2_000,
      responseMs: 30_000,
      maxExportW: 0,
      loadW: (t) => (t < 2_000 ? 500 : t < 20_000 ? 5_000 : 500),
    };
    const exportMs = (run: DemandPlantRun): number =>
      run.gridW.filter(([t, w]) => t >= 20_000 && w < -500).length * DEMAND_PLANT_TICK_MS;
    // Measured: 0.5 s of export (the drop is seen at the next pairing, the battery's next two readings).
    expect(exportMs(driveDemandPlant(capped, 'self-consumption', selfConsumption, 40_000))).toBeLessThanOrEqual(1_000);
    // The latest readings as they are: 7.3 s (the battery is sent between 0 and what it cannot do).
    expect(exportMs(driveDemandPlant(capped, 'self-consumption', selfConsumption, 40_000, false))).toBeGreaterThan(
      5_000,
    );
  });

  it('settles on the demand for any poll period (0.5–5 s), phase and delay within the response time (0–3 s), with load noise, a battery the arbiter holds back or ramps, a battery that lags, a second battery', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(500, 1_000, 2_000, 5_000),
        fc.nat({ max: 19 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 2_000, max: 9_000 }),
        fc.integer({ min: 0, max: 300 }),
        fc.option(fc.integer({ min: 1_000, max: 9_000 }), { nil: undefined }),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }),
        fc.option(fc.integer({ min: 500, max: 5_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 50, max: 1_000 }), { nil: undefined }),
        fc.option(fc.nat({ max: 19 }), { nil: undefined }),
        (pollMs, phaseSteps, delaySteps, baseW, noiseW, capW, noise, rampWPerS, lagMs, secondPhaseSteps) => {
          const loadW = (t: number): number =>
            t < 2_000 ? 500 : baseW + Math.round((noise[(t / DEMAND_PLANT_TICK_MS) % 64] ?? 0) * noiseW);
          const run = driveDemandPlant(
            {
              batteryPollMs: pollMs,
              batteryPhaseMs: (phaseSteps * DEMAND_PLANT_TICK_MS) % pollMs,
              delayMs: delaySteps * DEMAND_PLANT_TICK_MS,
              dischargeCapW: capW ?? 10_000,
              loadW,
              ...(rampWPerS === undefined ? {} : { rampWPerS }),
              ...(lagMs === undefined ? {} : { lagMs }),
              // A second battery read at its own moment, the same otherwise.
              ...(secondPhaseSteps === undefined
                ? {}
                : { batteries: [{}, { batteryPhaseMs: (secondPhaseSteps * DEMAND_PLANT_TICK_MS) % pollMs }] }),
            },
            'self-consumption',
            selfConsumption,
            30_000,
            process.env.PLAIN === undefined,
          );
          // From 20 s on (a change takes effect within 3 s, shows within a poll period, or counts after 3 s): every
          // set-point within the load's range, give or take twice the 100 W a change must exceed to count, per battery
          // (each may be that far from its last counted set-point when read, and the grid that far the other way) —
          // never 0 or twice the demand.
          const slackW = 200 * (secondPhaseSteps === undefined ? 1 : 2);
          for (const w of within(run.setpoints, 20_000)) {
            expect(w).toBeGreaterThanOrEqual(baseW - noiseW - slackW);
            expect(w).toBeLessThanOrEqual(baseW + noiseW + slackW);
          }
        },
      ),
      { numRuns: Number(process.env.RUNS ?? 200) },
    );
  });
});

describe('batteries that do not step: no worse than the latest readings (a review’s findings)', () => {
  const netZero: StrategyConfigs = { 'net-zero': NetZeroConfigSchema.parse({}) };
  const steps = (t: number): number => [1_000, 5_000, 2_000, 6_000, 500, 4_000][Math.floor(t / 15_000) % 6] ?? 0;

  it('creeping set-points (NetZero following a load that swings slowly) pair at their rate', () => {
    const sine: DemandPlant = { ...plant, loadW: (t) => Math.round(1_000 + 4_000 * Math.sin(t / 9_000)) };
    const run = driveDemandPlant(sine, 'net-zero', netZero, 120_000);
    // NetZero moves its set-point by at most ~100 W a tick here: a creep.
    const moves = run.setpoints.slice(1).map(([, w], i) => Math.abs(w - (run.setpoints[i]?.[1] ?? 0)));
    expect(moves.filter((m) => m > 100).length).toBeLessThanOrEqual(5);
    // Measured: 147 W mean error, as the latest readings' (173 W when each change of more than 100 W was an epoch
    // like any other: the battery's reading never paired, the demand was re-taken each hold).
    const plain = driveDemandPlant(sine, 'net-zero', netZero, 120_000, false);
    expect(meanDemandError(run, 10_000)).toBeLessThanOrEqual(1.05 * meanDemandError(plain, 10_000));
  });

  it('a battery the arbiter ramps (200 W/s) pairs on its way, near its readings', () => {
    const ramped: DemandPlant = { ...plant, rampWPerS: 200, loadW: steps };
    const run = driveDemandPlant(ramped, 'self-consumption', selfConsumption, 120_000);
    const plain = driveDemandPlant(ramped, 'self-consumption', selfConsumption, 120_000, false);
    // Measured: 44 W mean error against 126 W for the latest readings (186 W when a ramping battery showed its change
    // only within a tenth of the step: held for seconds, re-taken each hold); the grid exchange no larger.
    expect(meanDemandError(run, 5_000)).toBeLessThanOrEqual(0.5 * meanDemandError(plain, 5_000));
    expect(gridExchange(run, 5_000)).toBeLessThanOrEqual(gridExchange(plain, 5_000));
  });

  it('a battery with a first-order lag (800 ms) pairs only near its readings while it catches up', () => {
    const lagged: DemandPlant = { ...plant, lagMs: 800, loadW: steps };
    const run = driveDemandPlant(lagged, 'self-consumption', selfConsumption, 120_000);
    const plain = driveDemandPlant(lagged, 'self-consumption', selfConsumption, 120_000, false);
    // Measured: 23 W mean error against 128 W, and 25 % less energy through the grid connection than with the
    // latest readings (a reading at half its step paired with any later grid reading before: 18 W, 0.73).
    expect(meanDemandError(run, 5_000)).toBeLessThanOrEqual(0.5 * meanDemandError(plain, 5_000));
    expect(gridExchange(run, 5_000)).toBeLessThanOrEqual(0.8 * gridExchange(plain, 5_000));
  });
});
