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
 * Finds stream AUDIT (file storage, `arbiter.decision.*`) as the provisioner made it (`voltimax bus init`; under
 * docker/nats/nats.conf the arbiter may only read its info), or, on a server without users, creates it or brings its
 * limits in line; a core publish on `arbiter.decision.<id>` is then kept by the server.
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
