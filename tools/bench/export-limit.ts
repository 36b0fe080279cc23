// The feed-in limit on a cloudy day: how many times the PV inverter's limit register changes (each change is a device
// write, and many inverters keep that register in non-volatile memory), and what it costs in curtailed energy and in
// export over the limit. Run:
//   node tools/run-ts.js tools/bench/export-limit.ts        (or `npm run bench -- export-limit`)
//
// A closed loop at 1 s from 10:00 to 16:00: a 6 kW inverter that follows its limit within a tick (whole percent of its
// rating, rounded down as the Growatt profile writes it), a full battery, a 2 kW export limit, a house load with steps,
// and sunshine under passing clouds (deterministic: a seeded generator). Two runs: the limit rising each tick whenever
// there is headroom (`bindingFraction` 1: every inverter always counts as running at its limit, the rule before), and
// rising each tick only while it binds, else once a minute (the defaults). Its inverter is ideal (follows within a
// tick, reports exactly): the figures compare the rules, they say nothing about a device's tolerances.
//
// A second table runs the same days on a plant at 100 ms where the readings are taken at other moments than the tick:
// the grid meter and the inverter each read at their own phase and period, the inverter applying a limit some time
// after it is sent and ramping to it. Paired as read, an inverter read before it followed a fall and a grid reading
// taken after it released the limit, to be started again at the next reading. Pure computation: figures, no timing.
import {
  buildBattery,
  buildSiteState,
  driveExportPlant,
  EXPORT_PLANT_STEP_MS,
  type ExportPlantTiming,
} from '@voltimax/strategies/testing';
import {
  DEFAULT_EXPORT_LIMIT_OPTIONS,
  limitExport,
  type ExportLimitMemory,
  type ExportLimitOptions,
} from '@voltimax/strategies';
import { fmt, out, printTable, record } from './lib-bench';

const RATED_W = 6_000;
const MAX_EXPORT_W = 2_000;
const SECONDS = 6 * 3_600;
const START_MS = Date.parse('2024-06-01T08:00:00Z');

/** A small deterministic generator (mulberry32), so both runs see the same day. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Sunshine and load per second: a clear-sky bell to 5.5 kW, clouds of 20–240 s cutting it to 25–60 %, load steps. */
function cloudyDay(seed: number): { readonly sunW: number[]; readonly loadW: number[] } {
  const random = generator(seed);
  const sunW: number[] = [];
  const loadW: number[] = [];
  let cloudLeftS = 0;
  let clearLeftS = 60;
  let cloudFactor = 1;
  let load = 400;
  for (let s = 0; s < SECONDS; s++) {
    const hour = 10 + s / 3_600;
    const clearW = 5_500 * Math.exp(-(((hour - 13) / 2.2) ** 2));
    if (cloudLeftS > 0) cloudLeftS--;
    else if (clearLeftS > 0) {
      clearLeftS--;
      cloudFactor = 1;
    } else {
      cloudLeftS = 20 + Math.floor(random() * 220);
      clearLeftS = 30 + Math.floor(random() * 600);
      cloudFactor = 0.25 + 0.35 * random();
    }
    if (random() < 1 / 300) load = 250 + Math.floor(random() * 2_500); // a new load every 5 min on average
    sunW.push(clearW * (cloudLeftS > 0 ? cloudFactor : 1));
    loadW.push(load);
  }
  return { sunW, loadW };
}

interface Run {
  readonly writes: number;
  readonly curtailedKwh: number;
  readonly overLimitSeconds: number;
  readonly worstOverW: number;
}

