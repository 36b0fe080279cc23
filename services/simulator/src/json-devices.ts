// The simulated site's HTTP and MQTT devices (opt-in by profile): an EV charger asset whose profile is an HTTP profile
// is served as a Peblar charger on its local REST API, a grid meter or sub-meter whose profile is an MQTT profile as a
// Shelly Pro 3EM publishing to the broker in MQTT_URL. Sites without such assets (docker/config/assets.sim.json)
// run exactly as before.
import type { AssetConfig, SiteConfig } from '@voltimax/contracts';
import { getProfile } from '@voltimax/devices';
import type { Logger } from 'pino';
import { clientHost } from './endpoints';
import { SimulatedEv } from './ev';
import { startMqttMeterPublisher, type MqttMeterPublisher } from './mqtt-meter/mqtt-publisher';
import { ShellyPro3emImage } from './mqtt-meter/shelly-pro-3em';
import { PeblarCharger, type EvInterfacePatch } from './peblar/peblar-charger';
import { startPeblarHttpServer, type PeblarHttpServer } from './peblar/peblar-http';
import type { SimulatedSite, SiteSnapshot } from './site';

/** The profile each simulated JSON device serves (what the drivers must use). */
export const PEBLAR_REST_PROFILE = 'peblar.rest';
export const SHELLY_PRO_3EM_PROFILE = 'shelly.pro-3em';
/** The simulated grid meter's counters at the start, Wh (a meter is rarely new). */
const SHELLY_GRID_START_WH = { consumed: 2_345_678, returned: 456_789 } as const;

/** An asset served as an HTTP or MQTT device. */
export type JsonDeviceAsset =
  | { readonly kind: 'peblar-http'; readonly asset: Extract<AssetConfig, { kind: 'ev-charger' }> }
  | { readonly kind: 'shelly-mqtt'; readonly asset: Extract<AssetConfig, { kind: 'grid-meter' | 'meter' }> };

/** The site split: the JSON devices, and the rest for the Modbus simulation. */
export interface JsonDevicePlan {
  readonly devices: readonly JsonDeviceAsset[];
  /** The site without the JSON devices (what the Modbus part serves). */
  readonly modbusSite: SiteConfig;
  /** JSON-profile assets that are not simulated, with the reason. */
  readonly notServed: readonly { readonly assetId: string; readonly reason: string }[];
}

/** Pure: which enabled assets become JSON devices (by the protocol of their configured profile). */
export function planJsonDevices(site: SiteConfig): JsonDevicePlan {
  const devices: JsonDeviceAsset[] = [];
  const notServed: { assetId: string; reason: string }[] = [];
  const taken = new Set<string>();
  for (const asset of site.assets) {
    const protocol = getProfile(asset.profile)?.protocol;
    if (protocol !== 'http' && protocol !== 'mqtt') continue;
    taken.add(asset.id);
    if (!asset.enabled) {
      notServed.push({ assetId: asset.id, reason: 'disabled' });
    } else if (protocol === 'http' && asset.kind === 'ev-charger') {
      devices.push({ kind: 'peblar-http', asset });
    } else if (
      protocol === 'mqtt' &&
      (asset.kind === 'grid-meter' ||
        (asset.kind === 'meter' && (asset.measures === 'load' || asset.measures === 'ev')))
    ) {
      devices.push({ kind: 'shelly-mqtt', asset });
    } else {
      notServed.push({
        assetId: asset.id,
        reason: `a ${asset.kind} with the ${protocol} profile '${asset.profile}' is not simulated`,
      });
    }
  }
  return { devices, modbusSite: { ...site, assets: site.assets.filter((a) => !taken.has(a.id)) }, notServed };
}

/** Where the drivers reach a JSON device, as the connection written into SIM_ASSETS_FILE. */
export type JsonEndpoint =
  | {
      readonly assetId: string;
      readonly profile: string;
      readonly connection: { readonly protocol: 'http'; readonly baseUrl: string; readonly tokenEnv?: string };
    }
  | {
      readonly assetId: string;
      readonly profile: string;
      readonly connection: { readonly protocol: 'mqtt'; readonly topicPrefix: string; readonly brokerUrl: string };
    };

