import type { Bus, Unsubscribe } from '@voltimax/bus';
import { subjects } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { BridgeHealth } from './bridge-health';
import type { ConfigSync } from './config-sync';
import type { ServiceHealthTracker } from './service-health';

export interface GatewayRequestDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly health: BridgeHealth;
  readonly config: ConfigSync;
  readonly services: ServiceHealthTracker;
  readonly gatewayId: string;
  readonly version: string;
  readonly startedAtMs: number;
  readonly now: () => number;
}

/**
 * The gateway's own requests on the bus (the cli's way to the bridge): `gateway.ping`, `gateway.config.refresh`,
 * `gateway.config.apply`. The bus validates each request (an invalid one is refused with `Voltimax-Error:
 * invalid-request`) and each reply.
 */
export function answerGatewayRequests(deps: GatewayRequestDeps): Unsubscribe {
  const { bus, log, health, config } = deps;
  const offs = [
    bus.reply(subjects.gatewayPing, () => {
      health.count('gatewayPings');
      return {
        v: 1 as const,
        gatewayId: deps.gatewayId,
        version: deps.version,
        uptimeMs: Math.max(0, deps.now() - deps.startedAtMs),
        atMs: deps.now(),
        services: deps.services.snapshot(),
      };
    }),
    bus.reply(subjects.gatewayRefreshConfig, async (request) => {
      health.count('gatewayRefreshes');
      const result = await config.refresh(`bus: ${request.reason}`);
      return {
        v: 1 as const,
        changed: result.changed,
        hash: result.hash,
        ...(result.error === undefined ? {} : { error: result.error.slice(0, 500) }),
        atMs: deps.now(),
      };
    }),
    bus.reply(subjects.gatewayConfigApply, async (request) => {
      health.count('gatewayConfigApplies');
      log.info(
        { requestedBy: request.requestedBy, reason: request.reason, baseHash: request.baseHash },
        'configuration apply requested',
      );
      const result = await config.apply(
        request.config,
        'cli',
        request.baseHash === undefined ? {} : { baseHash: request.baseHash },
      );
      return {
        v: 1 as const,
        outcome: result.outcome,
        hash: result.hash,
        problems: result.problems.map((p) => ({ path: p.path.slice(0, 500), message: p.message.slice(0, 1000) })),
        ...(result.requiresRestart === undefined ? {} : { requiresRestart: result.requiresRestart }),
        ...(result.changedSections === undefined ? {} : { changedSections: [...result.changedSections] }),
        ...(result.error === undefined ? {} : { error: result.error.slice(0, 500) }),
        atMs: deps.now(),
      };
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
