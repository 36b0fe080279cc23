import { createHash } from 'node:crypto';
import {
  type AssetKind,
  type Connection,
  type DiscoveryFound,
  type MeasurementKey,
} from '@voltimax/contracts';

/** Where a candidate was found. */
export type DiscoverySource = DiscoveryFound['method'];

/** A protocol plugin the site's `drivers` list needs for a candidate's connection (`plugin` connections). */
export interface DriverHint {
  readonly name: string;
  /** npm package name or path the driver host loads. */
  readonly module: string;
}

/** What identifies a device across sources; any shared serial or MAC (or the same host) is the same device. */
export interface CandidateIdentity {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serial?: string;
  /** Lower-case `aa:bb:cc:dd:ee:ff`. */
  readonly mac?: string;
  /** IP address or host name the device answered on. */
  readonly host?: string;
  /** The source's own id of the device when it has one (Home Assistant device identifier). */
  readonly deviceId?: string;
}

/** One MQTT state topic of a candidate and what it carries, converted to our unit by `scale`. */
export interface CandidateSensor {
  readonly key: MeasurementKey;
  readonly stateTopic: string;
  /** Dotted path into a JSON payload; absent when the payload is the number itself. */
  readonly jsonPath?: string;
  /** The unit the device announced (`kW`). */
  readonly unit?: string;
  /** Device value × scale = value in the unit of `key`. */
  readonly scale: number;
}

/**
 * A device that could become an asset: how to reach it, what we think it is, how sure we are (0..1) and why.
 * `key` is the de-duplication key (serial, MAC, host or Modbus endpoint), `id` a short stable handle for people
 * (`--apply <id>`), derived from `key`.
 */
export interface Candidate {
  readonly id: string;
  readonly key: string;
  readonly source: DiscoverySource;
  /** Every source that reported it (after merging). */
  readonly sources: readonly DiscoverySource[];
  readonly kind: AssetKind;
  readonly profileId?: string;
  /** Absent when we know the device but not a protocol we can read it with. */
  readonly connection?: Connection;
  readonly identity: CandidateIdentity;
  readonly confidence: number;
  readonly evidence: readonly string[];
  readonly sensors?: readonly CandidateSensor[];
  /** Drivers the site must list (`drivers`) before this candidate's connection works. */
  readonly drivers?: readonly DriverHint[];
  /** A person-readable name (`HomeWizard P1 meter`, `Eastron SDM630 at 10.0.0.5:502/1`). */
  readonly label: string;
}

/** A candidate before its `key`, `id` and `sources` are derived. */
export type CandidateDraft = Omit<Candidate, 'id' | 'key' | 'sources'>;

const MAX_EVIDENCE = 50;
const MAX_EVIDENCE_CHARS = 300;

/** Lower-case colon form of a MAC given with or without `:`/`-`/`.` separators; undefined unless 12 hex digits. */
export function normalizeMac(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const hex = text.trim().toLowerCase().replace(/[:.-]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)?.join(':');
}

/** The endpoint part of a key when neither serial nor MAC is known. */
function endpointKey(draft: CandidateDraft): string {
  if (draft.identity.deviceId) return `${draft.source}:${draft.identity.deviceId}`;
  const c = draft.connection;
  if (c && (c.protocol === 'modbus-tcp' || c.protocol === 'modbus-rtu-tcp'))
    return `modbus:${c.host}:${c.port}:${c.unitId}`;
  if (c && c.protocol === 'mqtt') return `mqtt:${c.brokerUrl ?? ''}:${c.topicPrefix}`;
  return `host:${draft.identity.host ?? draft.label}`;
}

/**
 * Every key under which a draft may meet another report of the same device, strongest first. The endpoint (host,
 * Modbus unit, MQTT device) counts only without a serial or MAC: two devices with their own MACs are two devices
 * even when they answer from one address (a hub, or a test machine announcing several).
 */
export function identityKeys(draft: CandidateDraft): string[] {
  const keys: string[] = [];
  const serial = draft.identity.serial?.trim();
  if (serial) keys.push(`serial:${serial.toLowerCase()}`);
  if (draft.identity.mac) keys.push(`mac:${draft.identity.mac}`);
  if (keys.length === 0) keys.push(endpointKey(draft));
  return keys;
}

/** Short stable handle of a key: `d-` and 6 hex digits of its SHA-1. */
export function candidateId(key: string): string {
  return `d-${createHash('sha1').update(key).digest('hex').slice(0, 6)}`;
}

/** A complete candidate from a draft (evidence trimmed to what `discovery.found` carries). */
export function finishCandidate(draft: CandidateDraft): Candidate {
  const key = identityKeys(draft)[0] ?? endpointKey(draft);
  return {
    ...draft,
    key,
    id: candidateId(key),
    sources: [draft.source],
    confidence: Math.max(0, Math.min(1, draft.confidence)),
    evidence: dedupeEvidence(draft.evidence),
  };
}

function dedupeEvidence(evidence: readonly string[]): string[] {
  return [
    ...new Set(evidence.map((e) => (e.length > MAX_EVIDENCE_CHARS ? `${e.slice(0, MAX_EVIDENCE_CHARS - 1)}…` : e))),
  ].slice(0, MAX_EVIDENCE);
}