/** Settings of the JSON devices (from the simulator's environment). */
export interface JsonDeviceOptions {
  readonly bind: string;
  readonly advertiseHost?: string;
  /** First HTTP port (device i gets basePort + i); 0 = ephemeral. */
  readonly basePort: number;
  /** Broker the MQTT meters publish to, and the URL written for the drivers. */
  readonly mqttUrl: string | undefined;
  readonly advertiseMqttUrl: string | undefined;
  /** Token the simulated chargers demand (undefined = none), and the variable name written as `tokenEnv`. */
  readonly peblarToken: string | undefined;
  readonly peblarTokenEnv: string;
  readonly ev: { readonly plugged: boolean; readonly carMaxCurrentA: number; readonly initialLimitA: number };
  readonly phases: 1 | 3;
  readonly nominalVoltageV: number;
  readonly now: () => number;
  readonly log: Logger;
  /** Called after each accepted Peblar PATCH (SIM_EVENTS_FILE). */
  readonly onWrite?: (assetId: string, body: EvInterfacePatch) => void;
  /** While true for a Shelly meter, it keeps publishing the values of the step before (a frozen meter). */
  readonly isFrozen?: (assetId: string) => boolean;
}

/** The running JSON devices. */
export interface JsonDevices {
  readonly endpoints: readonly JsonEndpoint[];
  readonly chargers: ReadonlyMap<string, PeblarCharger>;
  /** The chargers' REST servers by asset id (disconnect/reconnect for fault injection). */
  readonly servers: ReadonlyMap<string, PeblarHttpServer>;
  /** Request / publish counters per asset. */
  counters(): Readonly<
    Record<string, { readonly reads: number; readonly writes: number; readonly rejectedWrites: number }>
  >;
  stop(): Promise<void>;
}

/**
 * Starts the planned JSON devices on the running site: a Peblar REST API per EV charger (its car is an EV load of
 * the site: the power follows the charge current limit) and one MQTT connection for the Shelly meters, which
 * publish after every step. Everything is attached through `SimulatedSite.attachEvLoad` / `attachDevice`.
 */
