/**
 * Configuration sync against a real Platform API double (HTTP on loopback), a real nats-server with the production
 * users (the sync runs as `cloud-bridge`; the observer is the `strategy-engine`, which reads KV `config` and hears
 * `config.updated`), and a real assets.json in a temp dir.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm, type KV } from '@nats-io/kv';
import { connectBus, createBus, ensureKv, type Bus, type BusConnection } from '@voltimax/bus';
import { SiteConfigSchema, subjects, type ConfigurationUpdated, type SiteConfigInput } from '@voltimax/contracts';
import { HealthState, healthControl } from '@voltimax/service-kit';
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
import { NODE_FS, writeFileAtomic, type AtomicFs } from './atomic-file';
import { bridgeHealth, type BridgeHealth } from './bridge-health';
import { configHash } from './config-hash';
import { createConfigSync, renderSiteFile, type ConfigSync } from './config-sync';
import { platformApi } from './platform-api';
import { validateSite, type ValidSite } from './site-validation';
import { natsConfigStore } from './stores';
import { parsedSite, testSite } from './testing/site';
import { VirtualClock } from './testing/virtual-clock';

jest.setTimeout(30_000);
const quiet = pino({ level: 'silent' });
const POLL_MS = 300_000;
const GATEWAY = 'gw-test';

let nats: NatsTestServer;
let api: PlatformApiDouble;
const connections: BusConnection[] = [];

async function connectAs(user: NatsUser): Promise<{ bus: Bus; connection: BusConnection }> {
  const connection = await connectBus({
    servers: nats.url,
    name: `test-${user}`,
    user,
    pass: NATS_DEV_PASSWORDS[user],
    log: quiet,
  });
  connections.push(connection);
  return { bus: createBus(connection.nc, quiet), connection };
}

beforeAll(async () => {
  [nats, api] = await Promise.all([
    startNats({ config: NATS_CONFIG_PATH }),
    startPlatformApi({ token: 'platform-token' }),
  ]);
});
afterAll(async () => {
  for (const c of connections) await c.nc.close();
  await Promise.all([nats?.stop(), api?.stop()]);
});

/** One bridge-side sync on a fresh bucket key, temp dir and clock; the engine-side observer records config.updated. */
interface Rig {
  readonly sync: ConfigSync;
  readonly file: string;
  readonly dir: string;
  readonly kv: KV;
  readonly key: string;
  readonly events: ConfigurationUpdated[];
  readonly health: BridgeHealth;
  readonly clock: VirtualClock;
  /** The value in KV as the strategy-engine reads it. */
  engineView(): Promise<unknown>;
  dispose(): void;
}

let rigCount = 0;

