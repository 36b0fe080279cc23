/**
 * The whole control path of an EV charger on real sockets: a manual intent (as user cli) → the real safety-arbiter
 * (child process) → `device.ev-1.write` → the real central system (child process) → SetChargingProfile over OCPP 1.6-J
 * → a simulated charge point with a car → lower power in the MeterValues → `telemetry.ev-1`. A fake grid meter
 * (user modbus-poller) keeps the grid reading fresh, which the arbiter needs for any EV setpoint.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import {
  intentParams,
  SiteConfigSchema,
  subjects,
  type ArbiterDecision,
  type AssetReading,
  type ControlIntent,
  type Setpoint,
  type SiteConfigInput,
} from '@voltimax/contracts';
import { freePort, NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import { pino } from 'pino';
import { ocppChargePointsFromSite, startOcppChargePoints, type OcppChargePoints } from './index';
import { startServiceProcess, type ServiceProcess } from './testing';

jest.setTimeout(90_000);

const SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-ev-chain',
  siteName: 'EV control path',
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
    { id: 'grid-1', name: 'Grid', kind: 'grid-meter', profile: 'eastron.sdm630', connection: { protocol: 'simulated' }, pollIntervalMs: 1000 },
  ],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};

let nats: NatsTestServer;
let dir: string;
const processes: ServiceProcess[] = [];
const connections: BusConnection[] = [];
const timers: NodeJS.Timeout[] = [];
let sim: OcppChargePoints | undefined;
let cli: Bus;
const readings: AssetReading[] = [];
const decisions: ArbiterDecision[] = [];

async function busAs(user: NatsUser): Promise<Bus> {
  const log = pino({ level: 'silent' });
  const connection = await connectBus({ servers: nats.url, name: `test-${user}`, user, pass: NATS_DEV_PASSWORDS[user], log });
  connections.push(connection);
  return createBus(connection.nc, log);
}

function manualIntent(setpoint: Setpoint): Promise<ArbiterDecision> {
  const intent: ControlIntent = {
    v: 1,
    id: `int-${randomUUID()}`,
    source: 'manual',
    assetId: 'ev-1',
    setpoint,
    issuedAtMs: Date.now(),
    ttlMs: 60_000,
    reason: 'chain test',
    issuedBy: 'cli:test',
  };
  return cli.request(subjects.intent, intentParams(intent), intent, { timeoutMs: 5_000 });
}

const reading = (predicate: (r: AssetReading) => boolean, since: number, timeoutMs = 20_000) =>
  waitFor(() => readings.slice(since).find(predicate), { timeoutMs, message: 'a matching ev-1 reading' });

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
  dir = await mkdtemp(join(tmpdir(), 'ev-chain-'));
  const siteFile = join(dir, 'assets.json');
  await writeFile(siteFile, JSON.stringify(SITE));
  const port = await freePort();

  cli = await busAs('cli');
  cli.subscribe(subjects.telemetry, (r) => void (r.assetId === 'ev-1' && readings.push(r)));
  cli.subscribe(subjects.arbiterDecision, (d) => void (d.assetId === 'ev-1' && decisions.push(d)));

  // The grid meter's driver: fresh readings and a heartbeat that owns grid-1.
  const grid = await busAs('modbus-poller');
  let sequence = 0;
  const feed = () => {
    const atMs = Date.now();
    grid.publish(subjects.telemetry, { assetId: 'grid-1' }, {
      v: 1,
      assetId: 'grid-1',
      kind: 'grid-meter',
      atMs,
      sequence: sequence++,
      quality: 'good',
      values: { powerW: 2_000 },
    });
    grid.publish(subjects.health, { service: 'modbus-poller' }, {
      v: 1,
      service: 'modbus-poller',
      instanceId: 'fake-grid',
      status: 'ok',
      atMs,
      startedAtMs: atMs,
      version: '0.0.0',
      intervalMs: 500,
      assets: ['grid-1'],
    });
  };
  feed();
  timers.push(setInterval(feed, 300));
  await Promise.all(connections.map((c) => c.nc.flush()));

  const csms = startServiceProcess('ocpp-csms', nats.url, {
    SITE_FILE: siteFile,
    OCPP_HOST: '127.0.0.1',
    OCPP_PORT: String(port),
    OCPP_SECURITY_PROFILE: '1',
    OCPP_PW_SIM_CP_1: 'chain-password',
    OCPP_METER_INTERVAL_S: '1',
    HEARTBEAT_MS: '500',
  });
  processes.push(csms);
  const arbiter = startServiceProcess('safety-arbiter', nats.url, {
    SITE_FILE: siteFile,
    TICK_MS: '250',
    MIN_WRITE_INTERVAL_MS: '0',
    // A shared test machine (three Jest workers and these children on two cores): staleness is not what this tests,
    // so allow 20 poll intervals of delay before a reading counts as stale (with 4, CI once saw the arbiter hold safe).
    STALE_AFTER_POLL_INTERVALS: '20',
    HEARTBEAT_MS: '500',
  });
  processes.push(arbiter);
  await csms.line('OCPP endpoint listening');
  await arbiter.line('started');

  sim = await startOcppChargePoints({
    chargePoints: ocppChargePointsFromSite(SiteConfigSchema.parse(SITE), {
      endpoint: `ws://127.0.0.1:${port}/ocpp`,
      env: { OCPP_PW_SIM_CP_1: 'chain-password' },
      car: { maxCurrentA: 16, phases: 3, capacityWh: 60_000, socPct: 30 },
    }),
  });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  await sim?.stop();
  for (const p of processes.reverse()) await p.stop();
  await Promise.allSettled(connections.map((c) => c.nc.close()));
  await nats?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('a car plugs in and the arbiter holds it at the safe 0 A until someone asks for more', async () => {
  await waitFor(() => sim?.chargePoints[0]?.connector(1).transactionId !== undefined, { timeoutMs: 20_000, message: 'the session to start' });
  const safe = await reading((r) => r.quality === 'good' && r.chargerState === 'suspended', 0);
  expect(safe.values.powerW).toBe(0);
});

it('a manual limit travels intent → arbiter → csms → charge point, and the power in telemetry follows, down as well', async () => {
  // On a loaded machine the arbiter may not have its first grid reading or csms heartbeat yet (it then holds the
  // charger safe with 'missing-telemetry' or 'driver-lost — no heartbeat received'): ask again until it has.
  const full = await waitFor(
    async () => {
      const decision = await manualIntent({ kind: 'ev-current', currentA: 16 });
      const notYet = (v: { code: string; detail?: string | undefined }) =>
        v.code === 'missing-telemetry' || (v.code === 'driver-lost' && v.detail === 'no heartbeat received');
      return decision.outcome === 'safe' && decision.violations.some(notYet) ? undefined : decision;
    },
    { timeoutMs: 15_000, intervalMs: 250, message: 'the arbiter to have its first grid reading and csms heartbeat' },
  );
  expect(full).toMatchObject({ outcome: 'applied', applied: { kind: 'ev-current', currentA: 16 } });
  const since = readings.length;
  await reading((r) => r.chargerState === 'charging' && r.values.powerW === 16 * 3 * 230, since);
  // The limit is reported once the csms has the charge point's confirmation, which may come a meter value later.
  const charging = await reading((r) => r.chargerState === 'charging' && r.values.currentLimitA !== undefined, since);
  expect(charging.values.currentLimitA).toBe(16);

  const lower = await manualIntent({ kind: 'ev-current', currentA: 7 });
  expect(lower).toMatchObject({ outcome: 'applied', applied: { kind: 'ev-current', currentA: 7 } });
  const after = readings.length;
  await reading((r) => r.values.powerW === 7 * 3 * 230, after);
  const limited = await reading((r) => r.values.powerW === 7 * 3 * 230 && r.values.currentLimitA === 7, after);
  expect(limited).toMatchObject({ quality: 'good', chargerState: 'charging', values: { currentLimitA: 7, currentL1A: 7 } });
  expect(sim?.loads[0]?.powerW(Date.now())).toBe(7 * 3 * 230);
});

it('the arbiter clamps a manual limit above the charger maximum, and the charger gets the clamped one', async () => {
  const decision = await manualIntent({ kind: 'ev-current', currentA: 40 });
  expect(decision).toMatchObject({ outcome: 'clamped', applied: { kind: 'ev-current', currentA: 16 } });
  expect(decision.violations.map((v) => v.code)).toEqual(['ev-max-current']);
  const since = readings.length;
  await reading((r) => r.values.powerW === 16 * 3 * 230, since);
});

it('stop as a manual intent ends the session at the charge point', async () => {
  const decision = await manualIntent({ kind: 'ev-current', currentA: 0, session: 'stop' });
  expect(decision).toMatchObject({ outcome: 'applied', applied: { kind: 'ev-current', currentA: 0, session: 'stop' } });
  await waitFor(() => sim?.chargePoints[0]?.connector(1).transactionId === undefined, { timeoutMs: 10_000, message: 'the session to end' });
  const since = readings.length;
  await reading((r) => r.chargerState === 'finishing' && r.values.powerW === 0, since);
  expect(decisions.some((d) => d.applied?.kind === 'ev-current' && d.applied.session === 'stop')).toBe(true);
});
