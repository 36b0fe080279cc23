// Backtest throughput on a synthetic year: the 61 days of ../shared/data repeated to 365 days at 15 min
// (35 040 steps). Run: node tools/run-ts.js tools/bench/backtest.ts   (or `npm run bench` for every bench)
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { StrategyNameSchema } from '@voltimax/contracts';
import {
  BatteryModelSchema,
  type Horizon,
  type SiteSeries,
  SimTariffSchema,
  costOptimumReference,
  loadHighs,
  parseSeriesCsv,
  prepareBacktest,
  runBacktest,
} from '@voltimax/sim';

const DATA = path.resolve(__dirname, '../../../shared/data/fr_lorraine_household_202404_202405_30min.csv');
const STEP_MS = 900_000;
const YEAR_STEPS = 35_040;
const REQUIRED_CONFIGS = {
  'peak-shaving': { mode: 'forecast' },
  'grid-services': { frequencyResponse: { reservedPowerW: 2_500 } },
};

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The data repeated block after block on a continuous 30-min grid, to `steps15` quarter hours. */
function syntheticYear(data: SiteSeries, steps15: number): SiteSeries {
  const first = data.points[0]?.atMs ?? 0;
  const count = steps15 / 2;
  const points = Array.from({ length: count }, (_, k) => {
    const p = data.points[k % data.points.length];
    return { atMs: first + k * data.stepMs, loadW: p?.loadW ?? 0, pvW: p?.pvW ?? 0, priceEurPerMwh: p?.priceEurPerMwh ?? 0 };
  });
  return { stepMs: data.stepMs, points };
}

async function main(): Promise<void> {
  const series = syntheticYear(parseSeriesCsv(readFileSync(DATA, 'utf8')), YEAR_STEPS);
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
  const site = { timezone: 'Europe/Paris', limits: { maxImportW: 9_000, maxExportW: 6_000, phases: 1 as const, nominalVoltageV: 230 } };
  let t = performance.now();
  const ctx = prepareBacktest({ series, battery, tariff, site, options: { stepMs: STEP_MS } });
  out(`backtest: synthetic year ${ctx.periodSeries.points.length} steps of 15 min (61 days of ../shared/data repeated), node ${process.version}`);
  out(`backtest: prepare (resample, price book, idle baseline): ${((performance.now() - t) / 1000).toFixed(2)} s`);

  t = performance.now();
  const one = runBacktest(ctx, { active: ['self-consumption'] });
  const oneS = (performance.now() - t) / 1000;
  out(`backtest: one strategy (self-consumption), year: ${oneS.toFixed(2)} s, ${Math.round(one.steps / oneS)} steps/s`);

  t = performance.now();
  const arb = runBacktest(ctx, { active: ['arbitrage'] });
  const arbS = (performance.now() - t) / 1000;
  out(`backtest: one strategy (arbitrage: DP planner, re-plans hourly and when prices arrive), year: ${arbS.toFixed(2)} s, ${Math.round(arb.steps / arbS)} steps/s`);

  t = performance.now();
  const touTariff = SimTariffSchema.parse({
    kind: 'time-of-use',
    energyTaxEurPerMwh: 100,
    gridFeeEurPerMwh: 50,
    vatPct: 21,
    touPeriods: [
      { from: '22:00', to: '06:00', eurPerMwh: 60 },
      { from: '06:00', to: '22:00', eurPerMwh: 140 },
    ],
    feedIn: { rule: 'spot' },
    peakDemandEurPerKw: 4,
    batteryWearEurPerMwh: 20,
  });
  const touCtx = prepareBacktest({ series, battery, tariff: touTariff, site, options: { stepMs: STEP_MS } });
  const tou = runBacktest(touCtx, { active: ['time-of-use'] });
  const touS = (performance.now() - t) / 1000;
  out(`backtest: time-of-use (plan mode, two-period ToU tariff), year: ${touS.toFixed(2)} s, ${Math.round(tou.steps / touS)} steps/s`);

  t = performance.now();
  let steps = 0;
  for (const name of StrategyNameSchema.options) steps += runBacktest(ctx, { active: [name], configs: REQUIRED_CONFIGS }).steps;
  const allS = (performance.now() - t) / 1000;
  out(`backtest: all 11 strategies, year each (15-min decisions, no sub-steps): ${allS.toFixed(2)} s, ${Math.round(steps / allS)} steps/s`);

  const highs = await loadHighs();
  const horizons: [string, Horizon][] = [
    ['full horizon (one LP, exact)', { mode: 'full' }],
    ['rolling 48 h / 24 h', { mode: 'rolling', windowMs: 2 * 86_400_000, commitMs: 86_400_000 }],
  ];
  for (const [label, horizon] of horizons) {
    t = performance.now();
    const ref = await costOptimumReference({ series: ctx.periodSeries, battery: ctx.battery, tariff, sim: ctx.sim, highs }, horizon);
    const s = (performance.now() - t) / 1000;
    out(`backtest: LP optimum, year, ${label}: ${s.toFixed(2)} s, ${Math.round(ctx.periodSeries.points.length / s)} steps/s, cost ${ref.costEur.toFixed(2)} EUR`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${String(err)}\n`);
  process.exitCode = 1;
});
