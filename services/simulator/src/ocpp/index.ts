// Simulated OCPP 1.6-J charge points for the simulated site (and the ocpp bench). Attach `loads` to the site model's
// EV-load hook (`site.attachEvLoad(load)`): each is `{ assetId, powerW(nowMs) }`, what one connector draws.
import type { SiteConfig } from '@voltimax/contracts';
import type { Logger } from 'pino';
import { SimulatedChargePoint, type ChargePointOptions, type OcppEvLoad, type SimulatedCar } from './charge-point';

export { SimulatedChargePoint, type ChargePointOptions, type ConnectorOptions, type OcppEvLoad, type SimulatedCar } from './charge-point';

/** Running charge points. */
export interface OcppChargePoints {
  readonly chargePoints: readonly SimulatedChargePoint[];
  /** One per connector: `{ assetId, powerW(nowMs) }` for the site model. */
  readonly loads: readonly OcppEvLoad[];
  stop(): Promise<void>;
}

/**
 * Starts charge points: each connects to the central system (re-connecting for ever) and boots. Connections are
 * opened `concurrency` at a time; a charge point that cannot connect at first keeps trying in the background.
 */
export async function startOcppChargePoints(opts: {
  readonly chargePoints: readonly ChargePointOptions[];
  /** Connections opened at once (default 50). */
  readonly concurrency?: number;
  readonly log?: Logger;
}): Promise<OcppChargePoints> {
  const chargePoints = opts.chargePoints.map((o) => new SimulatedChargePoint({ ...(opts.log === undefined ? {} : { log: opts.log }), ...o }));
  const concurrency = Math.max(1, opts.concurrency ?? 50);
  let stopped = false;
  const retries = new Set<ReturnType<typeof setTimeout>>();
  // The client re-connects by itself only once it was connected: a first connection that fails (the central system
  // not up yet, as under `npm start`) is retried here, with backoff up to 10 s, until it works or we stop.
  const retry = (cp: SimulatedChargePoint, delayMs: number): void => {
    if (stopped) return;
    const timer = setTimeout(() => {
      retries.delete(timer);
      if (stopped) return;
      cp.start().then(
        () => opts.log?.info({ chargePointId: cp.identity }, 'charge point connected'),
        () => retry(cp, Math.min(10_000, delayMs * 2)),
      );
    }, delayMs);
    retries.add(timer);
  };
  for (let i = 0; i < chargePoints.length; i += concurrency) {
    await Promise.all(
      chargePoints.slice(i, i + concurrency).map((cp) =>
        cp.start().catch((err: unknown) => {
          opts.log?.warn(
            { chargePointId: cp.identity, err: err instanceof Error ? err.message : String(err) },
            'charge point could not connect; retrying',
          );
          retry(cp, 500);
        }),
      ),
    );
  }
  return {
    chargePoints,
    loads: chargePoints.flatMap((cp) => cp.loads),
    async stop() {
      stopped = true;
      for (const timer of retries) clearTimeout(timer);
      await Promise.allSettled(chargePoints.map((cp) => cp.stop()));
    },
  };
}

/**
 * One simulated charge point per `chargePointId` of the site's enabled OCPP chargers, with their connectors, wiring
 * (`evCharger.phases`) and password (the variable `connection.passwordEnv` names, read from `env`). `car` (if given)
 * is plugged into every connector from the start.
 */
export function ocppChargePointsFromSite(
  site: SiteConfig,
  opts: {
    /** The central system's URL without the identity, e.g. `ws://127.0.0.1:8887/ocpp`. */
    readonly endpoint: string;
    readonly env?: Readonly<Record<string, string | undefined>>;
    readonly car?: SimulatedCar;
    readonly wsOptions?: Readonly<Record<string, unknown>>;
    readonly now?: () => number;
  },
): ChargePointOptions[] {
  const byIdentity = new Map<string, ChargePointOptions & { connectors: ChargePointOptions['connectors'][number][] }>();
  for (const asset of site.assets) {
    if (!asset.enabled || asset.kind !== 'ev-charger' || asset.connection.protocol !== 'ocpp') continue;
    const { chargePointId, connectorId, passwordEnv } = asset.connection;
    let cp = byIdentity.get(chargePointId);
    if (cp === undefined) {
      const password = passwordEnv === undefined ? undefined : opts.env?.[passwordEnv];
      cp = {
        endpoint: opts.endpoint,
        identity: chargePointId,
        connectors: [],
        phases: asset.evCharger.phases,
        voltageV: site.grid.nominalVoltageV,
        ...(password === undefined ? {} : { password }),
        ...(opts.wsOptions === undefined ? {} : { wsOptions: opts.wsOptions }),
        ...(opts.now === undefined ? {} : { now: opts.now }),
      };
      byIdentity.set(chargePointId, cp);
    }
    cp.connectors.push({ connectorId, assetId: asset.id, ...(opts.car === undefined ? {} : { car: opts.car }) });
  }
  return [...byIdentity.values()];
}
