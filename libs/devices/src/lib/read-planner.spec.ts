import fc from 'fast-check';
import type { RefusedRange, RegisterSpan, RegisterTable } from './profile-schema';
import { planReadBlocks, ReadPlanError, type ReadBlock } from './read-planner';

const span = (name: string, address: number, count = 1, table: RegisterTable = 'holding'): RegisterSpan => ({
  name,
  table,
  address,
  count,
});

describe('planReadBlocks (examples)', () => {
  it('merges adjacent spans into one block', () => {
    expect(planReadBlocks([span('a', 10, 2), span('b', 12, 2)], { maxRegistersPerRead: 125 })).toEqual([
      { table: 'holding', start: 10, count: 4, covers: ['a', 'b'] },
    ]);
  });

  it('reads through a small gap only up to maxGapRegisters', () => {
    const spans = [span('a', 0, 2), span('b', 5, 2)];
    expect(planReadBlocks(spans, { maxRegistersPerRead: 125, maxGapRegisters: 3 })).toHaveLength(1);
    expect(planReadBlocks(spans, { maxRegistersPerRead: 125, maxGapRegisters: 2 })).toHaveLength(2);
  });

  it('never reads through a refused gap', () => {
    const refused: RefusedRange[] = [{ table: 'holding', start: 3, end: 3 }];
    expect(
      planReadBlocks([span('a', 0, 2), span('b', 5, 2)], {
        maxRegistersPerRead: 125,
        maxGapRegisters: 10,
        refusedRanges: refused,
      }),
    ).toEqual([
      { table: 'holding', start: 0, count: 2, covers: ['a'] },
      { table: 'holding', start: 5, count: 2, covers: ['b'] },
    ]);
  });

  it('starts a new block rather than splitting a multi-register span', () => {
    expect(planReadBlocks([span('a', 0, 3), span('b', 3, 4)], { maxRegistersPerRead: 5 })).toEqual([
      { table: 'holding', start: 0, count: 3, covers: ['a'] },
      { table: 'holding', start: 3, count: 4, covers: ['b'] },
    ]);
  });

  it('plans each table on its own', () => {
    const blocks = planReadBlocks([span('h', 0, 1, 'holding'), span('i', 1, 1, 'input')], { maxRegistersPerRead: 125 });
    expect(blocks.map((b) => b.table)).toEqual(['holding', 'input']);
  });

  it('throws for a span larger than the limit (a profile error)', () => {
    expect(() => planReadBlocks([span('big', 0, 10)], { maxRegistersPerRead: 8 })).toThrow(ReadPlanError);
  });

  it('throws for a span inside a refused range (a profile error)', () => {
    expect(() =>
      planReadBlocks([span('x', 4)], {
        maxRegistersPerRead: 8,
        refusedRanges: [{ table: 'holding', start: 3, end: 5 }],
      }),
    ).toThrow(ReadPlanError);
  });
});

interface Scenario {
  readonly spans: readonly RegisterSpan[];
  readonly refused: readonly RefusedRange[];
  readonly max: number;
  readonly maxGap: number;
}

/** Non-overlapping spans per table, with refused ranges placed only inside gaps between them. */
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    max: fc.integer({ min: 4, max: 125 }),
    maxGap: fc.integer({ min: 0, max: 20 }),
    tables: fc.array(
      fc.record({
        table: fc.constantFrom<RegisterTable>('holding', 'input', 'coil', 'discrete'),
        items: fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 30 }),
            count: fc.constantFrom(1, 1, 2, 2, 4),
            refuse: fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
          }),
          { maxLength: 40 },
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ max, maxGap, tables }) => {
    const spans: RegisterSpan[] = [];
    const refused: RefusedRange[] = [];
    const seen = new Set<RegisterTable>();
    for (const { table, items } of tables) {
      if (seen.has(table)) continue;
      seen.add(table);
      let next = 0;
      items.forEach((item, index) => {
        const address = next + item.gap;
        if (item.refuse !== undefined && item.gap > 0) {
          const a = next + (item.refuse[0] % item.gap);
          const b = next + (item.refuse[1] % item.gap);
          refused.push({ table, start: Math.min(a, b), end: Math.max(a, b) });
        }
        spans.push({ name: `${table}-${index}`, table, address, count: Math.min(item.count, max) });
        next = address + Math.min(item.count, max);
      });
    }
    return { spans, refused, max, maxGap };
  });

const blockEnd = (b: ReadBlock) => b.start + b.count - 1;

describe('planReadBlocks (properties)', () => {
  const plan = (s: Scenario) =>
    planReadBlocks(s.spans, { maxRegistersPerRead: s.max, maxGapRegisters: s.maxGap, refusedRanges: s.refused });

  it('covers every span exactly once, inside one block of its table', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const blocks = plan(s);
        for (const sp of s.spans) {
          const holders = blocks.filter((b) => b.covers.includes(sp.name));
          expect(holders).toHaveLength(1);
          const [holder] = holders;
          expect(holder?.table).toBe(sp.table);
          expect(holder && holder.start <= sp.address && sp.address + sp.count - 1 <= blockEnd(holder)).toBe(true);
        }
        expect(blocks.flatMap((b) => b.covers).sort()).toEqual(s.spans.map((sp) => sp.name).sort());
      }),
    );
  });

  it('never exceeds maxRegistersPerRead', () => {
    fc.assert(fc.property(scenarioArb, (s) => plan(s).every((b) => b.count >= 1 && b.count <= s.max)));
  });

  it('never touches a refused range', () => {
    fc.assert(
      fc.property(scenarioArb, (s) =>
        plan(s).every((b) => s.refused.every((r) => r.table !== b.table || r.end < b.start || r.start > blockEnd(b))),
      ),
    );
  });

  it('reads no unrequested run longer than maxGapRegisters, and blocks of a table do not overlap', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const blocks = plan(s);
        for (const b of blocks) {
          const used = new Set<number>();
          for (const sp of s.spans.filter((x) => b.covers.includes(x.name))) {
            for (let a = sp.address; a < sp.address + sp.count; a += 1) used.add(a);
          }
          let run = 0;
          for (let a = b.start; a <= blockEnd(b); a += 1) {
            run = used.has(a) ? 0 : run + 1;
            if (run > s.maxGap) return false;
          }
          const others = blocks.filter((o) => o !== b && o.table === b.table);
          if (others.some((o) => o.start <= blockEnd(b) && b.start <= blockEnd(o))) return false;
        }
        return true;
      }),
    );
  });
});
