/**
 * The strategy engine as a real process (tools/run-ts.js src/main.ts) against a real nats-server started from
 * docker/nats/nats.conf (so the engine runs with its own, least-privilege user) and a real Redis. Telemetry is
 * published as the modbus-poller user, intents and decisions are observed as the cli user, KV values are written as
 * cloud-bridge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import { kvBuckets, subjects, type ControlIntent, type DecisionMetrics, type SiteConfigInput } from '@voltimax/contracts';
import { exampleConfigUpdated } from '@voltimax/contracts/testing';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, startRedis, waitFor, type NatsTestServer, type NatsUser, type TestServer } from '@voltimax/testing';
import { pino } from 'pino';
import { buildSite, siteReadings } from './testing';

const ROOT = join(__dirname, '../../..');
const MAIN = join(__dirname, 'main.ts');
const silent = pino({ level: 'silent' });

let nats: NatsTestServer;
let redis: TestServer;
let dir: string;
const connections: BusConnection[] = [];
let poller: Bus;
let observer: Bus;
let bridge: BusConnection;
const intents: ControlIntent[] = [];
/** The subject each intent (by id) arrived on. */
const intentSubjects = new Map<string, string>();
const decisions: DecisionMetrics[] = [];

async function connectAs(user: NatsUser): Promise<BusConnection> {
  const connection = await connectBus({ servers: nats.url, name: `engine-int-${user}`, user, pass: NATS_DEV_PASSWORDS[user], log: silent });
  connections.push(connection);
  return connection;
}

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startRedis()]);
  dir = mkdtempSync(join(tmpdir(), 'engine-int-'));
  poller = createBus((await connectAs('modbus-poller')).nc, silent);
  const cli = await connectAs('cli');
  observer = createBus(cli.nc, silent);
  bridge = await connectAs('cloud-bridge');
  observer.subscribe(subjects.intent, (intent, ctx) => {
    intents.push(intent);
    intentSubjects.set(intent.id, ctx.subject);
  });
  observer.subscribe(subjects.strategyDecision, (decision) => void decisions.push(decision));
  await cli.nc.flush();
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(connections.map((c) => c.nc.close()));
  await Promise.allSettled([nats?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

interface EngineProcess {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

const engines: EngineProcess[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  intents.length = 0;
  intentSubjects.clear();
  decisions.length = 0;
});

function startEngine(site: SiteConfigInput, env: Record<string, string> = {}): EngineProcess {
  const siteFile = join(dir, `${site.gatewayId}.json`);
  writeFileSync(siteFile, JSON.stringify(site));
  const child = spawn(process.execPath, [join(ROOT, 'tools', 'run-ts.js'), MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      NATS_USER: 'strategy-engine',
      NATS_PASS: NATS_DEV_PASSWORDS['strategy-engine'],
      REDIS_URL: redis.url,
      SITE_FILE: siteFile,
      HEALTH_PORT: 'off',
      LOG_LEVEL: 'info',
      OTEL_SDK_DISABLED: 'true',
      INTENT_TTL_MS: '2000',
      // Each test its own key in KV `config` (the KV value wins over SITE_FILE).
      CONFIG_KV_KEY: site.gatewayId,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const engine: EngineProcess = {
    child,
    output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  engines.push(engine);
  return engine;
}

/** Publishes the site's telemetry every 100 ms (measured now) until stopped. */
function feedTelemetry(values: Parameters<typeof siteReadings>[1], opts: { ageMs?: number } = {}): () => void {
  const send = (): void => {
    for (const r of siteReadings(Date.now() - (opts.ageMs ?? 0), values)) poller.publish(subjects.telemetry, { assetId: r.assetId }, r);
  };
  send();
  const timer = setInterval(send, 100);
  return () => clearInterval(timer);
}

const FAST = { active: ['self-consumption'] as const, tickMs: 200 };
const holdSite = (gatewayId: string): SiteConfigInput =>
  buildSite({ gatewayId, strategy: { ...FAST, active: [...FAST.active], config: { 'self-consumption': { minHoldMs: 60_000, deadbandW: 0 } } } });
const failWith = (engine: EngineProcess) => ({ message: `engine output:\n${engine.output.join('').slice(-3000)}`, timeoutMs: 15_000 });

it('turns telemetry into control.intent.optimization.bat-1 with the self-consumption decision', async () => {
  const engine = startEngine(holdSite('gw-int-basic'));
  const stopFeed = feedTelemetry({ gridW: 1_000, batteryW: 0, socPct: 50 });
  try {
    const intent = await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(engine));
    expect(intent).toMatchObject({
      source: 'optimization',
      setpoint: { kind: 'battery-power', powerW: 1_000 },
      ttlMs: 2_000,
      reason: 'self-consumption:self-consumption',
      issuedBy: 'strategy-engine',
    });
    expect(intentSubjects.get(intent.id)).toBe('control.intent.optimization.bat-1');
    const decision = await waitFor(() => decisions.find((d) => d.strategy === 'self-consumption'), failWith(engine));
    expect(decision).toMatchObject({ reason: 'self-consumption', outputs: { batteryPowerW: 1_000 } });
  } finally {
    stopFeed();
  }
}, 30_000);

it('publishes rule intents on their own source subjects (safety, scheduled), which nats.conf grants the engine', async () => {
  const site = buildSite({
    gatewayId: 'gw-int-rules',
    strategy: { ...FAST, active: [...FAST.active] },
    rules: [
      { id: 'protect-reserve', source: 'safety', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 0 } },
      { id: 'ev-pause', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 0 } },
    ],
  });
  const engine = startEngine(site);
  const stopFeed = feedTelemetry({ gridW: 1_000, socPct: 12 });
  try {
    const safety = await waitFor(() => intents.find((i) => i.reason === 'rule:protect-reserve'), failWith(engine));
    const scheduled = await waitFor(() => intents.find((i) => i.reason === 'rule:ev-pause'), failWith(engine));
    expect([safety.source, intentSubjects.get(safety.id)]).toEqual(['safety', 'control.intent.safety.bat-1']);
    expect([scheduled.source, intentSubjects.get(scheduled.id)]).toEqual(['scheduled', 'control.intent.scheduled.ev-1']);
    expect(engine.output.join('')).not.toMatch(/Permissions Violation/i);
  } finally {
    stopFeed();
  }
}, 30_000);

it('restores its memory from Redis after a restart: the first intent after equals the last before', async () => {
  const site = holdSite('gw-int-restart');
  const first = startEngine(site);
  let stopFeed = feedTelemetry({ gridW: 1_000, batteryW: 0 });
  await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(first));
  stopFeed();
  expect(await first.stop()).toBe(0);
  const lastBefore = intents.filter((i) => i.assetId === 'bat-1').at(-1);
  expect(lastBefore?.setpoint).toEqual({ kind: 'battery-power', powerW: 1_000 });
  intents.length = 0;

  // The battery now discharges 1 kW and the grid shows 500 W: a fresh engine would ask for 1.5 kW at once.
  const second = startEngine(site);
  stopFeed = feedTelemetry({ gridW: 500, batteryW: 1_000 });
  try {
    const firstAfter = await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(second));
    expect(firstAfter).toMatchObject({ setpoint: lastBefore?.setpoint, reason: 'self-consumption:min-hold' });
    expect(second.output.join('')).toMatch(/"restored":\["self-consumption"\]/);
  } finally {
    stopFeed();
  }
}, 40_000);

