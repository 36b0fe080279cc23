import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import { readBodyCapped } from '@voltimax/service-kit';

/** Why an HTTP exchange with a device failed. `retryable` failures are retried and count towards the breaker. */
export type HttpFailureKind = 'timeout' | 'connection' | 'status' | 'too-large' | 'body' | 'breaker-open';

/** A failed exchange with a device, with a message fit for a reading's `error`. */
export class HttpDeviceError extends Error {
  override readonly name = 'HttpDeviceError';
  constructor(
    readonly kind: HttpFailureKind,
    message: string,
    /** HTTP status for `status` failures. */
    readonly status?: number,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }

  /** Timeouts, refused or reset connections and 5xx answers may pass: retry them; a 4xx or a bad body will not. */
  get retryable(): boolean {
    return (
      this.kind === 'timeout' || this.kind === 'connection' || (this.kind === 'status' && (this.status ?? 0) >= 500)
    );
  }
}

/** Breaker state as a heartbeat number: 0 closed, 1 half-open, 2 open, 3 isolated. */
export const BREAKER_CODE: Readonly<Record<CircuitState, number>> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 3,
};

/** One request to a device. */
export interface HttpDeviceRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** JSON text (sent with `Content-Type: application/json`). */
  readonly body?: string;
}

/** A 2xx answer: its status and its body as text. */
export interface HttpDeviceResponse {
  readonly status: number;
  readonly text: string;
}

/** Settings of one device's client. Durations in ms. */
export interface HttpDeviceClientOptions {
  readonly timeoutMs: number;
  /** Attempts per request in total, including the first (1 = no retry). */
  readonly attempts: number;
  readonly maxBodyBytes: number;
  readonly breaker: { readonly consecutiveFailures: number; readonly halfOpenAfterMs: number };
  /** First backoff between attempts (default 100 ms, doubling with jitter up to 2 000 ms). */
  readonly retryInitialDelayMs?: number;
  readonly log: Logger;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A one-line, bounded extract of a body for messages. */
function snippet(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? cause.message : undefined;
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** Reads at most `limit` bytes of the body; more is an error (a device answering megabytes is broken). */
async function readBody(response: Response, limit: number, url: string): Promise<Uint8Array> {
  const read = await readBodyCapped(response, limit);
  if ('tooLarge' in read) throw new HttpDeviceError('too-large', `${url}: response body exceeds ${limit} bytes`);
  return read.bytes;
}

/**
 * The HTTP client of one device: every request has a timeout (connect + response + body), failures that may pass
 * are retried with exponential backoff and jitter, and a circuit breaker per device stops hammering a dead one
 * (after `consecutiveFailures` failed attempts, one probe per `halfOpenAfterMs`). Bodies are bounded in size and
 * must be UTF-8 text. Uses the runtime's fetch (keep-alive connections).
 */
export class HttpDeviceClient {
  private readonly breaker: CircuitBreakerPolicy;
  private readonly retryPolicy: RetryPolicy;
  private state: CircuitState = CircuitState.Closed;

  constructor(
    readonly assetId: string,
    private readonly options: HttpDeviceClientOptions,
  ) {
    const retryable = (err: Error) => err instanceof HttpDeviceError && err.retryable;
    this.breaker = circuitBreaker(handleWhen(retryable), {
      halfOpenAfter: options.breaker.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.breaker.consecutiveFailures),
    });
    this.breaker.onStateChange((state) => {
      const previous = this.state;
      this.state = state;
      const fields = { assetId, state: CircuitState[state], previous: CircuitState[previous] };
      if (state === CircuitState.Open) options.log.warn(fields, 'http circuit opened');
      else if (state === CircuitState.Closed) options.log.info(fields, 'http circuit closed');
      else options.log.debug(fields, 'http circuit probing');
    });
    this.retryPolicy = retry(handleWhen(retryable), {
      maxAttempts: Math.max(0, options.attempts - 1),
      backoff: new ExponentialBackoff({ initialDelay: options.retryInitialDelayMs ?? 100, maxDelay: 2_000 }),
    });
    this.retryPolicy.onRetry((event) => {
      const err = 'error' in event ? event.error : undefined;
      options.log.debug(
        { assetId, attempt: event.attempt, delayMs: Math.round(event.delay), err },
        'http request retry',
      );
    });
  }

  /** Breaker state as a heartbeat number (see BREAKER_CODE). */
  breakerCode(): number {
    return BREAKER_CODE[this.state];
  }

  /** A request with retries (polls). Rejects with HttpDeviceError. */
  request(request: HttpDeviceRequest): Promise<HttpDeviceResponse> {
    return this.retryPolicy.execute(() => this.guarded(request));
  }

  /** One attempt through the breaker (writes: the arbiter waits, and a late retry could land after a newer write). */
  once(request: HttpDeviceRequest): Promise<HttpDeviceResponse> {
    return this.guarded(request);
  }

  private async guarded(request: HttpDeviceRequest): Promise<HttpDeviceResponse> {
    try {
      return await this.breaker.execute(() => this.exchange(request));
    } catch (err) {
      if (isBrokenCircuitError(err)) {
        throw new HttpDeviceError(
          'breaker-open',
          `circuit open after ${this.options.breaker.consecutiveFailures} failures in a row; next probe within ${this.options.breaker.halfOpenAfterMs} ms`,
          undefined,
          { cause: err },
        );
      }
      throw err;
    }
  }

  private async exchange(request: HttpDeviceRequest): Promise<HttpDeviceResponse> {
    const { url } = request;
    const { timeoutMs, maxBodyBytes } = this.options;
    const signal = AbortSignal.timeout(timeoutMs);
    let body: Uint8Array;
    let status: number;
    let statusText: string;
    try {
      const response = await fetch(url, {
        method: request.method,
        headers: {
          Accept: 'application/json',
          ...(request.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...request.headers,
        },
        ...(request.body === undefined ? {} : { body: request.body }),
        signal,
        redirect: 'error',
      });
      status = response.status;
      statusText = response.statusText;
      body = await readBody(response, maxBodyBytes, url);
    } catch (err) {
      if (err instanceof HttpDeviceError) throw err;
      if (isTimeout(err) || signal.aborted) {
        throw new HttpDeviceError(
          'timeout',
          `${request.method} ${url}: no complete answer within ${timeoutMs} ms`,
          undefined,
          {
            cause: err,
          },
        );
      }
      const code = causeCode(err) ?? (err instanceof Error ? err.message : String(err));
      throw new HttpDeviceError('connection', `${request.method} ${url}: ${code}`, undefined, { cause: err });
    }
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      throw new HttpDeviceError('body', `${request.method} ${url}: HTTP ${status} body is not UTF-8 text`, status);
    }
    if (status < 200 || status > 299) {
      const hint = status === 401 || status === 403 ? ' (the API token was refused: check the token variable)' : '';
      const extract = snippet(text);
      throw new HttpDeviceError(
        'status',
        `${request.method} ${url}: HTTP ${status} ${statusText}${hint}${extract === '' ? '' : `: ${extract}`}`,
        status,
      );
    }
    return { status, text };
  }
}
