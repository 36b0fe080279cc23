import type { BusTransport } from '@voltimax/bus';
import type { WriteResult } from '@voltimax/contracts';
import { startWritePath, type WriteOutcome } from '@voltimax/driver-sdk/plumbing';
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

/** The status counters this service has always published (dashboards). */
const STATUS_COUNTERS: Readonly<Record<WriteResult['status'], string>> = {
  applied: 'writesApplied',
  unchanged: 'writesApplied',
  rejected: 'writesRejected',
  failed: 'writesFailed',
  timeout: 'writesTimedOut',
  mismatch: 'writesMismatch',
};

interface ChargerTarget {
  readonly id: string;
  readonly pollIntervalMs: number;
  readonly station: Station;
  readonly connectorId: number;
}

/**
 * Answers `device.<assetId>.write` for our chargers with a WriteResult, through the driver SDK's write path: a
 * charging profile on the connector (the session's own while one runs, the default one otherwise), read back from the
 * composite schedule, plus the session start/stop the setpoint asks for. A command id seen before (the arbiter
 * retries with the same id) gets the answer of the first attempt — also while that is still in flight — instead of a
 * second profile. No expiry watchdog here: the profile's own fallback period returns the charger to 0 A.
 */
export function startWrites(opts: WritesOptions): Writes {
  const targets: ChargerTarget[] = [...opts.owners].map(([id, { station, connectorId }]) => ({
    id,
    pollIntervalMs: station.connectors.get(connectorId)?.asset.pollIntervalMs ?? 1_000,
    station,
    connectorId,
  }));
  const path = startWritePath<ChargerTarget>({
    transport: opts.transport,
    log: opts.log,
    health: opts.health,
    assets: targets,
    now: opts.now,
    statusCounters: STATUS_COUNTERS,
    rememberCommandsMs: opts.rememberMs ?? 60_000,
    watchdog: () => false,
    apply: async (target, _setpoint, _signal, context): Promise<WriteOutcome> => {
      if (context.origin !== 'write') throw new Error('no watchdog writes: the charging profile falls back by itself');
      const { status, readBack, error } = await target.station.write(target.connectorId, context.write);
      return { status, ...(readBack === undefined ? {} : { readBack }), ...(error === undefined ? {} : { error }) };
    },
  });
  return { stop: () => path.stop() };
}
