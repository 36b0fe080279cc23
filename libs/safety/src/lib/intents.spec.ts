import fc from 'fast-check';
import { INTENT_PRIORITY, type ControlIntent, type IntentSource } from '@voltimax/contracts';
import { ensure } from '../testing/ensure';
import { battery, intent, NOW_MS } from '../testing/fixtures';
import { PROPERTY_RUNS } from '../testing/property-runs';
import { SAFE_SETPOINT } from './codes';
import {
  addIntent,
  compareIntents,
  EMPTY_INTENT_TABLE,
  expireIntents,
  isIntentExpired,
  selectIntent,
  supersedeIntents,
  type IntentTable,
} from './intents';

const winnerOf = (intents: ControlIntent[], nowMs = NOW_MS, assetId = 'bat-1') =>
  selectIntent(intents, nowMs).winners.get(assetId);

describe('selectIntent', () => {
  it.each<{ name: string; intents: ControlIntent[]; winner: string | undefined }>([
    { name: 'no intent → none', intents: [], winner: undefined },
    {
      name: 'safety beats manual beats scheduled beats optimization',
      intents: [
        intent('optimization', { id: 'o' }),
        intent('manual', { id: 'm' }),
        intent('scheduled', { id: 's' }),
        intent('safety', { id: 'x' }),
      ],
      winner: 'x',
    },
    {
      name: 'manual beats scheduled',
      intents: [intent('scheduled', { id: 's' }), intent('manual', { id: 'm' })],
      winner: 'm',
    },
    {
      name: 'same priority: the newest wins',
      intents: [
        intent('optimization', { id: 'old', issuedAtMs: NOW_MS - 2_000 }),
        intent('optimization', { id: 'new', issuedAtMs: NOW_MS - 1_000 }),
      ],
      winner: 'new',
    },
    {
      name: 'same priority and time: the greatest id wins (order-independent)',
      intents: [
        intent('manual', { id: 'b', issuedAtMs: NOW_MS - 1 }),
        intent('manual', { id: 'a', issuedAtMs: NOW_MS - 1 }),
      ],
      winner: 'b',
    },
    {
      name: 'an expired higher priority hands over to the next',
      intents: [
        intent('manual', { id: 'm', issuedAtMs: NOW_MS - 10_000, ttlMs: 5_000 }),
        intent('optimization', { id: 'o' }),
      ],
      winner: 'o',
    },
    {
      name: 'expires exactly at issuedAtMs + ttlMs',
      intents: [intent('manual', { id: 'm', issuedAtMs: NOW_MS - 5_000, ttlMs: 5_000 })],
      winner: undefined,
    },
    {
      name: 'live one ms before expiry',
      intents: [intent('manual', { id: 'm', issuedAtMs: NOW_MS - 4_999, ttlMs: 5_000 })],
      winner: 'm',
    },
    {
      name: 'future-dated beyond the skew allowance → refused',
      intents: [intent('safety', { id: 'f', issuedAtMs: NOW_MS + 2_001 })],
      winner: undefined,
    },
    {
      name: 'future-dated within the allowance → accepted',
      intents: [intent('safety', { id: 'f', issuedAtMs: NOW_MS + 2_000 })],
      winner: 'f',
    },
    {
      name: 'non-finite issuedAtMs → refused',
      intents: [intent('safety', { id: 'n', issuedAtMs: Number.NaN })],
      winner: undefined,
    },
  ])('$name', ({ intents, winner }) => {
    expect(winnerOf(intents)?.intent?.id).toBe(winner);
  });

  it('gives the safe default to an asset without a live intent', () => {
    const selection = selectIntent([intent('manual', { issuedAtMs: NOW_MS - 10_000, ttlMs: 1_000 })], NOW_MS, {
      assetIds: ['ev-1'],
    });
    expect(selection.winners.get('bat-1')).toEqual({ assetId: 'bat-1', setpoint: SAFE_SETPOINT });
    expect(selection.winners.get('ev-1')).toEqual({ assetId: 'ev-1', setpoint: SAFE_SETPOINT });
  });

  it('selects per asset', () => {
    const selection = selectIntent(
      [
        intent('manual', { id: 'b', assetId: 'bat-1' }),
        intent('optimization', { id: 'e', assetId: 'ev-1', setpoint: { kind: 'ev-current', currentA: 8 } }),
      ],
      NOW_MS,
    );
    expect(selection.winners.get('bat-1')?.intent?.id).toBe('b');
    expect(selection.winners.get('ev-1')?.setpoint).toEqual({ kind: 'ev-current', currentA: 8 });
  });

  it('reports expired and refused intents with a reason', () => {
    const expired = intent('manual', { id: 'e', issuedAtMs: NOW_MS - 10_000, ttlMs: 1_000 });
    const future = intent('manual', { id: 'f', issuedAtMs: NOW_MS + 60_000 });
    const selection = selectIntent([expired, future], NOW_MS);
    expect(selection.expired).toEqual([expired]);
    expect(selection.rejected).toEqual([
      { intent: future, reason: 'future-dated', detail: 'issued 60000 ms in the future (allowance 2000 ms)' },
    ]);
  });

  it('has a configurable skew allowance', () => {
    const future = intent('manual', { issuedAtMs: NOW_MS + 5_000 });
    expect(selectIntent([future], NOW_MS, { maxClockSkewMs: 10_000 }).winners.get('bat-1')?.intent).toBe(future);
  });

  it('treats a non-finite clock as "everything expired"', () => {
    expect(isIntentExpired(intent('manual'), Number.NaN)).toBe(true);
  });
});