function run(day: ReturnType<typeof cloudyDay>, options: ExportLimitOptions): Run {
  let memory: ExportLimitMemory = {};
  let appliedPct = 100; // the register
  let writes = 0;
  let curtailedWs = 0;
  let overLimitSeconds = 0;
  let worstOverW = 0;
  for (let s = 0; s < SECONDS; s++) {
    const sunW = day.sunW[s] ?? 0;
    const loadW = day.loadW[s] ?? 0;
    const pvW = Math.min(sunW, (appliedPct / 100) * RATED_W);
    const gridW = loadW - pvW;
    curtailedWs += sunW - pvW;
    if (-gridW > MAX_EXPORT_W) {
      overLimitSeconds++;
      worstOverW = Math.max(worstOverW, -gridW - MAX_EXPORT_W);
    }
    const state = buildSiteState({
      gridPowerW: gridW,
      pvPowerW: pvW,
      loadPowerW: loadW,
      batteries: [buildBattery({ socPct: 95, powerW: 0 })],
      pvInverters: [{ assetId: 'pv-1', powerW: pvW, ratedPowerW: RATED_W, quality: 'good', ageMs: 0 }],
      limits: { maxImportW: 17_000, maxExportW: MAX_EXPORT_W, phases: 3, nominalVoltageV: 230 },
    });
    const result = limitExport(
      state,
      { 'bat-1': { kind: 'battery-power', powerW: 0 } },
      memory,
      START_MS + s * 1_000,
      options,
    );
    memory = result.memory;
    const sp = result.setpoints['pv-1'];
    // No set-point: the intent expires and the arbiter writes the safe state (100 %).
    const pct = sp?.kind === 'pv-limit' ? Math.floor((sp.maxPowerW / RATED_W) * 100) : 100;
    if (pct !== appliedPct) {
      writes++;
      appliedPct = pct;
    }
  }
  return { writes, curtailedKwh: curtailedWs / 3_600_000, overLimitSeconds, worstOverW };
}

interface Timing extends ExportPlantTiming {
  readonly name: string;
}

interface TimedRun extends Run {
  readonly starts: number;
  readonly releases: number;
}

function timedRun(day: ReturnType<typeof cloudyDay>, timing: Timing): TimedRun {
  let starts = 0;
  let releases = 0;
  let curtailedWs = 0;
  let overLimitSeconds = 0;
  let worstOverW = 0;
  const second = (offsetMs: number): number => Math.floor(offsetMs / 1_000);
  const { writes } = driveExportPlant({
    timing,
    ratedW: RATED_W,
    maxExportW: MAX_EXPORT_W,
    startMs: START_MS,
    durationMs: SECONDS * 1_000,
    sunW: (offsetMs) => day.sunW[second(offsetMs)] ?? 0,
    loadW: (offsetMs) => day.loadW[second(offsetMs)] ?? 0,
    wholePercent: true,
    onStep: ({ sunW, pvW, gridW }) => {
      curtailedWs += ((sunW - pvW) * EXPORT_PLANT_STEP_MS) / 1_000;
      if (-gridW > MAX_EXPORT_W) {
        overLimitSeconds += EXPORT_PLANT_STEP_MS / 1_000;
        worstOverW = Math.max(worstOverW, -gridW - MAX_EXPORT_W);
      }
    },
    onTick: (_offsetMs, result) => {
      if (result.step === 'start') starts++;
      if (result.reason === 'released') releases++;
    },
  });
  return { writes, starts, releases, curtailedKwh: curtailedWs / 3_600_000, overLimitSeconds, worstOverW };
}

const seeds = [1, 2, 3, 4, 5];
const rows: string[][] = [];
const totals = { before: 0, now: 0 };
for (const seed of seeds) {
  const day = cloudyDay(seed);
  const before = run(day, { ...DEFAULT_EXPORT_LIMIT_OPTIONS, bindingFraction: 1 });
  const now = run(day, DEFAULT_EXPORT_LIMIT_OPTIONS);
  totals.before += before.writes;
  totals.now += now.writes;
  rows.push([
    String(seed),
    String(before.writes),
    String(now.writes),
    `${fmt(before.curtailedKwh, 2)} / ${fmt(now.curtailedKwh, 2)}`,
    `${before.overLimitSeconds} / ${now.overLimitSeconds}`,
    `${fmt(before.worstOverW, 0)} / ${fmt(now.worstOverW, 0)}`,
  ]);
}
out(
  `export-limit: 6 kW PV, full battery, ${MAX_EXPORT_W} W export limit, 10:00–16:00 at 1 s, passing clouds (seeds ${seeds.join(', ')})`,
);
printTable(
  [
    'seed',
    'writes (rise each tick)',
    'writes (each tick while binding)',
    'curtailed kWh',
    's over the limit',
    'worst W over',
  ],
  rows,
);
const ratio = totals.before / Math.max(1, totals.now);
out(
  `export-limit: limit writes per 6 h (10:00–16:00), mean of ${seeds.length}: ${fmt(totals.before / seeds.length, 0)} → ${fmt(totals.now / seeds.length, 0)} (${fmt(ratio, 1)}× fewer)`,
);
record({
  bench: 'export-limit',
  metric: 'pv-limit writes per 6 cloudy hours (mean)',
  value: totals.now / seeds.length,
  unit: 'writes',
});
record({
  bench: 'export-limit',
  metric: 'pv-limit writes, rise each tick ÷ each tick while binding',
  value: ratio,
  unit: '×',
});

