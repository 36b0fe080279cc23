import type { ArbiterDecision, Setpoint, Violation } from '@voltimax/contracts';

/**
 * Whether a decision says what is in force on its asset. Not a `superseded` one (a lower-priority intent under the one
 * that holds), nor an intent the arbiter refused at the door (`rejected` without `applied`: invalid, future-dated,
 * astray from its subject; what held before still holds). A `rejected` one with `applied` (the safe setpoint written
 * for a value no rule could take) is.
 */
export function isInForce(decision: ArbiterDecision): boolean {
  return decision.outcome !== 'superseded' && !(decision.outcome === 'rejected' && decision.applied === undefined);
}

/** A number as people read it: integers as they are, others with at most 3 decimals. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value) || !Number.isFinite(value) || Math.abs(value) >= 1e15) return String(value);
  return String(Number(value.toFixed(3)));
}

/** A setpoint in words with its unit and sign (battery + = discharge, − = charge). */
export function formatSetpoint(setpoint: Setpoint | undefined): string {
  if (setpoint === undefined) return '—';
  switch (setpoint.kind) {
    case 'battery-power': {
      const w = setpoint.powerW;
      const direction = w > 0 ? ' (discharge)' : w < 0 ? ' (charge)' : '';
      return `battery ${w > 0 ? '+' : ''}${formatNumber(w === 0 ? 0 : w)} W${direction}`;
    }
    case 'ev-current':
      return `EV ${formatNumber(setpoint.currentA)} A${setpoint.phases === undefined ? '' : ` on ${setpoint.phases} phase${setpoint.phases === 1 ? '' : 's'}`}${setpoint.currentA === 0 ? ' (paused)' : ''}`;
    case 'pv-limit':
      return `PV limit ${formatNumber(setpoint.maxPowerW)} W`;
    case 'safe':
      return 'safe (device default)';
  }
}

/** One rule that clipped or refused a request: `code: limit L unit, value V unit — detail`. */
export function formatViolation(violation: Violation): string {
  const unit = violation.unit === undefined ? '' : ` ${violation.unit}`;
  const parts = [
    ...(violation.limit === undefined ? [] : [`limit ${formatNumber(violation.limit)}${unit}`]),
    ...(violation.value === undefined ? [] : [`value ${formatNumber(violation.value)}${unit}`]),
  ];
  const numbers = parts.length === 0 ? '' : `: ${parts.join(', ')}`;
  return `${violation.code}${numbers}${violation.detail === undefined ? '' : ` — ${violation.detail}`}`;
}

/**
 * One decision for `voltimax arbiter why`:
 * ```
 * 2026-01-01T00:00:00.000Z  bat-1  clamped  manual intent int-0002  cmd-0002
 *   battery +8000 W (discharge) → battery +5000 W (discharge)
 *   clipped by max-discharge-power: limit 5000 W, value 8000 W
 *   reason: …
 * ```
 */
export function formatDecision(decision: ArbiterDecision): string {
  const who =
    decision.intentId === undefined ? 'no intent' : `${decision.source ?? 'unknown'} intent ${decision.intentId}`;
  const lines = [
    `${new Date(decision.atMs).toISOString()}  ${decision.assetId}  ${decision.outcome}  ${who}${decision.commandId === undefined ? '' : `  ${decision.commandId}`}`,
    `  ${formatSetpoint(decision.requested)} → ${formatSetpoint(decision.applied)}`,
    ...decision.violations.map(
      (v) => `  ${decision.outcome === 'clamped' ? 'clipped by' : 'because of'} ${formatViolation(v)}`,
    ),
    ...(decision.reason === undefined ? [] : [`  reason: ${decision.reason}`]),
  ];
  return `${lines.join('\n')}\n`;
}

/** One line per asset for `voltimax estop`: `bat-1  safe  emergency-stop  cmd-…`. */
export function formatEstopLine(decision: ArbiterDecision): string {
  const codes = decision.violations.map((v) => v.code).join(', ');
  return `  ${decision.assetId}  ${decision.outcome}  ${formatSetpoint(decision.applied)}${codes === '' ? '' : `  (${codes})`}${decision.commandId === undefined ? '' : `  ${decision.commandId}`}\n`;
}
