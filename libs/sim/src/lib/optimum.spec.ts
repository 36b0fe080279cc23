import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { Highs } from 'highs';
import { evaluateSchedule } from './replay';
import { type OptimumOptions, type OptimumResult, loadHighs, solveOptimum } from './optimum';
import { type SiteSeries, parseSeriesCsv } from './series';
import { type BatteryModel, type BatteryModelInput, BatteryModelSchema, EvChargerSchema } from './site';
import { type SimTariff, type SimTariffInput, SimTariffSchema } from './tariff';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const REPO_ROOT = path.resolve(__dirname, '../../../..');
const DATA_DIR = path.join(REPO_ROOT, '..', 'shared', 'data');

let highs: Highs;
beforeAll(async () => {
  highs = await loadHighs();
});

const hourly = (
  loadW: readonly number[],
  pricesEurPerMwh: readonly number[],
  pvW: readonly number[] = [],
): SiteSeries => ({
  stepMs: HOUR_MS,
  points: loadW.map((l, k) => ({
    atMs: k * HOUR_MS,
    loadW: l,
    pvW: pvW[k] ?? 0,
    priceEurPerMwh: pricesEurPerMwh[k] ?? 0,
  })),
});
const battery = (input: Partial<BatteryModelInput>): BatteryModel =>
  BatteryModelSchema.parse({
    capacityWh: 1_000,
    maxChargePowerW: 1_000,
    maxDischargePowerW: 1_000,
    minSocPct: 0,
    maxSocPct: 100,
    chargeEfficiency: 1,
    dischargeEfficiency: 1,
    ...input,
  });
const tariff = (input: Partial<SimTariffInput> = {}): SimTariff => SimTariffSchema.parse({ kind: 'dynamic', ...input });
const opts = (over: Partial<OptimumOptions> = {}): OptimumOptions => ({
  timezone: 'UTC',
  initialSocPct: 0,
  horizon: { mode: 'full' },
  highs,
  ...over,
});

function optimal(result: OptimumResult): Extract<OptimumResult, { status: 'optimal' }> {
  if (result.status !== 'optimal')
    throw new Error(`expected an optimal solve, got ${result.status} (${result.solverStatus})`);
  return result;
}

function expectNoSimultaneousFlows(result: Extract<OptimumResult, { status: 'optimal' }>): void {
  for (const s of result.steps) {
    expect(Math.min(s.chargeW, s.dischargeW)).toBeLessThan(1e-3);
    expect(Math.min(s.gridImportW, s.gridExportW)).toBeLessThan(1e-3);
  }
}

