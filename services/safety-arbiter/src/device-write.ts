import { BusReplyRejectedError, BusRequestFailedError, BusValidationError, type Bus } from '@voltimax/bus';
import { subjects, type DeviceWrite, type WriteResult } from '@voltimax/contracts';

/**
 * Why a write did not take effect. The first four are the driver's own `WriteResult.status`; the rest are what the
 * arbiter saw on the bus: `no-reply` (request timed out), `no-responders` (no driver subscribed for the asset),
 * `refused` (the driver answered with a Voltimax-Error header), `invalid-reply` (a reply that fails the schema or
 * answers another command), `bus-error` (anything else on the way).
 */
export type WriteFailure =
  | 'mismatch'
  | 'rejected'
  | 'failed'
  | 'timeout'
  | 'no-reply'
  | 'no-responders'
  | 'refused'
  | 'invalid-reply'
  | 'bus-error';

/** The result of one write with its retries. */
export type WriteOutcome =
  | {
      readonly kind: 'ok';
      readonly status: 'applied' | 'unchanged';
      readonly result: WriteResult;
      readonly attempts: number;
    }
  | {
      readonly kind: 'failed';
      readonly failure: WriteFailure;
      readonly detail: string;
      readonly attempts: number;
      readonly result?: WriteResult;
    }
  /** A newer write for the asset started (or the arbiter stopped) before this one succeeded; its result is moot. */
  | { readonly kind: 'abandoned'; readonly attempts: number };

/** How a write is sent. */
export interface SendWriteOptions {
  readonly bus: Bus;
  /** Per attempt, ms. */
  readonly timeoutMs: number;
  /** Attempts in total, ≥ 1. */
  readonly attempts: number;
  readonly retryDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** False once a newer write for the asset started or the arbiter stops: the remaining attempts are skipped. */
  readonly stillWanted: () => boolean;
}

type Attempt =
  | { readonly kind: 'ok'; readonly status: 'applied' | 'unchanged'; readonly result: WriteResult }
  | {
      readonly kind: 'failed';
      readonly failure: WriteFailure;
      readonly detail: string;
      readonly retryable: boolean;
      readonly result?: WriteResult;
    };

const short = (text: string): string => (text.length > 300 ? `${text.slice(0, 297)}...` : text);

async function attempt(write: DeviceWrite, opts: SendWriteOptions): Promise<Attempt> {
  let result: WriteResult;
  try {
    result = await opts.bus.request(subjects.deviceWrite, { assetId: write.assetId }, write, {
      timeoutMs: opts.timeoutMs,
    });
  } catch (err) {
    if (err instanceof BusRequestFailedError) {
      const failure: WriteFailure =
        err.reason === 'timeout' ? 'no-reply' : err.reason === 'no-responders' ? 'no-responders' : 'bus-error';
      return { kind: 'failed', failure, detail: short(err.message), retryable: true };
    }
    if (err instanceof BusReplyRejectedError) {
      return { kind: 'failed', failure: 'refused', detail: short(err.reason), retryable: false };
    }
    if (err instanceof BusValidationError && err.stage === 'reply') {
      return { kind: 'failed', failure: 'invalid-reply', detail: short(err.message), retryable: false };
    }
    return {
      kind: 'failed',
      failure: 'bus-error',
      detail: short(err instanceof Error ? err.message : String(err)),
      retryable: false,
    };
  }
  if (result.commandId !== write.commandId || result.assetId !== write.assetId) {
    return {
      kind: 'failed',
      failure: 'invalid-reply',
      detail: `reply for ${result.assetId}/${result.commandId}, expected ${write.assetId}/${write.commandId}`,
      retryable: false,
      result,
    };
  }
  if (result.status === 'applied' || result.status === 'unchanged')
    return { kind: 'ok', status: result.status, result };
  return {
    kind: 'failed',
    failure: result.status,
    detail: short(
      result.error ??
        `driver reported ${result.status}${result.readBack === undefined ? '' : `, read back ${result.readBack}`}`,
    ),
    // The device refused the value itself: the same value will be refused again.
    retryable: result.status !== 'rejected',
    result,
  };
}

/**
 * Sends `device.<assetId>.write` as a request and checks the driver's WriteResult. `applied` and `unchanged` are
 * success; every other status, a timeout, no responders and an unusable reply are failures — never a silent
 * success. Retryable failures are retried up to `attempts` in total (same commandId, so a driver can recognise a
 * repeat), unless a newer write for the asset made this one moot.
 */
export async function sendWrite(write: DeviceWrite, opts: SendWriteOptions): Promise<WriteOutcome> {
  let last: Attempt | undefined;
  let attempts = 0;
  while (attempts < opts.attempts) {
    if (!opts.stillWanted()) return { kind: 'abandoned', attempts };
    if (attempts > 0 && opts.retryDelayMs > 0) {
      await opts.sleep(opts.retryDelayMs);
      if (!opts.stillWanted()) return { kind: 'abandoned', attempts };
    }
    attempts += 1;
    last = await attempt(write, opts);
    if (last.kind === 'ok') return { ...last, attempts };
    if (!last.retryable) break;
  }
  if (last === undefined || last.kind === 'ok') return { kind: 'abandoned', attempts };
  return {
    kind: 'failed',
    failure: last.failure,
    detail: last.detail,
    attempts,
    ...(last.result === undefined ? {} : { result: last.result }),
  };
}
