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
  longestHoldMs,
  meanDemandError,
  type DemandPlant,
  type DemandPlantController,
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

// ---- the reviews' scenarios: where a rule of the estimate has failed before ------------------------------------------

/** A load between 1 and 9 kW, ramping at `wPerS` up and down. */
const triangle =
  (wPerS: number) =>
  (t: number): number => {
    const spanMs = (8_000 / wPerS) * 1_000;
    const phase = (t % (2 * spanMs)) / spanMs;
    return Math.round(1_000 + 8_000 * (phase < 1 ? phase : 2 - phase));
  };
/** A follower that moves its set-point at most `stepW` a tick towards the demand it sees. */
const follower =
  (stepW: number): DemandPlantController =>
  (demandW, lastSentW) =>
    lastSentW + Math.max(-stepW, Math.min(stepW, demandW - lastSentW));
const exportSeconds = (run: DemandPlantRun, overW: number): number =>
  run.gridW.filter(([t, w]) => t >= FROM_MS && w < -overW).length / 10;
const maxGridW = (run: DemandPlantRun): number =>
  Math.max(...run.gridW.filter(([t]) => t >= FROM_MS).map(([, w]) => w));
const setpointSpread = (run: DemandPlantRun): string => {
  const ws = run.setpoints.filter(([t]) => t >= FROM_MS).map(([, w]) => w);
  return `${fmt(Math.min(...ws), 0)}–${fmt(Math.max(...ws), 0)}`;
};

const scDefaults: StrategyConfigs = { 'self-consumption': SelfConsumptionConfigSchema.parse({}) };
const scNoHold: StrategyConfigs = { 'self-consumption': SelfConsumptionConfigSchema.parse({ minHoldMs: 0 }) };
const peak: StrategyConfigs = { 'peak-shaving': PeakShavingConfigSchema.parse({ thresholdW: 2_000 }) };
const twoBatteries = [{ batteryPhaseMs: 200 }, { batteryPhaseMs: 700 }];
const jitterDrop = (t: number): number => (t < 10_000 ? 3_000 : t < 10_100 ? 3_080 : t < 10_500 ? 2_960 : 1_000);

interface Scenario {
  readonly name: string;
  readonly plant: DemandPlant;
  readonly active: StrategyName | DemandPlantController;
  readonly configs: StrategyConfigs;
  readonly durationMs: number;
  /** The figure that says how it went: [label, value of a run]. */
  readonly figure: readonly [string, (run: DemandPlantRun) => string];
}

