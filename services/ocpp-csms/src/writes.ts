import { createBusOnTransport, type BusTransport } from '@voltimax/bus';
import { subjects, type DeviceWrite, type WriteResult } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { Health } from './counters';
import type { Station } from './station';

/** Dependencies of {@link startWrites}. */
export interface WritesOptions {
  /** The raw NATS transport: writes for assets of other drivers are skipped before they are even parsed. */
  readonly transport: BusTransport;
  readonly log: Logger;
  readonly health: Health;
  /** assetId → the station and connector driving it. */
  readonly owners: ReadonlyMap<string, { readonly station: Station; readonly connectorId: number }>;
  readonly now: () => number;
  /** How long a command id is remembered, so the arbiter's retry of a write gets the same answer, ms. */
  readonly rememberMs?: number;
}

export interface Writes {
  stop(): Promise<void>;
}

/** A transport whose subscriptions only see `device.<id>.write` of our assets; the rest is not even parsed. */
function ownedOnly(transport: BusTransport, owns: (assetId: string) => boolean, onForeign: () => void): BusTransport {
  return {
    publish: (subject, data, headers) => transport.publish(subject, data, headers),
    request: (subject, data, headers, timeoutMs) => transport.request(subject, data, headers, timeoutMs),
    subscribe(subject, opts, onMessage, onError) {
      return transport.subscribe(
        subject,
        opts,
        (msg) => {
          const params = subjects.deviceWrite.parse(msg.subject);
          if (params === undefined || !owns(params.assetId)) {
            onForeign(); // another driver owns it and answers
            return;
          }
          return onMessage(msg);
        },
        onError,
      );
    },
  };
}

const STATUS_COUNTER: Readonly<Record<WriteResult['status'], string>> = {
  applied: 'writesApplied',
  unchanged: 'writesApplied',
  rejected: 'writesRejected',
  failed: 'writesFailed',
  timeout: 'writesTimedOut',
  mismatch: 'writesMismatch',
};

/**
 * Answers `device.<assetId>.write` for our chargers with a WriteResult: a charging profile on the connector (the
 * session's own while one runs, the default one otherwise), read back from the composite schedule, plus the session
 * start/stop the setpoint asks for. A command id seen before (the arbiter retries with the same id) gets the answer
 * of the first attempt — also while that is still in flight — instead of a second profile.
 */
export function startWrites(opts: WritesOptions): Writes {
  const rememberMs = opts.rememberMs ?? 60_000;
  const seen = new Map<string, { readonly result: Promise<WriteResult>; readonly atMs: number }>();
  const inFlight = new Set<Promise<WriteResult>>();
  const bus = createBusOnTransport(
    ownedOnly(opts.transport, (id) => opts.owners.has(id), () => opts.health.incrementCounter('foreignWrites')),
    opts.log.child({ component: 'write-bus' }),
  );

  const forget = (nowMs: number) => {
    for (const [id, entry] of seen) if (nowMs - entry.atMs > rememberMs) seen.delete(id);
  };

  const execute = async (write: DeviceWrite, subjectAssetId: string): Promise<WriteResult> => {
    const owner = opts.owners.get(write.assetId);
    if (write.assetId !== subjectAssetId || owner === undefined) {
      return {
        v: 1,
        commandId: write.commandId,
        assetId: write.assetId,
        status: 'rejected',
        atMs: opts.now(),
        error: `asset-mismatch: the payload is for '${write.assetId}', the subject for '${subjectAssetId}'`,
      };
    }
    return owner.station.write(owner.connectorId, write);
  };

  const off = bus.reply(subjects.deviceWrite, async (write, ctx) => {
    const nowMs = opts.now();
    forget(nowMs);
    const key = `${ctx.params.assetId}/${write.commandId}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      opts.health.incrementCounter('duplicateWrites');
      return earlier.result;
    }
    opts.health.incrementCounter('writeCommands');
    const result = execute(write, ctx.params.assetId);
    seen.set(key, { result, atMs: nowMs });
    inFlight.add(result);
    try {
      const answer = await result;
      opts.health.incrementCounter(STATUS_COUNTER[answer.status]);
      const log = opts.log.child({ assetId: write.assetId, commandId: write.commandId });
      if (answer.status === 'applied' || answer.status === 'unchanged') {
        log.debug({ setpoint: write.setpoint, readBack: answer.readBack, note: answer.error }, 'write applied');
      } else {
        log.warn({ setpoint: write.setpoint, status: answer.status, error: answer.error }, 'write not applied');
      }
      return answer;
    } finally {
      inFlight.delete(result);
    }
  });

  return {
    async stop() {
      off();
      await Promise.allSettled([...inFlight]);
    },
  };
}
