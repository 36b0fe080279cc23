import { jetstreamManager } from '@nats-io/jetstream';
import { ensureStream, type EnsureAction, type NatsConnection } from '@voltimax/bus';
import { streams } from '@voltimax/contracts';
import type { Logger } from 'pino';

/** Retention of stream AUDIT. */
export interface AuditRetention {
  /** ms, at least 72 h (config.ts enforces it). */
  readonly maxAgeMs: number;
  /** bytes; the oldest decisions go first when full. */
  readonly maxBytes: number;
}

/**
 * Creates stream AUDIT (file storage, `arbiter.decision.*`) or brings its limits in line. The arbiter owns the stream
 * (docker/nats/nats.conf grants it STREAM.CREATE/UPDATE/INFO on AUDIT only); a core publish on
 * `arbiter.decision.<id>` is then kept by the server.
 */
export async function ensureAuditStream(
  nc: NatsConnection,
  retention: AuditRetention,
  log: Logger,
): Promise<EnsureAction> {
  const jsm = await jetstreamManager(nc);
  const { action } = await ensureStream(
    jsm,
    {
      name: streams.audit.name,
      subjects: [...streams.audit.subjects],
      storage: 'file',
      maxAgeMs: retention.maxAgeMs,
      maxBytes: retention.maxBytes,
    },
    log,
  );
  return action;
}
