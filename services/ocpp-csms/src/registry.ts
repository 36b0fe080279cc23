import { timingSafeEqual } from 'node:crypto';
import type { ChargerStatus, UnknownChargePoint } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { ChargePointPlan } from './chargers';
import type { Health } from './counters';
import type { TransactionIds } from './ids';
import { NotAcceptedError, type IdTagStatus, type ProtocolAdapter, type StationHandler } from './protocol/adapter';
import type { Handshake, RpcConnection } from './protocol/rpc';
import { Station, type StationSettings } from './station';
import type { ReadingFields } from './telemetry';

/** Dependencies of {@link createRegistry}. */
export interface RegistryOptions {
  readonly chargePoints: ReadonlyMap<string, ChargePointPlan>;
  /** Passwords per charge point identity (security profiles 1 and 2). */
  readonly passwords: ReadonlyMap<string, Buffer>;
  readonly securityProfile: 0 | 1 | 2;
  /** The OCPP versions we speak, by subprotocol, in order of preference. */
  readonly adapters: readonly ProtocolAdapter[];
  readonly settings: StationSettings;
  readonly rejectedRetryS: number;
  readonly log: Logger;
  readonly health: Health;
  readonly now: () => number;
  readonly transactionIds: TransactionIds;
  readonly authorize: (idTag: string) => IdTagStatus;
  readonly onChange: (assetIds: readonly string[]) => void;
  readonly onConnectionChange: () => void;
}

/** Every charge point: the configured stations, who tried to get in without being one, and the upgrade decision. */
export interface Registry {
  readonly stations: ReadonlyMap<string, Station>;
  /** The WebSocket upgrade decision (security profile, identity, password, subprotocol). */
  authenticate(handshake: Handshake): { readonly accept: true } | { readonly accept: false; readonly status: number; readonly reason: string };
  /** An upgrade request that could not be parsed at all (answered 400): counted and listed like a refused one. */
  badRequest(request: { readonly identity: string; readonly remoteAddress: string | undefined; readonly reason: string }): void;
  /** A WebSocket was accepted: route it to its station (or answer an unknown identity with Rejected). */
  connect(connection: RpcConnection): void;
  /** Most recent first. */
  unknown(): UnknownChargePoint[];
  /** The charger list (`gateway.chargers`). */
  chargers(reading: (assetId: string) => ReadingFields | undefined): ChargerStatus[];
  /** Asset ids of connected charge points (the heartbeat's `assets`). */
  connectedAssets(): string[];
  close(): Promise<void>;
}

const MAX_UNKNOWN = 50;

function samePassword(expected: Buffer, given: Buffer | undefined): boolean {
  if (given === undefined || given.length !== expected.length) return false;
  return timingSafeEqual(expected, given);
}

