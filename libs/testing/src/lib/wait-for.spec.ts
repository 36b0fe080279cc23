import { waitFor, WaitForTimeoutError } from './wait-for';

describe('waitFor', () => {
  it('resolves with the first truthy value the predicate returns', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        return calls >= 3 ? { calls } : undefined;
      },
      { intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it('awaits an async predicate', async () => {
    let calls = 0;
    await expect(waitFor(async () => ++calls === 2 && 'ready', { intervalMs: 1 })).resolves.toBe('ready');
  });

  it('treats a throwing predicate as not yet and keeps polling', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        if (calls < 3) throw new Error('not connected');
        return calls;
      },
      { intervalMs: 1 },
    );
    expect(value).toBe(3);
  });

  it('rejects at the timeout with the message and the last error the predicate threw', async () => {
    const started = performance.now();
    const failure = await waitFor(
      () => {
        throw new RangeError('socket refused');
      },
      { timeoutMs: 60, intervalMs: 5, message: 'the broker to answer' },
    ).catch((err: unknown) => err);

    expect(performance.now() - started).toBeLessThan(1_000);
    expect(failure).toBeInstanceOf(WaitForTimeoutError);
    const err = failure as WaitForTimeoutError;
    expect(err.message).toMatch(
      /^timed out after 60 ms \(\d+ attempts\) waiting for the broker to answer; last error: RangeError: socket refused$/,
    );
    expect(err.cause).toBeInstanceOf(RangeError);
  });

  it('treats an empty array as not yet, so a filtered list does not end the wait before anything arrived', async () => {
    const arrived: number[] = [];
    let calls = 0;
    const list = await waitFor(
      () => {
        calls += 1;
        if (calls === 3) arrived.push(7);
        return arrived.filter((n) => n > 0);
      },
      { timeoutMs: 1_000, intervalMs: 1 },
    );
    expect(list).toEqual([7]);
    expect(calls).toBe(3);
    await expect(waitFor(() => [] as number[], { timeoutMs: 20, intervalMs: 5 })).rejects.toBeInstanceOf(
      WaitForTimeoutError,
    );
  });

  it('says so when the predicate only returned falsy values', async () => {
    await expect(waitFor(() => 0, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(
      /^timed out after 30 ms \(\d+ attempts\) waiting for the condition$/,
    );
  });

  it('rejects at the timeout even when a call never settles', async () => {
    const started = performance.now();
    await expect(waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 50 })).rejects.toBeInstanceOf(
      WaitForTimeoutError,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('calls the predicate at least once with a zero timeout', async () => {
    await expect(waitFor(() => 'now', { timeoutMs: 0 })).resolves.toBe('now');
  });

  it('defaults to a 5000 ms timeout', async () => {
    jest.spyOn(performance, 'now').mockReturnValueOnce(0).mockReturnValue(5_001);
    await expect(waitFor(() => false)).rejects.toThrow('timed out after 5000 ms');
  });
});
