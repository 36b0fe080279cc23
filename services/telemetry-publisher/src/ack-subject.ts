/**
 * The delivery metadata JetStream puts in the reply subject of every consumer delivery (the subject an ack is
 * published to). v1 (nats-server 2.9): `$JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<consumerSeq>.<nanos>.<pending>`;
 * v2 adds `<domain>.<account hash>` after `$JS.ACK` and may end with a random token.
 */
export interface DeliveryMeta {
  readonly stream: string;
  readonly consumer: string;
  /** How often this message has been delivered (1 = first time). */
  readonly deliveryCount: number;
  readonly streamSeq: number;
  readonly consumerSeq: number;
  /** Store time, epoch ms, truncated from the nanoseconds (exact: parsed as a bigint). */
  readonly storedAtMs: number;
  /** Messages left for the consumer after this one. */
  readonly pending: number;
}

const ACK_PREFIX = '$JS.ACK.';

function int(token: string | undefined): number | undefined {
  if (token === undefined || !/^\d+$/.test(token)) return undefined;
  const value = Number(token);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Parses a delivery's reply subject; undefined when it is not a JetStream ack subject. */
export function parseAckSubject(reply: string | undefined): DeliveryMeta | undefined {
  if (reply === undefined || !reply.startsWith(ACK_PREFIX)) return undefined;
  const tokens = reply.split('.');
  let base: number;
  if (tokens.length === 9) base = 2;
  else if (tokens.length === 11 || tokens.length === 12) base = 4;
  else return undefined;
  const [stream, consumer, delivered, sseq, dseq, nanos, pending] = tokens.slice(base, base + 7);
  const deliveryCount = int(delivered);
  const streamSeq = int(sseq);
  const consumerSeq = int(dseq);
  const pendingCount = int(pending);
  if (stream === undefined || consumer === undefined || nanos === undefined || !/^\d+$/.test(nanos)) return undefined;
  if (deliveryCount === undefined || streamSeq === undefined || consumerSeq === undefined || pendingCount === undefined)
    return undefined;
  return {
    stream,
    consumer,
    deliveryCount,
    streamSeq,
    consumerSeq,
    storedAtMs: Number(BigInt(nanos) / 1_000_000n),
    pending: pendingCount,
  };
}
