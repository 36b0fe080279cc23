// The fault suite's site, its limits, the simulator's control API, and the cloud side of the telemetry link.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { mqttTopics } from '@voltimax/cloud';
import { jetstreamManager } from '@nats-io/jetstream';
import { AssetReadingSchema, streams, TelemetryFrameSchema, type AssetReading } from '@voltimax/contracts';
import { connectNatsAs } from '@voltimax/testing';
import { connectAsync, type MqttClient } from 'mqtt';
import type { SiteLimits } from './invariants';

const gunzipAsync = promisify(gunzip);

export const GRID = 'grid-1';
export const BATTERY = 'bat-1';
export const EV = 'ev-1';
/** Every asset's poll interval, ms (the simulator steps once a second). */
export const POLL_MS = 1_000;
export const TOPIC_PREFIX = 'faults';

/** The limits of {@link faultsSite}, as the invariant monitor checks them. */
export const FAULTS_LIMITS: SiteLimits = {
  battery: { assetId: BATTERY, maxChargeW: 5_000, maxDischargeW: 5_000, minSocPct: 10 },
  ev: { assetId: EV, minCurrentA: 6, maxCurrentA: 16 },
  grid: { maxImportW: 12_000, maxExportW: 6_000 },
};

/**
 * A small site: an SDM630 grid meter and a CNTE cabinet over Modbus (modbus-poller), a Peblar charger over HTTP
 * (http-devices); self-consumption for the battery and fast EV charging; the cloud over MQTT through `cloudBrokerUrl`.
 */
export function faultsSite(gatewayId: string, cloudBrokerUrl: string): Record<string, unknown> {
  const { battery, ev, grid } = FAULTS_LIMITS;
  return {
    v: 1,
    gatewayId,
    siteName: 'Fault suite site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: grid.maxImportW, maxExportW: grid.maxExportW, phases: 3, nominalVoltageV: 230 },
    assets: [
      {
        id: GRID,
        name: 'Grid meter',
        kind: 'grid-meter',
        profile: 'eastron.sdm630',
        connection: { protocol: 'simulated' },
        pollIntervalMs: POLL_MS,
      },
      {
        id: BATTERY,
        name: 'Battery cabinet',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'simulated' },
        pollIntervalMs: POLL_MS,
        battery: {
          capacityWh: 10_240,
          maxChargePowerW: battery.maxChargeW,
          maxDischargePowerW: battery.maxDischargeW,
          minSocPct: battery.minSocPct,
          maxSocPct: 95,
        },
      },
      {
        id: EV,
        name: 'Wallbox',
        kind: 'ev-charger',
        profile: 'peblar.rest',
        connection: { protocol: 'simulated' },
        pollIntervalMs: POLL_MS,
        evCharger: { minCurrentA: ev.minCurrentA, maxCurrentA: ev.maxCurrentA, phases: 3 },
      },
    ],
    strategy: {
      active: ['self-consumption', 'ev-charging'],
      tickMs: 1_000,
      config: { 'self-consumption': {}, 'ev-charging': { mode: 'fast' } },
    },
    rules: [],
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    cloud: { transport: 'mqtt', brokerUrl: cloudBrokerUrl, topicPrefix: TOPIC_PREFIX },
  };
}

/** The load/PV profile: an evening (no PV) with a 1.5 kW house load, so the battery discharges and the EV charges. */
export function faultsProfileCsv(): string {
  const startMs = Date.parse('2024-04-01T19:00:00Z');
  const rows = [0, 1].map((i) => `${new Date(startMs + i * 1_800_000).toISOString()},1500,0,100`);
  return ['timestamp,load_w,pv_w,price_eur_per_mwh', ...rows, ''].join('\n');
}

/** The simulator's control API (services/simulator/src/control.ts). */
export interface SimControl {
  post(path: string, body?: unknown): Promise<Record<string, unknown>>;
  state(): Promise<{ readonly step: number; readonly assets: Record<string, { connected: boolean; frozen: boolean }> }>;
}

export function simControl(port: number): SimControl {
  const base = `http://127.0.0.1:${port}`;
  return {
    async post(path, body) {
      const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body ?? {}) });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    async state() {
      const res = await fetch(`${base}/state`);
      return (await res.json()) as Awaited<ReturnType<SimControl['state']>>;
    },
  };
}

/** A reading's identity across restarts of its driver (the sequence alone restarts at 0). */
export const readingKey = (r: Pick<AssetReading, 'assetId' | 'atMs' | 'sequence'>): string => `${r.assetId}@${r.atMs}#${r.sequence}`;

/**
 * The keys of every reading stream TELEMETRY holds, read message by message as user `dashboard` (STREAM.MSG.GET only).
 * Not what the bus showed: a reading is a core publish, and nats-server drops what it has not stored yet when it stops,
 * though its subscribers got it.
 */
export async function storedReadingKeys(natsUrl: string): Promise<Set<string>> {
  const nc = await connectNatsAs(natsUrl, 'dashboard', { name: 'faults-stream-reader' });
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(streams.telemetry.name);
    const keys = new Set<string>();
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq += 1) {
      const message = await jsm.streams.getMessage(streams.telemetry.name, { seq });
      if (message !== null) keys.add(readingKey(AssetReadingSchema.parse(message.json())));
    }
    return keys;
  } finally {
    await nc.close();
  }
}

/** The cloud side: subscribes to the gateway's telemetry topic on the broker (directly, not through the link). */
export interface CloudTelemetry {
  /** Reading keys received, after de-duplication by frameId. */
  readonly keys: ReadonlySet<string>;
  /** Frames received (duplicates included) and distinct frame ids. */
  frames(): { readonly received: number; readonly distinct: number };
  /** Readings that arrived in two distinct frames (a reading must be in exactly one). */
  readonly duplicatedReadings: string[];
  readonly invalid: string[];
  close(): Promise<void>;
}

export async function subscribeCloudTelemetry(brokerUrl: string, gatewayId: string): Promise<CloudTelemetry> {
  const keys = new Set<string>();
  const frameIds = new Set<string>();
  const duplicatedReadings: string[] = [];
  const invalid: string[] = [];
  let received = 0;
  const client: MqttClient = await connectAsync(brokerUrl, {
    protocolVersion: 5,
    clientId: `cloud-${gatewayId}`,
    reconnectPeriod: 200,
  });
  let queue = Promise.resolve();
  client.on('message', (_topic, payload, packet) => {
    const gzip = packet.properties?.userProperties?.['content-encoding'] === 'gzip';
    queue = queue.then(async () => {
      try {
        const body = gzip ? await gunzipAsync(payload) : payload;
        const frame = TelemetryFrameSchema.parse(JSON.parse(body.toString('utf8')));
        received += 1;
        if (frameIds.has(frame.frameId)) return;
        frameIds.add(frame.frameId);
        for (const reading of frame.readings) {
          const key = readingKey(reading);
          if (keys.has(key)) duplicatedReadings.push(key);
          keys.add(key);
        }
      } catch (err) {
        invalid.push(String(err));
      }
    });
  });
  await client.subscribeAsync(mqttTopics(TOPIC_PREFIX).telemetry(gatewayId), { qos: 1 });
  return {
    keys,
    frames: () => ({ received, distinct: frameIds.size }),
    duplicatedReadings,
    invalid,
    async close() {
      await client.endAsync();
    },
  };
}
