import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { isPermissionRefusal } from '@voltimax/bus';
import { EmergencyStopSchema, streams, type EmergencyStop } from '@voltimax/contracts';

/** What stream ESTOP holds, oldest first; or why it cannot hold anything. */
export type EstopHistory =
  | { readonly kind: 'read'; readonly events: readonly EmergencyStop[]; readonly invalid: number }
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
  if (state.messages === 0) return { kind: 'read', events, invalid };
  for (let seq = state.first_seq; seq <= state.last_seq; seq += 1) {
    let text: string | undefined;
    try {
      text = (await jsm.streams.getMessage(name, { seq }))?.string();
    } catch (err) {
      // A message removed in between (limits) leaves a gap in the sequence.
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) continue;
      throw err;
    }
    if (text === undefined) continue;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      invalid += 1;
      continue;
    }
    const parsed = EmergencyStopSchema.safeParse(body);
    if (parsed.success) events.push(parsed.data);
    else invalid += 1;
  }
  return { kind: 'read', events, invalid };
}
