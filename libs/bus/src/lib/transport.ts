import type { BusHeaders } from './trace';

/** A message as a transport delivers it: raw bytes, before any parsing. */
export interface RawMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  /** True when the sender waits for an answer (a request). */
  readonly hasReply: boolean;
  /** Answer a request; a no-op for plain publishes. */
  respond(data: Uint8Array, headers?: BusHeaders): void;
}

/** The byte-level operations the typed bus is built on: NATS in production, an in-memory broker in unit tests. */
export interface BusTransport {
  publish(subject: string, data: Uint8Array, headers: BusHeaders): void;
  /**
   * Subscribe to a subject (wildcards allowed). `onMessage` may return a promise (the handler's work); the in-memory
   * transport uses it to let tests wait until everything settled.
   */
  subscribe(
    subject: string,
    opts: { readonly queue?: string },
    onMessage: (msg: RawMessage) => void | Promise<void>,
    onError: (err: Error) => void,
  ): { unsubscribe(): void };
  /** Rejects with BusRequestFailedError on timeout, no responders or a connection failure. */
  request(subject: string, data: Uint8Array, headers: BusHeaders, timeoutMs: number): Promise<RawMessage>;
}
