import { captureLogger, createMemoryBus, type MemoryBus } from '@voltimax/bus/testing';
import { subjects, type AssetReading } from '@voltimax/contracts';
import fc from 'fast-check';
import { RecordingHealth } from '../testing';
import {
  AssetErrorTracker,
  assetCounter,
  chargerStateFromCp,
  createReadingPublisher,
  fnv1a,
  type ReadingPublisherOptions,
} from './readings';

const T0 = 1_700_000_000_000;
const INTERVAL = 1_000;

function setup(overrides: Partial<ReadingPublisherOptions> = {}) {
  const bus: MemoryBus = createMemoryBus();
  const captured = captureLogger('debug');
  let nowMs = T0;
  let staleCount = 0;
  const failures: unknown[] = [];
  const publisher = createReadingPublisher({
    bus,
    asset: { id: 'grid-1', kind: 'grid-meter', pollIntervalMs: INTERVAL },
    log: captured.log,
    now: () => nowMs,
    onStale: () => (staleCount += 1),
    onPublishFailed: (err) => failures.push(err),
    ...overrides,
  });
  return {
    publisher,
    lines: captured.lines,
    readings: (): AssetReading[] => bus.published(subjects.telemetry).map((m) => m.payload),
    at: (ms: number) => (nowMs = ms),
    staleCount: () => staleCount,
    failures,
  };
}

describe('createReadingPublisher', () => {
  it('publishes telemetry.<assetId> with a sequence counting from 0', () => {
    const { publisher, readings } = setup();
    publisher.good({ atMs: T0, values: { powerW: 100 } });
    publisher.error({ atMs: T0 + 1, error: 'timeout' });
    publisher.good({ atMs: T0 + 2, values: { powerW: 90 }, chargerState: 'charging' });
    expect(readings()).toEqual([
      { v: 1, assetId: 'grid-1', kind: 'grid-meter', atMs: T0, sequence: 0, quality: 'good', values: { powerW: 100 } },
      {
        v: 1,
        assetId: 'grid-1',
        kind: 'grid-meter',
        atMs: T0 + 1,
        sequence: 1,
        quality: 'error',
        values: {},
        error: 'timeout',
      },
      {
        v: 1,
        assetId: 'grid-1',
        kind: 'grid-meter',
        atMs: T0 + 2,
        sequence: 2,
        quality: 'good',
        values: { powerW: 90 },
        chargerState: 'charging',
      },
    ]);
    expect(publisher.sequence).toBe(3);
  });

  it('logs a publish that fails validation instead of throwing, and does not advance the sequence', () => {
    const { publisher, readings, lines, failures } = setup();
    expect(publisher.publish({ atMs: T0, quality: 'good', values: { powerW: Number.NaN } })).toBe(false);
    expect(lines.find((l) => l.msg === 'telemetry publish failed')).toBeDefined();
    expect(failures).toHaveLength(1);
    publisher.good({ atMs: T0, values: { powerW: 1 } });
    expect(readings().map((r) => r.sequence)).toEqual([0]);
  });

  it('says whether an error is new, and logs the recovery once good again', () => {
    const { publisher, lines } = setup();
    expect(publisher.error({ atMs: T0, error: 'timeout' })).toBe(true);
    expect(publisher.error({ atMs: T0, error: 'timeout' })).toBe(false);
    expect(publisher.error({ atMs: T0, error: 'refused (1 ms)' }, 'refused')).toBe(true);
    expect(publisher.lastError).toBe('refused');
    publisher.good({ atMs: T0, values: {} });
    expect(lines.find((l) => l.msg === 'asset recovered')).toMatchObject({ previousError: 'refused' });
    expect(publisher.lastError).toBeUndefined();
  });

  it('publishes stale with the last good values and their time, and nothing without them', () => {
    const { publisher, readings } = setup();
    expect(publisher.stale('silent')).toBe(false);
    publisher.good({ atMs: T0, values: { powerW: 5 } });
    expect(publisher.stale('silent')).toBe(true);
    expect(readings().at(-1)).toMatchObject({ quality: 'stale', atMs: T0, values: { powerW: 5 }, error: 'silent' });
  });

  it('checkStale: stale only after N intervals without a good reading, at most once an interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ stepMs: fc.integer({ min: 0, max: 2_500 }), good: fc.boolean() }), { maxLength: 60 }),
        (intervals, steps) => {
          const { publisher, readings, at, staleCount } = setup({ staleAfterIntervals: intervals });
          let nowMs = T0;
          let lastGoodAtMs: number | undefined;
          let lastStaleAtMs = Number.NEGATIVE_INFINITY;
          for (const step of steps) {
            nowMs += step.stepMs;
            at(nowMs);
            if (step.good) {
              publisher.good({ atMs: nowMs, values: { powerW: nowMs - T0 } });
              lastGoodAtMs = nowMs;
              continue;
            }
            const due =
              lastGoodAtMs !== undefined &&
              nowMs - lastGoodAtMs > intervals * INTERVAL &&
              nowMs - lastStaleAtMs >= INTERVAL;
            expect(publisher.checkStale()).toBe(due);
            if (due) {
              lastStaleAtMs = nowMs;
              expect(readings().at(-1)).toMatchObject({
                quality: 'stale',
                atMs: lastGoodAtMs,
                values: { powerW: (lastGoodAtMs ?? 0) - T0 },
                error: `no fresh reading for ${nowMs - (lastGoodAtMs ?? 0)} ms (poll still running)`,
              });
            }
          }
          expect(staleCount()).toBe(readings().filter((r) => r.quality === 'stale').length);
          expect(readings().map((r) => r.sequence)).toEqual(readings().map((_r, i) => i));
        },
      ),
    );
  });
});