describe('solveOptimum on cases solvable by hand', () => {
  // 4 h, load 1 kW, prices 100, 100, 300, 300 EUR/MWh (0.10 / 0.30 EUR/kWh), 1 kWh battery starting empty.
  const fourSteps = hourly([1_000, 1_000, 1_000, 1_000], [100, 100, 300, 300]);

  it('shifts 1 kWh from the expensive to the cheap hours: 3 kWh × 0.10 + 1 kWh × 0.30 = 0.60 EUR', async () => {
    const result = optimal(await solveOptimum(fourSteps, battery({}), tariff(), opts()));
    expect(result.lpCostEur).toBeCloseTo(0.6, 9);
    expect(result.replay.cost.totalEur).toBeCloseTo(0.6, 9);
    expect(result.steps.slice(2).reduce((sum, s) => sum + s.dischargeW, 0)).toBeCloseTo(1_000, 6);
    expect(result.modelMismatchEur).toBeCloseTo(0, 9);
  });

  it('pays for efficiency losses (η 0.9 each way): 0.10 × (2 + 1/0.9) + 0.30 × (2 − 0.9) = 0.641111 EUR', async () => {
    const lossy = battery({ chargeEfficiency: 0.9, dischargeEfficiency: 0.9 });
    const result = optimal(await solveOptimum(fourSteps, lossy, tariff(), opts()));
    expect(result.lpCostEur).toBeCloseTo(0.1 * (2 + 1 / 0.9) + 0.3 * (2 - 0.9), 9);
    expect(result.modelMismatchEur).toBeCloseTo(0, 9);
    expectNoSimultaneousFlows(result);
  });

  it.each([
    // Cycling 1 kWh saves 0.20 and costs 2 × 0.05 of wear: 0.60 + 0.10.
    { wear: 50, expected: 0.7 },
    // Wear 2 × 0.15 = 0.30 exceeds the 0.20 saving: stay idle, 2 × 0.10 + 2 × 0.30.
    { wear: 150, expected: 0.8 },
  ])('weighs battery wear $wear EUR/MWh against the spread → $expected EUR', async ({ wear, expected }) => {
    const result = optimal(await solveOptimum(fourSteps, battery({}), tariff({ batteryWearEurPerMwh: wear }), opts()));
    expect(result.lpCostEur).toBeCloseTo(expected, 9);
    expect(result.replay.cost.totalEur).toBeCloseTo(expected, 9);
  });

  it('never burns energy through charge+discharge at a negative price (full battery: sell 0.9 kWh at 50 → −0.045 EUR)', async () => {
    // Without binaries the LP would charge 1 kW and discharge 0.81 kW at −200 EUR/MWh to soak up losses.
    const full = battery({ chargeEfficiency: 0.9, dischargeEfficiency: 0.9 });
    const series = hourly([0, 0], [-200, 50]);
    const result = optimal(
      await solveOptimum(series, full, tariff({ feedIn: { rule: 'spot' } }), opts({ initialSocPct: 100 })),
    );
    expect(result.lpCostEur).toBeCloseTo(-0.045, 9);
    expect(result.replay.cost.totalEur).toBeCloseTo(-0.045, 9);
    expect(result.binarySteps).toBeGreaterThan(0);
    expectNoSimultaneousFlows(result);
  });

  it('never imports and exports at once when feed-in pays more than import costs (VAT on a negative price)', async () => {
    // Import −100 × 1.2 = −120, export −100 EUR/MWh: circulating 1 kW would "earn" 0.02 EUR. Battery full, η = 1.
    const series = hourly([1_000], [-100], [1_000]);
    const t = tariff({ vatPct: 20, feedIn: { rule: 'spot' } });
    const result = optimal(await solveOptimum(series, battery({}), t, opts({ initialSocPct: 100 })));
    expect(result.lpCostEur).toBeCloseTo(0, 9);
    expect(result.replay.cost.totalEur).toBeCloseTo(0, 9);
    expectNoSimultaneousFlows(result);
  });

  it('shaves the monthly peak: 4 kW load for 1 h, 2 kWh battery → peak 2 kW, 0.2 + 2 × 10 = 20.2 EUR', async () => {
    const series = hourly([4_000, 0], [100, 100]);
    const big = battery({ capacityWh: 2_000, maxDischargePowerW: 5_000, maxChargePowerW: 5_000 });
    const t = tariff({ peakDemandEurPerKw: 10 });
    const free = optimal(await solveOptimum(series, big, t, opts({ initialSocPct: 100 })));
    expect(free.lpCostEur).toBeCloseTo(20.2, 9);
    expect(free.replay.cost.monthlyPeaks).toEqual([
      { month: '1970-01', peakImportW: expect.closeTo(2_000, 6), chargeEur: expect.closeTo(20, 6) },
    ]);
    // Refilling to 100 % costs 2 kWh more energy but fits under the same 2 kW peak: 0.4 + 20.
    const refill = optimal(await solveOptimum(series, big, t, opts({ initialSocPct: 100, finalSocPct: 100 })));
    expect(refill.lpCostEur).toBeCloseTo(20.4, 9);
    expect(refill.steps.at(-1)?.socPct).toBeCloseTo(100, 6);
  });

  it('counts uncontrolled EV charging as load it cannot move', async () => {
    const series = hourly([0, 0], [100, 300]);
    const result = optimal(
      await solveOptimum(series, battery({}), tariff(), {
        ...opts(),
        evCharger: EvChargerSchema.parse({}),
        evSessions: [
          {
            id: 'ev',
            arrivalAtMs: HOUR_MS,
            departureAtMs: 2 * HOUR_MS,
            energyWantedWh: 2_000,
            maxCurrentA: 16,
            phases: 1,
          },
        ],
      }),
    );
    // EV takes 2 kWh in hour 2 at 0.30; the battery buys 1 kWh at 0.10 in hour 1 and covers 1 kWh of it.
    expect(result.steps.map((s) => s.evW)).toEqual([0, 2_000]);
    expect(result.lpCostEur).toBeCloseTo(0.1 + 0.3, 9);
    expect(result.modelMismatchEur).toBeCloseTo(0, 9);
  });

  it('reports an infeasible horizon as an outcome (self-discharge at the floor with no charging power)', async () => {
    const stuck = battery({ minSocPct: 50, selfDischargePctPerDay: 10, maxChargePowerW: 0 });
    const result = await solveOptimum(hourly([0], [1]), stuck, tariff(), opts({ initialSocPct: 50 }));
    expect(result).toMatchObject({ status: 'infeasible', windowStartAtMs: 0 });
  });

  it('throws on a configuration error (initial SoC outside the window)', async () => {
    await expect(
      solveOptimum(hourly([0], [1]), battery({ minSocPct: 20 }), tariff(), opts({ initialSocPct: 10 })),
    ).rejects.toThrow(/initialSocPct 10 is outside/);
  });
});

