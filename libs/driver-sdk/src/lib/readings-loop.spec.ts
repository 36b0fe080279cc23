import fc from 'fast-check';
import { createPollLoop } from './readings-loop';

const T0 = 1_700_000_000_000;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('createPollLoop', () => {
  beforeEach(() => jest.useFakeTimers({ now: T0 }));
  afterEach(() => jest.useRealTimers());

  it('runs a cycle at once and every interval after', async () => {
    const starts: number[] = [];
    const loop = createPollLoop({ intervalMs: 1_000, cycle: () => Promise.resolve(void starts.push(Date.now() - T0)) });
    loop.start();
    await jest.advanceTimersByTimeAsync(3_500);
    await loop.stop();
    expect(starts).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it('never overlaps cycles: a tick during a slow cycle only calls onBusy (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 2_000 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 8 }),
        async (intervalMs, durations) => {
          const cycles: { start: number; end: number }[] = [];
          const busy: number[] = [];
          let running = 0;
          let next = 0;
          const loop = createPollLoop({
            intervalMs,
            cycle: async () => {
              running += 1;
              if (running > 1) throw new Error('overlap');
              const start = Date.now();
              await delay(durations[next++ % durations.length] ?? 0);
              cycles.push({ start, end: Date.now() });
              running -= 1;
            },
            onBusy: () => busy.push(Date.now()),
          });
          loop.start();
          await jest.advanceTimersByTimeAsync(20_000);
          const stopping = loop.stop();
          await jest.advanceTimersByTimeAsync(5_000);
          await stopping;
          expect(loop.stopped).toBe(true);
          cycles.slice(1).forEach((c, i) => expect(c.start).toBeGreaterThanOrEqual(cycles[i]?.end ?? Infinity));
          // Every busy tick fell inside a running cycle (or the one still running when stopped).
          for (const at of busy)
            expect(cycles.some((c) => c.start < at && at <= c.end) || at > (cycles.at(-1)?.end ?? 0)).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('stop waits for the cycle in flight and ticks no more', async () => {
    let ended = false;
    let cycles = 0;
    const loop = createPollLoop({
      intervalMs: 100,
      cycle: async () => {
        cycles += 1;
        await delay(1_000);
        ended = true;
      },
    });
    loop.start();
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(999);
    expect(stopped).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await stopping;
    expect(ended).toBe(true);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(cycles).toBe(1);
  });

  it('hands a rejected cycle to onError and keeps ticking', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const loop = createPollLoop({
      intervalMs: 100,
      cycle: () => (n++ === 0 ? Promise.reject(new Error('bug')) : Promise.resolve()),
      onError: (err) => errors.push(err),
    });
    loop.start();
    await jest.advanceTimersByTimeAsync(250);
    await loop.stop();
    expect(errors).toEqual([new Error('bug')]);
    expect(n).toBe(3);
  });
});
