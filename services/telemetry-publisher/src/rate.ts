/**
 * Backlog pacing, pure. Live first: a ready live frame always goes next. A backlog frame goes only when no live
 * frame is ready and the token bucket allows it, so the backlog drains at `ratePerS` readings per second on average
 * (bursts up to `burst` readings) and never holds a live frame back for longer than one frame's send.
 */

/** Token bucket state: `tokens` readings available at `atMs`. May be negative after a frame larger than the rest. */
export interface TokenBucket {
  readonly tokens: number;
  readonly atMs: number;
}

/** Backlog rate: readings per second (0 = unlimited) and the burst (bucket size), readings. */
export interface RateLimit {
  readonly ratePerS: number;
  readonly burst: number;
}

/** A full bucket at `nowMs`. */
export function fullBucket(limit: RateLimit, nowMs: number): TokenBucket {
  return { tokens: limit.burst, atMs: nowMs };
}

/** The bucket refilled up to `nowMs` (time never runs backwards here: an earlier `nowMs` changes nothing). */
export function refill(bucket: TokenBucket, limit: RateLimit, nowMs: number): TokenBucket {
  if (limit.ratePerS <= 0 || nowMs <= bucket.atMs) return bucket;
  const tokens = Math.min(limit.burst, bucket.tokens + ((nowMs - bucket.atMs) * limit.ratePerS) / 1000);
  return { tokens, atMs: nowMs };
}

/** How long until a backlog frame may go, ms (0 = now). A frame may go whenever the bucket is not in debt. */
export function backlogWaitMs(bucket: TokenBucket, limit: RateLimit, nowMs: number): number {
  if (limit.ratePerS <= 0) return 0;
  const current = refill(bucket, limit, nowMs);
  if (current.tokens >= 0) return 0;
  return Math.ceil((-current.tokens * 1000) / limit.ratePerS);
}

/** The bucket after a backlog frame of `readings` readings went at `nowMs`. */
export function spend(bucket: TokenBucket, limit: RateLimit, nowMs: number, readings: number): TokenBucket {
  if (limit.ratePerS <= 0) return bucket;
  const current = refill(bucket, limit, nowMs);
  return { tokens: current.tokens - readings, atMs: current.atMs };
}

/** Which frame goes next. */
export type NextSend =
  | { readonly lane: 'live' }
  | { readonly lane: 'backlog' }
  | { readonly lane: 'none'; readonly waitMs: number | undefined };

/**
 * Live first, then backlog when the bucket allows; otherwise wait (`waitMs` until the bucket allows a ready backlog
 * frame, undefined when nothing is ready).
 */
export function chooseNext(opts: {
  readonly liveReady: boolean;
  readonly backlogReady: boolean;
  readonly bucket: TokenBucket;
  readonly limit: RateLimit;
  readonly nowMs: number;
}): NextSend {
  if (opts.liveReady) return { lane: 'live' };
  if (!opts.backlogReady) return { lane: 'none', waitMs: undefined };
  const waitMs = backlogWaitMs(opts.bucket, opts.limit, opts.nowMs);
  return waitMs === 0 ? { lane: 'backlog' } : { lane: 'none', waitMs };
}

/** Exponential backoff after `failures` consecutive failed sends: min·2^(n−1), capped, ms. */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, minMs * 2 ** Math.min(30, failures - 1));
}
