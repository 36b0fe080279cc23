import { toLocalTime, type SiteSeries } from '@voltimax/sim';

/** Building load and PV production at an instant, W (both ≥ 0). */
export interface LoadPv {
  readonly loadW: number;
  readonly pvW: number;
}

/** Where the simulated site's load and PV come from. */
export interface LoadPvProfile {
  /** For logs: 'synthetic' or the CSV path. */
  readonly source: string;
  /** Load and PV at `atMs` (epoch ms, sim time). */
  at(atMs: number): LoadPv;
  /** First instant of the data (CSV), where the simulation starts unless SIM_START says otherwise. */
  readonly startAtMs?: number;
}

const bump = (hour: number, centreH: number, widthH: number): number =>
  Math.exp(-(((hour - centreH) / widthH) ** 2) / 2);

/**
 * A deterministic household day in the site's time zone, so the simulator runs without the shared data: load
 * 300 W base with morning (07:30), noon and evening (19:00) peaks and a small 7-minute ripple; PV a half-sine
 * from 06:30 to 19:30 peaking at `pvPeakW` around 13:00.
 */
export function syntheticProfile(options: { readonly timezone: string; readonly pvPeakW: number }): LoadPvProfile {
  return {
    source: 'synthetic',
    at(atMs) {
      const hour = toLocalTime(atMs, options.timezone).minuteOfDay / 60;
      const ripple = 60 * Math.sin((2 * Math.PI * atMs) / 420_000);
      const loadW = 300 + 900 * bump(hour, 7.5, 1) + 400 * bump(hour, 12.5, 1) + 1_500 * bump(hour, 19, 1.5) + ripple;
      const daylight = Math.sin((Math.PI * (hour - 6.5)) / 13);
      const pvW = hour > 6.5 && hour < 19.5 ? options.pvPeakW * daylight ** 1.2 : 0;
      return { loadW: Math.max(0, loadW), pvW: Math.max(0, pvW) };
    },
  };
}

/**
 * Load and PV from a parsed series (libs/sim's CSV format), held over each interval (the values are interval
 * means) and repeated cyclically, so a two-month file runs for ever at any SIM_SPEED.
 */
export function seriesProfile(series: SiteSeries, source: string): LoadPvProfile {
  const first = series.points[0];
  if (!first) throw new RangeError(`${source} has no data rows`);
  const spanMs = series.points.length * series.stepMs;
  return {
    source,
    startAtMs: first.atMs,
    at(atMs) {
      const offsetMs = (((atMs - first.atMs) % spanMs) + spanMs) % spanMs;
      const point = series.points[Math.floor(offsetMs / series.stepMs)] ?? first;
      return { loadW: point.loadW, pvW: point.pvW };
    },
  };
}