describe('IntentTable', () => {
  it('adds, then a newer intent of the same source supersedes the older one', () => {
    const first = intent('optimization', { id: 'o1', issuedAtMs: NOW_MS - 2_000 });
    const second = intent('optimization', { id: 'o2', issuedAtMs: NOW_MS - 1_000 });
    const a = addIntent(EMPTY_INTENT_TABLE, first, NOW_MS);
    expect(a).toMatchObject({ accepted: true, superseded: [] });
    const b = addIntent(a.table, second, NOW_MS);
    expect(b.accepted).toBe(true);
    expect(b.superseded).toEqual([first]);
    expect(b.table.intents).toEqual([second]);
  });

  it('keeps intents of other sources: manual overrides optimization only while it lives', () => {
    const optimization = intent('optimization', { id: 'o', issuedAtMs: NOW_MS, ttlMs: 600_000 });
    const manual = intent('manual', { id: 'm', issuedAtMs: NOW_MS, ttlMs: 60_000 });
    let table: IntentTable = addIntent(EMPTY_INTENT_TABLE, optimization, NOW_MS).table;
    table = addIntent(table, manual, NOW_MS).table;
    expect(selectIntent(table.intents, NOW_MS + 1_000).winners.get('bat-1')?.intent?.id).toBe('m');
    const later = expireIntents(table, NOW_MS + 60_000);
    expect(later.expired).toEqual([manual]);
    expect(selectIntent(later.table.intents, NOW_MS + 60_000).winners.get('bat-1')?.intent?.id).toBe('o');
  });

  it('treats an older intent arriving late as superseded on arrival', () => {
    const newer = intent('scheduled', { id: 'n', issuedAtMs: NOW_MS - 1_000 });
    const older = intent('scheduled', { id: 'o', issuedAtMs: NOW_MS - 2_000 });
    const table = addIntent(EMPTY_INTENT_TABLE, newer, NOW_MS).table;
    const update = addIntent(table, older, NOW_MS);
    expect(update).toMatchObject({ accepted: false, superseded: [older] });
    expect(update.table.intents).toEqual([newer]);
  });

  it('ignores a re-delivered intent', () => {
    const once = intent('manual', { id: 'same' });
    const table = addIntent(EMPTY_INTENT_TABLE, once, NOW_MS).table;
    const again = addIntent(table, once, NOW_MS);
    expect(again).toMatchObject({ accepted: true, superseded: [] });
    expect(again.table.intents).toEqual([once]);
  });

  it.each([
    { name: 'future-dated', offered: intent('manual', { issuedAtMs: NOW_MS + 10_000 }), reason: 'future-dated' },
    {
      name: 'already expired',
      offered: intent('manual', { issuedAtMs: NOW_MS - 10_000, ttlMs: 1_000 }),
      reason: 'expired',
    },
    { name: 'non-finite ttl', offered: intent('manual', { ttlMs: Number.POSITIVE_INFINITY }), reason: 'invalid-time' },
  ])('refuses an intent that is $name', ({ offered, reason }) => {
    const update = addIntent(EMPTY_INTENT_TABLE, offered, NOW_MS);
    expect(update.accepted).toBe(false);
    expect(update.rejected.map((r) => r.reason)).toEqual([reason]);
    expect(update.table.intents).toEqual([]);
  });

  it('drops expired entries when adding and reports them', () => {
    const stale = intent('optimization', { id: 's', assetId: 'ev-1', issuedAtMs: NOW_MS - 10_000, ttlMs: 1_000 });
    const table: IntentTable = { intents: [stale] };
    const update = addIntent(table, intent('manual', { id: 'm' }), NOW_MS);
    expect(update.expired).toEqual([stale]);
    expect(update.table.intents.map((i) => i.id)).toEqual(['m']);
  });

  it('supersedes on request (hand control back)', () => {
    const manual = intent('manual', { id: 'm' });
    const optimization = intent('optimization', { id: 'o' });
    const table: IntentTable = { intents: [manual, optimization] };
    const update = supersedeIntents(table, 'bat-1', 'manual');
    expect(update.superseded).toEqual([manual]);
    expect(update.table.intents).toEqual([optimization]);
    expect(supersedeIntents(table, 'bat-1').superseded).toEqual([manual, optimization]);
  });

  it('never mutates the table it is given', () => {
    const table: IntentTable = { intents: [intent('manual', { id: 'm' })] };
    const snapshot = structuredClone(table);
    addIntent(table, intent('manual', { id: 'm2' }), NOW_MS);
    expireIntents(table, NOW_MS + 10 ** 9);
    supersedeIntents(table, 'bat-1');
    expect(table).toEqual(snapshot);
  });
});

