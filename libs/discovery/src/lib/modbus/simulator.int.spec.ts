// The scan against the project's simulator, run as its own process (`services/simulator`, as `npm start` runs it)
// with its listeners bound to 127.45.0.2: a CNTE cabinet (SunSpec), a Growatt SPH and an SDM630, each with register
// images the simulator typed from the reference sheets. Its heartbeat counts every write it received: zero.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor, subjects, type Heartbeat } from '@voltimax/contracts';
import {
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  waitFor,
  type NatsTestServer,
} from '@voltimax/testing';
import { scanModbus, type ModbusScanResult } from './scan';

const ROOT = resolve(__dirname, '../../../../..');
const HOST = '127.45.0.2';
let nats: NatsTestServer;
let observer: NatsConnection;
let simulator: ChildProcess;
let output = '';
let basePort: number;
const beats: Heartbeat[] = [];
let result: ModbusScanResult;

beforeAll(async () => {
  nats = await startNats({ config: NATS_CONFIG_PATH });
  observer = await connect({
    servers: nats.url,
    user: 'dashboard',
    pass: NATS_DEV_PASSWORDS.dashboard,
    inboxPrefix: inboxPrefixFor('dashboard'),
    reconnect: false,
  });
  observer.subscribe(subjects.health.format({ service: 'simulator' }), {
    callback: (_err, msg) => void beats.push(subjects.health.schema.parse(msg.json())),
  });
  basePort = await freePort();
  simulator = spawn(
    process.execPath,
    [resolve(ROOT, 'tools/run-ts.js'), resolve(ROOT, 'services/simulator/src/main.ts')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NATS_URL: nats.url,
        NATS_USER: 'simulator',
        NATS_PASS: NATS_DEV_PASSWORDS.simulator,
        SITE_FILE: resolve(ROOT, 'docker/config/assets.sim.json'),
        SIM_BIND: HOST,
        SIM_BASE_PORT: String(basePort),
        HEARTBEAT_MS: '200',
        HEALTH_PORT: '0',
        LOG_LEVEL: 'info',
        OTEL_SDK_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  simulator.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  simulator.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    () => {
      if (simulator.exitCode !== null) throw new Error(`simulator exited with ${simulator.exitCode}:\n${output}`);
      return beats.some((b) => (b.counters?.['steps'] ?? 0) >= 1);
    },
    { timeoutMs: 60_000, message: `simulator heartbeat\n${output}` },
  );
  result = await scanModbus({
    cidr: `${HOST}/32`,
    ports: [basePort, basePort + 1, basePort + 2],
    unitIds: [1, 2],
    timeoutMs: 1_000,
    connectTimeoutMs: 1_000,
  });
}, 120_000);

afterAll(async () => {
  if (simulator && simulator.exitCode === null) {
    const exited = new Promise((done) => simulator.once('exit', done));
    simulator.kill('SIGTERM');
    await exited;
  }
  await observer?.close();
  await nats?.stop();
});

describe('scanModbus against the simulator process', () => {
  it('finds the three simulated devices, each with its profile', () => {
    const byProfile = Object.fromEntries(result.candidates.map((c) => [c.profileId, c]));
    expect(Object.keys(byProfile).sort()).toEqual(['cnte.ess-cabinet', 'eastron.sdm630', 'growatt.sph']);
    expect(byProfile['cnte.ess-cabinet']).toMatchObject({
      kind: 'battery',
      identity: { manufacturer: 'CNTE', serial: 'SIM-bat-1' },
      connection: { protocol: 'modbus-tcp', host: HOST, unitId: 1 },
    });
    expect(byProfile['growatt.sph']?.kind).toBe('hybrid-inverter');
    // behind its listeners only unit 1 answers, as behind an RS-485 gateway
    expect(result.ports.every((p) => p.units.find((u) => u.unitId === 2)?.outcome === 'no-answer')).toBe(true);
  });

  it('wrote nothing: the simulator counted zero writes on every device after the scan', async () => {
    const after = beats.length;
    await waitFor(() => beats.length > after + 1, { timeoutMs: 10_000, message: 'a heartbeat after the scan' });
    const counters = beats.at(-1)?.counters ?? {};
    const reads = Object.entries(counters).filter(([k]) => k.endsWith('.reads'));
    const writes = Object.entries(counters).filter(([k]) => k.endsWith('.writes') || k.endsWith('.rejectedWrites'));
    expect(reads.map(([, n]) => n).every((n) => n > 0)).toBe(true);
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(writes.filter(([, n]) => n !== 0)).toEqual([]);
  });
});
