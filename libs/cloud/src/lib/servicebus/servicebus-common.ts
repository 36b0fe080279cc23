import { isServiceBusError, ServiceBusClient, type ServiceBusClientOptions } from '@azure/service-bus';
import type { Logger } from 'pino';
import { describeError } from '../link-status';
import { TransportError } from '../port';

/** How to reach Service Bus; shared by the command channel, the telemetry sink and the cloud client. */
export interface ServiceBusConnectionOptions {
  /** `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…` (the resolved secret). */
  readonly connectionString: string;
  /**
   * Connect here instead of the endpoint of the connection string (an intermediary such as a proxy; the SDK's
   * `customEndpointAddress`), e.g. `sb://127.0.0.1:5673`.
   */
  readonly customEndpointAddress?: string;
  /** Bound on one SDK operation (connect, link, send, settle), ms; default 10 000. */
  readonly operationTimeoutMs?: number;
  /** Retries the SDK makes inside one operation; default 1 (the callers have their own retry policies). */
  readonly sdkRetries?: number;
  /** Backoff between re-accepts of a lost session: first delay (default 500 ms) up to the max (default 30 000 ms). */
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** Application properties of the cloud messages on Service Bus (the body is the payload, as JSON). */
export const SB_PROPERTY = {
  messageType: 'MessageType',
  sentAtMs: 'SentAtMs',
  gatewayId: 'GatewayId',
  ok: 'Ok',
  error: 'Error',
  contentEncoding: 'content-encoding',
} as const;

/** Default entity names (site settings defaults). */
export const SB_DEFAULTS = {
  commandQueue: 'gateway-commands',
  replyQueue: 'cloud-replies',
  telemetryTopic: 'telemetry',
} as const;

/** A client with the retry and timeout settings of `opts`. */
export function createServiceBusClient(opts: ServiceBusConnectionOptions): ServiceBusClient {
  const options: ServiceBusClientOptions = {
    retryOptions: {
      maxRetries: opts.sdkRetries ?? 1,
      retryDelayInMs: 200,
      maxRetryDelayInMs: 2_000,
      timeoutInMs: opts.operationTimeoutMs ?? 10_000,
    },
    ...(opts.customEndpointAddress === undefined ? {} : { customEndpointAddress: opts.customEndpointAddress }),
  };
  return new ServiceBusClient(opts.connectionString, options);
}

/** Maps an SDK error to a TransportError (codes and retryability as the SDK reports them). */
export function toTransportError(err: unknown, what: string): TransportError {
  if (err instanceof TransportError) return err;
  const text = `${what}: ${describeError(err)}`;
  if (isServiceBusError(err)) {
    switch (err.code) {
      case 'UnauthorizedAccess':
        return new TransportError(text, 'auth', false, { cause: err });
      case 'MessageSizeExceeded':
        return new TransportError(text, 'too-large', false, { cause: err });
      case 'ServiceTimeout':
        return new TransportError(text, 'timeout', true, { cause: err });
      case 'ServiceCommunicationProblem':
      case 'ServiceBusy':
        return new TransportError(text, 'offline', true, { cause: err });
      // The destination is missing, disabled or full (not created yet, being re-created, over its quota): an outage
      // of the transport, not a refusal of what was sent. Retry later; never drop or dead-letter for it.
      case 'MessagingEntityNotFound':
      case 'MessagingEntityDisabled':
      case 'QuotaExceeded':
        return new TransportError(text, 'offline', true, { cause: err });
      default:
        return new TransportError(text, err.retryable ? 'offline' : 'rejected', err.retryable, { cause: err });
    }
  }
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (/timeout/i.test(code) || /timed? ?out/i.test(describeError(err)))
    return new TransportError(text, 'timeout', true, { cause: err });
  // Socket errors (ECONNREFUSED, ECONNRESET, ENOTFOUND …) and anything unknown: the link, retry later.
  return new TransportError(text, 'offline', true, { cause: err });
}

/** The body bytes of a received message (receivers run with skipParsingBodyAsJson). */
export function bodyBytes(body: unknown): Buffer | undefined {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  return undefined;
}

/** A string message id or correlation id; undefined for other types (numbers, binary, Long). */
export function stringId(id: unknown): string | undefined {
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/** Resolves after `ms` or when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Settlements and handlers still running, so `close()` can let them finish first: a settlement cut off by closing
 * the link leaves the SDK waiting out its 60 s disposition timer.
 */
export class InFlight {
  private readonly running = new Set<Promise<unknown>>();

  track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  /** Resolves when everything tracked has settled, or after `boundMs`. */
  async drain(boundMs: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, boundMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
