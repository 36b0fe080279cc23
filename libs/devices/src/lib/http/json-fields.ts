import type { Measurements } from '@voltimax/contracts';
import { applyScale, checkPlausibility, type ImplausibleReason } from '../codec';
import { toMeasurements, type ReadValues } from '../decode-profile';
import type { PointKey } from '../keys';
import type { JsonField } from './json-field-schema';
import { jsonTypeOf, lookupJsonPath, parseJsonPath } from './json-path';

// The schema lives in json-field-schema.ts: profile-schema.ts includes the HTTP and MQTT profile schemas, and this
// decoder imports codec.ts, which imports profile-schema.ts — keeping the schema apart avoids an import cycle.
export { JsonFieldSchema, type JsonField, type JsonFieldInput } from './json-field-schema';

/** Why one field produced no value. `absent` (an optional field) is not a fault and never listed as an issue. */
export type JsonFieldOutcome =
  | { readonly kind: 'value'; readonly value: number | string }
  | { readonly kind: 'absent' }
  | {
      readonly kind: 'implausible';
      readonly value: number;
      readonly reason: ImplausibleReason;
      readonly limit?: number;
    }
  /** A required member is not in the document (`at` = the first missing step). */
  | { readonly kind: 'missing'; readonly at: string }
  /** The value (or a parent on its path) has the wrong JSON type. */
  | { readonly kind: 'wrong-type'; readonly at: string; readonly expected: string; readonly found: string }
  /** An enum string the profile does not know. */
  | { readonly kind: 'unmapped'; readonly value: string };

/** A field that produced no value, with the reason. */
export interface JsonFieldIssue {
  readonly key: PointKey;
  readonly path: string;
  readonly outcome: Exclude<JsonFieldOutcome, { kind: 'value' } | { kind: 'absent' }>;
}

/** What one JSON document yields for a list of fields. */
export interface JsonReading {
  /** The contracts measurements among the values (units in the keys, project signs), ready for telemetry. */
  readonly measurements: Measurements;
  /** Every good value by key, including non-measurement keys (status strings, identity, control read-backs). */
  readonly values: ReadValues;
  /** Fields dropped (missing, wrong type, unmapped, implausible). Optional fields that are absent are not listed. */
  readonly issues: readonly JsonFieldIssue[];
}

const EXPECTED: Readonly<Record<JsonField['type'], string>> = {
  number: 'number',
  boolean: 'boolean',
  enum: 'string',
  string: 'string',
};

/** Pure: one field of a parsed JSON document → its typed outcome (lookup, JSON type, map, scale, sign, plausibility). */
export function decodeJsonField(field: JsonField, document: unknown): JsonFieldOutcome {
  const parsed = parseJsonPath(field.path);
  // The schema validated the path; a bad one here means the profile skipped the schema.
  if (!parsed.ok) return { kind: 'missing', at: field.path };
  const found = lookupJsonPath(document, parsed.path);
  if (found.kind === 'missing') return field.optional ? { kind: 'absent' } : { kind: 'missing', at: found.at };
  if (found.kind === 'not-container')
    return { kind: 'wrong-type', at: found.at, expected: 'object or array', found: found.found };
  const raw = found.value;
  if (raw === null && field.optional) return { kind: 'absent' };
  const expected = EXPECTED[field.type];
  if (typeof raw !== expected) return { kind: 'wrong-type', at: field.path, expected, found: jsonTypeOf(raw) };
  switch (field.type) {
    case 'string':
      return { kind: 'value', value: raw as string };
    case 'enum': {
      const mapped = field.map?.[raw as string];
      return mapped === undefined ? { kind: 'unmapped', value: raw as string } : checkValue(field, mapped);
    }
    case 'boolean':
      return checkValue(field, raw === true ? 1 : 0);
    case 'number': {
      const scaled = applyScale(raw as number, field.scale);
      const signed = field.invert ? -scaled : scaled;
      return checkValue(field, signed === 0 ? 0 : signed);
    }
  }
}

function checkValue(field: JsonField, value: number): JsonFieldOutcome {
  const outcome = checkPlausibility(field.key, value, field);
  if (outcome.kind === 'implausible') return outcome;
  return { kind: 'value', value };
}

/**
 * Pure: a parsed JSON document → the values of `fields`. A field that fails is dropped and listed in `issues`;
 * the others are kept. Two fields with the same key: the first one that has a value wins.
 */
export function decodeJsonFields(fields: readonly JsonField[], document: unknown): JsonReading {
  const values: Partial<Record<PointKey, number | string>> = {};
  const issues: JsonFieldIssue[] = [];
  for (const field of fields) {
    const outcome = decodeJsonField(field, document);
    if (outcome.kind === 'value') {
      if (values[field.key] === undefined) values[field.key] = outcome.value;
    } else if (outcome.kind !== 'absent') {
      issues.push({ key: field.key, path: field.path, outcome });
    }
  }
  return { measurements: toMeasurements(values), values, issues };
}

/** A JSON text parsed, or why it is not JSON. Pure (`JSON.parse` of text already received). */
export type JsonDocument =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: string };

/** Parses a body or payload as JSON; an empty or non-JSON text is an error with the parser's reason. */
export function parseJsonDocument(text: string): JsonDocument {
  if (text.trim() === '') return { ok: false, error: 'empty body' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function describeIssue(issue: JsonFieldIssue): string {
  const { outcome } = issue;
  switch (outcome.kind) {
    case 'missing':
      return `${outcome.at} missing`;
    case 'wrong-type':
      return `${outcome.at} is ${outcome.found}, expected ${outcome.expected}`;
    case 'unmapped':
      return `${issue.path} has unknown value '${outcome.value.slice(0, 40)}'`;
    case 'implausible':
      return `${issue.key}=${outcome.value} ${outcome.reason}${outcome.limit === undefined ? '' : ` (limit ${outcome.limit})`}`;
  }
}

/** One line for the reading's `error` (≤ 500 characters), or undefined when there are no issues. */
export function describeJsonIssues(issues: readonly JsonFieldIssue[]): string | undefined {
  if (issues.length === 0) return undefined;
  const malformed = issues.filter((i) => i.outcome.kind !== 'implausible').map(describeIssue);
  const implausible = issues.filter((i) => i.outcome.kind === 'implausible').map(describeIssue);
  const parts = [
    ...(malformed.length > 0 ? [`malformed: ${malformed.join('; ')}`] : []),
    ...(implausible.length > 0 ? [`implausible: ${implausible.join('; ')}`] : []),
  ];
  const text = parts.join(' | ');
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}