// ---- properties ----------------------------------------------------------------------------------------------

const SOURCES: IntentSource[] = ['safety', 'manual', 'scheduled', 'optimization'];

const intentArb = fc
  .record({
    id: fc.integer({ min: 0, max: 40 }),
    source: fc.constantFrom(...SOURCES),
    asset: fc.constantFrom('bat-1', 'ev-1', 'pv-1'),
    issuedOffsetMs: fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: -120_000, max: 5_000 }) },
      { weight: 1, arbitrary: fc.double({ noNaN: false }) },
    ),
    ttlMs: fc.integer({ min: 1, max: 120_000 }),
  })
  .map(
    (g): ControlIntent => ({
      v: 1,
      id: `i-${g.id}`,
      source: g.source,
      assetId: g.asset,
      setpoint: battery(g.id * 100),
      issuedAtMs: NOW_MS + g.issuedOffsetMs,
      ttlMs: g.ttlMs,
      reason: 'property',
    }),
  );

const isLive = (i: ControlIntent, nowMs: number) =>
  Number.isFinite(i.issuedAtMs) && i.issuedAtMs <= nowMs + 2_000 && nowMs < i.issuedAtMs + i.ttlMs;

describe('intent properties', () => {
  it(`per asset the winner is the live intent with the highest priority, newest first (${PROPERTY_RUNS.intentSelection} runs)`, () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(intentArb, { maxLength: 12, selector: (i) => i.id }),
        fc.integer({ min: -5_000, max: 5_000 }),
        (intents, offset) => {
          const nowMs = NOW_MS + offset;
          const selection = selectIntent(intents, nowMs);
          const reversed = selectIntent([...intents].reverse(), nowMs);
          for (const [assetId, entry] of selection.winners) {
            const live = intents.filter((i) => i.assetId === assetId && isLive(i, nowMs));
            ensure(
              reversed.winners.get(assetId)?.intent === entry.intent,
              () => `order-dependent winner for ${assetId}`,
            );
            const chosen = entry.intent;
            if (live.length === 0 || chosen === undefined) {
              ensure(
                live.length === 0 && chosen === undefined && entry.setpoint === SAFE_SETPOINT,
                () => `${assetId}: live ${live.length}, no safe default`,
              );
              continue;
            }
            ensure(isLive(chosen, nowMs), () => `${chosen.id} is not live`);
            for (const other of live) {
              ensure(
                INTENT_PRIORITY[other.source] <= INTENT_PRIORITY[chosen.source],
                () => `${other.id} outranks ${chosen.id}`,
              );
              ensure(
                other.source !== chosen.source || other.issuedAtMs <= chosen.issuedAtMs,
                () => `${other.id} is newer than ${chosen.id}`,
              );
              ensure(compareIntents(chosen, other) >= 0, () => `compareIntents(${chosen.id}, ${other.id}) < 0`);
            }
          }
          ensure(
            selection.expired.every((i) => !isLive(i, nowMs)),
            () => 'a live intent was expired',
          );
          ensure(
            selection.rejected.every((i) => !isLive(i.intent, nowMs)),
            () => 'a live intent was rejected',
          );
        },
      ),
      { numRuns: PROPERTY_RUNS.intentSelection },
    );
  });

  it(`the table holds at most one live intent per (asset, source) and selects like the full history (${PROPERTY_RUNS.intentTable} runs)`, () => {
    fc.assert(
      fc.property(fc.uniqueArray(intentArb, { maxLength: 10, selector: (i) => i.id }), (intents) => {
        let table = EMPTY_INTENT_TABLE;
        for (const offered of intents) {
          const update = addIntent(table, offered, NOW_MS);
          table = update.table;
          for (const superseded of update.superseded)
            ensure(!table.intents.includes(superseded), () => `${superseded.id} still held`);
        }
        const slots = table.intents.map((i) => `${i.assetId}/${i.source}`);
        ensure(new Set(slots).size === slots.length, () => `duplicate slots ${slots.join(',')}`);
        ensure(
          table.intents.every((i) => isLive(i, NOW_MS)),
          () => 'table holds a dead intent',
        );
        // The table keeps the newest live intent per slot, so its winner has the same priority and time as the
        // winner over everything ever offered.
        const fromTable = selectIntent(table.intents, NOW_MS);
        for (const [assetId, entry] of selectIntent(intents, NOW_MS).winners) {
          const held = fromTable.winners.get(assetId)?.intent;
          ensure(
            held?.source === entry.intent?.source && held?.issuedAtMs === entry.intent?.issuedAtMs,
            () => `${assetId}: ${held?.id} vs ${entry.intent?.id}`,
          );
        }
      }),
      { numRuns: PROPERTY_RUNS.intentTable },
    );
  });
});
