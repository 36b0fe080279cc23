// The control API's view of the running site: the fault state the physics and the device images consult (frozen
// assets, load step, PV scale), and SimControls over the Modbus listeners, the JSON devices and the OCPP charge points.
import type { AssetConfig, SiteConfig } from '@voltimax/contracts';
import type { AssetState, ControlOutcome, ServedAs, SimControls, SimState } from './control';
import type { SimulatedChargePoint, SimulatedCar } from './ocpp';
import type { PeblarCharger } from './peblar/peblar-charger';
import type { LoadPvProfile } from './profile';
import type { SiteSnapshot } from './site';

/** What the fault injections change; read by the profile wrapper and the device images every step. */
export interface SiteFaults {
  /** Whether the asset's image is frozen. */
  isFrozen(assetId: string): boolean;
  /** The site as it was when the asset froze (what it keeps reporting), if frozen. */
  frozenAt(assetId: string): SiteSnapshot | undefined;
  freeze(assetId: string, snapshot: SiteSnapshot): void;
  unfreeze(assetId: string): void;
  extraLoadW: number;
  pvScale: number;
  /** The profile with the load step added (load ≥ 0) and the PV scaled. */
  wrap(profile: LoadPvProfile): LoadPvProfile;
}

/** No asset frozen, no extra load, PV as the profile says. */
export function createSiteFaults(): SiteFaults {
  const frozen = new Map<string, SiteSnapshot>();
  const faults: SiteFaults = {
    isFrozen: (assetId) => frozen.has(assetId),
    frozenAt: (assetId) => frozen.get(assetId),
    freeze: (assetId, snapshot) => void (frozen.has(assetId) || frozen.set(assetId, snapshot)),
    unfreeze: (assetId) => void frozen.delete(assetId),
    extraLoadW: 0,
    pvScale: 1,
    wrap: (profile) => ({
      ...profile,
      source: profile.source,
      at(atMs) {
        const raw = profile.at(atMs);
        return { loadW: Math.max(0, raw.loadW + faults.extraLoadW), pvW: Math.max(0, raw.pvW * faults.pvScale) };
      },
    }),
  };
  return faults;
}

/** A device listener that can drop off the network and come back on the same port. */
export interface Reconnectable {
  readonly port: number;
  readonly connected: boolean;
  disconnect(): Promise<void>;
  reconnect(): Promise<void>;
}

/** A Peblar charger with its REST server. */
export interface ControlledPeblar {
  readonly charger: PeblarCharger;
  readonly server: Reconnectable & { readonly frozen: boolean; freeze(): void; unfreeze(): void };
}

/** An OCPP connector: its charge point, the connector id and the car that plugs in. */
export interface ControlledOcppConnector {
  readonly chargePoint: SimulatedChargePoint;
  readonly connectorId: number;
  readonly car: SimulatedCar;
}

export interface SiteControlsOptions {
  readonly site: SiteConfig;
  readonly faults: SiteFaults;
  readonly snapshot: () => SiteSnapshot;
  readonly speed: number;
  /** Modbus listeners by asset id. */
  readonly modbus: ReadonlyMap<string, Reconnectable>;
  readonly peblars: ReadonlyMap<string, ControlledPeblar>;
  /** Shelly MQTT meters (freeze only: the simulator's one MQTT connection serves them all). */
  readonly mqttMeters: ReadonlySet<string>;
  readonly ocpp: ReadonlyMap<string, ControlledOcppConnector>;
}

const ok = (detail?: Readonly<Record<string, unknown>>): ControlOutcome => (detail ? { ok: true, detail } : { ok: true });
const conflict = (reason: string): ControlOutcome => ({ ok: false, status: 409, reason });

/** What a device of this asset reports for the site snapshot `s`. */
function assetValues(asset: AssetConfig, s: SiteSnapshot): Record<string, number> {
  switch (asset.kind) {
    case 'grid-meter':
      return { powerW: s.flows.gridPowerW, frequencyHz: s.flows.gridFrequencyHz };
    case 'meter':
      return { powerW: asset.measures === 'ev' ? s.flows.evW : asset.measures === 'load' ? s.flows.loadW : 0 };
    case 'battery':
      return { powerW: s.flows.batteryPowerW, socPct: s.socPct, setpointW: s.requestedBatteryW };
    case 'hybrid-inverter':
      return { pvW: s.pvInvertersW[asset.id] ?? 0, loadW: s.flows.loadW + s.flows.evW, gridPowerW: s.flows.gridPowerW };
    case 'pv-inverter':
      return { pvW: s.pvInvertersW[asset.id] ?? 0 };
    case 'ev-charger':
      return { powerW: s.evLoadsW[asset.id] ?? 0 };
    default:
      return {};
  }
}

