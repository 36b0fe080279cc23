import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrategyNameSchema, type StrategyName } from '@voltimax/contracts';
import type { Highs } from 'highs';
import {
  type BacktestInput,
  type BacktestReport,
  type StrategySelection,
  backtest,
  prepareBacktest,
  runBacktest,
  solveBacktestReferences,
} from './backtest';
import { dayAheadPriceBook, forecastAt, localDayIndex, localMinuteOfDay } from './backtest-inputs';
import type { BacktestReferences } from './backtest-references';
import { computeCost } from './cost';
import { loadHighs } from './optimum';
import { evaluateSchedule } from './replay';
import { type SiteSeries, parseSeriesCsv } from './series';
import { type BatteryModel, BatteryModelSchema } from './site';
import { type SimTariff, SimTariffSchema } from './tariff';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const REPO_ROOT = path.resolve(__dirname, '../../../..');
const DATA_FILE = path.join(REPO_ROOT, '..', 'shared', 'data', 'fr_lorraine_household_202404_202405_30min.csv');
const LIMITS = { maxImportW: 9_000, maxExportW: 6_000, phases: 1, nominalVoltageV: 230 } as const;
/** Only the keys the strategies require; everything else is each strategy's default. */
const REQUIRED_CONFIGS = {
  'peak-shaving': { mode: 'monthly-peak', thresholdW: 2_000 },
  'grid-services': { frequencyResponse: { reservedPowerW: 2_500 } },
} as const;

let highs: Highs;
beforeAll(async () => {
  highs = await loadHighs();
});

/**
 * Two synthetic days, hourly, UTC: load 1 kW all day; PV 3 kW from 10:00 to 14:00 (surplus 2 kW); price
 * 100 EUR/MWh flat (so the strategies and the optimum agree on what to do). Days start 2024-06-03 (a Monday).
 */
function twoDays(): SiteSeries {
  const startMs = Date.UTC(2024, 5, 3);
  return {
    stepMs: HOUR_MS,
    points: Array.from({ length: 48 }, (_, k) => {
      const hour = k % 24;
      return { atMs: startMs + k * HOUR_MS, loadW: 1_000, pvW: hour >= 10 && hour < 14 ? 3_000 : 0, priceEurPerMwh: 100 };
    }),
  };
}

/** Ideal 10 kWh / 5 kW battery, full window, no losses, starting empty. */
const idealBattery: BatteryModel = BatteryModelSchema.parse({
  capacityWh: 10_000,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 5_000,
  minSocPct: 0,
  maxSocPct: 100,
  chargeEfficiency: 1,
  dischargeEfficiency: 1,
});
/** Import 100 EUR/MWh (spot, no taxes), feed-in 50 EUR/MWh fixed, no peak charge, no wear. */
const simpleTariff: SimTariff = SimTariffSchema.parse({ kind: 'dynamic', feedIn: { rule: 'fixed', eurPerMwh: 50 } });

function synthetic(options: BacktestInput['options'] = {}): BacktestInput {
  return {
    series: twoDays(),
    battery: idealBattery,
    tariff: simpleTariff,
    site: { timezone: 'UTC', limits: LIMITS },
    options: { stepMs: HOUR_MS, publication: { timezone: 'UTC', minuteOfDay: 13 * 60 }, ...options },
  };
}

