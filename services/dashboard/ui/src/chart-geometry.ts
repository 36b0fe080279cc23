// The 24 h chart as SVG geometry (pure, no DOM): scales, one path per series broken at gaps, and axis ticks.
import type { HistoryPoint, HistorySeries } from './types';

/** The series drawn against the power axis (W), and SoC against the % axis. */
export const POWER_SERIES = ['gridW', 'pvW', 'batteryW', 'loadW', 'evW'] as const;
export type PowerSeries = (typeof POWER_SERIES)[number];

export interface ChartSize {
  readonly width: number;
  readonly height: number;
  /** Room for the axes' labels. */
  readonly padLeft: number;
  readonly padRight: number;
  readonly padTop: number;
  readonly padBottom: number;
}

export interface Tick {
  readonly at: number;
  readonly label: string;
}

export interface ChartGeometry {
  /** SVG path data per power series; empty when the series has no value. */
  readonly paths: Readonly<Record<PowerSeries, string>>;
  readonly socPath: string;
  /** Power axis range, W (symmetric around 0 when anything is negative). */
  readonly minW: number;
  readonly maxW: number;
  /** y of 0 W. */
  readonly zeroY: number;
  readonly timeTicks: readonly Tick[];
  readonly powerTicks: readonly Tick[];
  readonly socTicks: readonly Tick[];
  readonly pointCount: number;
}

/** A "nice" step (1, 2, 5 × 10^n) so that `range` spans about `count` steps. */
export function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const nice = normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10;
  return nice * magnitude;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * Geometry of the chart for `series` in a box of `size`. The x axis spans `fromMs`..`toMs`; a line is broken where a
 * value is missing or more than two buckets lie between two points. `formatHour` labels the time ticks (every 3 h).
 */
export function chartGeometry(
  series: HistorySeries,
  size: ChartSize,
  formatHour: (atMs: number) => string,
): ChartGeometry {
  const innerW = size.width - size.padLeft - size.padRight;
  const innerH = size.height - size.padTop - size.padBottom;
  const x = (atMs: number) => round1(size.padLeft + ((atMs - series.fromMs) / (series.toMs - series.fromMs)) * innerW);

  const values = series.points.flatMap((p) => POWER_SERIES.map((k) => p[k]).filter((v): v is number => v !== null));
  const rawMax = Math.max(1_000, ...values);
  const rawMin = Math.min(0, ...values);
  const step = niceStep(rawMax - rawMin, 5);
  const maxW = Math.ceil(rawMax / step) * step;
  const minW = Math.floor(rawMin / step) * step;
  const y = (w: number) => round1(size.padTop + ((maxW - w) / (maxW - minW)) * innerH);
  const ySoc = (pct: number) => round1(size.padTop + ((100 - pct) / 100) * innerH);

  const path = (value: (p: HistoryPoint) => number | null, scale: (v: number) => number): string => {
    let d = '';
    let previous: number | undefined;
    let segmentPoints = 0;
    // A point alone in its segment becomes a dot (a zero-length segment, drawn by the round line cap).
    const closeSegment = () => {
      if (segmentPoints === 1) d += 'h0';
      segmentPoints = 0;
    };
    for (const point of series.points) {
      const v = value(point);
      if (v === null) {
        closeSegment();
        previous = undefined;
        continue;
      }
      const isGap = previous === undefined || point.atMs - previous > 2 * series.bucketMs;
      if (isGap) closeSegment();
      d += `${isGap ? 'M' : 'L'}${x(point.atMs)},${scale(v)}`;
      segmentPoints += 1;
      previous = point.atMs;
    }
    closeSegment();
    return d;
  };

  const paths = Object.fromEntries(POWER_SERIES.map((k) => [k, path((p) => p[k], y)])) as Record<PowerSeries, string>;
  const hourMs = 3_600_000;
  const timeTicks: Tick[] = [];
  for (let t = Math.ceil(series.fromMs / (3 * hourMs)) * 3 * hourMs; t <= series.toMs; t += 3 * hourMs) {
    timeTicks.push({ at: x(t), label: formatHour(t) });
  }
  const powerTicks: Tick[] = [];
  for (let w = minW; w <= maxW + step / 2; w += step) {
    powerTicks.push({ at: y(w), label: Math.abs(w) >= 1_000 || step >= 1_000 ? `${w / 1_000} kW` : `${w} W` });
  }
  const socTicks = [0, 25, 50, 75, 100].map((pct) => ({ at: ySoc(pct), label: `${pct} %` }));
  return {
    paths,
    socPath: path((p) => p.socPct, ySoc),
    minW,
    maxW,
    zeroY: y(0),
    timeTicks,
    powerTicks,
    socTicks,
    pointCount: series.points.length,
  };
}
