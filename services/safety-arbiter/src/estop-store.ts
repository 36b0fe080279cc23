import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isPermissionRefusal } from '@voltimax/bus';
import { EmergencyStopSchema, streams, type EmergencyStop } from '@voltimax/contracts';

/**
 * What stream ESTOP holds, oldest first; or why it cannot hold anything. `truncated`: older messages were dropped by
 * the stream's count limit (the first kept one is not the first ever), so the history may have begun with an engage.
 * Each event's `atMs` is at most the time the server stored it: an engage stamped in the future by a wrong clock
 * must not outlast every release.
 */
export type EstopHistory =
  | {
      readonly kind: 'read';
      readonly events: readonly EmergencyStop[];
      readonly invalid: number;
      readonly truncated: boolean;
      /** The stream's last sequence when it was read (0: nothing ever stored): a record of an engage expects it. */
      readonly lastSeq: number;
    }
  | { readonly kind: 'unavailable'; readonly reason: string };

/**
 * Reads every `safety.estop` kept in stream ESTOP (the provisioner creates it; it captures the subject itself, so an
 * engage sent while the arbiter was down is there too), for {@link Arbiter.restoreEstop}. A message that is not a
 * valid EmergencyStop is counted and skipped. `unavailable` when the stream does not exist or this user may not read
 * it; any other failure (NATS down, a timeout) throws, and the caller keeps every asset safe and tries again.
 */
export async function readEstopHistory(nc: NatsConnection): Promise<EstopHistory> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const name = streams.estop.name;
  let state: { first_seq: number; last_seq: number; messages: number };
  try {
    state = (await jsm.streams.info(name)).state;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)
      return { kind: 'unavailable', reason: `stream ${name} does not exist (run \`voltimax bus init\`)` };
    if (isPermissionRefusal(err))
      return { kind: 'unavailable', reason: `not allowed to read stream ${name} (docker/nats/nats.conf)` };
    throw err;
  }
  const events: EmergencyStop[] = [];
  let invalid = 0;
  // Sequences start at 1; a first kept sequence above 1 (or, when empty, a last one above 0) means some were dropped.
  const truncated = state.messages === 0 ? state.last_seq > 0 : state.first_seq > 1;
  if (state.messages === 0) return { kind: 'read', events, invalid, truncated, lastSeq: state.last_seq };
  for (let seq = state.first_seq; seq <= state.last_seq; seq += 1) {
    // null: removed in between (the count limit) — a gap in the sequence.
    const stored = await jsm.streams.getMessage(name, { seq });
    if (stored === null) continue;
    let body: unknown;
    try {
      body = JSON.parse(stored.string());
    } catch {
      invalid += 1;
      continue;
    }
    const parsed = EmergencyStopSchema.safeParse(body);
    if (!parsed.success) {
      invalid += 1;
      continue;
    }
    const storedAtMs = Date.parse(stored.timestamp);
    events.push(
      Number.isFinite(storedAtMs) && parsed.data.atMs > storedAtMs ? { ...parsed.data, atMs: storedAtMs } : parsed.data,
    );
  }
  return { kind: 'read', events, invalid, truncated, lastSeq: state.last_seq };
}