it('holds the battery at 0 W (stale-data) when the telemetry is old', async () => {
  const engine = startEngine(holdSite('gw-int-stale'));
  const stopFeed = feedTelemetry({ gridW: 2_000 }, { ageMs: 60_000 });
  try {
    const intent = await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(engine));
    expect(intent).toMatchObject({ setpoint: { kind: 'battery-power', powerW: 0 }, reason: 'self-consumption:stale-data' });
    const decision = await waitFor(() => decisions.find((d) => d.strategy === 'self-consumption'), failWith(engine));
    expect(decision.reason).toBe('stale-data');
  } finally {
    stopFeed();
  }
}, 30_000);

it('prefers KV config over SITE_FILE, switches on config.updated, keeps running on an invalid one, and re-plans on prices', async () => {
  const kvm = new Kvm(bridge.nc);
  const config = await kvm.create(kvBuckets.config);
  const prices = await kvm.create(kvBuckets.prices);
  const fileSite = holdSite('gw-int-kv');
  const netZero = buildSite({ gatewayId: 'gw-int-kv', strategy: { active: ['net-zero'], tickMs: 200, config: {} } });
  await config.put('gw-int-kv', JSON.stringify(netZero));

  const engine = startEngine(fileSite);
  const stopFeed = feedTelemetry({ gridW: 1_000 });
  const bridgeBus = createBus(bridge.nc, silent);
  try {
    await waitFor(() => intents.find((i) => i.reason.startsWith('net-zero:')), failWith(engine));
    expect(engine.output.join('')).toMatch(/"source":"kv"/);

    // An invalid value is refused; the engine keeps deciding with net-zero.
    await config.put('gw-int-kv', JSON.stringify({ ...netZero, strategy: { active: ['net-zero'], tickMs: 200, config: { 'net-zero': { kP: 1 } } } }));
    await waitFor(() => engine.output.join('').includes('configuration rejected'), failWith(engine));
    intents.length = 0;
    await waitFor(() => intents.find((i) => i.reason.startsWith('net-zero:')), failWith(engine));

    // A valid arbitrage configuration through config.updated, then prices from KV.
    const arbitrage = buildSite({
      gatewayId: 'gw-int-kv',
      strategy: { active: ['arbitrage'], tickMs: 200, config: {} },
      tariff: { kind: 'dynamic', priceZone: 'FR' },
    });
    await config.put('gw-int-kv', JSON.stringify(arbitrage));
    bridgeBus.publish(subjects.configUpdated, {}, { ...exampleConfigUpdated, atMs: Date.now() });
    await waitFor(() => decisions.find((d) => d.strategy === 'arbitrage' && d.reason === 'no-prices'), failWith(engine));

    const hourMs = 3_600_000;
    const start = Math.floor(Date.now() / hourMs) * hourMs;
    const series = [20, 300, 20, 300].map((eurPerMwh, i) => ({ startMs: start + i * hourMs, endMs: start + (i + 1) * hourMs, eurPerMwh }));
    await prices.put('FR', JSON.stringify({ v: 1, zone: 'FR', series }));
    const planned = await waitFor(() => decisions.find((d) => d.strategy === 'arbitrage' && d.terms['replanned'] === 1), failWith(engine));
    expect(planned.reason).toMatch(/^arbitrage-/);
  } finally {
    stopFeed();
  }
}, 40_000);

