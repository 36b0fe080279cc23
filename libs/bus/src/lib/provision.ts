import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { configBucket, estopStreamLimits, pricesBucket, strategyHistoryBucket, streams } from '@voltimax/contracts';
import type { Logger } from 'pino';
import { ensureStream, type EnsureAction } from './jetstream';
import { ensureKv } from './kv';

/** Retention of one stream. */
export interface StreamRetention {
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/** What {@link provisionGatewayStreams} found or did, per stream (KV buckets by their stream, `KV_<bucket>`). */
export type ProvisionReport = Readonly<Record<string, EnsureAction>>;

/**
 * Creates every stream and KV bucket of the gateway, or brings their limits in line: TELEMETRY and AUDIT (file
 * storage, the given retention), ESTOP (every `safety.estop`, kept for the arbiter's latch), KV `config`, `prices` and
 * `strategy-history`. Idempotent. Under
 * docker/nats/nats.conf only the `provisioner` user may do this (`voltimax bus init`): a service that could create
 * a stream could also give it a republish or subjects that capture `device.*.write` (libs/bus README). The services
 * then find their streams as provisioned (`ensureStream` / `ensureKv` keep what they may not change).
 */
export async function provisionGatewayStreams(
  nc: NatsConnection,
  retention: { readonly telemetry: StreamRetention; readonly audit: StreamRetention },
  log?: Logger,
): Promise<ProvisionReport> {
  const jsm = await jetstreamManager(nc);
  const report: Record<string, EnsureAction> = {};
  for (const bucket of [configBucket, pricesBucket, strategyHistoryBucket]) {
    report[`KV_${bucket.name}`] = (await ensureKv(nc, bucket, log)).action;
  }
  for (const [stream, limits] of [
    [streams.telemetry, retention.telemetry],
    [streams.audit, retention.audit],
  ] as const) {
    const { action } = await ensureStream(
      jsm,
      { name: stream.name, subjects: [...stream.subjects], storage: 'file', ...limits },
      log,
    );
    report[stream.name] = action;
  }
  // The e-stop latch outlives an arbiter restart: every `safety.estop` message, no age limit.
  const estop = await ensureStream(
    jsm,
    { name: streams.estop.name, subjects: [...streams.estop.subjects], storage: 'file', ...estopStreamLimits },
    log,
  );
  report[streams.estop.name] = estop.action;
  return report;
}
