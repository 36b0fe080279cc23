import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import {
  configBucket,
  estopStreamLimits,
  pricesBucket,
  strategyHistoryBucket,
  streamRetention,
  streams,
} from '@voltimax/contracts';
import { connectNatsAs } from './nats-dev-users';

/** Retention of a provisioned stream; unset fields take the defaults of `streamRetention` (@voltimax/contracts). */
export interface TestStreamRetention {
  readonly maxAgeMs?: number;
  readonly maxBytes?: number;
}

/** Options of {@link provisionTestStreams}: per-stream retention, as `voltimax bus init` reads it from the env. */
export interface ProvisionTestOptions {
  readonly telemetry?: TestStreamRetention;
  readonly audit?: TestStreamRetention;
}

/**
 * What `voltimax bus init` does before the services start (libs/bus `provisionGatewayStreams`), for a test server
 * started from docker/nats/nats.conf, where only the `provisioner` user may create streams: TELEMETRY, AUDIT, ESTOP and KV
 * config / prices / strategy-history, with the limits the services ask for (so their `ensure*` finds them unchanged).
 * libs/testing cannot use libs/bus (whose tests use this lib); libs/bus/src/lib/provision.int.spec.ts checks that
 * both produce the same streams.
 */
export async function provisionTestStreams(url: string, opts: ProvisionTestOptions = {}): Promise<void> {
  const nc = await connectNatsAs(url, 'provisioner', { name: 'test-provisioner' });
  try {
    const kvm = new Kvm(nc);
    for (const bucket of [configBucket, pricesBucket, strategyHistoryBucket]) {
      await kvm.create(bucket.name, {
        history: bucket.history,
        ttl: 0,
        max_bytes: 'maxBytes' in bucket ? bucket.maxBytes : -1,
        storage: StorageType.File,
      });
    }
    const jsm = await jetstreamManager(nc);
    for (const [stream, defaults, wanted] of [
      [streams.telemetry, streamRetention.telemetry, opts.telemetry],
      [streams.audit, streamRetention.audit, opts.audit],
    ] as const) {
      await jsm.streams.add({
        name: stream.name,
        subjects: [...stream.subjects],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        max_age: nanos(wanted?.maxAgeMs ?? defaults.defaultAgeMs),
        max_bytes: wanted?.maxBytes ?? defaults.defaultBytes,
        max_msgs: -1,
      });
    }
    await jsm.streams.add({
      name: streams.estop.name,
      subjects: [...streams.estop.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: nanos(estopStreamLimits.maxAgeMs),
      max_bytes: estopStreamLimits.maxBytes,
      max_msgs: estopStreamLimits.maxMsgs,
      max_msg_size: estopStreamLimits.maxMsgSize,
    });
  } finally {
    await nc.close();
  }
}
