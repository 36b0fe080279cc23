import { setTimeout as delay } from 'node:timers/promises';

/** Poll `check` until it returns true; throws after `timeoutMs` (or rethrows what `check` throws). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number; readonly what?: string } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}`);
    await delay(options.intervalMs ?? 25);
  }
}