/** SimControls over the running site. */
export function createSiteControls(options: SiteControlsOptions): SimControls {
  const { site, faults, modbus, peblars, mqttMeters, ocpp } = options;
  const assets = new Map(site.assets.map((a) => [a.id, a]));
  const servedAs = (assetId: string): ServedAs | undefined =>
    modbus.has(assetId)
      ? 'modbus'
      : peblars.has(assetId)
        ? 'peblar-http'
        : mqttMeters.has(assetId)
          ? 'shelly-mqtt'
          : ocpp.has(assetId)
            ? 'ocpp'
            : undefined;
  /** The served asset, or why not. */
  const lookup = (assetId: string): { asset: AssetConfig; as: ServedAs } | ControlOutcome => {
    const asset = assets.get(assetId);
    const as = servedAs(assetId);
    if (asset === undefined) return { ok: false, status: 404, reason: `no asset ${assetId} in the simulated site` };
    if (as === undefined) return conflict(`${assetId} is not simulated (disabled, or a kind without a simulated device)`);
    return { asset, as };
  };
  const listenerOf = (assetId: string): Reconnectable | undefined => modbus.get(assetId) ?? peblars.get(assetId)?.server;

  function assetState(asset: AssetConfig, as: ServedAs): AssetState {
    const frozen = faults.isFrozen(asset.id);
    const values: Record<string, number | boolean | string | null> = assetValues(asset, faults.frozenAt(asset.id) ?? options.snapshot());
    const peblar = peblars.get(asset.id);
    if (peblar) {
      values['plugged'] = peblar.charger.ev.plugged;
      values['limitA'] = peblar.charger.appliedLimitA();
    }
    const connector = ocpp.get(asset.id);
    if (connector) {
      const c = connector.chargePoint.connector(connector.connectorId);
      values['status'] = c.status;
      values['offeredA'] = c.offeredA;
      values['plugged'] = c.socPct !== undefined;
    }
    const listener = listenerOf(asset.id);
    return {
      kind: asset.kind,
      servedAs: as,
      ...(listener === undefined ? {} : { port: listener.port }),
      connected: listener?.connected ?? true,
      frozen,
      values,
    };
  }

  return {
    state(): SimState {
      const s = options.snapshot();
      const states: Record<string, AssetState> = {};
      for (const asset of site.assets) {
        const as = servedAs(asset.id);
        if (as !== undefined) states[asset.id] = assetState(asset, as);
      }
      return {
        v: 1,
        step: s.step,
        simAtMs: s.atMs,
        simAt: new Date(s.atMs).toISOString(),
        speed: options.speed,
        site: {
          gridPowerW: s.flows.gridPowerW,
          loadW: s.flows.loadW,
          pvW: s.flows.pvW,
          evW: s.flows.evW,
          batteryPowerW: s.flows.batteryPowerW,
          requestedBatteryW: s.requestedBatteryW,
          socPct: s.socPct,
          frequencyHz: s.flows.gridFrequencyHz,
        },
        controls: { extraLoadW: faults.extraLoadW, pvScale: faults.pvScale },
        assets: states,
      };
    },
    freeze(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      if (found.as === 'ocpp') return conflict(`${assetId} is an OCPP charge point: freeze is not supported`);
      const s = options.snapshot();
      faults.freeze(assetId, s);
      peblars.get(assetId)?.server.freeze();
      return ok({ frozenAtStep: s.step, values: assetValues(found.asset, s) });
    },
    unfreeze(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      faults.unfreeze(assetId);
      peblars.get(assetId)?.server.unfreeze();
      return ok();
    },
    async disconnect(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      const listener = listenerOf(assetId);
      if (listener === undefined) return conflict(`${assetId} is served as ${found.as}: disconnect is not supported`);
      await listener.disconnect();
      return ok({ port: listener.port });
    },
    async reconnect(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      const listener = listenerOf(assetId);
      if (listener === undefined) return conflict(`${assetId} is served as ${found.as}: reconnect is not supported`);
      await listener.reconnect();
      return ok({ port: listener.port });
    },
    setExtraLoad(extraW) {
      faults.extraLoadW = extraW;
      return ok();
    },
    setPvScale(scale) {
      faults.pvScale = scale;
      return ok();
    },
    async plug(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      const peblar = peblars.get(assetId);
      if (peblar) {
        peblar.charger.ev.plug();
        return ok();
      }
      const connector = ocpp.get(assetId);
      if (connector) {
        await connector.chargePoint.plugIn(connector.connectorId, connector.car);
        return ok();
      }
      return conflict(`${assetId} is not a simulated EV charger`);
    },
    async unplug(assetId) {
      const found = lookup(assetId);
      if ('ok' in found) return found;
      const peblar = peblars.get(assetId);
      if (peblar) {
        peblar.charger.ev.unplug();
        return ok();
      }
      const connector = ocpp.get(assetId);
      if (connector) {
        await connector.chargePoint.unplug(connector.connectorId);
        return ok();
      }
      return conflict(`${assetId} is not a simulated EV charger`);
    },
  };
}
