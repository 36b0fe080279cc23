import type { CloudCommandEnvelope, CloudMessageType, CloudReplyEnvelope, TelemetryFrame } from '@voltimax/contracts';

/**
 * The cloud link behind one port (DESIGN § libs/cloud). Adapters: MQTT 5, Azure Service Bus, HTTP (telemetry
 * fallback only). Services use only these interfaces; which adapter runs is chosen from the site configuration's
 * `cloud` block (see `createGatewayTransport`).
 *
 * Gateway side:
 * - `CommandChannel` receives cloud commands for this gateway and sends each one reply.
 * - `TelemetrySink` delivers TelemetryFrames; its promise resolves only once the cloud has accepted the frame
 *   (MQTT PUBACK, Service Bus send settled, HTTP 2xx), so a caller acks its own store only after that.
 * Cloud side (CLI and tests):
 * - `CloudCommandClient` sends a command to one gateway and waits for its reply.
 */

/** Connection state of a transport, published by the services on their heartbeat. */
export type LinkState = 'connecting' | 'online' | 'offline' | 'closed';

export interface LinkStatus {
  readonly state: LinkState;
  /** Epoch ms of the last change of state. */
  readonly sinceMs: number;
  /** Why the link is offline (last error), if it is. */
  readonly reason?: string;
}

/** A command as delivered by a transport: the envelope (already schema-checked) and how to settle it. */
export interface ReceivedCommand {
  readonly envelope: CloudCommandEnvelope;
  /** Epoch ms the transport received it. */
  readonly receivedAtMs: number;
}

/** What a command handler returns; the transport turns it into a CloudReplyEnvelope. */
export type CommandResult =
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly error: string; readonly payload?: unknown };

export type CommandHandler = (command: ReceivedCommand) => Promise<CommandResult>;

/** Why a message is not an acceptable command. */
export type RejectionCode =
  | 'not-json'
  | 'not-an-envelope'
  | 'unknown-message-type'
  | 'invalid-envelope'
  | 'other-gateway'
  | 'invalid-payload'
  | 'no-reply-address'
  /** MQTT: a retained message, replayed by the broker to every new subscription (never executed). */
  | 'retained';

/**
 * A message the transport could not accept as a command (not JSON, not an envelope, unknown MessageType, for
 * another gateway). The transport has already answered or dead-lettered it with `reason` where the protocol
 * allows; this callback is for logging and counting.
 */
export interface RejectedCommand {
  readonly reason: string;
  /** The kind of defect (also the Service Bus DeadLetterReason). */
  readonly code?: RejectionCode;
  /** Correlation id, when one could be read. */
  readonly correlationId?: string;
  readonly messageType?: string;
}

/**
 * A reply that could not be sent when its command was handled (the link was down) and what became of it: sent
 * once the link came back (`delivered`), or dropped because it was older than the adapter's reply TTL (`expired`).
 */
export interface DeferredReply {
  readonly correlationId: string;
  readonly messageType: string;
  /** Epoch ms the reply was queued. */
  readonly queuedAtMs: number;
  readonly outcome: 'delivered' | 'expired';
  /** Epoch ms of the outcome. */
  readonly atMs: number;
}

export interface CommandChannel {
  /** Starts receiving. Resolves once subscribed (or immediately when offline; it keeps retrying with backoff). */
  start(handler: CommandHandler): Promise<void>;
  onRejected(listener: (rejected: RejectedCommand) => void): void;
  /** Every queued reply's outcome (delivered on reconnect, or expired), for logging and counting. */
  onDeferredReply(listener: (reply: DeferredReply) => void): void;
  onStatus(listener: (status: LinkStatus) => void): void;
  status(): LinkStatus;
  /** Replies that could not be sent while offline and are still waiting (they expire; see the adapter). */
  pendingReplies(): number;
  close(): Promise<void>;
}

export interface TelemetrySendOptions {
  /** Compress the body with gzip (large backlog batches). */
  readonly gzip?: boolean;
}

export interface TelemetrySink {
  readonly kind: 'mqtt' | 'servicebus' | 'http';
  /** Resolves when the cloud accepted the frame; rejects (TransportError) when it did not. Never resolves early. */
  send(frame: TelemetryFrame, options?: TelemetrySendOptions): Promise<void>;
  /** Largest encoded frame the transport accepts, in bytes (Service Bus standard: 256 KiB; MQTT: broker limit). */
  readonly maxFrameBytes: number;
  onStatus(listener: (status: LinkStatus) => void): void;
  status(): LinkStatus;
  close(): Promise<void>;
}

export interface CloudCommandClient {
  /** Sends one command to `gatewayId` and waits for its reply (rejects with TransportError on timeout). */
  send(request: {
    readonly gatewayId: string;
    readonly messageType: CloudMessageType;
    readonly payload: unknown;
    readonly timeoutMs: number;
    readonly correlationId?: string;
  }): Promise<CloudReplyEnvelope>;
  close(): Promise<void>;
}

/** Why a transport operation failed; `retryable` tells a caller whether backing off and retrying makes sense. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: 'offline' | 'timeout' | 'rejected' | 'too-large' | 'auth' | 'protocol',
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}
