import { utcOffsetMs } from '@voltimax/sim';

const HOUR_MS = 3_600_000;

/** One step of the plotted day (means over the step; SoC at its end). */
export interface DayPlotStep {
  readonly atMs: number;
  /** W, ≥ 0. */
  readonly loadW: number;
  /** W, ≥ 0. */
  readonly pvW: number;
  /** W, + = import. */
  readonly gridW: number;
  /** W, + = discharge. */
  readonly batteryW: number;
  /** %, at the end of the step. */
  readonly socPct: number;
  /** EUR/MWh. */
  readonly spotEurPerMwh: number;
}

/** What `renderDaySvg` draws. */
export interface DayPlotInput {
  readonly title: string;
  readonly subtitle?: string;
  readonly timezone: string;
  /** Local midnight that starts the day, epoch ms. */
  readonly fromMs: number;
  /** The next local midnight, epoch ms. */
  readonly toMs: number;
  readonly stepMs: number;
  readonly steps: readonly DayPlotStep[];
  /** SoC at fromMs, %. */
  readonly startSocPct: number;
  /** The optimum's SoC at the end of each step (same steps), %, drawn dashed. */
  readonly optimumSocPct?: readonly number[];
  readonly optimumStartSocPct?: number;
}

const WIDTH = 1100;
const LEFT = 78;
const RIGHT = 190;
const PLOT_W = WIDTH - LEFT - RIGHT;
const COLORS = {
  load: '#444444',
  pv: '#e69f00',
  grid: '#0072b2',
  battery: '#009e73',
  soc: '#009e73',
  optimum: '#888888',
  price: '#cc79a7',
  axis: '#222222',
  grid_line: '#dddddd',
} as const;

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number): string => (Math.round(x * 10) / 10).toString();

/** Round tick spacing (1, 2, 2.5, 5 × 10^k) giving about `count` ticks over [low, high]. */
function niceTicks(low: number, high: number, count: number): number[] {
  const span = high - low || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step)
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
  readonly width?: number;
}

interface Panel {
  readonly top: number;
  readonly height: number;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly fixedRange?: readonly [number, number];
}

/** A step function as polyline points: each value held over its interval. */
function stepPoints(
  steps: readonly DayPlotStep[],
  stepMs: number,
  value: (s: DayPlotStep) => number,
): [number, number][] {
  const out: [number, number][] = [];
  for (const s of steps) {
    const v = value(s);
    out.push([s.atMs, v], [s.atMs + stepMs, v]);
  }
  return out;
}

/**
 * A legible SVG plot of one day of a backtest, written by hand (no library): three panels sharing a local-time axis —
 * powers (load, PV, grid, battery; kW), SoC (%, with the optimum's SoC dashed when given) and the day-ahead price
 * (EUR/MWh) — each with axes, gridlines, tick labels, a unit label and a legend.
 */