/**
 * De-duplicates candidates: reports that share a serial, a MAC or an endpoint are one device. The merged candidate
 * keeps the most confident report's kind, profile and connection, the highest confidence, every source, the
 * identity fields any report knew, and the evidence of all (first seen first). Order: most confident first.
 */
export function mergeCandidates(candidates: readonly Candidate[]): Candidate[] {
  const groups: Candidate[][] = [];
  const groupOfKey = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    const keys = identityKeys(candidate);
    const found = [...new Set(keys.map((k) => groupOfKey.get(k)).filter((g): g is Candidate[] => g !== undefined))];
    let group: Candidate[];
    if (found.length === 0) {
      group = [];
      groups.push(group);
    } else {
      group = found[0] ?? [];
      // a report that links two groups (serial seen in one, MAC in the other) joins them
      for (const other of found.slice(1)) {
        group.push(...other.splice(0));
      }
    }
    group.push(candidate);
    for (const member of group) for (const key of identityKeys(member)) groupOfKey.set(key, group);
  }
  return groups
    .filter((g) => g.length > 0)
    .map(mergeGroup)
    .sort((a, b) => b.confidence - a.confidence || a.label.localeCompare(b.label));
}

function mergeGroup(group: readonly Candidate[]): Candidate {
  const [best, ...rest] = [...group].sort((a, b) => b.confidence - a.confidence);
  if (best === undefined) throw new Error('empty candidate group');
  if (rest.length === 0) return best;
  const identity: CandidateIdentity = Object.assign({}, ...[...group].reverse().map((c) => c.identity), best.identity);
  const draft: CandidateDraft = {
    ...best,
    identity,
    confidence: best.confidence,
    evidence: dedupeEvidence(group.flatMap((c) => c.evidence)),
    ...(best.profileId === undefined
      ? pickDefined(
          'profileId',
          rest.map((c) => c.profileId),
        )
      : { profileId: best.profileId }),
    ...(best.connection === undefined
      ? pickDefined(
          'connection',
          rest.map((c) => c.connection),
        )
      : {}),
    ...(best.drivers === undefined
      ? pickDefined(
          'drivers',
          rest.map((c) => c.drivers),
        )
      : {}),
  };
  const merged = finishCandidate(draft);
  return { ...merged, sources: [...new Set(group.flatMap((c) => c.sources))] };
}

function pickDefined<K extends string, T>(key: K, values: readonly (T | undefined)[]): Partial<Record<K, T>> {
  const value = values.find((v) => v !== undefined);
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, T>>);
}

/** The `address` of a `discovery.found`: where it is, in one line. */
export function describeAddress(candidate: Candidate): string {
  const c = candidate.connection;
  if (!c) return candidate.identity.host ?? candidate.label;
  switch (c.protocol) {
    case 'modbus-tcp':
    case 'modbus-rtu-tcp':
      return `${c.host}:${c.port}/${c.unitId}`;
    case 'http':
      return c.baseUrl;
    case 'mqtt':
      return `${c.brokerUrl ?? 'mqtt'} ${c.topicPrefix}`;
    case 'modbus-rtu':
      return `${c.device}/${c.unitId}`;
    case 'ocpp':
      return `ocpp ${c.chargePointId}`;
    case 'simulated':
      return 'simulated';
    case 'plugin':
      return `${c.driver} plugin`;
  }
}

const clip = (text: string | undefined, max: number): string | undefined =>
  text === undefined ? undefined : text.slice(0, max);

/** The `discovery.found` message of a candidate (validated by the bus on publish). */
export function toDiscoveryFound(candidate: Candidate, atMs: number, requestId?: string): DiscoveryFound {
  const method: DiscoveryFound['method'] = candidate.source;
  const { identity } = candidate;
  const manufacturer = clip(identity.manufacturer, 128);
  const model = clip(identity.model, 128);
  const serial = clip(identity.serial, 128);
  return {
    v: 1,
    key: candidate.key.slice(0, 200),
    method,
    kind: candidate.kind,
    ...(candidate.profileId === undefined ? {} : { profileId: candidate.profileId }),
    ...(manufacturer ? { manufacturer } : {}),
    ...(model ? { model } : {}),
    ...(serial ? { serial } : {}),
    address: describeAddress(candidate).slice(0, 200),
    confidence: candidate.confidence,
    evidence: [...candidate.evidence],
    ...(candidate.connection === undefined ? {} : { connection: candidate.connection }),
    ...(candidate.drivers === undefined || candidate.drivers.length === 0
      ? {}
      : { drivers: candidate.drivers.slice(0, 8).map((d) => ({ name: d.name, module: d.module })) }),
    ...(identity.mac === undefined ? {} : { mac: identity.mac }),
    ...(candidate.sensors === undefined || candidate.sensors.length === 0
      ? {}
      : { sensors: candidate.sensors.slice(0, 50).map((s) => ({ ...s })) }),
    ...(requestId === undefined ? {} : { requestId }),
    atMs,
  };
}