describe('backtest accounting on two hand-made days', () => {
  // SelfConsumption, per day: 00–10 import 10 kWh (battery empty); 10–14 store 4 h × 2 kW = 8 kWh;
  // 14–22 the battery covers the 1 kW load; 22–24 import 2 kWh. Two days: import 24 kWh = 2.40 EUR, no export.
  // Idle battery: import 2 × 20 kWh = 4.00 EUR, export 2 × 8 kWh at 0.05 = 0.80 EUR → 3.20 EUR.
  let report: BacktestReport;
  beforeAll(async () => {
    const ctx = prepareBacktest(synthetic());
    const references = await solveBacktestReferences(ctx, { highs });
    report = runBacktest(ctx, { active: ['self-consumption'] }, { references, trace: true });
  });

  it('bills 24 kWh of import: 2.40 EUR; the idle battery 4.00 − 0.80 = 3.20 EUR', () => {
    expect(report.cost.importWh).toBeCloseTo(24_000, 6);
    expect(report.cost.exportWh).toBeCloseTo(0, 6);
    expect(report.cost.totalEur).toBeCloseTo(2.4, 9);
    expect(report.baselineCost.totalEur).toBeCloseTo(3.2, 9);
    expect(report.savingsEur).toBeCloseTo(0.8, 9);
    expect(report.savingsPct).toBeCloseTo(25, 9);
  });

  it('counts 16 kWh charged and 16 kWh discharged: 32 kWh throughput, 1.6 full cycles of 10 kWh', () => {
    expect(report.energy.chargedWh).toBeCloseTo(16_000, 6);
    expect(report.energy.dischargedWh).toBeCloseTo(16_000, 6);
    expect(report.throughputWh).toBeCloseTo(32_000, 6);
    expect(report.fullCycles).toBeCloseTo(1.6, 9);
  });

  it('self-consumption 24/24 kWh of PV = 100 % (idle: 8/24), self-sufficiency 24/48 = 50 % (idle: 8/48)', () => {
    expect(report.selfConsumptionPct).toBeCloseTo(100, 9);
    expect(report.baselineSelfConsumptionPct).toBeCloseTo((8 / 24) * 100, 9);
    expect(report.selfSufficiencyPct).toBeCloseTo(50, 9);
    expect(report.baselineSelfSufficiencyPct).toBeCloseTo((8 / 48) * 100, 9);
  });

  it('matches the optimum here (flat price: storing all PV is optimal) without beating it', () => {
    expect(report.optimum?.costEur).toBeCloseTo(2.4, 6);
    expect(report.optimum?.capturedPct).toBeCloseTo(100, 4);
    expect(report.optimum?.beatsOptimum).toBe(false);
    expect(report.selfConsumptionOfOptimumPct).toBeCloseTo(100, 6);
  });

  it('scores a battery with self-discharge too (its floor held by the BMS at night, not an infeasible reference)', async () => {
    // Before, the self-consumption reference LP, which may charge only from surplus, let the battery sink below its
    // floor on the first night and HiGHS answered Infeasible: no backtest of a leaky battery ran at all.
    const leaky = BatteryModelSchema.parse({ ...idealBattery, minSocPct: 10, selfDischargePctPerDay: 5 });
    const ctx = prepareBacktest({ ...synthetic(), battery: leaky, options: { ...synthetic().options, initialSocPct: 10 } });
    const references = await solveBacktestReferences(ctx, { highs });
    const leakyReport = runBacktest(ctx, { active: ['self-consumption'] }, { references });
    // What the PV lost to the leak: a little under 100 % stored and used, and the strategy at the reference's best.
    expect(references.selfConsumption?.maxSelfConsumptionPct).toBeGreaterThan(95);
    expect(leakyReport.selfConsumptionOfOptimumPct).toBeGreaterThan(99);
    expect(leakyReport.selfConsumptionOfOptimumPct).toBeLessThanOrEqual(100 + 1e-6);
    expect(leakyReport.optimum?.beatsOptimum).toBe(false);
    // With a peak charge too it solves, and (a sanity bound, not a test of the hold's price) the reference restricted
    // to self-consumption costs at least the unrestricted optimum.
    const peaky = prepareBacktest({
      ...synthetic(),
      battery: leaky,
      tariff: SimTariffSchema.parse({ kind: 'dynamic', feedIn: { rule: 'fixed', eurPerMwh: 50 }, peakDemandEurPerKw: 40 }),
      options: { ...synthetic().options, initialSocPct: 10 },
    });
    const peakyRefs = await solveBacktestReferences(peaky, { highs });
    expect(peakyRefs.selfConsumption?.minCostEur).toBeGreaterThanOrEqual((peakyRefs.cost?.costEur ?? Number.NaN) - 1e-6);
  });

  it('traces the day: full at 80 % after the sun, empty at 22:00, import 1 kW at night', () => {
    const trace = report.trace ?? [];
    expect(trace).toHaveLength(48);
    expect(trace[13]?.socPct).toBeCloseTo(80, 9);
    expect(trace[21]?.socPct).toBeCloseTo(0, 6);
    expect(trace[3]?.gridW).toBeCloseTo(1_000, 9);
    expect(trace[11]?.batteryW).toBeCloseTo(-2_000, 9);
    expect(trace[15]?.gridW).toBeCloseTo(0, 6);
    expect(report.monthlyPeaks).toEqual([{ month: '2024-06', peakImportW: 1_000, baselinePeakImportW: 1_000, lowestPeakImportW: expect.any(Number) }]);
  });

  it('the null strategy costs exactly the idle-battery baseline (billed by evaluateSchedule)', () => {
    const ctx = prepareBacktest(synthetic());
    const idle = runBacktest(ctx, { active: ['null'] });
    expect(idle.cost.totalEur).toBeCloseTo(ctx.baseline.cost.totalEur, 12);
    expect(idle.baselineCost.totalEur).toBeCloseTo(ctx.baseline.cost.totalEur, 12);
    expect(idle.savingsEur).toBeCloseTo(0, 12);
    expect(idle.throughputWh).toBe(0);
  });

  it('bills a 15-min run with 1-min sub-steps (held load/PV) the same as without', () => {
    const coarse = runBacktest(prepareBacktest(synthetic({ stepMs: 900_000 })), { active: ['self-consumption'] });
    const fine = runBacktest(prepareBacktest(synthetic({ stepMs: 900_000, subStepMs: 60_000 })), { active: ['self-consumption'] });
    expect(fine.decisions).toBe(coarse.decisions * 15);
    expect(fine.cost.totalEur).toBeCloseTo(coarse.cost.totalEur, 6);
    expect(fine.baselineCost.totalEur).toBeCloseTo(coarse.baselineCost.totalEur, 9);
  });

  it('linear interpolation keeps every step mean of load and PV (energy preserved)', () => {
    const held = runBacktest(prepareBacktest(synthetic({ stepMs: 900_000 })), { active: ['null'] });
    const linear = runBacktest(prepareBacktest(synthetic({ stepMs: 900_000, subStepMs: 60_000, interpolation: 'linear' })), {
      active: ['null'],
    });
    expect(linear.energy.loadWh).toBeCloseTo(held.energy.loadWh, 6);
    expect(linear.energy.pvWh).toBeCloseTo(held.energy.pvWh, 6);
  });
});

