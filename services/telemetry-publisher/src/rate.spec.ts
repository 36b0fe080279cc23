import { backlogWaitMs, backoffMs, chooseNext, fullBucket, refill, spend, type RateLimit } from './rate';

const limit: RateLimit = { ratePerS: 1_000, burst: 2_000 };

describe('backlog token bucket', () => {
  it('starts full and refills at the rate, never beyond the burst', () => {
    const bucket = fullBucket(limit, 0);
    expect(bucket.tokens).toBe(2_000);
    expect(refill({ tokens: 0, atMs: 0 }, limit, 500).tokens).toBe(500);
    expect(refill({ tokens: 0, atMs: 0 }, limit, 60_000).tokens).toBe(2_000);
    expect(refill({ tokens: 100, atMs: 1_000 }, limit, 500)).toEqual({ tokens: 100, atMs: 1_000 }); // clock went back
  });

  it('lets a frame go while not in debt and makes the next one wait for the debt to refill', () => {
    let bucket = fullBucket(limit, 0);
    expect(backlogWaitMs(bucket, limit, 0)).toBe(0);
    bucket = spend(bucket, limit, 0, 5_000); // a frame larger than the burst still goes once
    expect(bucket.tokens).toBe(-3_000);
    expect(backlogWaitMs(bucket, limit, 0)).toBe(3_000);
    expect(backlogWaitMs(bucket, limit, 2_000)).toBe(1_000);
    expect(backlogWaitMs(bucket, limit, 3_000)).toBe(0);
  });

  it('holds the average at the rate over a long drain', () => {
    // Frames of 700 readings sent as soon as allowed for 60 s of simulated time.
    let bucket = fullBucket(limit, 0);
    let sent = 0;
    for (let t = 0; t <= 60_000; ) {
      const wait = backlogWaitMs(bucket, limit, t);
      if (wait > 0) {
        t += wait;
        continue;
      }
      bucket = spend(bucket, limit, t, 700);
      sent += 700;
    }
    expect(sent).toBeGreaterThanOrEqual(60 * 1_000);
    expect(sent).toBeLessThanOrEqual(60 * 1_000 + 2_000 + 700);
  });

  it('never waits when the rate is unlimited (0)', () => {
    const unlimited: RateLimit = { ratePerS: 0, burst: 1 };
    const bucket = spend(fullBucket(unlimited, 0), unlimited, 0, 1_000_000);
    expect(backlogWaitMs(bucket, unlimited, 0)).toBe(0);
  });
});

describe('chooseNext: live first', () => {
  const inDebt = { tokens: -500, atMs: 0 };
  it.each([
    {
      name: 'a ready live frame always goes first',
      liveReady: true,
      backlogReady: true,
      bucket: inDebt,
      expected: { lane: 'live' },
    },
    {
      name: 'the backlog goes when no live frame is ready and the bucket allows',
      liveReady: false,
      backlogReady: true,
      bucket: fullBucket(limit, 0),
      expected: { lane: 'backlog' },
    },
    {
      name: 'a paced backlog waits for its tokens',
      liveReady: false,
      backlogReady: true,
      bucket: inDebt,
      expected: { lane: 'none', waitMs: 500 },
    },
    {
      name: 'nothing ready: wait for data',
      liveReady: false,
      backlogReady: false,
      bucket: fullBucket(limit, 0),
      expected: { lane: 'none', waitMs: undefined },
    },
  ])('$name', ({ liveReady, backlogReady, bucket, expected }) => {
    expect(chooseNext({ liveReady, backlogReady, bucket, limit, nowMs: 0 })).toEqual(expected);
  });
});

describe('backoffMs', () => {
  it('doubles from the minimum up to the maximum', () => {
    expect([0, 1, 2, 3, 4, 10, 100].map((n) => backoffMs(n, 500, 30_000))).toEqual([
      0, 500, 1_000, 2_000, 4_000, 30_000, 30_000,
    ]);
  });
});
