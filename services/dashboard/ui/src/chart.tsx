// The 24 h chart of power and SoC (SVG; the server sends means per bucket).
import { useEffect, useState } from 'preact/hooks';
import { getHistory } from './api';
import { chartGeometry, POWER_SERIES, type PowerSeries } from './chart-geometry';
import type { HistorySeries } from './types';

const SIZE = { width: 960, height: 340, padLeft: 64, padRight: 52, padTop: 16, padBottom: 30 };
const NAMES: Readonly<Record<PowerSeries, string>> = {
  gridW: 'Grid (+ import)',
  pvW: 'Solar',
  batteryW: 'Battery (+ discharge)',
  loadW: 'Home',
  evW: 'EV',
};
/** Reload the chart this often while it is shown, ms. */
const RELOAD_MS = 60_000;

const hourLabel = (atMs: number) =>
  new Date(atMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });

export function HistoryChart() {
  const [series, setSeries] = useState<HistorySeries | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);

  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      const result = await getHistory();
      if (cancelled) return;
      if (result.ok) {
        setSeries(result.value);
        setProblem(undefined);
      } else {
        setProblem(result.failure.error);
      }
    };
    void load();
    const timer = setInterval(() => void load(), RELOAD_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);

  if (series === undefined)
    return (
      <section class="card">
        <h2>Last 24 hours</h2>
        <p>{problem ? `Cannot load the history: ${problem}` : 'Loading…'}</p>
      </section>
    );
  const g = chartGeometry(series, SIZE, hourLabel);
  const shown = POWER_SERIES.filter((k) => g.paths[k] !== '');
  return (
    <section class="card">
      <h2>Last 24 hours</h2>
      <svg
        class="chart"
        viewBox={`0 0 ${SIZE.width} ${SIZE.height}`}
        role="img"
        aria-label="power and state of charge, last 24 hours"
        data-testid="history-chart"
        data-points={String(g.pointCount)}
      >
        {g.powerTicks.map((t) => (
          <g key={`p${t.at}`}>
            <line class="grid-line" x1={SIZE.padLeft} x2={SIZE.width - SIZE.padRight} y1={t.at} y2={t.at} />
            <text class="axis" x={SIZE.padLeft - 6} y={t.at + 4} text-anchor="end">
              {t.label}
            </text>
          </g>
        ))}
        {g.socTicks.map((t) => (
          <text key={`s${t.at}`} class="axis axis-soc" x={SIZE.width - SIZE.padRight + 6} y={t.at + 4}>
            {t.label}
          </text>
        ))}
        {g.timeTicks.map((t) => (
          <g key={`t${t.at}`}>
            <line class="grid-line" x1={t.at} x2={t.at} y1={SIZE.padTop} y2={SIZE.height - SIZE.padBottom} />
            <text class="axis" x={t.at} y={SIZE.height - 10} text-anchor="middle">
              {t.label}
            </text>
          </g>
        ))}
        <line class="zero-line" x1={SIZE.padLeft} x2={SIZE.width - SIZE.padRight} y1={g.zeroY} y2={g.zeroY} />
        {shown.map((k) => (
          <path key={k} class={`series series-${k}`} d={g.paths[k]} data-testid={`series-${k}`} />
        ))}
        {g.socPath !== '' && <path class="series series-soc" d={g.socPath} data-testid="series-socPct" />}
      </svg>
      <div class="legend">
        {shown.map((k) => (
          <span key={k} class={`legend-item legend-${k}`}>
            {NAMES[k]}
          </span>
        ))}
        {g.socPath !== '' && <span class="legend-item legend-soc">SoC (right axis)</span>}
      </div>
      <p class="muted">
        {g.pointCount} points of {Math.round(series.bucketMs / 60_000)} min · {series.samples.stream} readings from
        stream TELEMETRY, {series.samples.live} live
        {series.streamProblem === null ? '' : ` · stream TELEMETRY not readable: ${series.streamProblem}`}
      </p>
    </section>
  );
}
