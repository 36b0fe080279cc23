/**
 * The bridge as a service (runService, in-process) on a real nats-server from docker/nats/nats.conf, connected as
 * user cloud-bridge: exit 78 on bad configuration, and the gateway's own requests as the cli sends them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, createBus, type Bus, type BusConnection } from '@voltimax/bus';
import {
  SiteConfigSchema,
  subjects,
  type ConfigurationUpdated,
  type Heartbeat,
  type SiteConfigInput,
} from '@voltimax/contracts';
import { EX_CONFIG } from '@voltimax/service-kit';
import {
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  startPlatformApi,
  waitFor,
  type NatsTestServer,
  type NatsUser,
  type PlatformApiDouble,
} from '@voltimax/testing';
import { pino } from 'pino';
import { configHash } from './config-hash';
import { runBridge, type RunningBridge } from './testing/run-bridge';
import { parsedSite, testSite } from './testing/site';

jest.setTimeout(30_000);
const quiet = pino({ level: 'silent' });

let nats: NatsTestServer;
let api: PlatformApiDouble;
let dir: string;
const connections: BusConnection[] = [];

async function connectAs(user: NatsUser): Promise<Bus> {
  const connection = await connectBus({
    servers: nats.url,
    name: `svc-${user}`,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    log: quiet,
  });
  connections.push(connection);
  return createBus(connection.nc, quiet);
}

function writeSite(name: string, site: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(site, null, 2));
  return file;
}

const bridgeEnv = (siteFile: string, extra: Record<string, string> = {}) => ({
  NATS_URL: nats.url,
  NATS_USER: 'cloud-bridge',
  NATS_PASS: NATS_DEV_PASSWORDS['cloud-bridge'],
  SITE_FILE: siteFile,
  PRICE_SOURCES: 'none',
  ...extra,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cloud-bridge-service-'));
  [nats, api] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startPlatformApi()]);
});
afterAll(async () => {
  for (const c of connections) await c.nc.close();
  await Promise.all([nats?.stop(), api?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('configuration errors end the process with exit 78 before anything connects', () => {
  it.each<[string, SiteConfigInput | string, Record<string, string>, RegExp]>([
    [
      'an invalid SITE_FILE',
      testSite({ grid: { maxImportW: -1, maxExportW: 0 } }),
      {},
      /SITE_FILE: .*\$\.grid\.maxImportW/,
    ],
    [
      'a secret the cloud block names but the environment lacks',
      testSite({
        cloud: {
          transport: 'mqtt',
          brokerUrl: 'mqtt://127.0.0.1:1',
          passwordEnv: 'MQTT_PASSWORD',
          usernameEnv: 'MQTT_USER',
        },
      }),
      { MQTT_USER: 'gw' },
      /MQTT_PASSWORD: is not set/,
    ],
    [
      'a bad price source',
      testSite(),
      { PRICE_SOURCES: 'platform,nordpool' },
      /PRICE_SOURCES: 'nordpool' is not a price source/,
    ],
    ['a missing file', 'missing.json', {}, /SITE_FILE: cannot read .*missing\.json: ENOENT/],
  ])('%s', async (_name, site, extra, message) => {
    const file = typeof site === 'string' ? join(dir, site) : writeSite('bad.json', site);
    const bridge = await runBridge(bridgeEnv(file, extra));
    expect(bridge.runtime).toBeUndefined();
    expect(bridge.exits).toEqual([EX_CONFIG]);
    expect(bridge.stderr.join('')).toMatch(message);
  });
});

describe('a SITE_FILE that passes the schema but fails the other checks (e.g. a check added by an upgrade)', () => {
  it('does not stop the bridge: it says so in its health and takes a corrected configuration', async () => {
    const broken = testSite({ assets: [{ ...testSite().assets[1]!, profile: 'acme.none' }] });
    const file = writeSite('unknown-profile.json', broken);
    const bridge = await runBridge(bridgeEnv(file));
    try {
      if (!bridge.runtime) throw new Error(`bridge did not start: ${bridge.stderr.join('')}`);
      const cli = await connectAs('cli');
      const heartbeats: Heartbeat[] = [];
      cli.subscribe(subjects.health, (h) => void heartbeats.push(h));
      await waitFor(
        () => heartbeats.find((h) => h.service === 'cloud-bridge' && /fails validation .*unknown profile 'acme\.none'/.test(h.detail ?? '')),
        { message: 'a degraded heartbeat naming the problem' },
      );
      const current = SiteConfigSchema.parse(broken);
      const reply = await cli.request(
        subjects.gatewayConfigApply,
        {},
        { v: 1, config: testSite(), baseHash: configHash(current), reason: 'fix', requestedBy: 'cli:test', sentAtMs: Date.now() },
        { timeoutMs: 5_000 },
      );
      expect(reply).toMatchObject({ outcome: 'applied', changedSections: ['assets'], requiresRestart: true });
      const appliedAt = Date.now();
      await waitFor(
        () => heartbeats.find((h) => h.service === 'cloud-bridge' && h.atMs > appliedAt && !/fails validation/.test(h.detail ?? '')),
        { message: 'a heartbeat without the problem' },
      );
    } finally {
      await bridge.stop();
    }
  });
});

describe('gateway requests on the bus (as the cli sends them)', () => {
  let bridge: RunningBridge;
  let cli: Bus;
  let siteFile: string;
  const updates: ConfigurationUpdated[] = [];
  const heartbeats: Heartbeat[] = [];

  beforeAll(async () => {
    siteFile = writeSite('assets.json', testSite({ cloud: { transport: 'none' } }));
    api.setConfiguration('gw-test', testSite());
    bridge = await runBridge(bridgeEnv(siteFile, { PLATFORM_API_URL: api.url }));
    if (!bridge.runtime) throw new Error(`bridge did not start: ${bridge.stderr.join('')}`);
    cli = await connectAs('cli');
    const engine = await connectAs('strategy-engine');
    engine.subscribe(subjects.configUpdated, (u) => void updates.push(u));
    cli.subscribe(subjects.health, (h) => void heartbeats.push(h));
  });
  afterAll(() => bridge?.stop());

  it('answers gateway.ping with its version, uptime and the services it hears', async () => {
    const reply = await waitFor(
      async () => {
        const r = await cli.request(subjects.gatewayPing, {}, { v: 1, sentAtMs: Date.now() }, { timeoutMs: 2_000 });
        return r.services.some((s) => s.service === 'cloud-bridge') ? r : undefined;
      },
      { message: 'a ping reply that lists the bridge itself' },
    );
    expect(reply).toMatchObject({ v: 1, gatewayId: 'gw-test', version: '0.1.0' });
    expect(reply.services.find((s) => s.service === 'cloud-bridge')).toMatchObject({ status: 'ok', instances: 1 });
  });

  it('gateway.config.refresh fetches from the Platform API and answers the hash', async () => {
    api.setConfiguration('gw-test', testSite({ strategy: { active: ['net-zero'], tickMs: 1000, config: {} } }));
    const reply = await cli.request(
      subjects.gatewayRefreshConfig,
      {},
      { v: 1, reason: 'operator', sentAtMs: Date.now() },
      { timeoutMs: 5_000 },
    );
    const expected = SiteConfigSchema.parse(testSite({ strategy: { active: ['net-zero'], tickMs: 1000, config: {} } }));
    expect(reply).toMatchObject({ v: 1, changed: true, hash: configHash(expected) });
    await waitFor(() => updates.some((u) => u.source === 'cloud' && u.hash === configHash(expected)));
  });

  it('gateway.config.apply persists a valid configuration and announces it with source cli', async () => {
    const current = SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8')));
    const next = {
      ...current,
      strategy: {
        ...current.strategy,
        active: ['peak-shaving' as const],
        config: { 'peak-shaving': { thresholdW: 8000 } },
      },
    };
    const reply = await cli.request(
      subjects.gatewayConfigApply,
      {},
      {
        v: 1,
        config: next,
        baseHash: configHash(current),
        reason: 'test',
        requestedBy: 'cli:test',
        sentAtMs: Date.now(),
      },
      { timeoutMs: 5_000 },
    );
    expect(reply).toMatchObject({
      outcome: 'applied',
      requiresRestart: false,
      changedSections: ['strategy'],
      problems: [],
    });
    await waitFor(() => updates.some((u) => u.source === 'cli' && u.hash === reply.hash));
    expect(SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8'))).strategy.active).toEqual([
      'peak-shaving',
    ]);
  });

  it('gateway.config.apply answers rejected with each problem for a bad strategy block', async () => {
    const current = SiteConfigSchema.parse(JSON.parse(readFileSync(siteFile, 'utf8')));
    const next = {
      ...current,
      strategy: { ...current.strategy, config: { 'peak-shaving': { thresholdWatts: 8000 } } },
    };
    const reply = await cli.request(
      subjects.gatewayConfigApply,
      {},
      { v: 1, config: next, reason: 'test', requestedBy: 'cli:test', sentAtMs: Date.now() },
      { timeoutMs: 5_000 },
    );
    expect(reply.outcome).toBe('rejected');
    expect(reply.problems.map((p) => p.path)).toContain('$.strategy.config["peak-shaving"]');
    expect(reply.hash).toBe(configHash(current));
  });

  it('an apply that is not a SiteConfig is refused by the bus before the handler (invalid-request); the bridge keeps answering', async () => {
    const raw = await connectBus({
      servers: nats.url,
      name: 'raw-cli',
      user: 'cli',
      pass: NATS_DEV_PASSWORDS.cli,
      log: quiet,
    });
    connections.push(raw);
    const invalid = {
      v: 1,
      config: { ...parsedSite(), grid: { maxImportW: -1 } },
      reason: 'x',
      requestedBy: 'y',
      sentAtMs: 0,
    };
    // Raw, past the requester's own validation, as a buggy or hostile client would send it.
    const answer = await raw.nc.request(subjects.gatewayConfigApply.pattern, JSON.stringify(invalid), {
      timeout: 2_000,
    });
    expect(answer.headers?.get('Voltimax-Error')).toMatch(/^invalid-request: invalid-schema: \$\.config\.grid/);
    const notJson = await raw.nc.request(subjects.gatewayConfigApply.pattern, '{not json', { timeout: 2_000 });
    expect(notJson.headers?.get('Voltimax-Error')).toMatch(/^invalid-request: invalid-json/);

    const reply = await cli.request(subjects.gatewayPing, {}, { v: 1, sentAtMs: Date.now() }, { timeoutMs: 2_000 });
    expect(reply.gatewayId).toBe('gw-test');
    const counted = await waitFor(
      () => heartbeats.filter((h) => h.service === 'cloud-bridge').at(-1)?.counters?.['busDropped'],
      {
        message: 'a heartbeat counting the dropped requests',
      },
    );
    expect(counted).toBeGreaterThanOrEqual(2);
  });
});
