import type { Setpoint, SetpointKind, ValueBounds } from '@voltimax/contracts';
import type { HttpProfile, HttpRead, HttpWrite } from './http-profile';
import { VALUE_PLACEHOLDER } from './http-profile';
import type { PointKey } from '../keys';
import type { JsonReading } from './json-fields';
import { convertSetpointValue, type JsonWriteRejection } from './set-value';

/** A JSON value (what `z.json()` accepts). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The absolute URL of a request: the asset's `baseUrl` (scheme, host, port, maybe a path) + the profile's
 * `basePath` + the read's or write's `path`. Pure.
 */
export function httpUrl(baseUrl: string, profile: Pick<HttpProfile, 'http'>, path: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}${profile.http.basePath}${path}`;
}

/** Request headers for the profile's auth scheme. `token` comes from the environment variable the asset names. */
export function httpAuthHeaders(profile: Pick<HttpProfile, 'http'>, token: string | undefined): Record<string, string> {
  const { auth } = profile.http;
  if (auth.scheme === 'none' || token === undefined) return {};
  return { [auth.header]: `${auth.prefix}${token}` };
}

/**
 * The reads due in a poll cycle at `nowMs`: every read without its own interval, and those whose interval has
 * passed since `lastReadAtMs[name]` (never read = due). Pure.
 */
export function dueReads(
  profile: Pick<HttpProfile, 'reads'>,
  lastReadAtMs: Readonly<Record<string, number>>,
  nowMs: number,
): readonly HttpRead[] {
  return profile.reads.filter((read) => {
    if (read.pollIntervalMs === undefined) return true;
    const last = lastReadAtMs[read.name];
    return last === undefined || nowMs - last >= read.pollIntervalMs;
  });
}

/** One request that executes (part of) a set-point. */
export interface HttpWritePlan {
  readonly write: HttpWrite;
  readonly method: HttpWrite['method'];
  readonly path: string;
  readonly body: JsonValue;
  /** What the device should then hold, in the set-point unit (the read-back must equal it). */
  readonly value: number;
  /** The number put into the body (value × scale). */
  readonly deviceValue: number;
  readonly clamped?: { readonly requested: number; readonly applied: number };
  /**
   * Further fields (of the same read) the request sets and the device must then report, e.g. the phase switch an
   * EV set-point naming `phases` adds. Part of the "already there" check and of the read-back.
   */
  readonly alsoExpect: readonly { readonly key: PointKey; readonly value: number }[];
}

/** The typed result of encoding a set-point for an HTTP device. */
export type HttpWriteOutcome =
  | { readonly kind: 'requests'; readonly setpoint: SetpointKind; readonly requests: readonly HttpWritePlan[] }
  | {
      readonly kind: 'rejected';
      readonly setpoint: SetpointKind;
      readonly reason: JsonWriteRejection;
      readonly detail: string;
    };

function fillTemplate(template: JsonValue, deviceValue: number): JsonValue {
  if (template === VALUE_PLACEHOLDER) return deviceValue;
  if (Array.isArray(template)) return template.map((v) => fillTemplate(v, deviceValue));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v as JsonValue, deviceValue)]));
  }
  return template;
}

function plan(
  write: HttpWrite,
  setpoint: Setpoint,
  bounds: ValueBounds | undefined,
): HttpWritePlan | { kind: 'rejected'; reason: JsonWriteRejection; detail: string } {
  const converted = convertSetpointValue(write, setpoint, bounds);
  if (converted.kind === 'rejected') return converted;
  let body = fillTemplate(write.body, converted.deviceValue);
  const alsoExpect: { key: PointKey; value: number }[] = [];
  if (setpoint.kind === 'ev-current' && setpoint.phases !== undefined && write.phaseBody !== undefined) {
    const one = setpoint.phases === 1;
    const extra = one ? write.phaseBody.one : write.phaseBody.three;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) body = { ...body, ...extra };
    const { readBack } = write.phaseBody;
    alsoExpect.push({ key: readBack.key, value: one ? readBack.one : readBack.three });
  }
  return {
    write,
    method: write.method,
    path: write.path,
    body,
    value: converted.value,
    deviceValue: converted.deviceValue,
    alsoExpect,
    ...(converted.clamped === undefined ? {} : { clamped: converted.clamped }),
  };
}

/**
 * Pure: a contracts set-point → the request(s) that make the device execute it. `safe` sends every write's
 * `safeValue` (charger paused, battery 0 W, PV unlimited as the profile defines it). A value outside the write's
 * range is rejected (or clamped with `clamped` set when the profile says `clampToRange`). `bounds`: the arbiter's
 * interval (DeviceWrite.bounds), for integer device values.
 */
export function encodeHttpWrite(
  profile: Pick<HttpProfile, 'writes'>,
  setpoint: Setpoint,
  bounds?: ValueBounds,
): HttpWriteOutcome {
  const writes = setpoint.kind === 'safe' ? profile.writes : profile.writes.filter((w) => w.setpoint === setpoint.kind);
  if (writes.length === 0) {
    return {
      kind: 'rejected',
      setpoint: setpoint.kind,
      reason: 'unsupported-setpoint',
      detail: `the profile has no write for '${setpoint.kind}'`,
    };
  }
  const requests: HttpWritePlan[] = [];
  for (const write of writes) {
    const planned = plan(write, setpoint, bounds);
    if ('kind' in planned)
      return { kind: 'rejected', setpoint: setpoint.kind, reason: planned.reason, detail: planned.detail };
    requests.push(planned);
  }
  return { kind: 'requests', setpoint: setpoint.kind, requests };
}

/** What the device reports for a write's target, from a decoded response of `readBack.read`. */
export type ReadBackCheck =
  | {
      readonly kind: 'equal' | 'different';
      /** The stored value (set-point unit). */
      readonly readBack: number;
      /** What the device really applies after its own limiters, when the profile names it. */
      readonly effective?: number;
      readonly effectiveSource?: string;
      /** For `different`: every field that differs, `key=found (expected x)`, for the error text. */
      readonly differences?: readonly string[];
    }
  /** The read-back field was not in the response (or was not a good number). */
  | { readonly kind: 'unreadable'; readonly detail: string };

/**
 * Pure: compares a decoded response with everything a write should have stored: the read-back field and every
 * field of `alsoExpect` (e.g. the phase switch). `equal` only when all of them hold what was asked; a field the
 * response lacks makes the result `unreadable` (the write cannot be confirmed).
 */
export function checkHttpReadBack(
  plan: Pick<HttpWritePlan, 'write' | 'value' | 'alsoExpect'>,
  reading: JsonReading,
): ReadBackCheck {
  const { readBack, effective } = plan.write;
  const missing = (key: PointKey): ReadBackCheck => {
    const issue = reading.issues.find((i) => i.key === key);
    return {
      kind: 'unreadable',
      detail: `read '${readBack.read}' gave no '${key}'${issue === undefined ? '' : ` (${issue.outcome.kind})`}`,
    };
  };
  const stored = reading.values[readBack.key];
  if (typeof stored !== 'number') return missing(readBack.key);
  const differences: string[] = [];
  if (Math.abs(stored - plan.value) > readBack.tolerance + 1e-9)
    differences.push(`${readBack.key}=${stored} (expected ${plan.value})`);
  for (const { key, value } of plan.alsoExpect) {
    const found = reading.values[key];
    if (typeof found !== 'number') return missing(key);
    if (Math.abs(found - value) > 1e-9) differences.push(`${key}=${found} (expected ${value})`);
  }
  const applied = effective === undefined ? undefined : reading.values[effective.key];
  const source = effective?.sourceKey === undefined ? undefined : reading.values[effective.sourceKey];
  return {
    kind: differences.length === 0 ? 'equal' : 'different',
    readBack: stored,
    ...(differences.length === 0 ? {} : { differences }),
    ...(typeof applied === 'number' ? { effective: applied } : {}),
    ...(source === undefined ? {} : { effectiveSource: String(source) }),
  };
}
