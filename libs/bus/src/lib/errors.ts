import type { ValidationProblem } from '@voltimax/contracts';

/** Where a bus message failed its schema. */
export type ValidationStage = 'publish' | 'request' | 'reply' | 'kv-put' | 'kv-get';

/**
 * A message failed its schema on our side of the wire: an outbound payload we built (a bug in the caller), a reply
 * we received (the other side's bug), or a KV value. Nothing was sent when the stage is outbound.
 */
export class BusValidationError extends Error {
  override readonly name = 'BusValidationError';
  readonly retryable = false;
  constructor(
    readonly subject: string,
    readonly stage: ValidationStage,
    readonly problems: readonly ValidationProblem[],
    options?: ErrorOptions,
  ) {
    super(`${stage} on ${subject} failed validation: ${summarizeProblems(problems)}`, options);
  }
}

/** Why a request got no usable answer from the transport. */
export type RequestFailure = 'timeout' | 'no-responders' | 'failed';

/** A request got no reply in time, nobody listens on the subject, or the connection failed. */
export class BusRequestFailedError extends Error {
  override readonly name = 'BusRequestFailedError';
  readonly retryable: boolean;
  constructor(
    readonly subject: string,
    readonly reason: RequestFailure,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(
      reason === 'timeout'
        ? `request on ${subject} got no reply within ${timeoutMs} ms`
        : reason === 'no-responders'
          ? `request on ${subject}: no responders`
          : `request on ${subject} failed`,
      options,
    );
    this.retryable = true;
  }
}

/**
 * The replier refused the request: it answered with a `Voltimax-Error` header and an empty body
 * (invalid request, handler failure, or an invalid reply it would not send).
 */
export class BusReplyRejectedError extends Error {
  override readonly name = 'BusReplyRejectedError';
  readonly retryable = false;
  /** The reason code before the first `:` (`invalid-request`, `handler-failed`, `invalid-reply`). */
  readonly code: string;
  constructor(
    readonly subject: string,
    /** The full header value, `<code>: <detail>`. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`request on ${subject} was rejected by the replier: ${reason}`, options);
    this.code = reason.split(':', 1)[0]?.trim() ?? reason;
  }
}

/** `$.a: msg; $.b: msg` — at most `max` problems, for messages and header values. */
export function summarizeProblems(problems: readonly ValidationProblem[], max = 5): string {
  const shown = problems.slice(0, max).map((p) => `${p.path}: ${p.message}`);
  const more = problems.length > max ? ` (+${problems.length - max} more)` : '';
  return `${shown.join('; ')}${more}`;
}
