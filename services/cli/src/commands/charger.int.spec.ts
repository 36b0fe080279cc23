/**
 * `voltimax charger list|limit|start|stop` against a real nats-server from docker/nats/nats.conf, the real
 * safety-arbiter and ocpp-csms as child processes (services never import each other), a fake grid meter (user
 * modbus-poller) and an OCPP 1.6-J charge point made here with ocpp-rpc. The CLI runs in-process as user cli and never
 * writes to a device: every command is a manual intent the arbiter answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { subjects, type SiteConfigInput } from '@voltimax/contracts';
import { freePort, NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { RPCClient } from 'ocpp-rpc';
import { pino } from 'pino';
import { runCli } from '../program';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '../../../..');
const SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-cli-charger',
  siteName: 'CLI charger test',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 30_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'ev-1',
      name: 'Wallbox',
      kind: 'ev-charger',
      profile: 'autel.maxicharger-ac',
      connection: { protocol: 'ocpp', chargePointId: 'CLI-CP-1', connectorId: 1 },
      pollIntervalMs: 500,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    },
    { id: 'grid-1', name: 'Grid', kind: 'grid-meter', profile: 'eastron.sdm630', connection: { protocol: 'simulated' } },
  ],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};

interface Cp {
  connect(): Promise<unknown>;
  close(o?: { force?: boolean }): Promise<unknown>;
  call(method: string, params?: unknown): Promise<unknown>;
  handle(method: string, handler: (args: { params: Record<string, unknown> }) => unknown): void;
}

let nats: NatsTestServer;
let dir: string;
const children: ChildProcess[] = [];
const connections: BusConnection[] = [];
const timers: NodeJS.Timeout[] = [];
let cp: Cp;
const received: { method: string; params: Record<string, unknown> }[] = [];

function startService(name: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, 'tools/run-ts.js'), join(ROOT, `services/${name}/src/main.ts`)], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      OTEL_SDK_DISABLED: 'true',
      NATS_URL: nats.url,
      NATS_USER: name,
      NATS_PASS: NATS_DEV_PASSWORDS[name as 'ocpp-csms'],
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'warn',
      HEARTBEAT_MS: '500',
      ...env,
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function voltimax(...argv: string[]) {
  const saved = { NATS_URL: process.env['NATS_URL'], NATS_USER: process.env['NATS_USER'], NATS_PASS: process.env['NATS_PASS'] };
  Object.assign(process.env, { NATS_URL: nats.url, NATS_USER: 'cli', NATS_PASS: NATS_DEV_PASSWORDS.cli });
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await runCli(argv, {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      readFile: (p) => readFile(p, 'utf8'),
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

const iso = () => new Date().toISOString();

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
  dir = await mkdtemp(join(tmpdir(), 'cli-charger-'));
  const siteFile = join(dir, 'assets.json');
  await writeFile(siteFile, JSON.stringify(SITE));
  const port = await freePort();

  const log = pino({ level: 'silent' });
  const gridConnection = await connectBus({ servers: nats.url, name: 'fake-grid', user: 'modbus-poller', pass: NATS_DEV_PASSWORDS['modbus-poller'], log });
  connections.push(gridConnection);
  const grid = createBus(gridConnection.nc, log);
  let sequence = 0;
  const feed = () => {
    const atMs = Date.now();
    grid.publish(subjects.telemetry, { assetId: 'grid-1' }, { v: 1, assetId: 'grid-1', kind: 'grid-meter', atMs, sequence: sequence++, quality: 'good', values: { powerW: 1_500 } });
  };
  feed();
  timers.push(setInterval(feed, 300));

  startService('ocpp-csms', { SITE_FILE: siteFile, OCPP_HOST: '127.0.0.1', OCPP_PORT: String(port), OCPP_SECURITY_PROFILE: '0', OCPP_METER_INTERVAL_S: '0' });
  // Staleness is not what this tests: on a loaded CI machine (three Jest workers and these children on two cores) a
  // reading may come seconds late, and the arbiter then holds the charger safe (exit 5). Allow 20 poll intervals.
  startService('safety-arbiter', { SITE_FILE: siteFile, TICK_MS: '250', MIN_WRITE_INTERVAL_MS: '0', STALE_AFTER_POLL_INTERVALS: '20' });

  const Client = RPCClient as unknown as new (o: Record<string, unknown>) => Cp;
  cp = new Client({ endpoint: `ws://127.0.0.1:${port}/ocpp`, identity: 'CLI-CP-1', protocols: ['ocpp1.6'], strictMode: true, reconnect: false });
  let profile: Record<string, unknown> | undefined;
  const answers: Record<string, (params: Record<string, unknown>) => unknown> = {
    GetConfiguration: () => ({ configurationKey: [{ key: 'ChargingScheduleAllowedChargingRateUnit', readonly: true, value: 'Current' }] }),
    ChangeConfiguration: () => ({ status: 'Accepted' }),
    TriggerMessage: () => ({ status: 'Accepted' }),
    SetChargingProfile: (params) => {
      profile = params['csChargingProfiles'] as Record<string, unknown>;
      return { status: 'Accepted' };
    },
    GetCompositeSchedule: () => {
      const schedule = (profile?.['chargingSchedule'] ?? {}) as Record<string, unknown>;
      return { status: 'Accepted', scheduleStart: schedule['startSchedule'], chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: schedule['chargingSchedulePeriod'] } };
    },
    RemoteStartTransaction: () => ({ status: 'Accepted' }),
    RemoteStopTransaction: () => ({ status: 'Accepted' }),
  };
  for (const [method, answer] of Object.entries(answers)) {
    cp.handle(method, ({ params }) => {
      received.push({ method, params });
      return answer(params);
    });
  }
  await waitFor(() => cp.connect().then(() => true, () => false), { timeoutMs: 20_000, message: 'ocpp-csms to listen' });
  await cp.call('BootNotification', { chargePointVendor: 'Autel', chargePointModel: 'MaxiChargerAC' });
  await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: iso() });
  // Fresh readings keep coming from the csms every 500 ms while connected; wait for the arbiter's first write.
  await waitFor(() => received.some((r) => r.method === 'SetChargingProfile'), { timeoutMs: 20_000, message: 'the arbiter’s safe start-up write' });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  await cp?.close({ force: true }).catch(() => undefined);
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(undefined) : c.once('exit', resolve)))));
  await Promise.allSettled(connections.map((c) => c.nc.close()));
  await nats?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('charger list shows the charge point the central system holds', async () => {
  const result = await voltimax('charger', 'list');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^ev-1\s+CLI-CP-1\/1\s+yes\s+preparing \(Preparing\)\s+0\.00 kW\s+(0 A|—)\s+—/m);
  const json = await voltimax('charger', 'list', '--json');
  expect(JSON.parse(json.stdout)).toMatchObject({ chargers: [{ assetId: 'ev-1', connected: true, vendor: 'Autel' }] });
});

it('charger limit: a manual intent, answered by the arbiter, becomes the charger’s profile', async () => {
  // The arbiter's safe start-up write (what beforeAll waits for) needs neither a reading nor the driver's heartbeat: its
  // first grid reading, or the first ocpp-csms heartbeat naming ev-1 (every 500 ms), may come later, and until then it
  // holds the charger safe ('missing-telemetry' or 'driver-lost — no heartbeat received', exit 5): ask again then.
  const result = await waitFor(
    async () => {
      const r = await voltimax('charger', 'limit', 'ev-1', '10', '--reason', 'test limit');
      return r.code === 5 && /missing-telemetry|no heartbeat received/.test(r.stdout) ? undefined : r;
    },
    { timeoutMs: 15_000, intervalMs: 250, message: 'the arbiter to have its first grid reading and driver heartbeat' },
  );
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toMatch(
    /^ev-1: applied \(manual intent cli-[0-9a-f-]+, holds 60 min\)\n {2}requested 10 A → written 10 A\n {2}manual intent: test limit\n$/,
  );
  await waitFor(() => {
    const last = received.filter((r) => r.method === 'SetChargingProfile').at(-1)?.params;
    const schedule = (last?.['csChargingProfiles'] as { chargingSchedule?: { chargingSchedulePeriod?: { limit: number }[] } } | undefined)?.chargingSchedule;
    return schedule?.chargingSchedulePeriod?.[0]?.limit === 10;
  }, { message: 'the 10 A profile at the charger' });
});

it('charger limit above the maximum: clamped by the arbiter, and it says why', async () => {
  const result = await voltimax('charger', 'limit', 'ev-1', '40');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('requested 40 A → written 16 A');
  expect(result.stdout).toContain('clipped by ev-max-current: limit 16 A, value 40 A');
});

it('charger start: RemoteStartTransaction with the limit', async () => {
  const result = await voltimax('charger', 'start', 'ev-1', '--amps', '12');
  expect(result).toMatchObject({ code: 0 });
  expect(result.stdout).toContain('requested 12 A + start session → written 12 A + start session');
  const start = await waitFor(() => received.find((r) => r.method === 'RemoteStartTransaction'), { message: 'the remote start' });
  expect(start.params).toMatchObject({ connectorId: 1, idTag: 'voltimax', chargingProfile: { chargingProfilePurpose: 'TxProfile' } });
});

it('charger stop: RemoteStopTransaction of the running session', async () => {
  const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'voltimax', meterStart: 0, timestamp: iso() })) as { transactionId: number };
  const result = await voltimax('charger', 'stop', 'ev-1');
  expect(result).toMatchObject({ code: 0 });
  expect(result.stdout).toContain('written 0 A (paused) + stop session');
  const stop = await waitFor(() => received.find((r) => r.method === 'RemoteStopTransaction'), { message: 'the remote stop' });
  expect(stop.params).toEqual({ transactionId });
});

it('an asset that is not a charger: rejected by the arbiter, exit 4', async () => {
  const result = await voltimax('charger', 'limit', 'grid-1', '10');
  expect(result.code).toBe(4);
  expect(result.stdout).toMatch(/^grid-1: REJECTED/);
});

it('an asset the site does not have: rejected, exit 4', async () => {
  const result = await voltimax('charger', 'limit', 'ev-99', '10');
  expect(result.code).toBe(4);
  expect(result.stdout).toContain('unknown-asset');
});