const timings: readonly Timing[] = [
  {
    name: 'both read at the tick, applied at once',
    gridPhaseMs: 0,
    gridPeriodMs: 1_000,
    pvPhaseMs: 0,
    pvPeriodMs: 1_000,
    delayMs: 0,
    rampWPerS: Infinity,
  },
  {
    name: 'PV read 100 ms after the tick, applied after 200 ms',
    gridPhaseMs: 0,
    gridPeriodMs: 1_000,
    pvPhaseMs: 100,
    pvPeriodMs: 1_000,
    delayMs: 200,
    rampWPerS: Infinity,
  },
  {
    name: 'same, ramping 3 kW/s',
    gridPhaseMs: 0,
    gridPeriodMs: 1_000,
    pvPhaseMs: 100,
    pvPeriodMs: 1_000,
    delayMs: 200,
    rampWPerS: 3_000,
  },
  {
    name: 'grid read 300 ms, PV 600 ms after the tick, 200 ms',
    gridPhaseMs: 300,
    gridPeriodMs: 1_000,
    pvPhaseMs: 600,
    pvPeriodMs: 1_000,
    delayMs: 200,
    rampWPerS: Infinity,
  },
  {
    name: 'PV read every 5 s, 200 ms, ramping 3 kW/s',
    gridPhaseMs: 0,
    gridPeriodMs: 1_000,
    pvPhaseMs: 300,
    pvPeriodMs: 5_000,
    delayMs: 200,
    rampWPerS: 3_000,
  },
  {
    name: 'grid read every 2 s, PV 100 ms after, 200 ms, 3 kW/s',
    gridPhaseMs: 0,
    gridPeriodMs: 2_000,
    pvPhaseMs: 100,
    pvPeriodMs: 1_000,
    delayMs: 200,
    rampWPerS: 3_000,
  },
  {
    name: 'PV read 500 ms after the tick, applied after 2.5 s',
    gridPhaseMs: 0,
    gridPeriodMs: 1_000,
    pvPhaseMs: 500,
    pvPeriodMs: 1_000,
    delayMs: 2_500,
    rampWPerS: Infinity,
  },
  {
    name: 'grid read 500 ms after the tick, applied after 1.2 s, 2 kW/s',
    gridPhaseMs: 500,
    gridPeriodMs: 1_000,
    pvPhaseMs: 100,
    pvPeriodMs: 1_000,
    delayMs: 1_200,
    rampWPerS: 2_000,
  },
];
const days = seeds.map((seed) => cloudyDay(seed));
const timedRows: string[][] = [];
let worstStarts = 0;
for (const timing of timings) {
  const runs = days.map((day) => timedRun(day, timing));
  const sum = (pick: (run: TimedRun) => number): number => runs.reduce((total, run) => total + pick(run), 0);
  const mean = (pick: (run: TimedRun) => number): number => sum(pick) / runs.length;
  worstStarts = Math.max(worstStarts, ...runs.map((run) => run.starts));
  timedRows.push([
    timing.name,
    fmt(
      mean((run) => run.writes),
      0,
    ),
    `${fmt(
      mean((run) => run.starts),
      1,
    )} / ${fmt(
      mean((run) => run.releases),
      1,
    )}`,
    fmt(
      mean((run) => run.overLimitSeconds),
      1,
    ),
    fmt(Math.max(...runs.map((run) => run.worstOverW)), 0),
    fmt(
      mean((run) => run.curtailedKwh),
      2,
    ),
  ]);
}
out();
out(
  `export-limit: readings at other moments (100 ms plant, the same ${seeds.length} days, default options, means per 6 h)`,
);
printTable(['timing', 'writes', 'starts / releases', 's over the limit', 'worst W over', 'curtailed kWh'], timedRows);
record({
  bench: 'export-limit',
  metric: 'limit starts per 6 h, worst of the timing cases',
  value: worstStarts,
  unit: 'starts',
});
