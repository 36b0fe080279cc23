/**
 * `bin/voltimax monitor --once` against a real nats-server with the users of docker/nats/nats.conf: the monitor
 * connects as `cli`; telemetry comes from the modbus-poller user, decisions and optimization intents from
 * strategy-engine, manual intents from a second cli connection, arbiter outcomes from safety-arbiter, each only
 * allowed to publish its own subjects.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { intentParams, subjects, type ControlIntent } from '@voltimax/contracts';
import {
  exampleArbiterDecision,
  exampleDecisionMetrics,
  exampleIntent,
  exampleReadings,
} from '@voltimax/contracts/testing';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, type NatsTestServer, type NatsUser } from '@voltimax/testing';
import { pino } from 'pino';

const ROOT = join(__dirname, '../../../..');
const silent = pino({ level: 'silent' });
let nats: NatsTestServer;
const connections: BusConnection[] = [];

async function busAs(user: NatsUser): Promise<Bus> {
  const connection = await connectBus({
    servers: nats.url,
    name: `monitor-int-${user}`,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    log: silent,
  });
  connections.push(connection);
  return createBus(connection.nc, silent);
}

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(connections.map((c) => c.nc.close()));
  await nats?.stop();
});

function voltimax(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(ROOT, 'bin/voltimax'), args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

it('prints one snapshot of live telemetry, decisions and arbiter outcomes and exits 0', async () => {
  const poller = await busAs('modbus-poller');
  const engine = await busAs('strategy-engine');
  const arbiter = await busAs('safety-arbiter');
  const operator = await busAs('cli');
  const evIntent: ControlIntent = { ...exampleIntent, assetId: 'ev-1', setpoint: { kind: 'ev-current', currentA: 16 } };
  const pvIntent: ControlIntent = {
    ...exampleIntent,
    source: 'manual',
    assetId: 'pv-1',
    setpoint: { kind: 'pv-limit', maxPowerW: 3_000 },
  };
  const publish = (): void => {
    const atMs = Date.now();
    engine.publish(subjects.intent, intentParams(evIntent), { ...evIntent, issuedAtMs: atMs });
    operator.publish(subjects.intent, intentParams(pvIntent), { ...pvIntent, issuedAtMs: atMs });
    poller.publish(subjects.telemetry, { assetId: 'bat-1' }, { ...exampleReadings.battery, atMs });
    poller.publish(subjects.telemetry, { assetId: 'grid-1' }, { ...exampleReadings.gridMeter, atMs });
    engine.publish(subjects.strategyDecision, { strategy: 'net-zero' }, { ...exampleDecisionMetrics, atMs });
    arbiter.publish(subjects.arbiterDecision, { assetId: 'bat-1' }, { ...exampleArbiterDecision, atMs });
  };
  const timer = setInterval(publish, 100);
  try {
    const result = await voltimax(['monitor', '--once', '--window-ms', '1500'], {
      NATS_URL: nats.url,
      NATS_USER: 'cli',
      NATS_PASS: NATS_DEV_PASSWORDS.cli,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`${nats.url} as cli  ·  snapshot after 1.5 s`);
    // The arbiter's decision names a manual intent the monitor did not see: its request is shown from the decision.
    expect(result.stdout).toMatch(
      / {2}bat-1 +battery +−2\.50 kW +63\.5 % +good +\d+\.\d s +\+8\.00 kW +manual +clamped \+5\.00 kW/,
    );
    expect(result.stdout).toMatch(/ {2}grid-1 +grid-meter +\+1\.20 kW/);
    expect(result.stdout).toMatch(/ {2}ev-1 .* 16 A +optimization /);
    expect(result.stdout).toMatch(/ {2}pv-1 .* ≤ \+3\.00 kW +manual /);
    expect(result.stdout).toContain('  net-zero  pid');
    expect(result.stdout).toContain('      terms  p=600 i=180 d=20');
    expect(result.stdout).toMatch(
      / {2}bat-1 +clamped +manual +\+8\.00 kW → \+5\.00 kW .*max-discharge-power \(value 8000 W, limit 5000 W\)/,
    );
  } finally {
    clearInterval(timer);
  }
}, 30_000);

it('exits 2 when the password is wrong', async () => {
  const result = await voltimax(['monitor', '--once'], { NATS_URL: nats.url, NATS_USER: 'cli', NATS_PASS: 'wrong' });
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/^voltimax monitor: cannot connect to NATS at .* as cli: /);
}, 30_000);
