import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos, PermissionViolationError } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/**
 * What an `ensure*` call had to do. `kept`: the stream differs from the spec, but this user may not change it (it was
 * provisioned, `voltimax bus init`); it is used as it is and the difference is logged.
 */
export type EnsureAction = 'created' | 'updated' | 'unchanged' | 'kept';

/**
 * The stream or bucket does not exist and this NATS user may not create it: under docker/nats/nats.conf only the
 * `provisioner` user creates streams (`voltimax bus init`, which `npm start` and compose run before the services).
 */
export class StreamNotProvisionedError extends Error {
  override readonly name = 'StreamNotProvisionedError';
  readonly retryable = true;
  constructor(
    readonly stream: string,
    options?: ErrorOptions,
  ) {
    super(
      `stream ${stream} does not exist and this NATS user may not create it: run \`voltimax bus init\` as the ` +
        `provisioner first (npm start and compose.yaml do)`,
      options,
    );
  }
}

/** True when the server refused the request for want of a publish permission (on its JetStream API subject). */
export function isPermissionRefusal(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    if (e instanceof PermissionViolationError || /permissions violation/i.test(e.message)) return true;
  }
  return false;
}

/** A stream as we want it; `ensureStream` makes the server match. */
export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  /** Default `file` (store-and-forward must survive a restart). Cannot change once created. */
  readonly storage?: 'file' | 'memory';
  /** Messages older than this are removed, ms; 0 = keep forever. */
  readonly maxAgeMs: number;
  /** Size limit, bytes; -1 or absent = unlimited. Oldest messages are discarded first. */
  readonly maxBytes?: number;
  /** Message count limit; -1 or absent = unlimited. */
  readonly maxMsgs?: number;
  /** Largest message the stream stores, bytes (a larger one is still delivered, only not kept); -1 or absent = any. */
  readonly maxMsgSize?: number;
  /** Window for `Nats-Msg-Id` de-duplication, ms (server default 2 min). */
  readonly duplicateWindowMs?: number;
}

/** A durable pull consumer as we want it. */
export interface ConsumerSpec {
  readonly durable: string;
  /** One subject filter (nats-server 2.9 has no multi-filter consumers). */
  readonly filterSubject?: string;
  /** Redeliver an unacknowledged message after this long, ms (default 30 000). */
  readonly ackWaitMs?: number;
  /** Give up on a message after this many deliveries; -1 = never (default). */
  readonly maxDeliver?: number;
  readonly maxAckPending?: number;
  /** Where a new consumer starts (default `all`). Cannot change once created. */
  readonly deliverPolicy?: 'all' | 'new' | 'last';
}

/** The server already has this stream/consumer with a setting that cannot be changed in place. */
export class JetStreamConfigConflictError extends Error {
  override readonly name = 'JetStreamConfigConflictError';
  readonly retryable = false;
  constructor(
    readonly resource: string,
    readonly setting: string,
    readonly have: string,
    readonly want: string,
  ) {
    super(`${resource}: ${setting} is ${have} on the server, wanted ${want}; it cannot be changed in place`);
  }
}

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

function sameList(a: readonly string[] | undefined, b: readonly string[]): boolean {
  const left = [...(a ?? [])].sort();
  const right = [...b].sort();
  return left.length === right.length && left.every((v, i) => v === right[i]);
}

