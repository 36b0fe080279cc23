import type { AssetReading, TelemetryFrame } from '@voltimax/contracts';

/**
 * Frame building, pure. A frame is a run of consecutive TELEMETRY messages of one lane (see lanes.ts), in stream
 * order. Its boundaries depend only on what is in the stream — never on when the publisher happened to look — so a
 * frame rebuilt after a crash from the consumer's ack floor gets the same readings and the same id:
 *
 * - a frame holds messages of one window of `windowMs` of *server store time* (the JetStream timestamp, which
 *   never decreases along the stream): a message of a later window closes it;
 * - it is closed early when one more message would exceed `maxReadings` or one more reading `maxBytes` (greedy
 *   from its first message);
 * - the last frame of a lane is closed when the lane has everything up to its end (a drained backlog lane);
 * - the frame of the current window is closed once the lane has caught up with the stream at a time at least
 *   `graceMs` past the window's end, so no message of that window can still arrive (as long as the server's clock
 *   and ours differ by less than `graceMs`; if not, a late message only forms its own frame).
 *
 * The id is `<gatewayId>:<first stream seq>-<last stream seq>` (TelemetryFrameSchema). Because acks are
 * "ack all" and sent at frame ends, the ack floor is always the end of a frame, and a restart starts the next
 * frame exactly where the unacknowledged one started.
 */

/** One message of the stream as a lane holds it. */
export interface StreamEntry {
  /** Stream sequence. */
  readonly seq: number;
  /** When the server stored it, epoch ms (JetStream timestamp, truncated to ms). */
  readonly storedAtMs: number;
  /** The validated reading; undefined for a malformed message (skipped, still part of the frame's range). */
  readonly reading: AssetReading | undefined;
  /** UTF-8 bytes of `JSON.stringify(reading)`; 0 for a malformed message. */
  readonly bytes: number;
}

/** Limits of one frame. */
export interface FrameLimits {
  /** Length of a frame window in server store time, ms. */
  readonly windowMs: number;
  /** Messages per frame (valid readings and skipped malformed messages alike). */
  readonly maxReadings: number;
  /** Largest encoded frame (JSON, before gzip), bytes. */
  readonly maxBytes: number;
  /** Upper bound of the encoded frame without its readings (see {@link envelopeBytes}). */
  readonly envelopeBytes: number;
}

/** What the lane knows beyond its buffered entries. */
export interface CutContext {
  /** The lane has received everything up to its end: the last buffered entry ends the lane. */
  readonly complete: boolean;
  /** Epoch ms (our clock) at which the lane last knew it had every message the stream held; undefined if never. */
  readonly caughtUpAsOfMs: number | undefined;
  /** Allowance for the server clock running ahead of ours and for delivery delay, ms. */
  readonly graceMs: number;
}

const MAX_SEQ_DIGITS = String(Number.MAX_SAFE_INTEGER);

/** The frame id: `<gatewayId>:<first stream seq>-<last stream seq>`. */
export function frameId(gatewayId: string, firstSeq: number, lastSeq: number): string {
  return `${gatewayId}:${firstSeq}-${lastSeq}`;
}

/** UTF-8 length of a string without allocating a Buffer. */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4; // a surrogate pair is one 4-byte code point
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Bytes of an encoded frame of `gatewayId` without its readings, for the largest possible id and creation time, so
 * `envelope + Σ reading bytes + commas` is an upper bound of `JSON.stringify(frame)`.
 */
