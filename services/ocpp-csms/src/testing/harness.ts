// The central system in-process (runService with its own definition, as main.ts does) on a real nats-server from
// docker/nats/nats.conf, connected as user ocpp-csms; the test talks to it as the safety-arbiter (device writes) and
// the cli (telemetry, heartbeats, the charger list), and as charge points over real WebSockets.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import {
  subjects,
  type AssetReading,
  type ChargerListReply,
  type Heartbeat,
  type Setpoint,
  type SiteConfigInput,
  type WriteResult,
} from '@voltimax/contracts';
import { runDriverService, sendDeviceWrite } from '@voltimax/driver-sdk/testing';
import type { ServiceRuntime } from '@voltimax/service-kit';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import { ocppCsmsService } from '../service';

/** Two charge points: CP-1 with one connector (ev-1), CP-2 with two (ev-2a, ev-2b); a grid meter of another driver. */
export function testSite(overrides: { passwordEnv?: string } = {}): SiteConfigInput {
  const charger = (id: string, chargePointId: string, connectorId: number, phases: 1 | 3) => ({
    id,
    name: `Charger ${id}`,
    kind: 'ev-charger' as const,
    profile: 'autel.maxicharger-ac',
    connection: {
      protocol: 'ocpp' as const,
      chargePointId,
      connectorId,
      ...(overrides.passwordEnv === undefined ? {} : { passwordEnv: `${overrides.passwordEnv}_${chargePointId.replace(/-/g, '_')}` }),
    },
    pollIntervalMs: 500,
    evCharger: { minCurrentA: 6, maxCurrentA: 16, phases },
  });
  return {
    v: 1,
    gatewayId: 'gw-csms-test',
    siteName: 'csms test site',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 30_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
    assets: [
      charger('ev-1', 'CP-1', 1, 3),
      charger('ev-2a', 'CP-2', 1, 3),
      charger('ev-2b', 'CP-2', 2, 1),
      { id: 'grid-1', name: 'Grid', kind: 'grid-meter', profile: 'eastron.sdm630', connection: { protocol: 'simulated' } },
    ],
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
  };
}

export interface Csms {
  readonly runtime: ServiceRuntime;
  readonly log: CapturedLine[];
  /** `ws://127.0.0.1:<port>` or `wss://…`. */
  readonly endpoint: string;
  readonly port: number;
}

export interface Harness {
  readonly nats: NatsTestServer;
  readonly dir: string;
  /** Every telemetry.* reading, in arrival order (observed as user cli). */
  readonly readings: AssetReading[];
  readonly heartbeats: Heartbeat[];
  /** Starts a central system (stopped by `stop`, or earlier with `stopCsms`). */
  startCsms(opts?: { env?: Record<string, string>; site?: SiteConfigInput; port?: number }): Promise<Csms>;
  stopCsms(csms: Csms): Promise<void>;
  /** Readings of one asset after `sinceIndex`. */
  readingsOf(assetId: string, sinceIndex?: number): AssetReading[];
  /** Waits for a reading of `assetId` (after `sinceIndex`) that passes `predicate`. */
  reading(assetId: string, predicate: (r: AssetReading) => boolean, opts?: { sinceIndex?: number; timeoutMs?: number }): Promise<AssetReading>;
  /** Sends a device write as the safety-arbiter. */
  write(assetId: string, setpoint: Setpoint, opts?: { commandId?: string; intentId?: string; validForMs?: number; timeoutMs?: number }): Promise<WriteResult>;
  /** `gateway.chargers` as the cli. */
  chargers(): Promise<ChargerListReply>;
  /** A bus connected as one of nats.conf's users. */
  busAs(user: NatsUser): Promise<Bus>;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const dir = await mkdtemp(join(tmpdir(), 'ocpp-csms-'));
  const quiet = captureLogger('warn').log;
  const connections: BusConnection[] = [];
  const running = new Set<Csms>();
  const busAs = async (user: NatsUser): Promise<Bus> => {
    const connection = await connectBus({ servers: nats.url, name: `test-${user}`, user, pass: NATS_DEV_PASSWORDS[user], log: quiet });
    connections.push(connection);
    return createBus(connection.nc, quiet);
  };
  const observer = await busAs('cli');
  const readings: AssetReading[] = [];
  const heartbeats: Heartbeat[] = [];
  observer.subscribe(subjects.telemetry, (r) => void readings.push(r));
  observer.subscribe(subjects.health, (h) => {
    if (h.service === 'ocpp-csms') heartbeats.push(h);
  });
  const arbiter = await busAs('safety-arbiter');
  await Promise.all(connections.map((c) => c.nc.flush()));

  const readingsOf = (assetId: string, sinceIndex = 0) => readings.slice(sinceIndex).filter((r) => r.assetId === assetId);

  const harness: Harness = {
    nats,
    dir,
    readings,
    heartbeats,
    async startCsms(opts = {}) {
      const siteFile = join(dir, `assets-${randomUUID()}.json`);
      await writeFile(siteFile, JSON.stringify(opts.site ?? testSite()));
      let listening: { port: number; scheme: 'ws' | 'wss' } | undefined;
      const { runtime, lines: log } = await runDriverService(ocppCsmsService({ onListening: (e) => (listening = e) }), {
        natsUrl: nats.url,
        user: 'ocpp-csms',
        env: {
          INSTANCE_ID: 'csms-test',
          SITE_FILE: siteFile,
          OCPP_HOST: '127.0.0.1',
          OCPP_PORT: String(opts.port ?? 0),
          OCPP_SECURITY_PROFILE: '0',
          OCPP_SETUP_DELAY_MS: '100',
          ...opts.env,
        },
      });
      if (listening === undefined) {
        await runtime.shutdown('not listening');
        throw new Error(`the central system did not listen: ${JSON.stringify(log.filter((l) => l.level >= 40).slice(-5))}`);
      }
      const bound: { port: number; scheme: 'ws' | 'wss' } = listening;
      const csms: Csms = { runtime, log, endpoint: `${bound.scheme}://127.0.0.1:${bound.port}/ocpp`, port: bound.port };
      running.add(csms);
      return csms;
    },
    async stopCsms(csms) {
      running.delete(csms);
      await csms.runtime.shutdown('test done');
    },
    readingsOf,
    reading(assetId, predicate, opts = {}) {
      return waitFor(() => readingsOf(assetId, opts.sinceIndex).find(predicate), {
        timeoutMs: opts.timeoutMs ?? 5_000,
        message: `a matching reading of ${assetId}`,
      });
    },
    write(assetId, setpoint, opts = {}) {
      return sendDeviceWrite(arbiter, assetId, setpoint, { validForMs: 15_000, ...opts });
    },
    async chargers() {
      return observer.request(subjects.gatewayChargers, {}, { v: 1, sentAtMs: Date.now() }, { timeoutMs: 2_000 });
    },
    busAs,
    async stop() {
      for (const csms of [...running]) await harness.stopCsms(csms);
      await Promise.allSettled(connections.map((c) => c.nc.close()));
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
