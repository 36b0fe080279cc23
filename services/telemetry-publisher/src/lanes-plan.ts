/**
 * Lanes, pure. A lane is one durable pull consumer on TELEMETRY covering a contiguous range of stream sequences.
 * Normally there is one lane, `telemetry-publisher`, open-ended: the live lane. After an outage, the publisher
 * splits the backlog off: it creates a new consumer `telemetry-publisher-<P>` that starts at sequence P (one past
 * the last stored message), which becomes the live lane, while the old consumer keeps its position and ends at
 * P − 1. The server keeps each consumer's start and ack floor, so the ranges survive any crash: lane i covers
 * [start_i, start_{i+1} − 1], the last lane is the live one. A backlog lane is deleted once everything in it was
 * accepted by the cloud (or dropped by the stream's limits, which is counted).
 */

/** The base consumer name (the service name). */
export const LANE_BASE_NAME = 'telemetry-publisher';

const LANE_NAME = /^telemetry-publisher(?:-(\d+))?$/;

/** The consumer name of a lane starting at `startSeq` (the first lane, from sequence 1, has the base name). */
export function laneName(startSeq: number): string {
  return startSeq <= 1 ? LANE_BASE_NAME : `${LANE_BASE_NAME}-${startSeq}`;
}

/** Whether a consumer name is one of our lanes. */
export function isLaneName(name: string): boolean {
  return LANE_NAME.test(name);
}

/** A lane consumer as found on the server. */
export interface LaneConsumer {
  readonly name: string;
  /** First stream sequence it delivers (opt_start_seq, or 1 for deliver-all). */
  readonly startSeq: number;
}

/** A lane with its range. */
export interface LaneRange extends LaneConsumer {
  /** Last sequence of a backlog lane (inclusive); undefined for the live lane. */
  readonly endSeq: number | undefined;
}

/** Orders the lanes by start and gives each backlog lane its end (the next lane's start − 1). */
export function planLanes(consumers: readonly LaneConsumer[]): LaneRange[] {
  const sorted = [...consumers].sort((a, b) => a.startSeq - b.startSeq);
  return sorted.map((consumer, i) => {
    const next = sorted[i + 1];
    return { ...consumer, endSeq: next === undefined ? undefined : next.startSeq - 1 };
  });
}

/**
 * Readings the stream dropped before this lane received them. `receivedThrough`: every sequence up to it was
 * received or already counted; `firstSeq`: the stream's first sequence now (older ones were removed by max_bytes
 * or max_age). Returns the newly lost count and the new `receivedThrough`.
 */
export function lostBeforeFirst(
  receivedThrough: number,
  firstSeq: number,
  endSeq: number | undefined,
): { readonly lost: number; readonly receivedThrough: number } {
  const goneThrough = endSeq === undefined ? firstSeq - 1 : Math.min(firstSeq - 1, endSeq);
  if (goneThrough <= receivedThrough) return { lost: 0, receivedThrough };
  return { lost: goneThrough - receivedThrough, receivedThrough: goneThrough };
}

/** Stream state as seen by the publisher. */
export interface StreamPosition {
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/**
 * Messages still in the stream that the cloud has not accepted yet, over all lanes (the backlog count).
 * `acceptedThrough`: every sequence up to it is done for that lane.
 */
export function unsentCount(
  lanes: readonly { readonly acceptedThrough: number; readonly endSeq: number | undefined }[],
  stream: StreamPosition,
): number {
  let total = 0;
  for (const lane of lanes) {
    const from = Math.max(lane.acceptedThrough + 1, stream.firstSeq);
    const to = lane.endSeq === undefined ? stream.lastSeq : Math.min(lane.endSeq, stream.lastSeq);
    if (to >= from) total += to - from + 1;
  }
  return total;
}

/** When the live lane has fallen so far behind that its backlog is split off into its own lane. */
export interface SplitPolicy {
  /** Unsent readings in the live lane. */
  readonly minReadings: number;
  /** Age of its oldest unsent reading (server store time), ms. */
  readonly minAgeMs: number;
  /** Lanes at most (the live lane included); at the limit the live lane drains its own backlog in order. */
  readonly maxLanes: number;
}

/**
 * Split when the link works again (a frame was just accepted), the live lane is behind by count or by age, and
 * another lane is allowed.
 */
export function shouldSplit(opts: {
  readonly policy: SplitPolicy;
  readonly lanes: number;
  readonly justAccepted: boolean;
  readonly liveUnsent: number;
  readonly liveOldestAgeMs: number | undefined;
}): boolean {
  if (!opts.justAccepted || opts.lanes >= opts.policy.maxLanes) return false;
  if (opts.liveUnsent >= opts.policy.minReadings) return true;
  return opts.liveOldestAgeMs !== undefined && opts.liveOldestAgeMs >= opts.policy.minAgeMs;
}