const exchangeFigure = ['grid exchange', (run: DemandPlantRun) => fmt(gridExchange(run, FROM_MS) / 1_000, 0)] as const;
const scenarios: readonly Scenario[] = [
  ...[undefined, 10_000, 30_000].map(
    (responseMs): Scenario => ({
      name: `jitter (+80, −120 W), then 3 → 1 kW; zero export; responseMs ${responseMs ?? 'default'}`,
      plant: { ...base, loadW: jitterDrop, maxExportW: 0, ...(responseMs === undefined ? {} : { responseMs }) },
      active: 'self-consumption',
      configs: scDefaults,
      durationMs: 45_000,
      figure: ['s exporting > 500 W', (run) => fmt(exportSeconds(run, 500), 1)],
    }),
  ),
  {
    name: 'two batteries read 0.5 s apart, load ramping 1 kW/s, self-consumption without hold',
    plant: { ...base, batteries: twoBatteries, loadW: triangle(1_000) },
    active: 'self-consumption',
    configs: scNoHold,
    durationMs: DURATION_MS,
    figure: exchangeFigure,
  },
  {
    name: 'two batteries read 0.5 s apart, load 1 → 9 kW at 1 kW/s from 20 s, self-consumption without hold',
    plant: { ...base, batteries: twoBatteries, loadW: (t) => Math.round(Math.min(9_000, Math.max(1_000, t - 19_000))) },
    active: 'self-consumption',
    configs: scNoHold,
    durationMs: 60_000,
    figure: exchangeFigure,
  },
  {
    name: 'two batteries read 0.5 s apart, load ramping 1 kW/s, peak shaving 2 kW',
    plant: { ...base, batteries: twoBatteries, loadW: triangle(1_000) },
    active: 'peak-shaving',
    configs: peak,
    durationMs: DURATION_MS,
    figure: ['energy above 2 kW', (run) => fmt(gridAbove(run, 2_000) / 1_000, 0)],
  },
  {
    name: 'two batteries ramped 1 kW/s, read 0.5 s apart, load ramping 1 kW/s, self-consumption without hold',
    plant: { ...base, rampWPerS: 1_000, batteries: twoBatteries, loadW: triangle(1_000) },
    active: 'self-consumption',
    configs: scNoHold,
    durationMs: DURATION_MS,
    figure: exchangeFigure,
  },
  {
    name: 'two batteries, responseMs 10 s, load ramping 1 kW/s, self-consumption (defaults): longest hold',
    plant: { ...base, responseMs: 10_000, batteries: twoBatteries, loadW: triangle(1_000) },
    active: 'self-consumption',
    configs: scDefaults,
    durationMs: DURATION_MS,
    figure: ['longest hold s', (run) => fmt(longestHoldMs(run, FROM_MS) / 1_000, 1)],
  },
  {
    name: 'one battery, responseMs 10 s, load ramping 900 W/s, self-consumption without hold',
    plant: { ...base, responseMs: 10_000, loadW: triangle(900) },
    active: 'self-consumption',
    configs: scNoHold,
    durationMs: DURATION_MS,
    figure: ['max grid W', (run) => fmt(maxGridW(run), 0)],
  },
  {
    name: 'a follower limited to 99 W a tick, load 3 000 ± 150 W, read every 1 s, 1 s delay',
    plant: {
      ...base,
      delayMs: 1_000,
      loadW: (t) => 3_000 + Math.round(150 * Math.sin(t / 700) * Math.cos(t / 2_300)),
    },
    active: follower(99),
    configs: {},
    durationMs: DURATION_MS,
    figure: ['set-points W', setpointSpread],
  },
  {
    name: 'a follower limited to 99 W a tick, load 3 000 ± 150 W, read every 5 s, 2.5 s delay',
    plant: {
      ...base,
      batteryPollMs: 5_000,
      delayMs: 2_500,
      loadW: (t) => 3_000 + Math.round(150 * Math.sin(t / 700) * Math.cos(t / 2_300)),
    },
    active: follower(99),
    configs: {},
    durationMs: 600_000,
    figure: ['set-points W', setpointSpread],
  },
  ...[1_000, 5_000].map(
    (batteryPollMs): Scenario => ({
      name: `a battery delivering 97 %, read every ${batteryPollMs / 1_000} s; zero export; load 6.5 → 0.5 kW every 20 s, at 5 phases`,
      plant: { ...base, batteryPollMs, trackFraction: 0.97, maxExportW: 0, loadW: () => 0 },
      active: 'self-consumption',
      configs: scDefaults,
      durationMs: 0,
      figure: ['s exporting > 500 W', () => ''],
    }),
  ),
  {
    name: 'a BMS derate to 0 W in alternate 11 s, battery read every 2 s, load 4 kW ± 300 W; zero export; self-consumption (defaults)',
    plant: {
      ...base,
      batteryPollMs: 2_000,
      dischargeCapAt: (t) => (Math.floor(t / 11_000) % 2 === 1 ? 0 : 10_000),
      maxExportW: 0,
      loadW: (t) => 4_000 + Math.round(300 * Math.sin(t / 5_000)),
    },
    active: 'self-consumption',
    configs: scDefaults,
    durationMs: DURATION_MS,
    figure: [
      's importing > 1.5 kW',
      (run) => fmt(run.gridW.filter(([t, w]) => t >= FROM_MS && w > 1_500).length / 10, 1),
    ],
  },
  {
    name: 'a cap of 2 kW in alternate 7 s, load 5.4 kW, NetZero: the demand its layers see',
    plant: { ...base, dischargeCapAt: (t) => (Math.floor(t / 7_000) % 2 === 1 ? 2_000 : 10_000), loadW: () => 5_400 },
    active: 'net-zero',
    configs: { 'net-zero': NetZeroConfigSchema.parse({}) },
    durationMs: DURATION_MS,
    figure: ['mean |error| W', (run) => fmt(meanDemandError(run, FROM_MS), 0)],
  },
  {
    name: 'a follower limited to 99 W a tick, load stepping 180 W every 5 s, read every 1 s, 1 s delay',
    plant: { ...base, delayMs: 1_000, loadW: (t) => 3_000 + (Math.floor(t / 5_000) % 2) * 180 },
    active: follower(99),
    configs: {},
    durationMs: DURATION_MS,
    figure: ['mean |error| W', (run) => fmt(meanDemandError(run, FROM_MS), 0)],
  },
  {
    name: 'a battery ramped 5 kW/s, capped at 2 kW, ±160 W reading noise; zero export; load 5 → 0.5 kW each 20 s',
    plant: {
      ...base,
      rampWPerS: 5_000,
      dischargeCapW: 2_000,
      readingNoiseW: 160,
      maxExportW: 0,
      loadW: (t) => (Math.floor(t / 20_000) % 2 === 0 ? 5_000 : 500),
    },
    active: 'self-consumption',
    configs: scNoHold,
    durationMs: DURATION_MS,
    figure: ['s exporting > 300 W', (run) => fmt(exportSeconds(run, 300), 1)],
  },
];

out();
out("demand-estimate: the reviews' scenarios (estimate | latest readings)");
printTable(
  ['scenario', 'figure', 'estimate', 'latest readings'],
  scenarios.map((sc) => {
    if (sc.durationMs === 0) {
      // A phase sweep: the load drops 0.5 … 4.5 s after a battery reading; the seconds of export summed.
      const sweep = (withEstimate: boolean): string => {
        let seconds = 0;
        for (const offsetMs of [500, 1_500, 2_500, 3_500, 4_500]) {
          const loadW = (t: number): number => (Math.floor((t - offsetMs) / 20_000) % 2 === 0 ? 6_500 : 500);
          const run = driveDemandPlant({ ...sc.plant, loadW }, sc.active, sc.configs, DURATION_MS, withEstimate);
          seconds += exportSeconds(run, 500);
        }
        return fmt(seconds, 1);
      };
      return [sc.name, sc.figure[0], sweep(true), sweep(false)];
    }
    const run = driveDemandPlant(sc.plant, sc.active, sc.configs, sc.durationMs);
    const plain = driveDemandPlant(sc.plant, sc.active, sc.configs, sc.durationMs, false);
    return [sc.name, sc.figure[0], sc.figure[1](run), sc.figure[1](plain)];
  }),
);