export function envelopeBytes(gatewayId: string): number {
  const frame = {
    v: 1,
    frameId: frameId(gatewayId, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    gatewayId,
    createdAtMs: Number(MAX_SEQ_DIGITS),
    readings: [],
  };
  return utf8Bytes(JSON.stringify(frame));
}

/** Encoded size bound of a frame holding `readingBytes` (sum) over `readings` readings. */
export function frameBytes(limits: Pick<FrameLimits, 'envelopeBytes'>, readings: number, readingBytes: number): number {
  return limits.envelopeBytes + readingBytes + Math.max(0, readings - 1);
}

/** The window index of a store time. */
export function windowOf(storedAtMs: number, windowMs: number): number {
  return Math.floor(storedAtMs / windowMs);
}

/**
 * How many of `entries` (the lane's unframed messages, in stream order, starting at the next frame's first message)
 * form the next closed frame; 0 while that frame may still grow. Never 0 when a frame is closed, never cuts a frame
 * empty: a single reading larger than `maxBytes` forms a frame of its own (the transport will refuse it).
 */
export function cutFrame(entries: readonly StreamEntry[], limits: FrameLimits, ctx: CutContext): number {
  const first = entries[0];
  if (first === undefined) return 0;
  const window = windowOf(first.storedAtMs, limits.windowMs);
  let readings = 0;
  let readingBytes = 0;
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i] as StreamEntry;
    if (i > 0 && windowOf(entry.storedAtMs, limits.windowMs) !== window) return i;
    if (i >= limits.maxReadings) return i;
    if (entry.reading !== undefined) {
      const fits = frameBytes(limits, readings + 1, readingBytes + entry.bytes) <= limits.maxBytes;
      if (!fits && readings > 0) return i;
      readings += 1;
      readingBytes += entry.bytes;
    }
  }
  if (ctx.complete) return entries.length;
  const windowEndMs = (window + 1) * limits.windowMs;
  if (ctx.caughtUpAsOfMs !== undefined && ctx.caughtUpAsOfMs >= windowEndMs + ctx.graceMs) return entries.length;
  return 0;
}

/** A frame ready to send, with the stream messages it covers. */
export interface PlannedFrame {
  readonly frameId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly entries: readonly StreamEntry[];
  /** The valid readings, in stream order (may be empty when every message was malformed). */
  readonly readings: readonly AssetReading[];
  /** Upper bound of the encoded size (JSON, before gzip), bytes. */
  readonly encodedBytes: number;
}

/** The frame over `entries` (non-empty, consecutive). */
export function planFrame(
  gatewayId: string,
  entries: readonly StreamEntry[],
  limits: Pick<FrameLimits, 'envelopeBytes'>,
): PlannedFrame {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) throw new Error('planFrame needs at least one entry');
  const readings: AssetReading[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (entry.reading === undefined) continue;
    readings.push(entry.reading);
    bytes += entry.bytes;
  }
  return {
    frameId: frameId(gatewayId, first.seq, last.seq),
    firstSeq: first.seq,
    lastSeq: last.seq,
    entries,
    readings,
    encodedBytes: frameBytes(limits, readings.length, bytes),
  };
}

/**
 * Splits a frame the transport refused as too large (or rejected) into two halves by readings, each with its own
 * id over its own sequence range; undefined when it holds a single reading and cannot be split.
 */
export function splitFrame(
  gatewayId: string,
  frame: PlannedFrame,
  limits: Pick<FrameLimits, 'envelopeBytes'>,
): readonly [PlannedFrame, PlannedFrame] | undefined {
  if (frame.readings.length < 2) return undefined;
  const half = Math.ceil(frame.readings.length / 2);
  let seen = 0;
  let cut = 0;
  for (let i = 0; i < frame.entries.length; i += 1) {
    if ((frame.entries[i] as StreamEntry).reading !== undefined) seen += 1;
    if (seen === half) {
      cut = i + 1;
      break;
    }
  }
  return [
    planFrame(gatewayId, frame.entries.slice(0, cut), limits),
    planFrame(gatewayId, frame.entries.slice(cut), limits),
  ];
}

/** The wire frame. `createdAtMs` is the only part that differs between two sends of the same frame. */
export function toTelemetryFrame(gatewayId: string, frame: PlannedFrame, createdAtMs: number): TelemetryFrame {
  return { v: 1, frameId: frame.frameId, gatewayId, createdAtMs, readings: [...frame.readings] };
}
