/**
 * `voltimax strategy set` against a real nats-server from docker/nats/nats.conf (as user cli) and the real
 * cloud-bridge as a child process: the cli validates, the bridge persists assets.json, writes KV `config` and
 * announces `config.updated`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connectBus, createBus, type BusConnection } from '@voltimax/bus';
import { SiteConfigSchema, subjects, type ConfigurationUpdated, type Heartbeat } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import { pino } from 'pino';
import { runCli } from '../program';

jest.setTimeout(60_000);
const ROOT = join(__dirname, '..', '..', '..', '..');
const quiet = pino({ level: 'silent' });

const SITE = {
  v: 1,
  gatewayId: 'gw-strategy-cli',
  siteName: 'strategy set test',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 17_000, maxExportW: 9_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'bat-1',
      name: 'Battery',
      kind: 'battery',
      profile: 'cnte.ess-cabinet',
      connection: { protocol: 'simulated' },
      battery: { capacityWh: 10_240, maxChargePowerW: 5000, maxDischargePowerW: 5000 },
    },
    {
      id: 'grid-1',
      name: 'Grid',
      kind: 'grid-meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'simulated' },
    },
  ],
  strategy: { active: ['self-consumption'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};

let nats: NatsTestServer;
let dir: string;
let siteFile: string;
let bridge: ChildProcess | undefined;
let bridgeOutput = '';
let observer: BusConnection;
let watcher: BusConnection;
const updates: ConfigurationUpdated[] = [];
const heartbeats: Heartbeat[] = [];

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: (p: string) => Promise.resolve(readFileSync(p, 'utf8')),
    },
  };
}

async function voltimax(...argv: string[]) {
  const saved = {
    NATS_URL: process.env['NATS_URL'],
    NATS_USER: process.env['NATS_USER'],
    NATS_PASS: process.env['NATS_PASS'],
  };
  Object.assign(process.env, { NATS_URL: nats.url, NATS_USER: 'cli', NATS_PASS: NATS_DEV_PASSWORDS.cli });
  const c = capture();
  try {
    const code = await runCli(argv, c.io);
    return { code, stdout: c.out.join(''), stderr: c.err.join('') };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

async function stopBridge(): Promise<void> {
  const child = bridge;
  bridge = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-strategy-'));
  siteFile = join(dir, 'assets.json');
  writeFileSync(siteFile, JSON.stringify(SITE, null, 2));
  nats = await startNats({ config: NATS_CONFIG_PATH });
  observer = await connectBus({
    servers: nats.url,
    name: 'observer',
    user: 'strategy-engine',
    pass: NATS_DEV_PASSWORDS['strategy-engine'],
    log: quiet,
  });
  const bus = createBus(observer.nc, quiet);
  bus.subscribe(subjects.configUpdated, (u) => void updates.push(u));
  watcher = await connectBus({ servers: nats.url, name: 'hb', user: 'cli', pass: NATS_DEV_PASSWORDS.cli, log: quiet });
  createBus(watcher.nc, quiet).subscribe(subjects.health, (h) => void heartbeats.push(h));
  bridge = spawn(
    process.execPath,
    [join(ROOT, 'tools', 'run-ts.js'), join(ROOT, 'services', 'cloud-bridge', 'src', 'main.ts')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: '/tmp',
        NATS_URL: nats.url,
        NATS_USER: 'cloud-bridge',
        NATS_PASS: NATS_DEV_PASSWORDS['cloud-bridge'],
        SITE_FILE: siteFile,
        PRICE_SOURCES: 'none',
        HEALTH_PORT: 'off',
        HEARTBEAT_MS: '500',
        LOG_LEVEL: 'warn',
        OTEL_SDK_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  bridge.stdout?.on('data', (d: Buffer) => (bridgeOutput += d.toString()));
  bridge.stderr?.on('data', (d: Buffer) => (bridgeOutput += d.toString()));
  process.once('exit', () => bridge?.kill('SIGKILL'));
  await waitFor(() => heartbeats.some((h) => h.service === 'cloud-bridge' && h.status === 'ok'), {
    timeoutMs: 30_000,
    message: `the cloud-bridge to start\n${bridgeOutput}`,
  });
  await waitFor(() => updates.length === 1, { message: 'the bridge to load the file into KV' });
}, 60_000);

afterAll(async () => {
  await stopBridge();
  await observer?.nc.close();
  await watcher?.nc.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('voltimax strategy set, applied by the cloud-bridge', () => {
  it('sets net-zero with its configuration: assets.json, KV config and config.updated (source cli) follow', async () => {
    const result = await voltimax('strategy', 'set', 'net-zero', '--config', '{"deadbandW": 80}');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /^active now: net-zero \(before: self-consumption; configuration [0-9a-f]{64}; changed: strategy\)\nthe strategy-engine switches now; no restart needed\n$/,
    );
    const written = SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8')));
    expect(written.strategy).toMatchObject({ active: ['net-zero'], config: { 'net-zero': { deadbandW: 80 } } });
    await waitFor(() => updates.find((u) => u.source === 'cli'), { message: 'config.updated from the cli apply' });
    const entry = await (await new Kvm(observer.nc).open('config')).get('site');
    expect(SiteConfigSchema.parse(JSON.parse(entry?.string() ?? 'null')).strategy.active).toEqual(['net-zero']);
  });

  it('the same again is unchanged', async () => {
    const result = await voltimax('strategy', 'set', 'net-zero');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^net-zero with this configuration is already running/);
  });

  it('sets several at once (a+b), and says so when a later set drops a layer', async () => {
    const both = await voltimax(
      'strategy',
      'set',
      'self-consumption+backup-power',
      '--config',
      '{"backup-power": {"reserveSocPct": 25}}',
    );
    expect(both).toMatchObject({ code: 0, stderr: '' });
    expect(both.stdout).toMatch(/^active now: self-consumption, backup-power \(before: net-zero;/);
    const written = SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8')));
    expect(written.strategy).toMatchObject({
      active: ['self-consumption', 'backup-power'],
      config: { 'backup-power': { reserveSocPct: 25 } },
    });
    const one = await voltimax('strategy', 'set', 'net-zero');
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(
      'note: backup-power is no longer active; to keep it, name both: voltimax strategy set net-zero+backup-power\n',
    );
  });

  it('--site: the installer’s own file (not the running one) replaces the running configuration', async () => {
    // Before, the file's hash was sent as the base, so any file but the running one came back as a conflict (exit 4).
    const own = join(dir, 'own-site.json');
    writeFileSync(own, JSON.stringify({ ...SITE, siteName: 'edited by the installer' }));
    const result = await voltimax('strategy', 'set', 'self-consumption', '--site', own);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const written = SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8')));
    expect(written).toMatchObject({ siteName: 'edited by the installer', strategy: { active: ['self-consumption'] } });
  });

  it('time-of-use on a tariff without a schedule is applied with a note that it will idle', async () => {
    const result = await voltimax('strategy', 'set', 'time-of-use');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(
      "note: time-of-use idles (reason no-tou-schedule): the site's tariff (kind 'fixed') has no touPeriods; add them to the tariff in assets.json, or use arbitrage for spot prices\n",
    );
  });

  it('a peak threshold the import never reaches is applied with a note', async () => {
    const result = await voltimax('strategy', 'set', 'peak-shaving', '--config', '{"thresholdW": 1e9}');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/note: \$\.strategy\.config\["peak-shaving"\]\.thresholdW: 1000000000 W is at or above grid\.maxImportW \(\d+ W\): peak-shaving never shaves\n/);
  });

  it('an invalid strategy configuration is refused before anything is sent (exit 1, with its path)', async () => {
    const before = readFileSync(siteFile, 'utf8');
    const result = await voltimax('strategy', 'set', 'peak-shaving', '--config', '{"thresholdWatts": 5000}');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`'peak-shaving' with this configuration is not valid:`);
    expect(result.stderr).toContain('$.strategy.config["peak-shaving"]');
    expect(readFileSync(siteFile, 'utf8')).toBe(before);
  });

  it('--json prints the bridge’s reply', async () => {
    const result = await voltimax('strategy', 'set', 'peak-shaving', '--config', '{"thresholdW": 9000}', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      v: 1,
      outcome: 'applied',
      requiresRestart: false,
      changedSections: ['strategy'],
      problems: [],
    });
  });

  it('without the cloud-bridge: exit 3, naming it', async () => {
    await stopBridge();
    const result = await voltimax('strategy', 'set', 'null', '--timeout-ms', '1000');
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no cloud-bridge answers gateway\.config\.apply/);
  });
});
