import type { BusHeaders } from './trace';

/** A message as a transport delivers it: raw bytes, before any parsing. */
export interface RawMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  /** True when the sender waits for an answer (a request). */
  readonly hasReply: boolean;
  /**
   * The subject the answer would go to, where the transport knows it (NATS). `reply()` answers only into a reply
   * inbox (`_INBOX…`): the requester picks this subject, and an answer published on, say, `$KV.config.site` would be
   * a write into KV config under the replier's grants.
   */
  readonly replyTo?: string;
  /**
   * Set when the NATS server itself delivered this message out of a JetStream stream — a push consumer's delivery
   * (reply `$JS.ACK.<stream>.…`) or a stream's republish (header `Nats-Stream`) — rather than a client publishing it:
   * the stream's name, or `?` when only the reply subject's prefix shows it. The server checks no publish permission
   * for either path, so the bus refuses such messages on its core subjects (see `droppedFromStream`).
   */
  readonly fromStream?: string;
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