/** The charge points of the site and the upgrade/boot policy. See the README § Security and § Unknown charge points. */
export function createRegistry(opts: RegistryOptions): Registry {
  const stations = new Map<string, Station>();
  for (const plan of opts.chargePoints.values()) {
    stations.set(
      plan.identity,
      new Station({
        plan,
        settings: opts.settings,
        log: opts.log,
        health: opts.health,
        now: opts.now,
        transactionIds: opts.transactionIds,
        authorize: opts.authorize,
        onChange: opts.onChange,
        onConnectionChange: opts.onConnectionChange,
      }),
    );
  }
  const adapters = new Map(opts.adapters.map((a) => [a.subprotocol, a]));
  const unknown = new Map<string, UnknownChargePoint>();
  const lastWarnAt = new Map<string, number>();

  const remember = (identity: string, remoteAddress: string | undefined, reason: string) => {
    const nowMs = opts.now();
    const key = identity.slice(0, 256) || '(empty)';
    const earlier = unknown.get(key);
    unknown.delete(key);
    unknown.set(key, {
      chargePointId: key,
      lastSeenAtMs: nowMs,
      ...(remoteAddress === undefined ? {} : { remoteAddress: remoteAddress.slice(0, 64) }),
      reason,
      attempts: (earlier?.attempts ?? 0) + 1,
    });
    // Bounded: a flood of made-up identities must not grow memory.
    while (unknown.size > MAX_UNKNOWN) {
      const oldest = unknown.keys().next().value as string;
      unknown.delete(oldest);
      lastWarnAt.delete(oldest);
    }
    // One warning per identity and minute: a charger retrying every few seconds must not flood the log.
    if (nowMs - (lastWarnAt.get(key) ?? Number.NEGATIVE_INFINITY) >= 60_000) {
      lastWarnAt.set(key, nowMs);
      opts.log.warn({ chargePointId: key, remoteAddress, reason, attempts: (earlier?.attempts ?? 0) + 1 }, 'charge point refused');
    }
  };

  /** An accepted WebSocket of an identity we do not know (security profile 0): Rejected at boot, nothing else. */
  const rejecting = (connection: RpcConnection): StationHandler => {
    const refuse = (): never => {
      throw new NotAcceptedError(`charge point '${connection.identity}' is not known to this central system`);
    };
    return {
      boot: () => {
        opts.health.incrementCounter('bootsRejected');
        remember(connection.identity, connection.remoteAddress, 'unknown identity: boot rejected');
        return { status: 'rejected', intervalS: opts.rejectedRetryS };
      },
      heartbeat: refuse,
      authorize: refuse,
      status: refuse,
      startTransaction: refuse,
      stopTransaction: refuse,
      meterValues: refuse,
      violation: () => opts.health.incrementCounter('protocolErrors'),
    };
  };

  return {
    stations,
    authenticate(handshake) {
      const offered = [...adapters.keys()].find((p) => handshake.protocols.has(p));
      if (offered === undefined) {
        remember(handshake.identity, handshake.remoteAddress, `no supported subprotocol (offered: ${[...handshake.protocols].join(', ') || 'none'})`);
        opts.health.incrementCounter('authFailures');
        return { accept: false, status: 400, reason: `supported subprotocols: ${[...adapters.keys()].join(', ')}` };
      }
      if (opts.securityProfile === 0) return { accept: true };
      const expected = opts.passwords.get(handshake.identity);
      if (expected === undefined) {
        opts.health.incrementCounter('authFailures');
        opts.health.incrementCounter('unknownChargePoints');
        remember(handshake.identity, handshake.remoteAddress, 'unknown identity');
        return { accept: false, status: 401, reason: 'Unauthorized' };
      }
      if (!samePassword(expected, handshake.password)) {
        opts.health.incrementCounter('authFailures');
        remember(handshake.identity, handshake.remoteAddress, handshake.password === undefined ? 'no password' : 'wrong password');
        return { accept: false, status: 401, reason: 'Unauthorized' };
      }
      return { accept: true };
    },
    badRequest(request) {
      opts.health.incrementCounter('authFailures');
      remember(request.identity, request.remoteAddress, request.reason.slice(0, 200));
    },
    connect(connection) {
      const adapter = adapters.get(connection.protocol);
      if (adapter === undefined) {
        void connection.close(1002, 'no supported subprotocol').catch(() => undefined);
        return;
      }
      const station = stations.get(connection.identity);
      if (station === undefined) {
        opts.health.incrementCounter('unknownChargePoints');
        remember(connection.identity, connection.remoteAddress, 'unknown identity');
        adapter.bind(connection, rejecting(connection), { callTimeoutMs: opts.settings.callTimeoutMs, now: opts.now });
        return;
      }
      station.attach(connection, adapter);
    },
    unknown: () => [...unknown.values()].reverse(),
    chargers(reading) {
      const out: ChargerStatus[] = [];
      for (const station of stations.values()) {
        for (const connector of station.connectors.values()) {
          const { asset } = connector;
          const fields = reading(asset.assetId);
          const boot = station.boot?.info;
          const transaction = connector.transaction;
          const powerW = fields?.values.powerW;
          const error = fields?.quality === 'good' ? undefined : fields?.error;
          const protocol = station.protocol;
          out.push({
            assetId: asset.assetId,
            chargePointId: station.identity.slice(0, 48),
            connectorId: asset.connectorId,
            connected: station.connected,
            ...(protocol === undefined ? {} : { protocol: protocol.slice(0, 16) }),
            ...(connector.status === undefined ? {} : { state: connector.status.state, ocppStatus: connector.status.raw.slice(0, 32) }),
            ...(powerW === undefined || powerW < 0 ? {} : { powerW }),
            ...(connector.limit?.confirmed === true ? { currentLimitA: connector.limit.currentA } : {}),
            ...(transaction === undefined
              ? {}
              : {
                  session: {
                    transactionId: transaction.id,
                    ...(transaction.startedAtMs === undefined || transaction.startedAtMs < 0 ? {} : { startedAtMs: Math.round(transaction.startedAtMs) }),
                    ...(fields?.values.sessionEnergyWh === undefined ? {} : { energyWh: fields.values.sessionEnergyWh }),
                    adopted: transaction.adopted,
                  },
                }),
            ...(station.connected ? { rateUnit: station.rateUnits[0] ?? 'A' } : {}),
            ...(station.lastSeenAtMs === undefined ? {} : { lastSeenAtMs: Math.round(station.lastSeenAtMs) }),
            ...(boot === undefined
              ? {}
              : {
                  vendor: boot.vendor.slice(0, 64),
                  model: boot.model.slice(0, 64),
                  ...(boot.firmware === undefined ? {} : { firmware: boot.firmware.slice(0, 64) }),
                }),
            ...(error === undefined ? {} : { error: error.slice(0, 500) }),
          });
        }
      }
      return out;
    },
    connectedAssets() {
      return [...stations.values()].filter((s) => s.connected).flatMap((s) => s.assetIds);
    },
    async close() {
      await Promise.allSettled([...stations.values()].map((s) => s.close()));
    },
  };
}
