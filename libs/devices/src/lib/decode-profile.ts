import { MeasurementsSchema, type Measurements } from '@voltimax/contracts';
import { checkPlausibility, checkPoint, decodeScaleFactor, type PointOutcome } from './codec';
import { isMeasurementKey, type PointKey } from './keys';
import { registerCount, type ModbusProfile, type RegisterTable } from './profile-schema';

/** Words returned by one read: `words[i]` is register `start + i` of `table` (coils: 0 or 1). */
export interface BlockWords {
  readonly table: RegisterTable;
  readonly start: number;
  readonly words: readonly number[];
}

/** A point or derived value that produced no value, with the typed reason. */
export interface ReadIssue {
  readonly key: string;
  readonly outcome:
    | Exclude<PointOutcome, { kind: 'value' }>
    | { readonly kind: 'missing'; readonly reason: 'term-missing' }
    | { readonly kind: 'not-implemented'; readonly sentinel: 'sunspec' };
}

/** Decoded values by key: contracts measurements plus extra, identity and control read-backs. */
export type ReadValues = Readonly<Partial<Record<PointKey, number | string>>>;

/** What one read cycle of a device yields. */
export interface DeviceReading {
  /** The contracts measurements among the values (units in the keys, project signs), ready for telemetry. */
  readonly measurements: Measurements;
  /** Every plausible value, including non-measurement keys (status, identity, PV/grid flows of a hybrid). */
  readonly values: ReadValues;
  /** Values dropped: implausible (with reason), not implemented (sentinel), or missing. Never clamped. */
  readonly issues: readonly ReadIssue[];
  /** Scale-factor exponents read this cycle (needed again to encode writes to `scaleFrom` points). */
  readonly scaleFactors: Readonly<Record<string, number>>;
}

/** Looks up register words from read blocks; later blocks win where two overlap. */
export function wordsAt(
  blocks: readonly BlockWords[],
  table: RegisterTable,
  address: number,
  count: number,
): readonly number[] | undefined {
  const out: number[] = [];
  for (let a = address; a < address + count; a += 1) {
    let word: number | undefined;
    for (const block of blocks) {
      if (block.table === table && a >= block.start && a < block.start + block.words.length)
        word = block.words[a - block.start];
    }
    if (word === undefined) return undefined;
    out.push(word);
  }
  return out;
}

/** Keeps the contracts measurement keys of `values` as a typed `Measurements` object. */
export function toMeasurements(values: ReadValues): Measurements {
  const picked: Record<string, number> = {};
  for (const [key, value] of Object.entries(values)) {
    if (isMeasurementKey(key) && typeof value === 'number') picked[key] = value;
  }
  // Every value passed checkPlausibility (which includes the contracts' ranges), so this cannot fail.
  return MeasurementsSchema.parse(picked);
}

/**
 * Pure: read blocks → a device reading, following the profile: scale factors first, then every point
 * (sentinels, scaling, sign, plausibility), then derived values. Points marked `readOn: 'connect'` that
 * are absent from `blocks` are skipped silently; absent poll points are reported as missing.
 */
export function decodeProfile(profile: ModbusProfile, blocks: readonly BlockWords[]): DeviceReading {
  const issues: ReadIssue[] = [];
  const scaleFactors: Record<string, number> = {};
  const sfStatus = new Map<string, number | 'not-implemented' | undefined>();
  for (const sf of profile.scaleFactors) {
    const exponent = decodeScaleFactor(wordsAt(blocks, sf.table, sf.address, 1)?.[0]);
    sfStatus.set(sf.name, exponent);
    if (typeof exponent === 'number') scaleFactors[sf.name] = exponent;
  }
  const values: Partial<Record<PointKey, number | string>> = {};
  for (const point of profile.points) {
    const words = wordsAt(blocks, point.table, point.address, registerCount(point));
    if (words === undefined) {
      if (point.readOn === 'poll') issues.push({ key: point.key, outcome: { kind: 'missing', reason: 'not-read' } });
      continue;
    }
    const exponent = point.scaleFrom === undefined ? undefined : sfStatus.get(point.scaleFrom);
    const outcome = checkPoint(point, words, exponent);
    if (outcome.kind === 'value') values[point.key] = outcome.value;
    else issues.push({ key: point.key, outcome });
  }
  for (const derived of profile.derived) {
    let sum = 0;
    let complete = true;
    for (const term of derived.terms) {
      const value = values[term.key];
      if (typeof value !== 'number') complete = false;
      else sum += term.sign * value;
    }
    if (!complete) {
      issues.push({ key: derived.key, outcome: { kind: 'missing', reason: 'term-missing' } });
      continue;
    }
    const outcome = checkPlausibility(derived.key, sum === 0 ? 0 : sum, derived);
    if (outcome.kind === 'value') values[derived.key] = outcome.value;
    else issues.push({ key: derived.key, outcome });
  }
  return { measurements: toMeasurements(values), values, issues, scaleFactors };
}