describe('chargerStateFromCp', () => {
  it.each([
    ['A', 'available'],
    ['B', 'suspended'],
    ['C', 'charging'],
    ['D', 'charging'],
    ['E', 'unavailable'],
    ['F', 'faulted'],
    ['I', undefined],
  ])('%s → %s', (letter, state) => expect(chargerStateFromCp(letter.charCodeAt(0))).toBe(state));

  it('is undefined for a text or nothing', () => {
    expect(chargerStateFromCp('A')).toBeUndefined();
    expect(chargerStateFromCp(undefined)).toBeUndefined();
  });
});

describe('assetCounter', () => {
  it('names a counter per asset (and key)', () => {
    expect(assetCounter('pollErrors', 'ev-1')).toBe('pollErrors.ev-1');
    expect(assetCounter('writes', 'bat-1', 'setpointW')).toBe('writes.bat-1.setpointW');
  });

  it('replaces an asset id too long for 64 characters by its hash', () => {
    const id = 'a'.repeat(80);
    expect(assetCounter('writes', id, 'setpointW')).toBe(`writes.#${fnv1a(id).toString(36)}.setpointW`);
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ minLength: 1, maxLength: 20 }), (assetId, key) => {
        expect(assetCounter('skipped', assetId, key).length).toBeLessThanOrEqual(64);
      }),
    );
  });

  it('hashes with FNV-1a (published test vectors)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
});

describe('AssetErrorTracker', () => {
  it('reports degraded naming the assets in error, ok once none is, and only changes', () => {
    const health = new RecordingHealth();
    const statuses: string[] = [];
    const tracker = new AssetErrorTracker({
      setCounter: (name, value) => health.setCounter(name, value),
      setStatus: (status, detail) => statuses.push(`${status}${detail === undefined ? '' : ` ${detail}`}`),
    });
    tracker.outcome('b', false);
    tracker.outcome('a', false);
    tracker.outcome('a', false);
    expect(health.counter('assetsInError')).toBe(2);
    tracker.outcome('a', true);
    tracker.outcome('b', true);
    tracker.outcome('b', true);
    expect(statuses).toEqual([
      'degraded assets in error: b',
      'degraded assets in error: a, b',
      'degraded assets in error: b',
      'ok',
    ]);
  });
});
