// Reads the 24 h chart's past from stream TELEMETRY (owned by the telemetry-publisher) with read-only requests:
// `$JS.API.STREAM.INFO.TELEMETRY` and `$JS.API.STREAM.MSG.GET.TELEMETRY` (docker/nats/nats.conf, user `dashboard`).
// No consumer is created, so the stream's retention and the publisher's consumer are never touched.
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@voltimax/bus';
import { AssetReadingSchema, streams, subjects } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { HistoryBuckets } from './history';

/** Options of {@link backfillFromStream}. */
export interface BackfillOptions {
  readonly nc: NatsConnection;
  readonly buckets: HistoryBuckets;
  /** Epoch ms: the window is [nowMs − buckets.windowMs, nowMs]. */
  readonly nowMs: number;
  /** At most this many readings per asset (evenly spread over the window when there are more). */
  readonly maxSamplesPerAsset: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Per request, ms. */
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** What a backfill read. */
export interface BackfillResult {
  readonly subjects: number;
  readonly requests: number;
  /** Readings added to the buckets. */
  readonly samples: number;
  /** Messages that were not a valid AssetReading (dropped). */
  readonly invalid: number;
}

/** The first message at or after `seq` on `subject` (wildcards allowed), or null. */
async function nextFrom(jsm: JetStreamManager, seq: number, subject: string): Promise<StoredMsg | null> {
  // `next_by_subj` is accepted by STREAM.MSG.GET since nats-server 2.9; the client types only list seq/last_by_subj.
  return jsm.streams.getMessage(streams.telemetry.name, { seq, next_by_subj: subject } as { seq: number });
}

/** The smallest sequence whose message was stored at or after `fromMs` (or last + 1 if none). */
async function firstSeqSince(jsm: JetStreamManager, first: number, last: number, fromMs: number): Promise<number> {
  let lo = first;
  let hi = last + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const msg = await nextFrom(jsm, mid, subjects.telemetry.wildcard);
    if (msg === null) hi = mid;
    else if (msg.time.getTime() < fromMs) lo = msg.seq + 1;
    else hi = mid;
  }
  return lo;
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

/**
 * Fills `buckets` with readings of the last `windowMs` from stream TELEMETRY. Per asset subject it reads every
 * message when there are at most `maxSamplesPerAsset`, else that many spread evenly by sequence (each bucket then
 * holds the mean of its samples). Throws when the stream cannot be read (missing, no permission).
 */
export async function backfillFromStream(opts: BackfillOptions): Promise<BackfillResult> {
  const { buckets, nowMs } = opts;
  const jsm = await jetstreamManager(opts.nc, { timeout: opts.timeoutMs });
  const info = await jsm.streams.info(streams.telemetry.name, { subjects_filter: subjects.telemetry.wildcard });
  const perSubject = info.state.subjects ?? {};
  const names = Object.keys(perSubject).sort();
  const { first_seq: first, last_seq: last } = info.state;
  let requests = 1;
  let samples = 0;
  let invalid = 0;
  if (info.state.messages === 0 || names.length === 0) return { subjects: 0, requests, samples, invalid };

  const startSeq = await firstSeqSince(jsm, first, last, nowMs - buckets.windowMs);
  requests += Math.ceil(Math.log2(last - first + 2));
  if (startSeq > last) return { subjects: names.length, requests, samples, invalid };

  const take = (msg: StoredMsg): void => {
    let json: unknown;
    try {
      json = msg.json();
    } catch {
      invalid += 1;
      return;
    }
    const parsed = AssetReadingSchema.safeParse(json);
    if (!parsed.success) {
      invalid += 1;
      return;
    }
    if (buckets.add(parsed.data, 'stream', nowMs)) samples += 1;
  };

  await inBatches(names, Math.max(1, Math.floor(opts.concurrency / 8)), async (subject) => {
    const count = perSubject[subject] ?? 0;
    if (count <= opts.maxSamplesPerAsset) {
      // Few messages: read each one, walking forward from the window's start.
      for (let seq = startSeq; seq <= last; ) {
        const msg = await nextFrom(jsm, seq, subject);
        requests += 1;
        if (msg === null || msg.seq > last) break;
        take(msg);
        seq = msg.seq + 1;
      }
      return;
    }
    const stride = Math.max(1, Math.ceil((last - startSeq + 1) / opts.maxSamplesPerAsset));
    const positions: number[] = [];
    for (let seq = startSeq; seq <= last; seq += stride) positions.push(seq);
    const seen = new Set<number>();
    await inBatches(positions, opts.concurrency, async (seq) => {
      const msg = await nextFrom(jsm, seq, subject);
      requests += 1;
      if (msg === null || msg.seq > last || seen.has(msg.seq)) return;
      seen.add(msg.seq);
      take(msg);
    });
  });
  return { subjects: names.length, requests, samples, invalid };
}