describe('savings identities', () => {
  it.each(['self-consumption', 'arbitrage', 'charge', 'peak-shaving'] as const)('%s: savings, shares and the energy balance add up', async (name) => {
    const ctx = prepareBacktest({ ...synthetic(), tariff: SimTariffSchema.parse({ kind: 'dynamic', feedIn: { rule: 'fixed', eurPerMwh: 50 }, peakDemandEurPerKw: 5, batteryWearEurPerMwh: 20 }) });
    const references = await solveBacktestReferences(ctx, { highs });
    const r = runBacktest(ctx, { active: [name], configs: REQUIRED_CONFIGS }, { references, trace: true });
    expect(r.savingsEur).toBeCloseTo(r.baselineCost.totalEur - r.cost.totalEur, 12);
    expect(r.savingsPct ?? Number.NaN).toBeCloseTo((r.savingsEur / r.baselineCost.totalEur) * 100, 9);
    const optimal = r.baselineCost.totalEur - (references.cost?.costEur ?? Number.NaN);
    expect(r.optimum?.capturedPct ?? Number.NaN).toBeCloseTo((r.savingsEur / optimal) * 100, 9);
    expect(r.optimum?.gapEur ?? Number.NaN).toBeCloseTo(r.cost.totalEur - (references.cost?.costEur ?? Number.NaN), 12);
    // Grid = load − PV − battery, integrated: import − export = load − PV − (discharged − charged).
    const e = r.energy;
    expect(e.importWh - e.exportWh).toBeCloseTo(e.loadWh - e.pvWh - (e.dischargedWh - e.chargedWh), 6);
    // The day-chunked bill equals one computeCost over the whole trace.
    const whole = computeCost(
      (r.trace ?? []).map((s) => ({ atMs: s.atMs, gridPowerW: s.gridW, batteryPowerW: s.batteryW, spotEurPerMwh: s.spotEurPerMwh })),
      HOUR_MS,
      ctx.input.tariff,
      'UTC',
    );
    expect(r.cost.totalEur).toBeCloseTo(whole.totalEur, 9);
    expect(r.cost.peakDemandEur).toBeCloseTo(whole.peakDemandEur, 9);
  });

  it('flags a run cheaper than a strict lower bound as a model mismatch', () => {
    const ctx = prepareBacktest(synthetic());
    const tooHigh: BacktestReferences = {
      cost: {
        horizon: { mode: 'full' },
        costEur: 3,
        lpCostEur: 3,
        modelMismatchEur: 0,
        batteryPowerW: [],
        socPct: [],
        totals: { loadWh: 0, pvWh: 0, importWh: 0, exportWh: 0, chargedWh: 0, dischargedWh: 0 },
        monthlyPeaksW: {},
      },
    };
    const r = runBacktest(ctx, { active: ['self-consumption'] }, { references: tooHigh });
    expect(r.optimum?.beatsOptimum).toBe(true);
    const rolling = runBacktest(ctx, { active: ['self-consumption'] }, {
      references: { cost: { ...tooHigh.cost!, horizon: { mode: 'rolling', windowMs: DAY_MS, commitMs: DAY_MS } } },
    });
    expect(rolling.optimum?.isLowerBound).toBe(false);
    expect(rolling.optimum?.beatsOptimum).toBe(false);
  });

  it('refuses an invalid strategy configuration instead of silently skipping the strategy', () => {
    const ctx = prepareBacktest(synthetic());
    expect(() => runBacktest(ctx, { active: ['peak-shaving'] })).toThrow(/thresholdW is required/);
  });
});

