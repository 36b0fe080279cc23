// The net demand from meters polled apart (libs/strategies `estimateDemand`, combine § 0): how far the demand the
// strategies see is from the true one, and how much energy goes through the grid connection, with the estimate and
// with the latest readings as they are (grid + battery, the battery read up to a poll period earlier). Run:
//   node tools/run-ts.js tools/bench/demand-estimate.ts        (or `npm run bench -- demand-estimate`)
//
// The simulated site of demand.closed-loop.spec.ts (`driveDemandPlant`): grid read every 100 ms, the battery once a
// second, 50 ms before a grid reading, 300 ms from set-point to effect; batteries that step, that lag (first order,
// 800 ms), that the arbiter ramps (300 and 1 000 W/s), capped at 2 kW; loads that step (every 15 s, and a kettle every
// 7 s), that swing slowly (4 kW over 9 s), and that wander (±800 W); self-consumption without and with its 10 s hold,
// peak shaving at 2 kW and NetZero. Deterministic; pure computation: figures, no timing. Ratios below 1 favour the
// estimate.
import {
  driveDemandPlant,
  gridExchange,
  meanDemandError,
  type DemandPlant,
  type DemandPlantRun,
} from '@voltimax/strategies/testing';
import {
  NetZeroConfigSchema,
  PeakShavingConfigSchema,
  SelfConsumptionConfigSchema,
  type StrategyConfigs,
} from '@voltimax/strategies';
import type { StrategyName } from '@voltimax/contracts';
import { fmt, median, out, printTable, record } from './lib-bench';

const DURATION_MS = 120_000;
const FROM_MS = 10_000;

const loads: Readonly<Record<string, (t: number) => number>> = {
  'steps (15 s)': (t) => [1_000, 5_000, 2_000, 6_000, 500, 4_000][Math.floor(t / 15_000) % 6] ?? 0,
  'kettle (7 s)': (t) => (Math.floor(t / 7_000) % 2 === 0 ? 1_000 : 3_000),
  'slow swing': (t) => Math.round(1_000 + 4_000 * Math.sin(t / 9_000)),
  wandering: (t) => 3_000 + Math.round(800 * Math.sin(t / 1_300) * Math.cos(t / 4_100)),
};

const batteries: Readonly<Record<string, Partial<DemandPlant>>> = {
  'steps at once': {},
  'lags 800 ms': { lagMs: 800 },
  'ramped 300 W/s': { rampWPerS: 300 },
  'ramped 1 kW/s': { rampWPerS: 1_000 },
  'capped at 2 kW': { dischargeCapW: 2_000 },
};

const strategies: readonly (readonly [string, StrategyName, StrategyConfigs])[] = [
  [
    'self-consumption, no hold',
    'self-consumption',
    { 'self-consumption': SelfConsumptionConfigSchema.parse({ minHoldMs: 0 }) },
  ],
  ['self-consumption (defaults)', 'self-consumption', { 'self-consumption': SelfConsumptionConfigSchema.parse({}) }],
  ['peak shaving 2 kW', 'peak-shaving', { 'peak-shaving': PeakShavingConfigSchema.parse({ thresholdW: 2_000 }) }],
  ['net zero', 'net-zero', { 'net-zero': NetZeroConfigSchema.parse({}) }],
];

const base: DemandPlant = {
  batteryPollMs: 1_000,
  batteryPhaseMs: 200,
  delayMs: 300,
  dischargeCapW: 10_000,
  loadW: () => 0,
};

/** Peak shaving does not follow the demand below its threshold: its grid exchange is the load's, so it is measured
 * by the grid above the threshold instead. */
const gridAbove = (run: DemandPlantRun, thresholdW: number): number =>
  run.gridW.filter(([t]) => t >= FROM_MS).reduce((sum, [, w]) => sum + Math.max(0, w - thresholdW), 0);

const rows: string[][] = [];
const errorRatios: number[] = [];
const exchangeRatios: number[] = [];
let worstExchange = { ratio: 0, what: '' };
for (const [strategyLabel, name, configs] of strategies)
  for (const [batteryLabel, battery] of Object.entries(batteries))
    for (const [loadLabel, loadW] of Object.entries(loads)) {
      const plant: DemandPlant = { ...base, ...battery, loadW };
      const run = driveDemandPlant(plant, name, configs, DURATION_MS);
      const plain = driveDemandPlant(plant, name, configs, DURATION_MS, false);
      const error = meanDemandError(run, FROM_MS);
      const plainError = meanDemandError(plain, FROM_MS);
      const exchange = name === 'peak-shaving' ? gridAbove(run, 2_000) : gridExchange(run, FROM_MS);
      const plainExchange = name === 'peak-shaving' ? gridAbove(plain, 2_000) : gridExchange(plain, FROM_MS);
      const ratio = plainExchange > 0 ? exchange / plainExchange : exchange > 0 ? Number.POSITIVE_INFINITY : 1;
      errorRatios.push(plainError > 0 ? error / plainError : 1);
      exchangeRatios.push(ratio);
      if (ratio > worstExchange.ratio)
        worstExchange = { ratio, what: `${strategyLabel}, ${batteryLabel}, ${loadLabel}` };
      rows.push([
        strategyLabel,
        batteryLabel,
        loadLabel,
        fmt(error, 0),
        fmt(plainError, 0),
        Number.isFinite(ratio) ? fmt(ratio, 2) : '∞',
      ]);
    }

out(`demand-estimate: ${rows.length} runs of ${DURATION_MS / 1_000} s, figures from ${FROM_MS / 1_000} s on`);
printTable(
  [
    'strategy',
    'battery',
    'load',
    'mean |error| W (estimate)',
    'mean |error| W (latest readings)',
    'grid exchange ratio¹',
  ],
  rows,
);
out('¹ estimate / latest readings: energy through the grid connection; for peak shaving, energy above the threshold.');
const medianError = median(errorRatios);
const medianExchange = median(exchangeRatios.filter(Number.isFinite));
const better = exchangeRatios.filter((r) => r < 0.95).length;
const worse = exchangeRatios.filter((r) => r > 1.05).length;
out(
  `demand-estimate: median error ratio ${fmt(medianError, 2)}, median grid exchange ratio ${fmt(medianExchange, 2)}; ` +
    `exchange better by > 5 % in ${better}, worse by > 5 % in ${worse} of ${rows.length}; worst ${fmt(worstExchange.ratio, 2)} (${worstExchange.what})`,
);
record({
  bench: 'demand-estimate',
  metric: 'median demand error, estimate / latest',
  value: medianError,
  unit: 'ratio',
});
record({
  bench: 'demand-estimate',
  metric: 'median grid exchange, estimate / latest',
  value: medianExchange,
  unit: 'ratio',
});
record({
  bench: 'demand-estimate',
  metric: 'worst grid exchange, estimate / latest',
  value: worstExchange.ratio,
  unit: 'ratio',
});
