import { natsTransport } from '@voltimax/bus';
import { subjects } from '@voltimax/contracts';
import { defineService, restartOnSiteChange } from '@voltimax/service-kit';
import { csmsEnvSchema, type ReadTextFile } from './config';
import { COUNTERS } from './counters';
import { transactionIds } from './ids';
import type { ProtocolAdapter } from './protocol/adapter';
import { createRpcServer } from './protocol/rpc';
import { ocpp16Adapter } from './protocol/v16/adapter';
import { createRegistry } from './registry';
import { listenOcpp } from './server';
import { connectorReading, startTelemetry, type ReadingFields, type Telemetry } from './telemetry';
import { startWrites } from './writes';

/** `health.ocpp-csms`, and the NATS user of docker/nats/nats.conf. */
export const SERVICE_NAME = 'ocpp-csms';
export const SERVICE_VERSION = '0.1.0';

/** The OCPP versions spoken, in order of preference (add the 2.0.1 adapter here). */
export const ADAPTERS: readonly ProtocolAdapter[] = [ocpp16Adapter];

/** Injectable for tests. */
export interface CsmsOverrides {
  readonly readTextFile?: ReadTextFile;
  /** Called with the bound OCPP port once listening (tests use OCPP_PORT=0). */
  readonly onListening?: (endpoint: { readonly port: number; readonly scheme: 'ws' | 'wss' }) => void;
}

/**
 * The OCPP central system: charge points connect over WebSocket (OCPP 1.6-J, strict schema validation), their
 * connectors are the site's `ev-charger` assets; their state goes out as `telemetry.<assetId>`, the arbiter's
 * `device.<assetId>.write` becomes charging profiles (and session start/stop), `gateway.chargers` lists them.
 */
