// Display formatting (pure, no DOM): W with sign conventions, ages, setpoints, violations.
import type { Setpoint, Violation } from './types';

/** `850 W`, `3.42 kW`; `—` for no value. */
export function formatPower(w: number | null | undefined): string {
  if (w === null || w === undefined || !Number.isFinite(w)) return '—';
  return Math.abs(w) < 1_000 ? `${Math.round(w)} W` : `${(w / 1_000).toFixed(2)} kW`;
}

/** `55.3 %`. */
export function formatPct(pct: number | null | undefined): string {
  return pct === null || pct === undefined || !Number.isFinite(pct) ? '—' : `${pct.toFixed(1)} %`;
}

/** `4 s ago`, `12 min ago`, `3.1 h ago`. */
export function formatAge(fromMs: number | null | undefined, nowMs: number): string {
  if (fromMs === null || fromMs === undefined) return 'never';
  const ms = Math.max(0, nowMs - fromMs);
  if (ms < 1_500) return 'now';
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s ago`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${(ms / 3_600_000).toFixed(1)} h ago`;
}

/** `14:03:27` in the browser's time zone. */
export function formatClock(atMs: number): string {
  return new Date(atMs).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** A setpoint in words. */
export function formatSetpoint(setpoint: Setpoint | undefined): string {
  if (setpoint === undefined) return '—';
  switch (setpoint.kind) {
    case 'battery-power':
      return setpoint.powerW === 0
        ? 'battery 0 W'
        : setpoint.powerW > 0
          ? `discharge ${formatPower(setpoint.powerW)}`
          : `charge ${formatPower(-setpoint.powerW)}`;
    case 'ev-current':
      return `EV ${setpoint.currentA} A${setpoint.phases === undefined ? '' : ` × ${setpoint.phases}`}`;
    case 'pv-limit':
      return `PV ≤ ${formatPower(setpoint.maxPowerW)}`;
    case 'safe':
      return 'safe setpoint';
  }
}

/** `max-discharge-power: 8000 W → limit 5000 W (detail)`. */
export function formatViolation(v: Violation): string {
  const unit = v.unit === undefined ? '' : ` ${v.unit}`;
  const value = v.value === undefined ? undefined : formatMetric(v.value);
  const limit = v.limit === undefined ? undefined : formatMetric(v.limit);
  const numbers =
    value !== undefined && limit !== undefined
      ? `: ${value}${unit} → limit ${limit}${unit}`
      : limit !== undefined
        ? `: limit ${limit}${unit}`
        : value !== undefined
          ? `: ${value}${unit}`
          : '';
  return `${v.code}${numbers}${v.detail ? ` (${v.detail})` : ''}`;
}

/** A number as people read it: integers as they are; else no decimals from 100 up, 2 from 1 up, 3 significant digits below 1. */
export function formatMetric(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
}
