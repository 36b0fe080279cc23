import { TransportError, type LinkState, type TelemetrySendOptions, type TelemetrySink } from '@voltimax/cloud';
import type { TelemetryFrame } from '@voltimax/contracts';

/** The configured transports: the primary (MQTT or Service Bus) and the HTTP fallback (Platform API). */
export interface Sinks {
  readonly primary: TelemetrySink | undefined;
  readonly fallback: TelemetrySink | undefined;
}

/** Which transport took a frame, or why none did. */
export type SendOutcome =
  | { readonly ok: true; readonly via: 'primary' | 'fallback' }
  | {
      readonly ok: false;
      /** `too-large`: split and retry; `permanent`: every transport refused this frame for good; `retry`: back off. */
      readonly kind: 'too-large' | 'permanent' | 'retry';
      readonly errors: readonly { readonly via: 'primary' | 'fallback'; readonly error: unknown }[];
    };

/**
 * Order in which to try the transports: the primary first unless it reports itself offline (a primary that has not
 * connected yet is `connecting` and connects on its first send); the fallback first while the primary is offline,
 * so a dead primary costs no timeout per frame (it reconnects in the background and is used again once `online`).
 * The other one is still tried after a failure.
 */
export function sendOrder(primary: LinkState | undefined, hasFallback: boolean): readonly ('primary' | 'fallback')[] {
  if (primary === undefined) return hasFallback ? ['fallback'] : [];
  if (!hasFallback) return ['primary'];
  const down = primary === 'offline' || primary === 'closed';
  return down ? ['fallback', 'primary'] : ['primary', 'fallback'];
}

/** Whether an error means "this frame is too large for that transport". */
export function isTooLarge(error: unknown): boolean {
  return error instanceof TransportError && error.code === 'too-large';
}

/** Whether the transport refused this frame for good (retrying the same frame would fail again). */
export function isPermanent(error: unknown): boolean {
  return (
    error instanceof TransportError && !error.retryable && (error.code === 'rejected' || error.code === 'protocol')
  );
}

/**
 * The outcome over the attempts made: too-large if any transport said so (splitting helps every transport),
 * permanent if every transport refused the frame for good, otherwise retry.
 */
export function classifyFailures(
  errors: readonly { readonly via: 'primary' | 'fallback'; readonly error: unknown }[],
): 'too-large' | 'permanent' | 'retry' {
  if (errors.some((e) => isTooLarge(e.error))) return 'too-large';
  if (errors.length > 0 && errors.every((e) => isPermanent(e.error))) return 'permanent';
  return 'retry';
}

function withTimeout(promise: Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TransportError(`no answer from the cloud within ${timeoutMs} ms`, 'timeout', true)),
      timeoutMs,
    );
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Sends one frame through the primary, then the fallback (see {@link sendOrder}); resolves with the first transport
 * that accepted it. A send that does not settle within `timeoutMs` counts as failed (the transport may still
 * deliver it later; the frame id lets the cloud drop the second copy).
 */
export async function sendFrame(
  sinks: Sinks,
  frame: TelemetryFrame,
  options: TelemetrySendOptions,
  timeoutMs: number,
): Promise<SendOutcome> {
  const order = sendOrder(sinks.primary?.status().state, sinks.fallback !== undefined);
  const errors: { via: 'primary' | 'fallback'; error: unknown }[] = [];
  for (const via of order) {
    const sink = via === 'primary' ? sinks.primary : sinks.fallback;
    if (sink === undefined) continue;
    try {
      await withTimeout(sink.send(frame, options), timeoutMs);
      return { ok: true, via };
    } catch (error) {
      errors.push({ via, error });
    }
  }
  return { ok: false, kind: classifyFailures(errors), errors };
}
