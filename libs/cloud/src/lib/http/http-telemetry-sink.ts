import type { TelemetryFrame } from '@voltimax/contracts';
import { pino, type Logger } from 'pino';
import { encodeFrame } from '../encode';
import { describeError, LinkStatusTracker } from '../link-status';
import { TransportError, type LinkStatus, type TelemetrySendOptions, type TelemetrySink } from '../port';
import { redactUrlCredentials } from '../redact';

/** Options of {@link HttpTelemetrySink}. */
export interface HttpTelemetrySinkOptions {
  /** Platform API base URL (site settings `platformApiUrl`), e.g. `https://api.example.com/v1`. */
  readonly platformApiUrl: string;
  readonly gatewayId: string;
  /** Bearer token (the resolved secret); no Authorization header when absent. */
  readonly token?: string;
  /** Bound on one POST (connect, upload, response headers); default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Largest encoded body, bytes; default 1 MiB. */
  readonly maxFrameBytes?: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** How much of an error response body goes into the error message. */
const BODY_SNIPPET_CHARS = 200;

/**
 * TelemetryFrames as `POST <platformApiUrl>/gateways/<gatewayId>/telemetry` (JSON, optionally gzip with
 * `Content-Encoding: gzip`, `Idempotency-Key: <frameId>`, `Authorization: Bearer <token>`). The fallback when the
 * primary transport fails. 2xx: accepted; 408, 429 and 5xx, a timeout or no connection: retryable; any other 4xx:
 * rejected, not retryable (401/403 as `auth`, 413 as `too-large`).
 */
export class HttpTelemetrySink implements TelemetrySink {
  readonly kind = 'http' as const;
  readonly maxFrameBytes: number;
  private readonly url: string;
  /** `url` without credentials, for messages. */
  private readonly shownUrl: string;
  private readonly log: Logger;
  private readonly tracker: LinkStatusTracker;
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(private readonly opts: HttpTelemetrySinkOptions) {
    this.url = telemetryUrl(opts.platformApiUrl, opts.gatewayId);
    this.shownUrl = redactUrlCredentials(this.url);
    this.log = opts.log ?? pino({ level: 'silent' });
    this.tracker = new LinkStatusTracker(opts.now ?? Date.now, 'connecting');
    this.maxFrameBytes = opts.maxFrameBytes ?? 1024 * 1024;
  }

  async send(frame: TelemetryFrame, options: TelemetrySendOptions = {}): Promise<void> {
    if (this.closed) throw new TransportError('telemetry sink is closed', 'offline', false);
    const encoded = await encodeFrame(frame, this.opts.gatewayId, options.gzip === true, this.maxFrameBytes);
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    this.inFlight.add(abort);
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': encoded.frameId,
          ...(encoded.gzip ? { 'content-encoding': 'gzip' } : {}),
          ...(this.opts.token === undefined ? {} : { authorization: `Bearer ${this.opts.token}` }),
        },
        body: encoded.body,
        signal: abort.signal,
      });
    } catch (err: unknown) {
      clearTimeout(timer);
      this.inFlight.delete(abort);
      if (this.closed)
        throw new TransportError('telemetry sink closed during the request', 'offline', false, { cause: err });
      const timedOut = abort.signal.aborted;
      const reason = timedOut
        ? `no response within ${timeoutMs} ms`
        : `request failed: ${redactUrlCredentials(describeError(causeOf(err)))}`;
      this.tracker.set('offline', reason);
      throw new TransportError(`POST ${this.shownUrl}: ${reason}`, timedOut ? 'timeout' : 'offline', true, {
        cause: err,
      });
    }
    let text = '';
    try {
      text = await response.text();
    } catch {
      // The body is only for the error message.
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(abort);
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      this.tracker.set('online');
      return;
    }
    const detail = `POST ${this.shownUrl}: HTTP ${status}${text ? ` ${text.slice(0, BODY_SNIPPET_CHARS)}` : ''}`;
    if (status >= 500 || status === 408 || status === 429) {
      this.tracker.set('offline', `HTTP ${status}`);
      throw new TransportError(detail, 'rejected', true);
    }
    this.tracker.set('online');
    this.log.warn({ frameId: encoded.frameId, status }, 'platform API refused a telemetry frame');
    const code = status === 401 || status === 403 ? 'auth' : status === 413 ? 'too-large' : 'rejected';
    throw new TransportError(detail, code, false);
  }

  onStatus(listener: (status: LinkStatus) => void): void {
    this.tracker.onStatus(listener);
  }

  status(): LinkStatus {
    return this.tracker.status();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tracker.set('closed');
    for (const abort of this.inFlight) abort.abort(new Error('sink closed'));
  }
}

/** `<base>/gateways/<gatewayId>/telemetry`, with or without a trailing slash on the base. */
export function telemetryUrl(platformApiUrl: string, gatewayId: string): string {
  const base = new URL(platformApiUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new RangeError(`platformApiUrl must be http(s): ${redactUrlCredentials(platformApiUrl)}`);
  const path = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return new URL(`${path}gateways/${encodeURIComponent(gatewayId)}/telemetry`, base).toString();
}

/** undici wraps the socket error as `cause` of a generic "fetch failed". */
function causeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'cause' in err && err.cause !== undefined ? err.cause : err;
}