export function renderDaySvg(input: DayPlotInput): string {
  const { fromMs, toMs, stepMs, steps } = input;
  const x = (atMs: number): number => LEFT + ((atMs - fromMs) / (toMs - fromMs)) * PLOT_W;
  const powerKw = (w: number): number => w / 1000;
  const socPoints: [number, number][] = [
    [fromMs, input.startSocPct],
    ...steps.map((s): [number, number] => [s.atMs + stepMs, s.socPct]),
  ];
  const optimum = input.optimumSocPct;
  const panels: Panel[] = [
    {
      top: 92,
      height: 300,
      yLabel: 'power (kW)',
      series: [
        { label: 'load', color: COLORS.load, points: stepPoints(steps, stepMs, (s) => powerKw(s.loadW)) },
        { label: 'PV', color: COLORS.pv, points: stepPoints(steps, stepMs, (s) => powerKw(s.pvW)) },
        {
          label: 'grid (+ import)',
          color: COLORS.grid,
          points: stepPoints(steps, stepMs, (s) => powerKw(s.gridW)),
          width: 2.5,
        },
        {
          label: 'battery (+ discharge)',
          color: COLORS.battery,
          points: stepPoints(steps, stepMs, (s) => powerKw(s.batteryW)),
          width: 2.5,
        },
      ],
    },
    {
      top: 440,
      height: 150,
      yLabel: 'SoC (%)',
      fixedRange: [0, 100],
      series: [
        { label: 'SoC', color: COLORS.soc, points: socPoints, width: 2.5 },
        ...(optimum && optimum.length === steps.length
          ? [
              {
                label: 'SoC of the optimum',
                color: COLORS.optimum,
                dashed: true,
                points: [
                  [fromMs, input.optimumStartSocPct ?? input.startSocPct] as [number, number],
                  ...steps.map((s, i): [number, number] => [s.atMs + stepMs, optimum[i] ?? Number.NaN]),
                ],
              },
            ]
          : []),
      ],
    },
    {
      top: 638,
      height: 150,
      yLabel: 'price (EUR/MWh)',
      series: [
        {
          label: 'day-ahead price',
          color: COLORS.price,
          points: stepPoints(steps, stepMs, (s) => s.spotEurPerMwh),
          width: 2,
        },
      ],
    },
  ];
  const height = 850;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="32" font-size="20" font-weight="bold" fill="${COLORS.axis}">${esc(input.title)}</text>`,
  ];
  if (input.subtitle) out.push(`<text x="${LEFT}" y="56" font-size="13" fill="#555555">${esc(input.subtitle)}</text>`);

  // Local-time hour ticks every 3 h (a DST day has 23 or 25 hours; ticks follow the wall clock).
  const hourTicks: { atMs: number; label: string }[] = [];
  for (let t = fromMs; t <= toMs; t += HOUR_MS) {
    const local = new Date(t + utcOffsetMs(t, input.timezone));
    const hour = local.getUTCHours();
    if (local.getUTCMinutes() === 0 && hour % 3 === 0)
      hourTicks.push({ atMs: t, label: `${String(t === toMs ? 24 : hour).padStart(2, '0')}:00` });
  }

  for (const panel of panels) {
    const values = panel.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v));
    let [low, high] = panel.fixedRange ?? [Math.min(0, ...values), Math.max(0, ...values)];
    if (!panel.fixedRange) {
      const pad = (high - low || 1) * 0.06;
      high += pad;
      low = low < 0 ? low - pad : 0;
    }
    const ticks = niceTicks(low, high, 5);
    low = Math.min(low, ticks[0] ?? low);
    high = Math.max(high, ticks[ticks.length - 1] ?? high);
    const y = (v: number): number => panel.top + panel.height - ((v - low) / (high - low || 1)) * panel.height;
    const bottom = panel.top + panel.height;
    out.push(`<g>`);
    for (const t of ticks) {
      out.push(
        `<line x1="${LEFT}" y1="${fmt(y(t))}" x2="${LEFT + PLOT_W}" y2="${fmt(y(t))}" stroke="${t === 0 ? '#999999' : COLORS.grid_line}" stroke-width="1"/>`,
        `<text x="${LEFT - 8}" y="${fmt(y(t) + 4)}" font-size="12" text-anchor="end" fill="${COLORS.axis}">${esc(String(Math.round(t * 100) / 100))}</text>`,
      );
    }
    for (const tick of hourTicks) {
      out.push(
        `<line x1="${fmt(x(tick.atMs))}" y1="${panel.top}" x2="${fmt(x(tick.atMs))}" y2="${bottom}" stroke="${COLORS.grid_line}" stroke-width="1"/>`,
        `<text x="${fmt(x(tick.atMs))}" y="${bottom + 16}" font-size="12" text-anchor="middle" fill="${COLORS.axis}">${tick.label}</text>`,
      );
    }
    out.push(
      `<rect x="${LEFT}" y="${panel.top}" width="${PLOT_W}" height="${panel.height}" fill="none" stroke="${COLORS.axis}" stroke-width="1"/>`,
      `<text transform="translate(${LEFT - 54} ${panel.top + panel.height / 2}) rotate(-90)" font-size="13" text-anchor="middle" fill="${COLORS.axis}">${esc(panel.yLabel)}</text>`,
    );
    for (const s of panel.series) {
      const pts = s.points
        .filter((p) => Number.isFinite(p[1]))
        .map((p) => `${fmt(x(p[0]))},${fmt(y(p[1]))}`)
        .join(' ');
      out.push(
        `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.8}"${s.dashed ? ' stroke-dasharray="7 5"' : ''} stroke-linejoin="round"/>`,
      );
    }
    // Legend to the right of the panel.
    panel.series.forEach((s, i) => {
      const ly = panel.top + 14 + i * 22;
      const lx = LEFT + PLOT_W + 16;
      out.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${s.color}" stroke-width="${s.width ?? 1.8}"${s.dashed ? ' stroke-dasharray="7 5"' : ''}/>`,
        `<text x="${lx + 32}" y="${ly + 4}" font-size="12" fill="${COLORS.axis}">${esc(s.label)}</text>`,
      );
    });
    out.push(`</g>`);
  }
  out.push(
    `<text x="${LEFT + PLOT_W / 2}" y="${height - 18}" font-size="13" text-anchor="middle" fill="${COLORS.axis}">local time (${esc(input.timezone)})</text>`,
    `</svg>`,
    '',
  );
  return out.join('\n');
}
