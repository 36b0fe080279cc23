import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, type StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { formatIssues } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { BusValidationError } from './errors';
import { isPermissionRefusal, StreamNotProvisionedError, type EnsureAction } from './jetstream';

/** A KV bucket as we want it. */
export interface KvSpec {
  /** Bucket name (e.g. `config`); the backing stream is `KV_<name>`. */
  readonly name: string;
  /** Values older than this are removed, ms; 0 or absent = keep forever. */
  readonly ttlMs?: number;
  /** Revisions kept per key (default 1). */
  readonly history?: number;
  /** Size limit of the bucket, bytes; -1 or absent = unlimited. */
  readonly maxBytes?: number;
  /** Default `file`. */
  readonly storage?: 'file' | 'memory';
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * Create the KV bucket, or update its limits (ttl, history, size) when they differ, and open it. Idempotent:
 * safe to call on every start.
 */
export async function ensureKv(
  nc: NatsConnection,
  spec: KvSpec,
  log?: Logger,
): Promise<{ action: EnsureAction; kv: KV }> {
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const history = spec.history ?? 1;
  const ttlMs = spec.ttlMs ?? 0;
  const maxBytes = spec.maxBytes ?? -1;
  const streamName = `KV_${spec.name}`;

  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(streamName);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }

  if (existing === undefined) {
    try {
      const kv = await kvm.create(spec.name, {
        history,
        ttl: ttlMs,
        max_bytes: maxBytes,
        storage: spec.storage ?? 'file',
      });
      log?.info({ bucket: spec.name, ttlMs, history }, 'kv bucket created');
      return { action: 'created', kv };
    } catch (err) {
      if (isPermissionRefusal(err)) throw new StreamNotProvisionedError(streamName, { cause: err });
      throw err;
    }
  }

  const have = existing.config;
  const differs = have.max_msgs_per_subject !== history || have.max_age !== nanos(ttlMs) || have.max_bytes !== maxBytes;
  let action: EnsureAction = 'unchanged';
  if (differs) {
    try {
      await jsm.streams.update(streamName, {
        max_msgs_per_subject: history,
        max_age: nanos(ttlMs),
        max_bytes: maxBytes,
      });
      log?.info({ bucket: spec.name, ttlMs, history }, 'kv bucket updated');
      action = 'updated';
    } catch (err) {
      if (!isPermissionRefusal(err)) throw err;
      log?.warn(
        {
          bucket: spec.name,
          have: { history: have.max_msgs_per_subject, ttlMs: have.max_age / 1e6, maxBytes: have.max_bytes },
          want: { history, ttlMs, maxBytes },
        },
        'kv bucket differs from these settings, which this user may not apply: kept as provisioned',
      );
      action = 'kept';
    }
  }
  const kv = await kvm.open(spec.name);
  return { action, kv };
}

/** A KV bucket whose values are JSON validated by one schema on put and on get. */
export interface TypedKv<S extends z.ZodType> {
  readonly kv: KV;
  /** The current value, or undefined when absent or deleted. Throws BusValidationError if the stored value is invalid. */
  get(key: string): Promise<{ readonly value: z.output<S>; readonly revision: number } | undefined>;
  /** Validate and store; returns the new revision. Throws BusValidationError (nothing stored) if invalid. */
  put(key: string, value: z.input<S>): Promise<number>;
  delete(key: string): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Wrap a KV bucket with a schema for its values; `bucket` names it in errors. */
export function typedKv<S extends z.ZodType>(opts: {
  readonly kv: KV;
  readonly bucket: string;
  readonly schema: S;
}): TypedKv<S> {
  const { kv, bucket, schema } = opts;
  const where = (key: string): string => `$KV.${bucket}.${key}`;
  return {
    kv,
    async get(key) {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== 'PUT') return undefined;
      let json: unknown;
      try {
        json = JSON.parse(decoder.decode(entry.value));
      } catch (err) {
        throw new BusValidationError(where(key), 'kv-get', [{ path: '$', message: 'not JSON' }], { cause: err });
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) throw new BusValidationError(where(key), 'kv-get', formatIssues(parsed.error.issues));
      return { value: parsed.data, revision: entry.revision };
    },
    async put(key, value) {
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw new BusValidationError(where(key), 'kv-put', formatIssues(parsed.error.issues));
      return kv.put(key, encoder.encode(JSON.stringify(parsed.data)));
    },
    async delete(key) {
      await kv.delete(key);
    },
  };
}