describe('what the strategies are told', () => {
  const PARIS = 'Europe/Paris';
  // 2024-04-10 00:00 CEST = 2024-04-09T22:00Z; 13:00 CEST = 11:00Z.
  const dayStartMs = Date.UTC(2024, 3, 9, 22);
  const threeDays: SiteSeries = {
    stepMs: 30 * 60_000,
    points: Array.from({ length: 3 * 48 }, (_, k) => ({ atMs: dayStartMs + k * 1_800_000, loadW: 500 + k, pvW: 0, priceEurPerMwh: k })),
  };

  it('day-ahead prices of tomorrow become known at 13:00 Europe/Paris, not a millisecond before', () => {
    const book = dayAheadPriceBook(threeDays, 'day-ahead');
    const before = book.knownAt(dayStartMs + 13 * HOUR_MS - 1);
    const at = book.knownAt(dayStartMs + 13 * HOUR_MS);
    expect(Math.max(...before.map((p) => p.endMs))).toBe(dayStartMs + DAY_MS);
    expect(Math.max(...at.map((p) => p.endMs))).toBe(dayStartMs + 2 * DAY_MS);
    expect(before[0]?.startMs).toBe(dayStartMs);
    // Same known set → same array: a strategy hashing its prices re-plans only when prices arrive.
    expect(book.knownAt(dayStartMs + 14 * HOUR_MS)).toBe(at);
  });

  it('with perfect price knowledge, every later price is known', () => {
    const book = dayAheadPriceBook(threeDays, 'perfect');
    expect(book.knownAt(dayStartMs).length).toBe(3 * 48);
  });

  it('no strategy ever sees a price of a day that is not published yet (every decision of a run)', () => {
    const ctx = prepareBacktest({ series: threeDays, battery: idealBattery, tariff: simpleTariff, site: { timezone: PARIS, limits: LIMITS } });
    let decisions = 0;
    let sawTomorrowBefore13 = 0;
    let sawTomorrowAfter13 = 0;
    runBacktest(ctx, { active: ['null'] }, {
      observe: (state, nowMs) => {
        decisions++;
        const today = localDayIndex(nowMs, PARIS);
        const latest = Math.max(...(state.prices ?? []).map((p) => localDayIndex(p.startMs, PARIS)));
        const isBefore13 = localMinuteOfDay(nowMs, PARIS) < 13 * 60;
        if (latest > today && isBefore13) sawTomorrowBefore13++;
        if (latest > today && !isBefore13) sawTomorrowAfter13++;
        expect(latest).toBeLessThanOrEqual(today + 1);
      },
    });
    expect(decisions).toBe(3 * 96);
    expect(sawTomorrowBefore13).toBe(0);
    expect(sawTomorrowAfter13).toBe(2 * 44); // 13:00–24:00 on the first two days (the third has no tomorrow)
  });

  it('a persistence forecast is yesterday at the same time; a perfect one is the future itself', () => {
    const source = { stepMs: HOUR_MS, startMs: 0, loadW: Array.from({ length: 72 }, (_, k) => k), pvW: new Array<number>(72).fill(0) };
    expect(forecastAt(source, 10, 'persistence', 48)).toBeUndefined();
    const persistence = forecastAt(source, 30, 'persistence', 48);
    expect(persistence?.startMs).toBe(30 * HOUR_MS);
    expect(persistence?.loadW.slice(0, 3)).toEqual([6, 7, 8]);
    expect(persistence?.loadW[23]).toBe(29);
    expect(persistence?.loadW[24]).toBe(6); // 48 h ahead repeats yesterday again
    expect(forecastAt(source, 30, 'perfect', 48)?.loadW.slice(0, 2)).toEqual([30, 31]);
    expect(forecastAt(source, 60, 'perfect', 48)?.loadW).toHaveLength(12);
  });
});

