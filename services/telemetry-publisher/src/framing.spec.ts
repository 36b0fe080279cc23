import { TelemetryFrameSchema } from '@voltimax/contracts';
import { exampleReadings } from '@voltimax/contracts/testing';
import {
  cutFrame,
  envelopeBytes,
  frameBytes,
  frameId,
  planFrame,
  splitFrame,
  toTelemetryFrame,
  utf8Bytes,
  windowOf,
  type CutContext,
  type FrameLimits,
  type StreamEntry,
} from './framing';

const GW = 'gw-lorraine-01';
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a window boundary for any window dividing a day

function entry(seq: number, storedAtMs: number, opts: { invalid?: boolean; assetId?: string } = {}): StreamEntry {
  if (opts.invalid) return { seq, storedAtMs, reading: undefined, bytes: 0 };
  const reading = { ...exampleReadings.battery, assetId: opts.assetId ?? 'bat-1', sequence: seq };
  return { seq, storedAtMs, reading, bytes: utf8Bytes(JSON.stringify(reading)) };
}

/** `n` entries from `firstSeq`, `gapMs` apart in store time from `fromMs`. */
function run(firstSeq: number, n: number, fromMs: number, gapMs = 1): StreamEntry[] {
  return Array.from({ length: n }, (_, i) => entry(firstSeq + i, fromMs + i * gapMs));
}

const readingBytes = entry(1, T0).bytes;
const limits: FrameLimits = {
  windowMs: 10_000,
  maxReadings: 100,
  maxBytes: 1_000_000,
  envelopeBytes: envelopeBytes(GW),
};
const open: CutContext = { complete: false, caughtUpAsOfMs: undefined, graceMs: 1_000 };

describe('frame ids and sizes', () => {
  it('names a frame by its gateway and its first and last stream sequence', () => {
    expect(frameId(GW, 17, 42)).toBe('gw-lorraine-01:17-42');
  });

  it('counts UTF-8 bytes like Buffer.byteLength, including multi-byte and surrogate pairs', () => {
    for (const text of ['plain', 'température 24 °C', '電池', 'emoji 🔋 ok', '']) {
      expect(utf8Bytes(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });

  it('bounds the encoded frame from above: envelope + readings + commas ≥ JSON.stringify(frame)', () => {
    const entries = run(1, 37, T0);
    const frame = planFrame(GW, entries, limits);
    const wire = toTelemetryFrame(GW, frame, Date.UTC(2026, 5, 1));
    const actual = Buffer.byteLength(JSON.stringify(wire), 'utf8');
    expect(frame.encodedBytes).toBeGreaterThanOrEqual(actual);
    expect(frame.encodedBytes - actual).toBeLessThan(64); // only the id and time digits are over-counted
    expect(
      frameBytes(
        limits,
        37,
        entries.reduce((n, e) => n + e.bytes, 0),
      ),
    ).toBe(frame.encodedBytes);
  });

  it('builds a TelemetryFrame the contract accepts, readings in stream order', () => {
    const frame = planFrame(
      GW,
      [entry(5, T0, { assetId: 'bat-1' }), entry(6, T0, { invalid: true }), entry(7, T0, { assetId: 'bat-2' })],
      limits,
    );
    const wire = TelemetryFrameSchema.parse(toTelemetryFrame(GW, frame, T0));
    expect(wire.frameId).toBe('gw-lorraine-01:5-7');
    expect(wire.readings.map((r) => [r.assetId, r.sequence])).toEqual([
      ['bat-1', 5],
      ['bat-2', 7],
    ]);
  });
});

describe('cutFrame', () => {
  it('waits while the frame of the current window may still grow', () => {
    expect(cutFrame(run(1, 10, T0), limits, open)).toBe(0);
    expect(cutFrame([], limits, { ...open, complete: true })).toBe(0);
  });

  it('closes a window when a message of a later window follows (server store time)', () => {
    const entries = [...run(1, 5, T0 + 9_000, 100), entry(6, T0 + 10_000)];
    expect(windowOf(T0 + 9_999, 10_000)).not.toBe(windowOf(T0 + 10_000, 10_000));
    expect(cutFrame(entries, limits, open)).toBe(5);
  });

  it('closes the current window once the lane caught up at least the grace after its end', () => {
    const entries = run(1, 3, T0 + 1_000);
    expect(cutFrame(entries, limits, { ...open, caughtUpAsOfMs: T0 + 10_999 })).toBe(0);
    expect(cutFrame(entries, limits, { ...open, caughtUpAsOfMs: T0 + 11_000 })).toBe(3);
  });

  it('closes at the message limit, malformed messages included', () => {
    const entries = [...run(1, 60, T0), ...Array.from({ length: 60 }, (_, i) => entry(61 + i, T0, { invalid: true }))];
    expect(cutFrame(entries, limits, open)).toBe(100);
  });

  it('closes before the reading that would make the frame larger than maxBytes', () => {
    const fitting = 7;
    const tight: FrameLimits = { ...limits, maxBytes: frameBytes(limits, fitting, fitting * readingBytes) };
    expect(cutFrame(run(1, 20, T0), tight, open)).toBe(fitting);
    expect(cutFrame(run(1, 20, T0), { ...tight, maxBytes: tight.maxBytes - 1 }, open)).toBe(fitting - 1);
  });

  it('lets a single oversized reading form a frame of its own instead of stalling', () => {
    const tiny: FrameLimits = { ...limits, maxBytes: 10 };
    expect(cutFrame(run(1, 3, T0), tiny, open)).toBe(1);
  });

  it('closes the last frame of a drained backlog lane', () => {
    expect(cutFrame(run(1, 4, T0), limits, { ...open, complete: true })).toBe(4);
  });

  it('cuts the same boundaries from any frame start, however the messages arrived (rebuilt after a crash)', () => {
    // A backlog spread over store windows and caps: cut it frame by frame, then cut it again starting from each
    // frame boundary, as a restarted publisher does from the consumer's ack floor.
    const entries = [
      ...run(1, 250, T0, 37),
      ...run(251, 3, T0 + 60_000),
      entry(254, T0 + 60_001, { invalid: true }),
      ...run(255, 120, T0 + 61_000, 3),
    ];
    const cutAll = (from: number): number[] => {
      const ends: number[] = [];
      let rest = entries.slice(from);
      for (;;) {
        const n = cutFrame(rest, limits, { ...open, complete: true });
        if (n === 0) return ends;
        ends.push((rest[n - 1] as StreamEntry).seq);
        rest = rest.slice(n);
      }
    };
    const boundaries = cutAll(0);
    expect(boundaries.at(-1)).toBe(374);
    let from = 0;
    for (const end of boundaries) {
      expect(cutAll(from)).toEqual(boundaries.slice(boundaries.indexOf(end)));
      from = entries.findIndex((e) => e.seq === end) + 1;
    }
  });
});

describe('splitFrame', () => {
  it('halves a refused frame by readings, each half with its own range and id', () => {
    const frame = planFrame(
      GW,
      [entry(1, T0), entry(2, T0, { invalid: true }), entry(3, T0), entry(4, T0), entry(5, T0)],
      limits,
    );
    const halves = splitFrame(GW, frame, limits);
    expect(halves?.map((h) => h.frameId)).toEqual(['gw-lorraine-01:1-3', 'gw-lorraine-01:4-5']);
    expect(halves?.map((h) => h.readings.length)).toEqual([2, 2]);
  });

  it('cannot split a single reading', () => {
    expect(splitFrame(GW, planFrame(GW, [entry(9, T0)], limits), limits)).toBeUndefined();
  });
});
