import type { Setpoint } from '@voltimax/contracts';

/**
 * Every reason code a safety rule can report, kebab-case. The codes end up in
 * `ArbiterDecision.violations[].code` (stream `AUDIT`), so renaming one is a breaking change for dashboards.
 */
export const VIOLATION_CODES = [
  'emergency-stop',
  'driver-lost',
  'missing-telemetry',
  'stale-telemetry',
  'invalid-value',
  'unsupported-setpoint',
  'missing-soc',
  'soc-min',
  'soc-max',
  'backup-reserve',
  'max-charge-power',
  'max-discharge-power',
  'max-charge-current',
  'max-discharge-current',
  'charge-temperature',
  'discharge-temperature',
  'grid-import-limit',
  'grid-export-limit',
  'phase-current-limit',
  'ev-min-current',
  'ev-max-current',
  'ev-phases',
  'ev-limit-hold',
  'pv-rated-power',
  'ramp-rate',
] as const;

/** A safety reason code (see {@link VIOLATION_CODES}). */
export type ViolationCode = (typeof VIOLATION_CODES)[number];

/** Unit of a violation's `limit` and `value`. */
export type ViolationUnit = 'W' | 'A' | '%' | '°C' | 'ms';

/**
 * One rule that narrowed or refused a request. Structurally a contracts `Violation` with a typed code:
 * `limit` and `value` are always finite when present (non-finite numbers are left out and named in `detail`).
 * Both are magnitudes in the rule's own terms, e.g. `max-charge-power` reports the charge power (W, ≥ 0)
 * that was asked for and the charge limit (W, ≥ 0); `soc-min` reports the SoC (%) and the minimum SoC (%).
 */
export interface SafetyViolation {
  readonly code: ViolationCode;
  /** The limit that applied, in `unit`. */
  readonly limit?: number;
  /** The value the rule saw before it acted, in `unit`. */
  readonly value?: number;
  readonly unit?: ViolationUnit;
  readonly detail?: string;
}

/** The device's own safe default: battery 0 W, EV charger paused, PV inverter unlimited (contracts `safe`). */
export const SAFE_SETPOINT: Extract<Setpoint, { kind: 'safe' }> = { kind: 'safe' };

const MAX_DETAIL_LENGTH = 500;

/** Builds a violation whose numbers are finite (the audit schema refuses NaN and ±Infinity). */
export function violation(
  code: ViolationCode,
  fields: { limit?: number; value?: number; unit?: ViolationUnit; detail?: string } = {},
): SafetyViolation {
  const notes: string[] = [];
  const out: { -readonly [K in keyof SafetyViolation]: SafetyViolation[K] } = { code };
  if (fields.limit !== undefined) {
    if (Number.isFinite(fields.limit)) out.limit = fields.limit;
    else notes.push(`limit ${String(fields.limit)}`);
  }
  if (fields.value !== undefined) {
    if (Number.isFinite(fields.value)) out.value = fields.value;
    else notes.push(`value ${String(fields.value)}`);
  }
  if (fields.unit !== undefined) out.unit = fields.unit;
  const detail = [fields.detail, ...notes].filter((part) => part !== undefined && part !== '').join('; ');
  if (detail !== '') out.detail = detail.slice(0, MAX_DETAIL_LENGTH);
  return out;
}