export function ocppCsmsService(overrides: CsmsOverrides = {}) {
  return defineService({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    env: csmsEnvSchema(overrides.readTextFile),
    async start({ env, log, bus, connection, health, now, restart, reloadEnv }) {
      const { plan } = env;
      log.info(
        {
          siteFile: env.siteFile,
          gatewayId: env.site.gatewayId,
          endpoint: `${env.tls === undefined ? 'ws' : 'wss'}://${env.host}:${env.port}/<chargePointId>`,
          protocols: ADAPTERS.map((a) => a.subprotocol),
          securityProfile: env.securityProfile,
          authorize: env.authorize,
          idTags: env.idTags.size,
          meterIntervalS: env.meterIntervalS,
          heartbeatIntervalS: env.heartbeatIntervalS,
          chargePoints: [...plan.chargePoints.values()].map((cp) => ({
            chargePointId: cp.identity,
            connectors: [...cp.connectors.values()].map((c) => ({
              assetId: c.assetId,
              connectorId: c.connectorId,
              profile: c.profile.ok ? c.profile.profile.id : c.profile.reason,
              phases: c.phases,
              maxCurrentA: c.maxCurrentA,
            })),
            password: env.passwords.has(cp.identity),
          })),
          notOcpp: plan.notOcpp,
        },
        'charge points planned',
      );
      if (env.securityProfile === 0) log.warn('OCPP security profile 0: charge points connect without a password');
      for (const charger of plan.assets) {
        if (!charger.profile.ok) log.error({ assetId: charger.assetId, reason: charger.profile.reason }, 'charger cannot be driven');
      }
      for (const name of COUNTERS) health.setCounter(name, 0);

      // The registry reports changes to the telemetry, which is started on the registry's stations.
      const late: { telemetry?: Telemetry } = {};
      const updateHealth = () => {
        health.setAssets(registry.connectedAssets());
        const problems = late.telemetry?.problems() ?? new Map<string, string>();
        const down = plan.assets.filter((a) => problems.has(a.assetId)).map((a) => a.assetId);
        if (down.length === 0) health.setStatus('ok');
        else health.setStatus('degraded', `chargers not good: ${down.sort().join(', ')}`.slice(0, 500));
      };
      const registry = createRegistry({
        chargePoints: plan.chargePoints,
        passwords: env.passwords,
        securityProfile: env.securityProfile,
        adapters: ADAPTERS,
        settings: {
          heartbeatIntervalS: env.heartbeatIntervalS,
          meterIntervalS: env.meterIntervalS,
          callTimeoutMs: env.callTimeoutMs,
          writeTimeoutMs: env.writeTimeoutMs,
          stackLevel: env.stackLevel,
          setupDelayMs: env.setupDelayMs,
          remoteIdTag: env.remoteIdTag,
          nominalVoltageV: env.site.grid.nominalVoltageV,
        },
        rejectedRetryS: env.rejectedRetryS,
        log: log.child({ component: 'ocpp' }),
        health,
        now,
        transactionIds: transactionIds(now),
        authorize: (idTag) =>
          env.authorize === 'accept-all' || env.idTags.has(idTag) || idTag === env.remoteIdTag ? 'accepted' : 'invalid',
        onChange: (assetIds) => {
          late.telemetry?.publish(assetIds);
          updateHealth();
        },
        onConnectionChange: () => updateHealth(),
      });

      const silentStaleMs = Math.max(env.meterStaleMs, 3 * env.heartbeatIntervalS * 1000);
      const telemetry = startTelemetry({
        bus,
        log: log.child({ component: 'telemetry' }),
        health,
        stations: registry.stations,
        meterStaleMs: env.meterStaleMs,
        silentStaleMs,
        now,
      });
      late.telemetry = telemetry;
      const healthTimer = setInterval(updateHealth, 5_000);
      updateHealth();

      const owners = new Map(
        [...registry.stations.values()].flatMap((station) =>
          [...station.connectors.values()].map((c) => [c.asset.assetId, { station, connectorId: c.asset.connectorId }] as const),
        ),
      );
      const writes = startWrites({
        transport: natsTransport(connection.nc),
        log: log.child({ component: 'writes' }),
        health,
        owners,
        now,
      });

      const readingOf = (assetId: string): ReadingFields | undefined => {
        const owner = owners.get(assetId);
        const connector = owner?.station.connectors.get(owner.connectorId);
        if (owner === undefined || connector === undefined) return undefined;
        const { station } = owner;
        return connectorReading(
          connector,
          {
            identity: station.identity,
            connected: station.connected,
            disconnectedAtMs: station.disconnectedAtMs,
            lastSeenAtMs: station.lastSeenAtMs,
            meterStaleMs: env.meterStaleMs,
            silentStaleMs,
          },
          now(),
        );
      };
      const offList = bus.reply(subjects.gatewayChargers, () => ({
        v: 1 as const,
        atMs: now(),
        chargers: registry.chargers(readingOf),
        unknown: registry.unknown(),
      }));

      const rpc = createRpcServer({
        protocols: ADAPTERS.map((a) => a.subprotocol),
        callTimeoutMs: env.callTimeoutMs,
        pingIntervalMs: env.pingIntervalMs,
        authenticate: (handshake) => registry.authenticate(handshake),
        onConnection: (c) => registry.connect(c),
        onUpgradeError: (identity, err) =>
          log.debug({ chargePointId: identity, err: err instanceof Error ? err.message : String(err) }, 'WebSocket upgrade aborted'),
        onBadRequest: (request) => registry.badRequest(request),
      });
      // The server has our subscriptions (device writes, the charger list) before we call ourselves started.
      await connection.nc.flush();
      const endpoint = await listenOcpp({ host: env.host, port: env.port, tls: env.tls, rpc });
      log.info({ port: endpoint.port, scheme: endpoint.scheme }, 'OCPP endpoint listening');
      overrides.onListening?.(endpoint);

      // It reads its chargers and the grid's nominal voltage only at start: a change to them restarts it (exit 75);
      // an edit of other assets or of the grid limits does not drop the charge points' connections.
      restartOnSiteChange({ bus, log, env, connection, restart, reloadEnv }, (e) => {
        const ours = new Set(e.plan.assets.map((a) => a.assetId));
        return { assets: e.site.assets.filter((a) => ours.has(a.id)), nominalVoltageV: e.site.grid.nominalVoltageV };
      });
      return {
        async stop() {
          clearInterval(healthTimer);
          offList();
          await writes.stop();
          telemetry.stop();
          await registry.close();
          await rpc.close().catch(() => undefined);
          await endpoint.close();
        },
      };
    },
  });
}