describe('on real data (3 days of the development set, 15 min, exact optimum)', () => {
  const battery = BatteryModelSchema.parse({ capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 });
  const tariff = SimTariffSchema.parse({
    kind: 'dynamic',
    energyTaxEurPerMwh: 100,
    gridFeeEurPerMwh: 50,
    vatPct: 21,
    feedIn: { rule: 'spot' },
    peakDemandEurPerKw: 4,
    batteryWearEurPerMwh: 20,
  });
  let series: SiteSeries;
  let reports: readonly BacktestReport[];
  const selections: StrategySelection[] = [
    ...StrategyNameSchema.options.map((name: StrategyName) => ({ active: [name], configs: REQUIRED_CONFIGS })),
    // Fast controller stressed at sub-steps it is not tuned for (it oscillates between the limits): still no violation.
    { label: 'net-zero@60s', active: ['net-zero'] },
    { label: 'self-consumption+peak-shaving+backup-power', active: ['self-consumption', 'peak-shaving', 'backup-power'], configs: REQUIRED_CONFIGS },
    { label: 'discharge@50%', active: ['discharge'] },
  ];
  beforeAll(async () => {
    series = parseSeriesCsv(fs.readFileSync(DATA_FILE, 'utf8'));
    const input: BacktestInput = {
      series,
      battery,
      tariff,
      site: { timezone: 'Europe/Paris', limits: LIMITS },
      // 12–14 May 2024: negative prices on the 12th and 13th, high evening prices.
      options: { period: { fromMs: Date.UTC(2024, 4, 11, 22), toMs: Date.UTC(2024, 4, 14, 22) } },
    };
    const main = await backtest(input, selections.filter((s) => !s.label), { highs });
    const ctx = prepareBacktest(input);
    const references = main.references;
    const extra = [
      runBacktest(prepareBacktest({ ...input, options: { ...input.options, subStepMs: 60_000 } }), selections[11]!, { references }),
      runBacktest(ctx, selections[12]!, { references }),
      runBacktest(prepareBacktest({ ...input, options: { ...input.options, initialSocPct: 50 } }), selections[13]!),
      // Tight grid: 2.5 kW import limit, 1 kW export limit (the load alone exceeds it at times).
      ...(['charge', 'discharge', 'self-consumption', 'arbitrage'] as const).map((name) =>
        runBacktest(
          prepareBacktest({ ...input, site: { ...input.site, limits: { ...LIMITS, maxImportW: 2_500, maxExportW: 1_000 } }, options: { ...input.options, initialSocPct: 50 } }),
          { label: `${name}@tight-grid`, active: [name] },
        ),
      ),
    ];
    reports = [...main.reports, ...extra];
  }, 60_000);

  it('runs 288 steps for every strategy with a valid config (none skipped)', () => {
    for (const r of reports) {
      expect(r.steps).toBe(288);
      expect(r.skipped).toEqual([]);
    }
  });

  it('no strategy beats the exact optimum (that would be a model mismatch)', () => {
    for (const r of reports.filter((x) => x.optimum)) {
      expect({ label: r.label, beats: r.optimum?.beatsOptimum }).toEqual({ label: r.label, beats: false });
      expect(r.optimum?.gapEur).toBeGreaterThan(-1e-6);
    }
  });

  it('no strategy breaks a battery or grid limit in any step', () => {
    for (const r of reports) expect({ label: r.label, ...r.violations }).toEqual({ label: r.label, steps: 0, batteryPower: 0, socWindow: 0, gridImport: 0, gridExport: 0 });
    expect(reports.some((r) => r.gridOverLimitByLoadSteps > 0)).toBe(true); // the tight grid is really tight
  });

  it('the optimum of the same period replays at its LP cost (model match)', async () => {
    const ctx = prepareBacktest({ series, battery, tariff, site: { timezone: 'Europe/Paris', limits: LIMITS }, options: { period: { fromMs: Date.UTC(2024, 4, 11, 22), toMs: Date.UTC(2024, 4, 12, 22) } } });
    const refs = await solveBacktestReferences(ctx, { highs, peak: false, selfConsumption: false });
    expect(Math.abs(refs.cost?.modelMismatchEur ?? 1)).toBeLessThan(1e-9);
    const replay = evaluateSchedule(ctx.periodSeries, refs.cost?.batteryPowerW ?? [], ctx.battery, tariff, ctx.sim);
    expect(replay.cost.totalEur).toBeCloseTo(refs.cost?.costEur ?? Number.NaN, 9);
  });
});
