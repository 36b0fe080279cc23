import { readBodyCapped } from './http-body';

describe('readBodyCapped', () => {
  it('returns the whole body up to the limit, and an empty one for no body', async () => {
    const read = await readBodyCapped(new Response('hello'), 5);
    expect('bytes' in read && Buffer.from(read.bytes).toString('utf8')).toBe('hello');
    expect(await readBodyCapped(new Response(null), 5)).toEqual({ bytes: new Uint8Array(0) });
  });

  it('stops a body that grows past the limit and cancels its download', async () => {
    let cancelled = false;
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 4;
        controller.enqueue(new Uint8Array(4));
      },
      cancel() {
        cancelled = true;
      },
    });
    expect(await readBodyCapped(new Response(endless), 10)).toEqual({ tooLarge: 12 });
    expect(cancelled).toBe(true);
    expect(sent).toBeLessThan(100);
  });
});