/**
 * Create the stream, or update it when subjects or limits differ. Safe to call on every start: a second call with
 * the same spec changes nothing. Retention is `limits` with `discard old`.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  spec: StreamSpec,
  log?: Logger,
): Promise<{ action: EnsureAction; info: StreamInfo }> {
  const storage = spec.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const limits = {
    subjects: [...spec.subjects],
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes ?? -1,
    max_msgs: spec.maxMsgs ?? -1,
    max_msg_size: spec.maxMsgSize ?? -1,
    ...(spec.duplicateWindowMs === undefined ? {} : { duplicate_window: nanos(spec.duplicateWindowMs) }),
  } satisfies Partial<StreamConfig>;

  let current: StreamInfo;
  try {
    current = await jsm.streams.info(spec.name);
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
    let info: StreamInfo;
    try {
      info = await jsm.streams.add({
        name: spec.name,
        storage,
        retention: RetentionPolicy.Limits,
        ...limits,
      });
    } catch (addErr) {
      if (isPermissionRefusal(addErr)) throw new StreamNotProvisionedError(spec.name, { cause: addErr });
      throw addErr;
    }
    log?.info({ stream: spec.name, subjects: spec.subjects, maxAgeMs: spec.maxAgeMs }, 'stream created');
    return { action: 'created', info };
  }

  const have = current.config;
  if (have.storage !== storage) {
    throw new JetStreamConfigConflictError(`stream ${spec.name}`, 'storage', have.storage, storage);
  }
  const differs =
    !sameList(have.subjects, limits.subjects) ||
    have.max_age !== limits.max_age ||
    have.max_bytes !== limits.max_bytes ||
    have.max_msgs !== limits.max_msgs ||
    (have.max_msg_size ?? -1) !== limits.max_msg_size ||
    (limits.duplicate_window !== undefined && have.duplicate_window !== limits.duplicate_window);
  if (!differs) return { action: 'unchanged', info: current };

  try {
    const info = await jsm.streams.update(spec.name, limits);
    log?.info({ stream: spec.name, subjects: spec.subjects, maxAgeMs: spec.maxAgeMs }, 'stream updated');
    return { action: 'updated', info };
  } catch (err) {
    if (!isPermissionRefusal(err)) throw err;
    log?.warn(
      {
        stream: spec.name,
        have: {
          subjects: have.subjects,
          maxAgeMs: have.max_age / 1e6,
          maxBytes: have.max_bytes,
          maxMsgs: have.max_msgs,
        },
        want: {
          subjects: spec.subjects,
          maxAgeMs: spec.maxAgeMs,
          maxBytes: limits.max_bytes,
          maxMsgs: limits.max_msgs,
        },
      },
      'stream differs from these settings, which this user may not apply: kept as provisioned (re-run `voltimax bus init` with them)',
    );
    return { action: 'kept', info: current };
  }
}

/** Create the durable pull consumer, or update its changeable settings when they differ. Idempotent. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: ConsumerSpec,
  log?: Logger,
): Promise<{ action: EnsureAction; info: ConsumerInfo }> {
  const deliverPolicy =
    spec.deliverPolicy === 'new'
      ? DeliverPolicy.New
      : spec.deliverPolicy === 'last'
        ? DeliverPolicy.Last
        : DeliverPolicy.All;
  const changeable = {
    ack_wait: nanos(spec.ackWaitMs ?? 30_000),
    max_deliver: spec.maxDeliver ?? -1,
    ...(spec.maxAckPending === undefined ? {} : { max_ack_pending: spec.maxAckPending }),
    ...(spec.filterSubject === undefined ? {} : { filter_subject: spec.filterSubject }),
  } satisfies Partial<ConsumerConfig>;
  const resource = `consumer ${stream}/${spec.durable}`;

  let current: ConsumerInfo;
  try {
    current = await jsm.consumers.info(stream, spec.durable);
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    const info = await jsm.consumers.add(stream, {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: deliverPolicy,
      replay_policy: ReplayPolicy.Instant,
      ...changeable,
    });
    log?.info({ stream, consumer: spec.durable }, 'consumer created');
    return { action: 'created', info };
  }

  const have = current.config;
  if (have.deliver_subject) throw new JetStreamConfigConflictError(resource, 'kind', 'push', 'pull');
  if (have.deliver_policy !== deliverPolicy) {
    throw new JetStreamConfigConflictError(resource, 'deliver_policy', have.deliver_policy, deliverPolicy);
  }
  const differs =
    have.ack_wait !== changeable.ack_wait ||
    have.max_deliver !== changeable.max_deliver ||
    (changeable.max_ack_pending !== undefined && have.max_ack_pending !== changeable.max_ack_pending) ||
    (have.filter_subject ?? '') !== (changeable.filter_subject ?? '');
  if (!differs) return { action: 'unchanged', info: current };

  const info = await jsm.consumers.update(stream, spec.durable, {
    ...changeable,
    filter_subject: changeable.filter_subject ?? '',
  });
  log?.info({ stream, consumer: spec.durable }, 'consumer updated');
  return { action: 'updated', info };
}
