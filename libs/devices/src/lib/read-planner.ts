import {
  MODBUS_MAX_REGISTERS_PER_READ,
  registerCount,
  touchesRefusedRange,
  type ModbusProfile,
  type RefusedRange,
  type RegisterSpan,
  type RegisterTable,
} from './profile-schema';

/** One read request: `count` registers (or coils) of `table` from `start`, covering the named spans. */
export interface ReadBlock {
  readonly table: RegisterTable;
  readonly start: number;
  readonly count: number;
  /** Names (point keys or scale-factor names) of the spans this block covers completely. */
  readonly covers: readonly string[];
}

export interface ReadPlanOptions {
  /** Largest block, registers; at most 125. */
  readonly maxRegistersPerRead: number;
  /** Largest unused gap the planner reads through to merge neighbours (default 0). */
  readonly maxGapRegisters?: number;
  /** Ranges the device refuses: a block never touches one (so such gaps are never read through). */
  readonly refusedRanges?: readonly RefusedRange[];
}

/** The spans cannot be planned: a programming or profile error (the profile schema rules these out). */
export class ReadPlanError extends Error {
  override readonly name = 'ReadPlanError';
}

const TABLE_ORDER: readonly RegisterTable[] = ['holding', 'input', 'coil', 'discrete'];

/**
 * Pure: spans → read blocks. Per table, in address order, neighbours are merged while the block stays
 * within `maxRegistersPerRead` and any gap between them is at most `maxGapRegisters` and outside every
 * refused range. A span is never split across blocks. Throws `ReadPlanError` for a span larger than the
 * limit or lying in a refused range.
 */
export function planReadBlocks(spans: readonly RegisterSpan[], options: ReadPlanOptions): readonly ReadBlock[] {
  const max = Math.min(options.maxRegistersPerRead, MODBUS_MAX_REGISTERS_PER_READ);
  const maxGap = options.maxGapRegisters ?? 0;
  const refused = options.refusedRanges ?? [];
  for (const span of spans) {
    if (span.count < 1 || span.count > max)
      throw new ReadPlanError(`'${span.name}' spans ${span.count} registers; the limit is ${max}`);
    if (touchesRefusedRange(refused, span.table, span.address, span.count))
      throw new ReadPlanError(`'${span.name}' lies in a refused range`);
  }
  const sorted = [...spans].sort(
    (a, b) => TABLE_ORDER.indexOf(a.table) - TABLE_ORDER.indexOf(b.table) || a.address - b.address || b.count - a.count,
  );
  const blocks: ReadBlock[] = [];
  let current: { table: RegisterTable; start: number; end: number; covers: string[] } | undefined;
  for (const span of sorted) {
    const spanEnd = span.address + span.count - 1;
    if (current !== undefined && current.table === span.table) {
      const newEnd = Math.max(current.end, spanEnd);
      const gapStart = current.end + 1;
      const gap = span.address - gapStart;
      const gapReadable = gap <= 0 || (gap <= maxGap && !touchesRefusedRange(refused, span.table, gapStart, gap));
      if (gapReadable && newEnd - current.start + 1 <= max) {
        current.end = newEnd;
        current.covers.push(span.name);
        continue;
      }
    }
    if (current !== undefined) blocks.push(toBlock(current));
    current = { table: span.table, start: span.address, end: spanEnd, covers: [span.name] };
  }
  if (current !== undefined) blocks.push(toBlock(current));
  return blocks;
}

function toBlock(open: { table: RegisterTable; start: number; end: number; covers: string[] }): ReadBlock {
  return { table: open.table, start: open.start, count: open.end - open.start + 1, covers: open.covers };
}

/**
 * Pure: the read blocks for one cycle of a Modbus profile. `poll` reads the points marked `readOn: 'poll'`;
 * `connect` reads every point (identity and ratings too). Scale-factor registers are always included.
 */
export function planProfileReads(profile: ModbusProfile, phase: 'poll' | 'connect' = 'poll'): readonly ReadBlock[] {
  const points = profile.points.filter((p) => phase === 'connect' || p.readOn === 'poll');
  const spans: RegisterSpan[] = [
    ...points.map((p) => ({ name: p.key, table: p.table, address: p.address, count: registerCount(p) })),
    ...profile.scaleFactors.map((sf) => ({ name: sf.name, table: sf.table, address: sf.address, count: 1 })),
  ];
  return planReadBlocks(spans, {
    maxRegistersPerRead: profile.modbus.maxRegistersPerRead,
    maxGapRegisters: profile.modbus.maxGapRegisters,
    refusedRanges: profile.modbus.refusedRanges,
  });
}