describe('solveOptimum is never beaten (properties)', () => {
  const caseArb = fc.record({
    stepMs: fc.constantFrom(900_000, 1_800_000, HOUR_MS),
    steps: fc.array(
      fc.record({
        loadW: fc.integer({ min: 0, max: 6_000 }),
        pvW: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6_000 })),
        priceEurPerMwh: fc.integer({ min: -200, max: 400 }),
      }),
      { minLength: 2, maxLength: 8 },
    ),
    battery: fc.record({
      capacityWh: fc.integer({ min: 500, max: 15_000 }),
      maxChargePowerW: fc.integer({ min: 0, max: 8_000 }),
      maxDischargePowerW: fc.integer({ min: 0, max: 8_000 }),
      minSocPct: fc.integer({ min: 0, max: 40 }),
      maxSocPct: fc.integer({ min: 60, max: 100 }),
      chargeEfficiency: fc.double({ min: 0.7, max: 1, noNaN: true }),
      dischargeEfficiency: fc.double({ min: 0.7, max: 1, noNaN: true }),
    }),
    socFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    tariff: fc.record({
      energyTaxEurPerMwh: fc.integer({ min: 0, max: 150 }),
      gridFeeEurPerMwh: fc.integer({ min: 0, max: 80 }),
      vatPct: fc.constantFrom(0, 6, 19, 21),
      feedIn: fc.oneof(
        fc.constant({ rule: 'none' as const }),
        fc.record({ rule: fc.constant('fixed' as const), eurPerMwh: fc.integer({ min: 0, max: 120 }) }),
        fc.record({
          rule: fc.constant('spot' as const),
          factor: fc.double({ min: 0.5, max: 1, noNaN: true }),
          offsetEurPerMwh: fc.integer({ min: -20, max: 20 }),
        }),
      ),
      peakDemandEurPerKw: fc.constantFrom(0, 0, 3, 12),
      batteryWearEurPerMwh: fc.constantFrom(0, 0, 15, 60),
    }),
    schedules: fc.array(fc.array(fc.double({ min: -1.2, max: 1.2, noNaN: true }), { minLength: 8, maxLength: 8 }), {
      minLength: 3,
      maxLength: 3,
    }),
  });

  it('costs no more than any random feasible schedule replayed through the simulator, and matches its own replay', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const series: SiteSeries = {
          stepMs: c.stepMs,
          points: c.steps.map((s, k) => ({ atMs: Date.UTC(2024, 3, 30, 20) + k * c.stepMs, ...s })),
        };
        const b = BatteryModelSchema.parse(c.battery);
        const t = SimTariffSchema.parse({ kind: 'dynamic', ...c.tariff });
        const o = opts({
          timezone: 'Europe/Paris',
          initialSocPct: b.minSocPct + c.socFraction * (b.maxSocPct - b.minSocPct),
        });
        const result = optimal(await solveOptimum(series, b, t, o));
        const scale = 1e-6 * (1 + Math.abs(result.lpCostEur));
        expect(Math.abs(result.modelMismatchEur)).toBeLessThan(scale);
        expectNoSimultaneousFlows(result);
        const candidates = [
          series.points.map(() => 0),
          ...c.schedules.map((fractions) =>
            series.points.map((_, k) => {
              const f = fractions[k] ?? 0;
              return f >= 0 ? f * b.maxDischargePowerW : f * b.maxChargePowerW;
            }),
          ),
        ];
        for (const schedule of candidates) {
          const replayed = evaluateSchedule(series, schedule, b, t, o).cost.totalEur;
          expect(result.replay.cost.totalEur).toBeLessThanOrEqual(replayed + scale);
        }
      }),
      { numRuns: 100 },
    );
  }, 120_000);
});