async function rig(
  opts: { fileSite?: SiteConfigInput; fs?: AtomicFs; kvFirst?: SiteConfigInput; kvNewer?: boolean } = {},
): Promise<Rig> {
  rigCount += 1;
  const key = `site-${rigCount}`;
  const dir = mkdtempSync(join(tmpdir(), 'cloud-bridge-sync-'));
  const file = join(dir, 'assets.json');
  const fileSite = opts.fileSite ?? testSite();
  writeFileSync(file, JSON.stringify(fileSite, null, 2));
  const checked = validateSite(fileSite, GATEWAY);
  if (!checked.ok) throw new Error('test site invalid');
  const initial: ValidSite = { site: checked.site, hash: checked.hash };

  const bridge = await connectAs('cloud-bridge');
  const { kv } = await ensureKv(bridge.connection.nc, { name: 'config', history: 5 });
  if (opts.kvFirst) {
    await kv.put(key, JSON.stringify(SiteConfigSchema.parse(opts.kvFirst)));
    const createdMs = (await kv.get(key))?.created.getTime() ?? Date.now();
    const fileMs = opts.kvNewer ? createdMs - 3_600_000 : createdMs + 3_600_000;
    utimesSync(file, fileMs / 1000, fileMs / 1000);
  }
  const engine = await connectAs('strategy-engine');
  const events: ConfigurationUpdated[] = [];
  engine.bus.subscribe(subjects.configUpdated, (event) => void events.push(event));
  await engine.connection.nc.flush();
  const engineKv = await new Kvm(engine.connection.nc).open('config');

  const health = bridgeHealth(healthControl(new HealthState(), () => undefined));
  const clock = new VirtualClock({ autoRun: false });
  const fs = opts.fs ?? NODE_FS;
  const sync = createConfigSync({
    bus: bridge.bus,
    log: quiet,
    health,
    scheduler: clock,
    gatewayId: GATEWAY,
    siteFile: file,
    env: { MQTT_USER: 'gw', MQTT_PASSWORD: 'secret' },
    initial,
    fileModifiedMs: async () => statSync(file).mtimeMs,
    writeFile: (path, text) => writeFileAtomic(path, text, { fs }),
    store: natsConfigStore(kv, key),
    fetchConfiguration: (etag) =>
      platformApi({
        baseUrl: api.url,
        gatewayId: GATEWAY,
        token: 'platform-token',
        timeoutMs: 2_000,
      }).fetchConfiguration(etag),
    pollMs: POLL_MS,
  });
  return {
    sync,
    file,
    dir,
    kv,
    key,
    events,
    health,
    clock,
    engineView: async () => {
      const entry = await engineKv.get(key);
      return entry ? (JSON.parse(entry.string()) as unknown) : undefined;
    },
    dispose() {
      sync.stop();
      clock.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const withStrategy = (active: 'net-zero' | 'null' | 'self-consumption') =>
  testSite({ strategy: { active: [active], tickMs: 1000, config: {} } });
const fileSite = (r: Rig) => SiteConfigSchema.parse(JSON.parse(readFileSync(r.file, 'utf8')));

describe('configuration sync', () => {
  let r: Rig;
  afterEach(() => r?.dispose());

  it('at start loads SITE_FILE into an empty KV config and announces it (source file)', async () => {
    r = await rig();
    api.setConfiguration(GATEWAY, testSite());
    await r.sync.start();

    await waitFor(() => r.events.length === 1, { message: 'config.updated after loading the file' });
    expect(r.events[0]).toMatchObject({ source: 'file', hash: configHash(parsedSite()), requiresRestart: false });
    expect(await r.engineView()).toEqual(parsedSite());
  });

  it('an unchanged configuration from the cloud changes nothing: no write, no KV revision, no event', async () => {
    r = await rig();
    api.setConfiguration(GATEWAY, testSite());
    await r.sync.start();
    await waitFor(() => r.events.length === 1);
    const revision = (await r.kv.get(r.key))?.revision;
    const mtime = statSync(r.file).mtimeMs;

    const result = await r.sync.refresh('test');

    expect(result).toEqual({ changed: false, hash: configHash(parsedSite()) });
    expect((await r.kv.get(r.key))?.revision).toBe(revision);
    expect(statSync(r.file).mtimeMs).toBe(mtime);
    expect(r.events).toHaveLength(1);
  });

  it('a changed strategy is persisted (file, .prev, KV) and announced without restart; the next poll is a 304', async () => {
    r = await rig();
    api.setConfiguration(GATEWAY, testSite());
    await r.sync.start();
    await r.sync.refresh('first');
    const etag = api.setConfiguration(GATEWAY, withStrategy('net-zero'));

    const result = await r.sync.refresh('cloud edit');

    const expected = SiteConfigSchema.parse(withStrategy('net-zero'));
    expect(result).toEqual({ changed: true, hash: configHash(expected) });
    expect(fileSite(r)).toEqual(expected);
    expect(readFileSync(r.file, 'utf8')).toBe(renderSiteFile(expected));
    expect(JSON.parse(readFileSync(`${r.file}.prev`, 'utf8'))).toEqual(testSite());
    expect(await r.engineView()).toEqual(expected);
    await waitFor(() => r.events.length === 2, { message: 'config.updated for the cloud change' });
    expect(r.events[1]).toEqual({
      v: 1,
      hash: configHash(expected),
      atMs: expect.any(Number),
      requiresRestart: false,
      source: 'cloud',
      changedSections: ['strategy'],
    });

    const again = await r.sync.refresh('poll');
    expect(again).toEqual({ changed: false, hash: configHash(expected) });
    expect(api.requests('configuration').at(-1)).toMatchObject({
      ifNoneMatch: etag,
      status: 304,
      authorization: 'Bearer platform-token',
    });
  });

  it('a changed asset is announced with requiresRestart', async () => {
    r = await rig();
    await r.sync.start();
    const site = testSite();
    api.setConfiguration(GATEWAY, { ...site, assets: site.assets.slice(0, 1) });

    await r.sync.refresh('assets');

    await waitFor(() => r.events.some((e) => e.source === 'cloud'));
    expect(r.events.find((e) => e.source === 'cloud')).toMatchObject({
      requiresRestart: true,
      changedSections: ['assets'],
    });
  });

  it('an invalid configuration is rejected with its problems; the running one stays; it is reported once', async () => {
    r = await rig();
    await r.sync.start();
    await waitFor(() => r.events.length === 1);
    const before = readFileSync(r.file, 'utf8');
    const site = testSite();
    api.setConfiguration(GATEWAY, {
      ...site,
      assets: [{ ...site.assets[0]!, profile: 'acme.unknown' }, site.assets[1]!],
    });

    const result = await r.sync.refresh('bad edit');
    const again = await r.sync.refresh('poll');

    expect(result.changed).toBe(false);
    expect(result.hash).toBe(configHash(parsedSite()));
    expect(result.error).toMatch(/^configuration rejected: \$\.assets\[0\]\.profile: unknown profile 'acme\.unknown'/);
    expect(again.error).toBe(result.error);
    expect(readFileSync(r.file, 'utf8')).toBe(before);
    expect(await r.engineView()).toEqual(parsedSite());
    expect(r.events).toHaveLength(1);
    expect(r.health.counters()['configRejected']).toBe(1);
    expect(r.health.problems().get('config-rejected')).toMatch(/rejected/);

    api.setConfiguration(GATEWAY, withStrategy('null'));
    expect((await r.sync.refresh('fixed')).changed).toBe(true);
    expect(r.health.problems().has('config-rejected')).toBe(false);
  });

  it('a configuration for another gateway is rejected', async () => {
    r = await rig();
    await r.sync.start();
    api.setConfiguration(GATEWAY, testSite({ gatewayId: 'gw-somewhere-else' }));
    expect((await r.sync.refresh('wrong gateway')).error).toMatch(
      /\$\.gatewayId: configuration is for gateway 'gw-somewhere-else'/,
    );
  });

  it('a configuration whose cloud block names a secret this gateway does not have is rejected, naming it', async () => {
    r = await rig();
    await r.sync.start();
    await waitFor(() => r.events.length === 1);
    const before = readFileSync(r.file, 'utf8');
    const mqtt = (usernameEnv: string, passwordEnv: string) =>
      testSite({
        cloud: { transport: 'mqtt', brokerUrl: 'mqtt://broker.test:1883', usernameEnv, passwordEnv },
      });
    api.setConfiguration(GATEWAY, mqtt('MQTT_USER', 'MQTT_PASS_NEW'));

    const result = await r.sync.refresh('new broker');

    expect(result.changed).toBe(false);
    expect(result.error).toBe(
      "configuration rejected: $.cloud.passwordEnv: MQTT_PASS_NEW is not set in this gateway's environment " +
        '(the cloud link could not start)',
    );
    expect(readFileSync(r.file, 'utf8')).toBe(before);
    expect(await r.engineView()).toEqual(parsedSite());
    expect(r.events).toHaveLength(1);
    expect(r.health.counters()['configRejected']).toBe(1);
    expect(r.health.problems().get('config-rejected')).toMatch(/rejected \(1 problems\)/);

    api.setConfiguration(GATEWAY, mqtt('MQTT_USER', 'MQTT_PASSWORD'));
    expect((await r.sync.refresh('fixed')).changed).toBe(true);
  });

  it('disk full while writing assets.json: old file, KV and running configuration intact, no event; retried at the next poll', async () => {
    let full = true;
    const fs: AtomicFs = {
      ...NODE_FS,
      async openForWrite(path, flags, mode) {
        const handle = await NODE_FS.openForWrite(path, flags, mode);
        return {
          writeFile: async (data) => {
            if (!full) return handle.writeFile(data);
            await handle.writeFile(data.slice(0, 10));
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        };
      },
    };
    r = await rig({ fs });
    await r.sync.start();
    await waitFor(() => r.events.length === 1);
    const before = readFileSync(r.file, 'utf8');
    api.setConfiguration(GATEWAY, withStrategy('net-zero'));

    const failed = await r.sync.refresh('disk full');

    expect(failed).toMatchObject({ changed: false, hash: configHash(parsedSite()) });
    expect(failed.error).toMatch(/not persisted: cannot write .*assets\.json \(write-temp\): ENOSPC/);
    expect(readFileSync(r.file, 'utf8')).toBe(before);
    expect(r.sync.current().hash).toBe(configHash(parsedSite()));
    expect(await r.engineView()).toEqual(parsedSite());
    expect(r.health.problems().get('config-persist')).toMatch(/ENOSPC/);
    expect(r.events).toHaveLength(1);

    full = false;
    const retried = await r.sync.refresh('disk freed');
    expect(retried.changed).toBe(true);
    expect(fileSite(r)).toEqual(SiteConfigSchema.parse(withStrategy('net-zero')));
    expect(r.health.problems().has('config-persist')).toBe(false);
  });

  it('Platform API down (500, then a reset): reported, the running configuration stays, recovery clears it', async () => {
    r = await rig();
    await r.sync.start();
    api.setConfiguration(GATEWAY, testSite());
    api.fault('configuration', { kind: 'status', status: 500 }, 1);
    expect((await r.sync.refresh('down')).error).toMatch(/HTTP 500/);
    api.fault('configuration', { kind: 'reset' }, 1);
    expect((await r.sync.refresh('down')).error).toMatch(/unreachable/);
    expect(r.health.problems().get('platform-api')).toMatch(/^platform API unreachable since /);
    expect(r.health.counters()['configPollFailures']).toBe(2);

    expect((await r.sync.refresh('up')).error).toBeUndefined();
    expect(r.health.problems().has('platform-api')).toBe(false);
  });

  it('polls every pollMs on its clock', async () => {
    r = await rig();
    api.setConfiguration(GATEWAY, testSite());
    const before = api.requests('configuration').length;
    await r.sync.start();
    await r.clock.advance(0);
    // Each poll re-arms after its own (real) duration, so three periods end a moment after 3 × POLL_MS.
    await r.clock.advance(3 * POLL_MS + 1_000);
    expect(api.requests('configuration').length - before).toBe(4); // at start, then three polls
    expect(r.clock.pending()[0]).toBeGreaterThan(POLL_MS - 2_000);
  });

  describe('gateway.config.apply (the cli)', () => {
    it('applies a valid configuration from the cli and announces it with source cli', async () => {
      r = await rig();
      await r.sync.start();
      const next = withStrategy('net-zero');

      const result = await r.sync.apply(next, 'cli', { baseHash: configHash(parsedSite()) });

      expect(result).toMatchObject({ outcome: 'applied', requiresRestart: false, changedSections: ['strategy'] });
      await waitFor(() => r.events.some((e) => e.source === 'cli'));
      expect(fileSite(r)).toEqual(SiteConfigSchema.parse(next));
    });

    it('refuses a stale base hash (conflict) and an identical configuration is unchanged', async () => {
      r = await rig();
      await r.sync.start();
      expect(await r.sync.apply(withStrategy('null'), 'cli', { baseHash: 'f'.repeat(64) })).toMatchObject({
        outcome: 'conflict',
      });
      expect(await r.sync.apply(testSite(), 'cli')).toMatchObject({
        outcome: 'unchanged',
        hash: configHash(parsedSite()),
      });
    });

    it('a local change stays until the cloud’s configuration itself changes', async () => {
      r = await rig();
      api.setConfiguration(GATEWAY, testSite());
      await r.sync.start();
      await r.sync.refresh('first');
      await r.sync.apply(withStrategy('net-zero'), 'cli');

      expect((await r.sync.refresh('poll')).changed).toBe(false);
      expect(r.sync.current().site.strategy.active).toEqual(['net-zero']);

      api.setConfiguration(GATEWAY, withStrategy('null'));
      expect((await r.sync.refresh('poll')).changed).toBe(true);
      expect(r.sync.current().site.strategy.active).toEqual(['null']);
    });
  });

  describe('start-up reconciliation of SITE_FILE and KV config', () => {
    it('SITE_FILE newer than KV: the file goes into KV', async () => {
      r = await rig({ fileSite: withStrategy('net-zero'), kvFirst: testSite(), kvNewer: false });
      await r.sync.start();
      expect(await r.engineView()).toEqual(SiteConfigSchema.parse(withStrategy('net-zero')));
      await waitFor(() => r.events.length === 1);
      expect(r.events[0]).toMatchObject({ source: 'file', changedSections: ['strategy'], requiresRestart: false });
    });

    it('KV newer than SITE_FILE: KV stays, the file is rewritten from it and announced (running services reload)', async () => {
      r = await rig({ fileSite: withStrategy('net-zero'), kvFirst: testSite(), kvNewer: true });
      await r.sync.start();
      expect(r.sync.current().hash).toBe(configHash(parsedSite()));
      expect(fileSite(r)).toEqual(parsedSite());
      await waitFor(() => r.events.length === 1);
      expect(r.events[0]).toMatchObject({
        source: 'file',
        hash: configHash(parsedSite()),
        changedSections: ['strategy'],
        requiresRestart: false,
      });
    });
  });
});
