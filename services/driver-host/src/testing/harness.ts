// Runs driver-host in this process against a real nats-server; the observers and the arbiter's writes come from
// @voltimax/driver-sdk/testing (connectAs, sendDeviceWrite).
export { connectAs, sendDeviceWrite, type BusClient } from '@voltimax/driver-sdk/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CapturedLine } from '@voltimax/bus/testing';
import { SiteConfigSchema, type AssetConfigSchema, type AssetReading, type Heartbeat } from '@voltimax/contracts';
import { connectAs, type BusClient } from '@voltimax/driver-sdk/testing';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import type { z } from 'zod';
import { driverHostService } from '../service';

/** Folder of the fixture plugins (services/driver-host/src/testing/fixtures). */
export const FIXTURES = join(__dirname, 'fixtures');

/** docker/nats/nats.conf's development password of the driver-host user. */
export const DRIVER_HOST_PASSWORD = NATS_DEV_PASSWORDS['driver-host'];

export type AssetInput = z.input<typeof AssetConfigSchema>;
export interface DriverInput {
  readonly name: string;
  readonly module: string;
  readonly enabled?: boolean;
  readonly options?: Record<string, unknown>;
}

/** A valid site (raw JSON, as written to assets.json) around the given assets and drivers. */
export function siteJson(assets: readonly AssetInput[], drivers: readonly DriverInput[]): unknown {
  const site = {
    v: 1,
    gatewayId: 'gw-test',
    siteName: 'driver-host tests',
    timezone: 'Europe/Paris',
    grid: { maxImportW: 17_000, maxExportW: 17_000 },
    assets,
    strategy: { active: ['null'] },
    tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    drivers,
  };
  SiteConfigSchema.parse(site); // a test site that the schema refuses is a bug of the test
  return site;
}

/** A plugin asset of the given kind. */
export function pluginAsset(
  id: string,
  driver: string,
  options: Record<string, unknown>,
  extra: { readonly kind?: 'battery' | 'grid-meter' | 'ev-charger'; readonly pollIntervalMs?: number } = {},
): AssetInput {
  const base = {
    id,
    name: id,
    profile: 'plugin.fixture',
    pollIntervalMs: extra.pollIntervalMs ?? 200,
    connection: { protocol: 'plugin' as const, driver, options },
  };
  switch (extra.kind ?? 'battery') {
    case 'grid-meter':
      return { ...base, kind: 'grid-meter' };
    case 'ev-charger':
      return { ...base, kind: 'ev-charger', evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 } };
    case 'battery':
      return {
        ...base,
        kind: 'battery',
        battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
      };
  }
}

/** Writes a site to assets.json in a fresh temp folder; returns its path and a cleanup. */
export function writeSite(site: unknown): { readonly path: string; readonly dir: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'driver-host-site-'));
  const path = join(dir, 'assets.json');
  writeFileSync(path, JSON.stringify(site, null, 2));
  return { path, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A service instance running in this process with fake process hooks. */
export interface RunningHost {
  readonly runtime: ServiceRuntime;
  readonly lines: CapturedLine[];
  stop(): Promise<void>;
}

/** Starts driver-host as NATS user `driver-host` with short timeouts for tests (overridable through `env`). */
export async function runDriverHost(options: {
  readonly natsUrl: string;
  readonly siteFile: string;
  readonly env?: Readonly<Record<string, string>>;
}): Promise<RunningHost> {
  const lines: CapturedLine[] = [];
  const runtime = await runService(driverHostService(), {
    env: {
      NATS_URL: options.natsUrl,
      NATS_USER: 'driver-host',
      NATS_PASS: DRIVER_HOST_PASSWORD,
      SITE_FILE: options.siteFile,
      INSTANCE_ID: 'driver-host-test',
      HEARTBEAT_MS: '200',
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'debug',
      READ_TIMEOUT_MS: '1000',
      WRITE_TIMEOUT_MS: '1000',
      // Generous: a worker that loads TypeScript through swc takes a second or more on a loaded machine.
      START_TIMEOUT_MS: '30000',
      PING_INTERVAL_MS: '200',
      HANG_TIMEOUT_MS: '3000',
      RESTART_MIN_MS: '200',
      RESTART_MAX_MS: '2000',
      ...options.env,
    },
    exit: () => undefined,
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
    // Closing several driver threads (each bounded by CLOSE_TIMEOUT_MS) may take longer than the kit's 5 s default here.
    shutdownTimeoutMs: 20_000,
    logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
  });
  if (runtime === undefined)
    throw new Error(`driver-host did not start:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
  return { runtime, lines, stop: async () => void (await runtime.shutdown('test done')) };
}

/** Waits for a reading of `assetId` matching `predicate` (after `from` readings), generously. */
export function waitForReading(
  client: BusClient,
  assetId: string,
  predicate: (reading: AssetReading) => boolean,
  options: { readonly from?: number; readonly timeoutMs?: number; readonly message?: string } = {},
): Promise<AssetReading> {
  return waitFor(() => client.readings.slice(options.from ?? 0).find((r) => r.assetId === assetId && predicate(r)), {
    timeoutMs: options.timeoutMs ?? 30_000,
    message: options.message ?? `a matching reading of ${assetId}`,
  });
}

/** The newest heartbeat of driver-host matching `predicate`. */
export function waitForHeartbeat(
  client: BusClient,
  predicate: (beat: Heartbeat) => boolean,
  options: { readonly timeoutMs?: number; readonly message?: string } = {},
): Promise<Heartbeat> {
  return waitFor(
    () =>
      client.heartbeats
        .filter((b) => b.service === 'driver-host')
        .reverse()
        .find(predicate),
    { timeoutMs: options.timeoutMs ?? 30_000, message: options.message ?? 'a matching driver-host heartbeat' },
  );
}

/** A private nats-server from docker/nats/nats.conf, an observer recording telemetry and heartbeats, and the arbiter. */
export interface BusStack {
  readonly nats: NatsTestServer;
  readonly observer: BusClient;
  readonly arbiter: BusClient;
  stop(): Promise<void>;
}

export async function startBusStack(): Promise<BusStack> {
  const nats = await startNats({ config: NATS_CONFIG_PATH });
  const observer = await connectAs(nats.url, 'safety-arbiter', true);
  const arbiter = await connectAs(nats.url, 'safety-arbiter', false);
  return {
    nats,
    observer,
    arbiter,
    async stop() {
      await observer.close();
      await arbiter.close();
      await nats.stop();
    },
  };
}