describe('solveOptimum on the development data', () => {
  const series = parseSeriesCsv(
    fs.readFileSync(path.join(DATA_DIR, 'fr_lorraine_household_202404_202405_30min.csv'), 'utf8'),
  );
  const home = BatteryModelSchema.parse({ capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 });
  const nlLike = tariff({
    energyTaxEurPerMwh: 100,
    gridFeeEurPerMwh: 50,
    vatPct: 21,
    feedIn: { rule: 'spot' },
    peakDemandEurPerKw: 4,
    batteryWearEurPerMwh: 20,
  });
  const days = (from: number, count: number): SiteSeries => ({
    stepMs: series.stepMs,
    points: series.points.slice(from * 48, (from + count) * 48),
  });

  it('solves one day (48 half hours), matches its replay and beats doing nothing', async () => {
    const day = days(0, 1);
    const result = optimal(
      await solveOptimum(day, home, nlLike, opts({ timezone: 'Europe/Paris', initialSocPct: 50 })),
    );
    expect(result.steps).toHaveLength(48);
    expect(Math.abs(result.modelMismatchEur)).toBeLessThan(1e-6);
    const idle = evaluateSchedule(
      day,
      day.points.map(() => 0),
      home,
      nlLike,
      { timezone: 'Europe/Paris', initialSocPct: 50 },
    );
    expect(result.lpCostEur).toBeLessThan(idle.cost.totalEur);
    for (const s of result.steps) {
      expect(s.socPct).toBeGreaterThanOrEqual(home.minSocPct - 1e-6);
      expect(s.socPct).toBeLessThanOrEqual(home.maxSocPct + 1e-6);
    }
  });

  it('a rolling or per-day horizon never beats the full-horizon optimum (3 days incl. negative prices)', async () => {
    // 12–14 April 2024 contain negative DE-LU prices.
    const span = days(11, 3);
    const o = opts({ timezone: 'Europe/Paris', initialSocPct: 50 });
    const full = optimal(await solveOptimum(span, home, nlLike, o));
    const rolling = optimal(
      await solveOptimum(span, home, nlLike, {
        ...o,
        horizon: { mode: 'rolling', windowMs: 2 * DAY_MS, commitMs: DAY_MS },
      }),
    );
    const perDay = optimal(
      await solveOptimum(span, home, nlLike, {
        ...o,
        horizon: { mode: 'rolling', windowMs: DAY_MS, commitMs: DAY_MS },
      }),
    );
    expect(rolling.windowCount).toBe(2);
    expect(perDay.windowCount).toBe(3);
    for (const r of [full, rolling, perDay]) expect(Math.abs(r.modelMismatchEur)).toBeLessThan(1e-6);
    expect(full.lpCostEur).toBeLessThanOrEqual(rolling.lpCostEur + 1e-6);
    expect(full.lpCostEur).toBeLessThanOrEqual(perDay.lpCostEur + 1e-6);
  });
});