it('runs without Redis, starting with fresh memory and saying so', async () => {
  const engine = startEngine(holdSite('gw-int-no-redis'), { REDIS_URL: '' });
  const stopFeed = feedTelemetry({ gridW: 800 });
  try {
    const intent = await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(engine));
    expect(intent.setpoint).toEqual({ kind: 'battery-power', powerW: 800 });
    expect(engine.output.join('')).toContain('REDIS_URL not set: memories are not persisted');
  } finally {
    stopFeed();
  }
}, 30_000);

it('ticks on a fresh grid reading at once, not at its next cadence tick (net-zero with a 10-minute cadence)', async () => {
  const tickMs = 600_000;
  const site = buildSite({ gatewayId: 'gw-int-reactive', strategy: { active: ['net-zero'], tickMs, config: { 'net-zero': {} } } });
  const engine = startEngine(site, { INTENT_TTL_MS: String(3 * tickMs) });
  // The site at rest (no import): NetZero holds 0 W. The feed runs until the engine has decided once.
  const stopFeed = feedTelemetry({ gridW: 0, batteryW: 0 });
  let first: ControlIntent;
  try {
    first = await waitFor(() => intents.find((i) => i.assetId === 'bat-1'), failWith(engine));
  } finally {
    stopFeed();
  }
  expect(first.setpoint).toEqual({ kind: 'battery-power', powerW: 0 });

  // One grid reading with 2 kW import: the cadence is ten minutes away, so only a tick on the reading can answer it.
  const [grid] = siteReadings(Date.now(), { gridW: 2_000 });
  if (grid === undefined) throw new Error('no grid reading');
  poller.publish(subjects.telemetry, { assetId: grid.assetId }, grid);
  const reaction = await waitFor(
    () => intents.find((i) => i.assetId === 'bat-1' && i.setpoint.kind === 'battery-power' && i.setpoint.powerW > 0),
    failWith(engine),
  );
  expect(reaction.reason).toMatch(/^net-zero:/);
  expect(reaction.issuedAtMs).toBeGreaterThanOrEqual(grid.atMs);
  expect(reaction.issuedAtMs).toBeLessThan(first.issuedAtMs + tickMs);
}, 30_000);

it('exits 78 when SITE_FILE is invalid', async () => {
  const engine = startEngine({ ...buildSite({ gatewayId: 'gw-int-bad' }), strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': { gridTargetW: 0 } } } });
  expect(await engine.exited).toBe(78);
  expect(engine.output.join('')).toMatch(/SITE_FILE: \$\.strategy\.config\["self-consumption"\]: Unrecognized key: "gridTargetW"/);
}, 20_000);