export async function startJsonDevices(
  plan: JsonDevicePlan,
  site: SimulatedSite,
  options: JsonDeviceOptions,
): Promise<JsonDevices> {
  const host = options.advertiseHost ?? clientHost(options.bind);
  const servers: PeblarHttpServer[] = [];
  const chargers = new Map<string, PeblarCharger>();
  const detach: (() => void)[] = [];
  const endpoints: JsonEndpoint[] = [];
  let publisher: MqttMeterPublisher | undefined;
  try {
    for (const device of plan.devices) {
      if (device.kind !== 'peblar-http') continue;
      const { asset } = device;
      const ev = new SimulatedEv({
        plugged: options.ev.plugged,
        carMaxCurrentA: options.ev.carMaxCurrentA,
        phases: asset.evCharger.phases,
        voltageV: options.nominalVoltageV,
        minCurrentA: 6,
      });
      const charger = new PeblarCharger(
        {
          assetId: asset.id,
          installationLimitA: asset.evCharger.maxCurrentA,
          initialLimitA: options.ev.initialLimitA,
          energyTotalStartWh: 1_250_034,
          phaseCount: asset.evCharger.phases,
        },
        ev,
        options.now,
      );
      const server = await startPeblarHttpServer({
        charger,
        host: options.bind,
        port: options.basePort === 0 ? 0 : options.basePort + servers.length,
        token: options.peblarToken,
        log: options.log.child({ component: 'peblar-http', assetId: asset.id }),
        ...(options.onWrite === undefined ? {} : { onWrite: (body: EvInterfacePatch) => options.onWrite?.(asset.id, body) }),
      });
      servers.push(server);
      chargers.set(asset.id, charger);
      detach.push(site.attachEvLoad({ assetId: asset.id, powerW: () => charger.powerW() }));
      detach.push(site.attachDevice({ update: (s) => charger.update(s) }));
      endpoints.push({
        assetId: asset.id,
        profile: PEBLAR_REST_PROFILE,
        connection: {
          protocol: 'http',
          baseUrl: `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`,
          ...(options.peblarToken === undefined ? {} : { tokenEnv: options.peblarTokenEnv }),
        },
      });
    }
    const meters = plan.devices.flatMap((device) => {
      if (device.kind !== 'shelly-mqtt') return [];
      const image = new ShellyPro3emImage();
      const { asset } = device;
      const measures = asset.kind === 'grid-meter' ? 'grid' : asset.measures;
      detach.push(
        site.attachDevice({
          update: (s: SiteSnapshot) => {
            if (options.isFrozen?.(asset.id)) return;
            const grid = measures === 'grid';
            const powerW = grid ? s.flows.gridPowerW : measures === 'ev' ? s.flows.evW : s.flows.loadW;
            const consumedWh = grid
              ? SHELLY_GRID_START_WH.consumed + s.totals.gridImportWh
              : measures === 'ev'
                ? s.totals.evWh
                : s.totals.loadWh;
            const returnedWh = grid ? SHELLY_GRID_START_WH.returned + s.totals.gridExportWh : 0;
            image.update({
              powerW,
              phases: options.phases,
              voltagesV: s.voltagesV,
              frequencyHz: s.flows.gridFrequencyHz,
              consumedWh,
              returnedWh,
            });
          },
        }),
      );
      const prefix = `shellypro3em-${asset.id}`;
      return [{ assetId: asset.id, prefix, image }];
    });
    if (meters.length > 0) {
      if (options.mqttUrl === undefined) throw new Error('MQTT meters need MQTT_URL');
      const started = startMqttMeterPublisher({
        url: options.mqttUrl,
        meters,
        clientId: `voltimax-simulator-${meters[0]?.assetId ?? 'meters'}-${options.now().toString(36)}`.slice(0, 64),
        log: options.log.child({ component: 'mqtt-meters' }),
      });
      publisher = started;
      detach.push(site.attachDevice({ update: () => started.publishAll() }));
      for (const meter of meters) {
        endpoints.push({
          assetId: meter.assetId,
          profile: SHELLY_PRO_3EM_PROFILE,
          connection: {
            protocol: 'mqtt',
            topicPrefix: meter.prefix,
            brokerUrl: options.advertiseMqttUrl ?? options.mqttUrl,
          },
        });
      }
    }
  } catch (err) {
    for (const off of detach) off();
    await Promise.all(servers.map((s) => s.close()));
    await publisher?.close();
    throw err;
  }
  const mqttCounts = () => publisher?.counters() ?? {};
  return {
    endpoints,
    chargers,
    servers: new Map(servers.map((s) => [s.assetId, s])),
    counters() {
      const out: Record<string, { reads: number; writes: number; rejectedWrites: number }> = {};
      for (const server of servers) {
        const c = server.counters();
        out[server.assetId] = { reads: c.reads, writes: c.writes, rejectedWrites: c.rejectedWrites + c.unauthorized };
      }
      for (const [assetId, published] of Object.entries(mqttCounts()))
        out[assetId] = { reads: published, writes: 0, rejectedWrites: 0 };
      return out;
    },
    async stop() {
      for (const off of detach) off();
      await Promise.all(servers.map((s) => s.close()));
      await publisher?.close();
    },
  };
}

/**
 * The site file with each JSON device's connection replaced by where it is served and its profile by the served
 * one (every other key as written). Applied after the Modbus endpoints; pure.
 */
export function withJsonEndpoints(
  raw: Record<string, unknown>,
  endpoints: readonly JsonEndpoint[],
): Record<string, unknown> {
  const byId = new Map(endpoints.map((e) => [e.assetId, e]));
  const assets = Array.isArray(raw['assets']) ? (raw['assets'] as Record<string, unknown>[]) : [];
  return {
    ...raw,
    assets: assets.map((asset) => {
      const endpoint = byId.get(String(asset['id']));
      return endpoint === undefined ? asset : { ...asset, profile: endpoint.profile, connection: endpoint.connection };
    }),
  };
}
