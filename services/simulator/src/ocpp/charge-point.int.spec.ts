/**
 * The simulated charge points against the real central system (services/ocpp-csms as a child process, security
 * profile 1) on a real nats-server from docker/nats/nats.conf: boot and set-up, a car that plugs in starts a session,
 * MeterValues follow the charging profile, remote stop, unplug, and a central-system restart mid-session.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { SiteConfigSchema, subjects, type AssetReading, type SiteConfigInput, type Setpoint } from '@voltimax/contracts';
import { freePort, NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import { pino } from 'pino';
import { ocppChargePointsFromSite, startOcppChargePoints, type OcppChargePoints } from './index';
import { startServiceProcess, type ServiceProcess } from './testing';

jest.setTimeout(60_000);

const PASSWORD = 'sim-charger-password';
const SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-sim-ocpp',
  siteName: 'simulated charge points',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 30_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'ev-1',
      name: 'Wallbox',
      kind: 'ev-charger',
      profile: 'autel.maxicharger-ac',
      connection: { protocol: 'ocpp', chargePointId: 'SIM-CP-1', connectorId: 1, passwordEnv: 'OCPP_PW_SIM_CP_1' },
      pollIntervalMs: 500,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    },
  ],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};
const CAR = { maxCurrentA: 16, phases: 3 as const, capacityWh: 60_000, socPct: 40 };

let nats: NatsTestServer;
let dir: string;
let siteFile: string;
let port: number;
let csms: ServiceProcess | undefined;
let sim: OcppChargePoints | undefined;
const connections: BusConnection[] = [];
const readings: AssetReading[] = [];
let arbiter: Bus;

async function busAs(user: NatsUser): Promise<Bus> {
  const log = pino({ level: 'silent' });
  const connection = await connectBus({ servers: nats.url, name: `test-${user}`, user, pass: NATS_DEV_PASSWORDS[user], log });
  connections.push(connection);
  return createBus(connection.nc, log);
}

async function startCsms(): Promise<ServiceProcess> {
  const process = startServiceProcess('ocpp-csms', nats.url, {
    SITE_FILE: siteFile,
    OCPP_HOST: '127.0.0.1',
    OCPP_PORT: String(port),
    OCPP_SECURITY_PROFILE: '1',
    OCPP_PW_SIM_CP_1: PASSWORD,
    OCPP_METER_INTERVAL_S: '1',
    OCPP_SETUP_DELAY_MS: '200',
    HEARTBEAT_MS: '500',
  });
  await process.line('OCPP endpoint listening');
  return process;
}

function write(setpoint: Setpoint, intentId = `int-${randomUUID()}`) {
  const nowMs = Date.now();
  return arbiter.request(
    subjects.deviceWrite,
    { assetId: 'ev-1' },
    { v: 1, commandId: `cmd-${randomUUID()}`, intentId, assetId: 'ev-1', setpoint, issuedAtMs: nowMs, expiresAtMs: nowMs + 15_000 },
    { timeoutMs: 5_000 },
  );
}

const reading = (predicate: (r: AssetReading) => boolean, since = 0, timeoutMs = 10_000) =>
  waitFor(() => readings.slice(since).find(predicate), { timeoutMs, message: 'a matching ev-1 reading' });

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
  dir = await mkdtemp(join(tmpdir(), 'sim-ocpp-'));
  siteFile = join(dir, 'assets.json');
  await writeFile(siteFile, JSON.stringify(SITE));
  port = await freePort();
  const observer = await busAs('cli');
  observer.subscribe(subjects.telemetry, (r) => void (r.assetId === 'ev-1' && readings.push(r)));
  arbiter = await busAs('safety-arbiter');
  await Promise.all(connections.map((c) => c.nc.flush()));
  csms = await startCsms();
});

afterAll(async () => {
  await sim?.stop();
  await csms?.stop();
  await Promise.allSettled(connections.map((c) => c.nc.close()));
  await nats?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('boots with its password, is set up by the central system, and publishes an idle charger', async () => {
  const options = ocppChargePointsFromSite(SiteConfigSchema.parse(SITE), {
    endpoint: `ws://127.0.0.1:${port}/ocpp`,
    env: { OCPP_PW_SIM_CP_1: PASSWORD },
  });
  expect(options).toEqual([
    expect.objectContaining({ identity: 'SIM-CP-1', password: PASSWORD, phases: 3, connectors: [{ connectorId: 1, assetId: 'ev-1' }] }),
  ]);
  sim = await startOcppChargePoints({ chargePoints: options.map((o) => ({ ...o, reconnectMaxDelayMs: 500 })) });
  const cp = sim.chargePoints[0];
  await waitFor(
    () =>
      cp?.configuration('MeterValueSampleInterval') === '1' &&
      cp.configuration('MeterValuesSampledData') === 'Current.Import,Energy.Active.Import.Register,Power.Active.Import',
    { message: 'the csms to set the meter interval and the measurands' },
  );
  const idle = await reading((r) => r.quality === 'good' && r.chargerState === 'available');
  expect(idle.values.powerW).toBe(0);
  expect(sim.loads.map((l) => l.assetId)).toEqual(['ev-1']);
});

it('a car plugs in: a session starts and draws what the car takes (16 A × 3 × 230 V)', async () => {
  const cp = sim?.chargePoints[0];
  await cp?.plugIn(1, CAR);
  const charging = await reading((r) => r.chargerState === 'charging' && r.values.powerW === 11_040);
  expect(charging.values).toMatchObject({ currentL1A: 16, currentL2A: 16, currentL3A: 16, phases: 3 });
  expect(cp?.connector(1).transactionId).toEqual(expect.any(Number));
  expect(sim?.loads[0]?.powerW(Date.now())).toBe(11_040);
});

it('a write becomes the session’s profile and the power follows it, read back from the composite schedule', async () => {
  const since = readings.length;
  expect(await write({ kind: 'ev-current', currentA: 10 })).toMatchObject({ status: 'applied', readBack: 10 });
  await reading((r) => r.values.powerW === 6_900 && r.values.currentLimitA === 10, since);
  expect(sim?.loads[0]?.powerW(Date.now())).toBe(6_900);
  expect(await write({ kind: 'ev-current', currentA: 4 })).toMatchObject({ status: 'applied', readBack: 4 });
  const paused = await reading((r) => r.chargerState === 'suspended', since);
  expect(paused.values.powerW).toBe(0);
});

it('the device-side watchdog: without a newer write the profile falls back to 0 A by itself', async () => {
  const nowMs = Date.now();
  expect(
    await arbiter.request(
      subjects.deviceWrite,
      { assetId: 'ev-1' },
      { v: 1, commandId: `cmd-${randomUUID()}`, assetId: 'ev-1', setpoint: { kind: 'ev-current', currentA: 12 }, issuedAtMs: nowMs, expiresAtMs: nowMs + 2_000 },
      { timeoutMs: 5_000 },
    ),
  ).toMatchObject({ status: 'applied' });
  const since = readings.length;
  await reading((r) => r.values.powerW === 12 * 3 * 230, since);
  await reading((r) => r.chargerState === 'suspended' && r.values.powerW === 0, readings.length, 15_000);
});

it('the central system restarts mid-session: the charge point re-connects and the session goes on', async () => {
  expect(await write({ kind: 'ev-current', currentA: 8 })).toMatchObject({ status: 'applied' });
  const transactionId = sim?.chargePoints[0]?.connector(1).transactionId;
  await csms?.stop();
  csms = await startCsms();
  const since = readings.length;
  const adopted = await reading((r) => r.quality === 'good' && r.values.powerW === 8 * 3 * 230 && r.chargerState === 'charging', since, 20_000);
  expect(adopted.values.currentL1A).toBe(8);
  expect(sim?.chargePoints[0]?.stats.opens).toBeGreaterThanOrEqual(2);
  expect(sim?.chargePoints[0]?.connector(1).transactionId).toBe(transactionId);
  await csms.line('meter values of a session we did not know; continuing with its transaction id', (l) => l['transactionId'] === transactionId);
});

it('remote stop ends the session (the car stays: Finishing); unplugging makes it Available', async () => {
  const since = readings.length;
  expect(await write({ kind: 'ev-current', currentA: 0, session: 'stop' })).toMatchObject({ status: 'applied', error: 'session stop requested' });
  const finishing = await reading((r) => r.chargerState === 'finishing', since);
  expect(finishing.values.powerW).toBe(0);
  expect(sim?.chargePoints[0]?.connector(1).transactionId).toBeUndefined();
  await sim?.chargePoints[0]?.unplug(1);
  await reading((r) => r.chargerState === 'available', since);
});

it('remote start with the car plugged in again starts a session at the limit', async () => {
  await sim?.chargePoints[0]?.plugIn(1, { ...CAR, socPct: 80 });
  // A local session starts on plug-in; stop it, then start one remotely at 6 A.
  await waitFor(() => sim?.chargePoints[0]?.connector(1).transactionId !== undefined, { message: 'the local session' });
  expect(await write({ kind: 'ev-current', currentA: 0, session: 'stop' })).toMatchObject({ status: 'applied' });
  await waitFor(() => sim?.chargePoints[0]?.connector(1).transactionId === undefined, { message: 'the stop' });
  const since = readings.length;
  expect(await write({ kind: 'ev-current', currentA: 6, session: 'start' })).toMatchObject({ status: 'applied', error: 'session start requested' });
  await reading((r) => r.chargerState === 'charging' && r.values.powerW === 6 * 3 * 230, since);
});
