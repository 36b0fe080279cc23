import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { runCli } from '../program';
import { TRACE_CSV_HEADER, autoSubStepMs, localMidnightMs, num, parseDurationMs } from './backtest';
import { DEFAULT_DATA_FILE } from './backtest-defaults';
import { renderDaySvg } from './backtest-svg';

interface Captured {
  out: string[];
  err: string[];
  files: Map<string, string>;
}

function capture(over: { isStderrTty?: boolean; nowMs?: () => number; inputs?: Record<string, string> } = {}) {
  const c: Captured = { out: [], err: [], files: new Map() };
  return {
    c,
    io: {
      stdout: (t: string) => void c.out.push(t),
      stderr: (t: string) => void c.err.push(t),
      readFile: async (p: string) =>
        over.inputs && p in over.inputs ? (over.inputs[p] as string) : readFile(p, 'utf8'),
      writeFile: async (p: string, text: string) => void c.files.set(p, text),
      isStderrTty: over.isStderrTty ?? false,
      ...(over.nowMs ? { nowMs: over.nowMs } : {}),
    },
  };
}

/** One day of the shared development data: 12 May 2024 (negative prices, sunny). */
const ONE_DAY = ['--from', '2024-05-12', '--to', '2024-05-12'];

describe('voltimax backtest', () => {
  it('prints the results table with the baseline and the exact optimum, and writes JSON and one SVG per strategy', async () => {
    const { c, io } = capture();
    const code = await runCli(
      [
        'backtest',
        ...ONE_DAY,
        '--strategy',
        'self-consumption,arbitrage',
        '--json',
        'out.json',
        '--svg',
        'day.svg',
        '--day',
        '2024-05-12',
        '--trace',
        'steps.csv',
      ],
      io,
    );
    const text = c.out.join('');
    expect(c.err.join('')).toBe('');
    expect(code).toBe(0);
    expect(text).toMatch(/^backtest 2024-05-12 … 2024-05-12 \(1 day, 96 steps of 15 min\)/);
    expect(text).toMatch(/baseline \(battery idle\): \d+\.\d\d EUR; optimum \(full horizon, exact\): \d+\.\d\d EUR/);
    expect(text).toMatch(
      /strategy\s+cost EUR\s+savings %\s+% of optimum\s+peak kW\s+peak cut %\s+SC %\s+SC % of max\s+cycles\s+violations/,
    );
    expect(text).toMatch(/\nself-consumption\s+\d+\.\d\d\s+\d+\.\d\s+\d+\.\d/);
    expect(text).toMatch(/\narbitrage\s+/);

    const json = JSON.parse(c.files.get('out.json') ?? '{}') as {
      baselineCostEur: number;
      references: { cost: { costEur: number; horizon: { mode: string } } };
      reports: {
        label: string;
        cost: { totalEur: number };
        violations: { steps: number };
        optimum: { beatsOptimum: boolean };
      }[];
    };
    expect(json.references.cost.horizon.mode).toBe('full');
    expect(json.reports.map((r) => r.label)).toEqual(['self-consumption', 'arbitrage']);
    for (const r of json.reports) {
      expect(r.violations.steps).toBe(0);
      expect(r.optimum.beatsOptimum).toBe(false);
      expect(r.cost.totalEur).toBeGreaterThanOrEqual(json.references.cost.costEur - 1e-6);
    }
    const svg = c.files.get('day-self-consumption.svg') ?? '';
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    for (const label of [
      'load',
      'PV',
      'grid (+ import)',
      'battery (+ discharge)',
      'SoC of the optimum',
      'day-ahead price',
      'power (kW)',
      'local time (Europe/Paris)',
    ]) {
      expect(svg).toContain(`>${label}</text>`);
    }
    expect(c.files.has('day-arbitrage.svg')).toBe(true);
    // Several runs: one trace each, named after the run.
    expect(c.files.get('steps-arbitrage.csv')?.split('\n')).toHaveLength(98);
    expect(c.files.has('steps-self-consumption.csv')).toBe(true);
  }, 20_000);

  it('--trace writes every step as CSV: the balance holds on each row, the SoC beside the optimum’s', async () => {
    const { c, io } = capture();
    const code = await runCli(['backtest', ...ONE_DAY, '--strategy', 'self-consumption', '--trace', 'steps.csv'], io);
    expect(c.err.join('')).toBe('');
    expect(code).toBe(0);
    expect(c.out.join('')).toContain('wrote steps.csv\n');
    const [header, ...rows] = (c.files.get('steps.csv') ?? '').trimEnd().split('\n');
    expect(header).toBe(TRACE_CSV_HEADER);
    expect(rows).toHaveLength(96);
    const cells = rows.map((r) => r.split(','));
    // 12 May 2024, 00:00 in Paris is 22:00 UTC the day before.
    expect(cells[0]?.slice(0, 2)).toEqual(['2024-05-11T22:00:00.000Z', '2024-05-12 00:00']);
    expect(cells[95]?.[1]).toBe('2024-05-12 23:45');
    for (const row of cells) {
      const [load, pv, grid, battery] = row.slice(2, 6).map(Number) as [number, number, number, number];
      expect(Math.abs(grid - (load - pv - battery))).toBeLessThanOrEqual(2);
      const soc = Number(row[7]);
      expect(soc).toBeGreaterThanOrEqual(10 - 1e-9);
      expect(soc).toBeLessThanOrEqual(95 + 1e-9);
      expect(row[8]).toMatch(/^\d+\.\d\d$/);
      expect(row[10]).toMatch(/^[a-z-]+$/);
    }
    // Self-consumption stores the sunny day's surplus: the SoC rises above the floor.
    expect(Math.max(...cells.map((row) => Number(row[7])))).toBeGreaterThan(50);
  }, 20_000);

  it('--strategy all runs the 11 strategies and none breaks a limit', async () => {
    const { c, io } = capture();
    const code = await runCli(['backtest', ...ONE_DAY, '--strategy', 'all', '--substep', '15m'], io);
    const text = c.out.join('');
    expect(code).toBe(0);
    const rows = text.split('\n').filter((line) => /^[a-z-]+\s+-?\d+\.\d\d\s/.test(line));
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual([
      'null',
      'charge',
      'discharge',
      'net-zero',
      'peak-shaving',
      'time-of-use',
      'self-consumption',
      'grid-services',
      'arbitrage',
      'backup-power',
      'ev-charging',
    ]);
    for (const row of rows) expect(row.trim().endsWith(' 0')).toBe(true);
  }, 20_000);

  it.each([
    ['the autumn change (25-hour 27 Oct 2024)', Date.UTC(2024, 8, 30, 22), '2024-10-26', '2024-10-28'],
    ['the spring change (23-hour 30 Mar 2025)', Date.UTC(2025, 1, 28, 23), '2025-03-29', '2025-03-31'],
  ])('runs every strategy over %s on the development data moved there: no limit broken', async (_, startMs, from, to) => {
    // The held-out months may cross a clock change the development data (April, May) does not.
    const dev = await readFile(path.resolve(__dirname, '../../../..', DEFAULT_DATA_FILE), 'utf8');
    const [header, ...rows] = dev.trim().split('\n');
    const moved = [
      header,
      ...rows.map((row, k) => `${new Date(startMs + k * 1_800_000).toISOString()}${row.slice(row.indexOf(','))}`),
    ].join('\n');
    const { c, io } = capture({ inputs: { 'moved.csv': moved } });
    const args = ['backtest', '--data', 'moved.csv', '--from', from, '--to', to, '--strategy', 'all', '--substep', '15m'];
    expect(await runCli([...args, '--json', 'moved.json'], io)).toBe(0);
    const rows11 = c.out.join('').split('\n').filter((line) => /^[a-z-]+\s+-?\d+\.\d\d\s/.test(line));
    expect(rows11).toHaveLength(11);
    for (const row of rows11) expect(row.trim().endsWith(' 0')).toBe(true);
    // Three local days: 71 or 73 hours of quarter-hour steps, none of them lost or doubled.
    const json = JSON.parse(c.files.get('moved.json') ?? '{}') as { fromMs: number; toMs: number };
    expect((json.toMs - json.fromMs) / 3_600_000).toBe(from.startsWith('2024') ? 73 : 71);
  }, 60_000);

  it('runs NetZero on 2-s sub-steps by default (--substep auto), the others once per step', async () => {
    expect(autoSubStepMs(['net-zero'], 900_000)).toBe(2_000);
    expect(autoSubStepMs(['self-consumption'], 900_000)).toBe(900_000);
    expect(autoSubStepMs(['self-consumption', 'peak-shaving'], 900_000)).toBe(900_000);
    expect(autoSubStepMs(['peak-shaving', 'net-zero'], 900_000)).toBe(2_000);
    const { c, io } = capture();
    expect(await runCli(['backtest', ...ONE_DAY, '--strategy', 'net-zero', '--json', 'nz.json'], io)).toBe(0);
    expect(c.out.join('')).toContain('sub-steps: net-zero every 2 s (load/PV hold inside each step)');
    const json = JSON.parse(c.files.get('nz.json') ?? '{}') as { reports: { subStepMs: number; decisions: number }[] };
    expect(json.reports[0]).toMatchObject({ subStepMs: 2_000, decisions: 96 * 450 });
  }, 20_000);

  it('combines strategies with + and takes configs inline', async () => {
    const { c, io } = capture();
    const code = await runCli(
      [
        'backtest',
        ...ONE_DAY,
        '--strategy',
        'self-consumption+peak-shaving',
        '--config',
        '{"peak-shaving":{"thresholdW":1500}}',
        '--horizon',
        'rolling',
      ],
      io,
    );
    expect(code).toBe(0);
    expect(c.out.join('')).toMatch(/optimum \(rolling 48 h \/ 24 h, not a strict bound\)/);
    expect(c.out.join('')).toMatch(/\nself-consumption\+peak-shaving\s+\d/);
  });

  it('--mpc adds the exact LP planner with the strategies’ information; with perfect foresight it is the optimum', async () => {
    const { c, io } = capture();
    const code = await runCli(
      ['backtest', ...ONE_DAY, '--strategy', 'null', '--forecast', 'perfect', '--prices', 'perfect', '--mpc', '--json', 'mpc.json'],
      io,
    );
    expect(code).toBe(0);
    expect(c.out.join('')).toMatch(
      /lp planner with the strategies' information \(--mpc: exact LP re-solved every step, forecast perfect, prices perfect\): -?\d+\.\d\d EUR, 100\.0 % of the optimum/,
    );
    const json = JSON.parse(c.files.get('mpc.json') ?? '{}') as { mpcReference?: { solves: number; failedSolves: number } };
    expect(json.mpcReference).toMatchObject({ solves: 96, failedSolves: 0 });
  }, 60_000);

  it('--seed-history starts the planners with the days before --from (and needs some)', async () => {
    const { c, io } = capture();
    const week = ['--from', '2024-04-08', '--to', '2024-04-14', '--strategy', 'arbitrage', '--prices', 'perfect'];
    expect(await runCli(['backtest', ...week, '--seed-history', '--json', 'seeded.json'], io)).toBe(0);
    expect(c.out.join('')).toMatch(/planners seeded with the 7 \(UTC\) days before the period/);
    const seeded = JSON.parse(c.files.get('seeded.json') ?? '{}') as { seedHistory: boolean; reports: { cost: { totalEur: number } }[] };
    expect(seeded.seedHistory).toBe(true);
    expect(await runCli(['backtest', ...week, '--json', 'blind.json'], io)).toBe(0);
    const blind = JSON.parse(c.files.get('blind.json') ?? '{}') as { seedHistory: boolean; reports: { cost: { totalEur: number } }[] };
    expect(blind.seedHistory).toBe(false);
    // The week's scenarios and profile from the first day on change what the planner does.
    expect(seeded.reports[0]?.cost.totalEur).not.toBeCloseTo(blind.reports[0]?.cost.totalEur ?? 0, 2);

    const none = capture();
    expect(await runCli(['backtest', ...ONE_DAY.map((d) => (d === '2024-05-12' ? '2024-04-01' : d)), '--seed-history'], none.io)).toBe(2);
    expect(none.c.err.join('')).toMatch(/--seed-history needs data before the period/);
  }, 60_000);

  it('draws a progress bar on a terminal once the run takes longer than a second', async () => {
    let t = 0;
    const { c, io } = capture({ isStderrTty: true, nowMs: () => (t += 400) });
    expect(await runCli(['backtest', ...ONE_DAY, '--strategy', 'null'], io)).toBe(0);
    const err = c.err.join('');
    expect(err).toMatch(/\r\[#*\.*\]\s+\d+% /);
    expect(err.endsWith('\r')).toBe(true);
  });

  it('stays quiet on stderr when it is not a terminal', async () => {
    let t = 0;
    const { c, io } = capture({ isStderrTty: false, nowMs: () => (t += 10_000) });
    expect(await runCli(['backtest', ...ONE_DAY, '--strategy', 'null'], io)).toBe(0);
    expect(c.err).toEqual([]);
  });

  it('fills intervals missing from a CSV and empty cells, and says so; --no-fill-gaps refuses them', async () => {
    const dev = await readFile(path.resolve(__dirname, '../../../..', DEFAULT_DATA_FILE), 'utf8');
    const lines = dev.split('\n');
    const at = (ts: string): number => lines.findIndex((l) => l.startsWith(ts));
    const gap = at('2024-05-12T08:00:00Z');
    const empty = at('2024-05-12T15:00:00Z');
    lines[empty] = (lines[empty] ?? '').replace(/^([^,]+),([^,]+),[^,]+,/, '$1,$2,,');
    const gappy = [...lines.slice(0, gap), ...lines.slice(gap + 4)].join('\n');
    const { c, io } = capture({ inputs: { 'gappy.csv': gappy } });
    expect(await runCli(['backtest', ...ONE_DAY, '--data', 'gappy.csv', '--strategy', 'null'], io)).toBe(0);
    expect(c.out.join('')).toContain(
      'note: gappy.csv: filled 13 values of 4 missing intervals in 1 gap, the longest 4 from 2024-05-12T08:00:00.000Z and 1 empty cell; by 12 previous day same time, 1 linear interpolation; used as measured (--no-fill-gaps refuses them)',
    );
    const refused = capture({ inputs: { 'gappy.csv': gappy } });
    expect(await runCli(['backtest', ...ONE_DAY, '--data', 'gappy.csv', '--no-fill-gaps'], refused.io)).toBe(2);
    const err = refused.c.err.join('');
    expect(err).toContain(
      'column "timestamp": 4 intervals missing before this row (2024-05-12T08:00:00.000Z to 2024-05-12T09:30:00.000Z)',
    );
    expect(err).toMatch(/column "pv_w": expected a number, got ""/);
  });

  it.each([
    [['--strategy', 'frobnicate'], /unknown strategy 'frobnicate'/],
    [
      ['--strategy', 'peak-shaving', '--config', '{"peak-shaving":{"thresholdW":-1}}'],
      /strategy 'peak-shaving': invalid configuration/,
    ],
    [['--forecast', 'crystal-ball'], /--forecast must be one of perfect, persistence/],
    [['--step', '7 parsecs'], /--step must be a duration/],
    [['--substep', '7m'], /--substep must be 'auto' or a duration dividing the step/],
    [['--data', '/nonexistent/x.csv'], /cannot read \/nonexistent\/x.csv: ENOENT/],
    [['--from', '2024-02-30'], /--from must be YYYY-MM-DD/],
    [['--from', '2024-05-13'], /--to 2024-05-12 is before --from 2024-05-13/],
    [['--from', '2024-06-10', '--to', '2024-06-11'], /--from 2024-06-10 is after the data: \S+ covers 2024-04-01 – 2024-05-31/],
    [['--from', '2024-03-01', '--to', '2024-03-02'], /--to 2024-03-02 is before the data: \S+ covers 2024-04-01 – 2024-05-31/],
    [['--svg', 'x.svg', '--day', '2024-05-14'], /--day 2024-05-14 is outside the simulated period, 2024-05-12 – 2024-05-12/],
    [['--tariff', 'bad.json'], /invalid tariff bad.json/],
    [['--trace', 'steps.txt'], /--trace must name a .csv file/],
  ])('rejects %j with exit 2', async (args, message) => {
    const { c, io } = capture({ inputs: { 'bad.json': '{"kind":"fixed"}' } });
    expect(await runCli(['backtest', ...ONE_DAY, ...args], io)).toBe(2);
    expect(c.err.join('')).toMatch(message);
  });

  it('documents its defaults in the help', async () => {
    const { c, io } = capture();
    expect(await runCli(['backtest', '--help'], io)).toBe(0);
    const help = c.out.join('');
    expect(help).toContain('fr_lorraine_household_202404_202405_30min.csv');
    expect(help).toContain('10 kWh, 5 kW');
    expect(help).toContain('4 EUR/kW monthly peak charge');
    expect(help).toContain('Exit codes');
  });
});

describe('backtest helpers', () => {
  it('prints a figure that rounds to zero without a sign (a strategy that did nothing: 0.0, not -0.0)', () => {
    expect([num(-0.0001, 1), num(-0, 2), num(0.04, 1), num(-0.05, 1), num(-12.5, 1), num(null, 1)]).toEqual([
      '0.0',
      '0.00',
      '0.0',
      '-0.1',
      '-12.5',
      '—',
    ]);
  });

  it.each([
    ['15m', 900_000],
    ['2s', 2_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['15', undefined],
    ['0s', undefined],
  ])('parses the duration %s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it('finds local midnight across DST (Europe/Paris)', () => {
    expect(localMidnightMs('2024-04-01', 'Europe/Paris')).toBe(Date.UTC(2024, 2, 31, 22));
    expect(localMidnightMs('2024-01-15', 'Europe/Paris')).toBe(Date.UTC(2024, 0, 14, 23));
    expect(localMidnightMs('2024-03-31', 'Europe/Paris')).toBe(Date.UTC(2024, 2, 30, 23));
  });

  it('renders a 23-hour DST day with the wall-clock hour ticks', () => {
    const fromMs = Date.UTC(2024, 2, 30, 23);
    const toMs = Date.UTC(2024, 2, 31, 22);
    const steps = Array.from({ length: 23 * 4 }, (_, k) => ({
      atMs: fromMs + k * 900_000,
      loadW: 500,
      pvW: 0,
      gridW: 500,
      batteryW: 0,
      socPct: 10,
      spotEurPerMwh: 50,
    }));
    const svg = renderDaySvg({
      title: 'a & b',
      timezone: 'Europe/Paris',
      fromMs,
      toMs,
      stepMs: 900_000,
      steps,
      startSocPct: 10,
    });
    expect(svg).toContain('a &amp; b');
    expect(svg).toContain('>03:00</text>');
    expect(svg).toContain('>24:00</text>');
    expect(svg).not.toContain('NaN');
  });
});

/**
 * The bars of issue #6 on the whole development data set (61 days), with the information they need: perfect price
 * knowledge and a perfect load/PV forecast — with a perfect one the strategies must meet them. With the persistence
 * forecast (the bar's condition) they are out of reach (the exact LP planner with that information, `--mpc`, captures
 * 68 %; the first night and a month's peak decided by one heating night: README § Backtest results); there the test
 * holds the figures of the later-month-cap round (Arbitrage 78.5 %, TimeOfUse 75.9 %, PeakShaving 65.0 %,
 * SelfConsumption 99.7 %) so that a change that loses them fails. About a minute.
 */
describe('the bars on the development data (perfect forecast: met; persistence: this round’s figures)', () => {
  const figures = async (args: readonly string[], forecast: 'perfect' | 'persistence' = 'perfect') => {
    const { c, io } = capture();
    expect(await runCli(['backtest', '--prices', 'perfect', '--forecast', forecast, ...args, '--json', 'bars.json'], io)).toBe(0);
    const json = JSON.parse(c.files.get('bars.json') ?? '{}') as {
      reports: {
        label: string;
        optimum: { capturedPct: number };
        peakReductionOfOptimalPct: number;
        selfConsumptionOfOptimumPct: number;
        violations: { steps: number };
      }[];
    };
    return new Map(json.reports.map((r) => [r.label, r]));
  };

  it('arbitrage captures ≥ 90 % of the optimal savings and peak-shaving ≥ 90 % of the optimal peak reduction', async () => {
    const runs = await figures(['--strategy', 'arbitrage,peak-shaving']);
    expect(runs.get('arbitrage')?.optimum.capturedPct).toBeGreaterThanOrEqual(90);
    expect(runs.get('peak-shaving')?.peakReductionOfOptimalPct).toBeGreaterThanOrEqual(90);
    for (const r of runs.values()) expect(r.violations.steps).toBe(0);
  }, 120_000);

  it('time-of-use captures ≥ 90 % of the optimal savings on the two-period tariff', async () => {
    const runs = await figures(['--tariff', 'tou', '--strategy', 'time-of-use']);
    expect(runs.get('time-of-use')?.optimum.capturedPct).toBeGreaterThanOrEqual(90);
    expect(runs.get('time-of-use')?.violations.steps).toBe(0);
  }, 120_000);

  it('with the persistence forecast keeps this round’s figures (the peak reserve holds May, whole days weigh the night, a month’s last evening is spent)', async () => {
    const dynamic = await figures(['--strategy', 'arbitrage,peak-shaving,self-consumption'], 'persistence');
    expect(dynamic.get('arbitrage')?.optimum.capturedPct).toBeGreaterThanOrEqual(78.0);
    expect(dynamic.get('peak-shaving')?.peakReductionOfOptimalPct).toBeGreaterThanOrEqual(64.5);
    expect(dynamic.get('self-consumption')?.selfConsumptionOfOptimumPct).toBeGreaterThanOrEqual(97);
    const tou = await figures(['--tariff', 'tou', '--strategy', 'time-of-use'], 'persistence');
    expect(tou.get('time-of-use')?.optimum.capturedPct).toBeGreaterThanOrEqual(75.4);
    for (const r of [...dynamic.values(), ...tou.values()]) expect(r.violations.steps).toBe(0);
  }, 300_000);
});
