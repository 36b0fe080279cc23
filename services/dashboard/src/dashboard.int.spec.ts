// End to end in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core): a simulated site runs
// as `npm start` runs it — nats-server from docker/nats/nats.conf, Redis, simulator, modbus-poller, safety-arbiter,
// strategy-engine and the dashboard as child processes — and the test looks at the page like a person would, while it
// watches the bus as the `cli` user to know what the page should show. Screenshots go to tmp/screenshots/.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createBus, type Bus } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import {
  subjects,
  type ArbiterDecision,
  type AssetReading,
  type DecisionMetrics,
  type EmergencyStop,
  type Heartbeat,
} from '@voltimax/contracts';
import { connectNatsAs, freePort, NATS_CONFIG_PATH, type NatsTestServer, type NatsUser, startNats, startRedis, type TestServer, waitFor } from '@voltimax/testing';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startProcess, startService, type ServiceProcess } from './testing/processes';
import type { DashboardSnapshot, FlowSource, HistorySeries } from './view';

/** The flags that work on our closed network (../shared/TOOLCHAIN.md § Browser tests). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = join(ROOT, 'tmp', 'screenshots');
const PASSWORD = 'e2e correct horse battery';
const MAX_FAILURES = 3;
/** The chart's past: readings three hours old, put into stream TELEMETRY before anything runs. */
const PAST_GRID_W = 2_345;
const PAST_SOC_PCT = 77;

interface Seen<T> {
  readonly receivedAtMs: number;
  readonly payload: T;
}

/** The simulated site of `npm start` with NetZero only and no automation rules. */
function e2eSite(): Record<string, unknown> {
  const site = JSON.parse(readFileSync(join(ROOT, 'docker', 'config', 'assets.sim.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  return {
    ...site,
    gatewayId: `gw-dash-${process.pid}`,
    siteName: 'Dashboard e2e site',
    strategy: { active: ['net-zero'], tickMs: 1_000, config: { 'net-zero': {} } },
    rules: [],
  };
}

describe('the dashboard in a real browser, on a simulated site', () => {
  let dir: string | undefined;
  let nats: NatsTestServer | undefined;
  let redis: TestServer | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let url = '';
  let kv: KV;
  let bridge: Bus;
  const connections: NatsConnection[] = [];
  const services: ServiceProcess[] = [];
  const readings: Seen<AssetReading>[] = [];
  const decisions: Seen<ArbiterDecision>[] = [];
  const metrics: Seen<DecisionMetrics>[] = [];
  const heartbeats: Seen<Heartbeat>[] = [];
  const estops: Seen<EmergencyStop>[] = [];
  const t0 = Date.now();

  const seen =
    <T>(list: Seen<T>[]) =>
    (payload: T) =>
      void list.push({ receivedAtMs: Date.now(), payload });
  const latestHeartbeat = (service: string) => heartbeats.filter((h) => h.payload.service === service).at(-1)?.payload;

  const reported = (body: () => Promise<void>) => () =>
    body().catch(async (err: unknown) => {
      if (context !== undefined) {
        mkdirSync(SCREENSHOTS, { recursive: true });
        await page
          .screenshot({ path: join(SCREENSHOTS, 'dashboard-failure.png'), fullPage: true })
          .catch(() => undefined);
      }
      process.stderr.write(
        `\n[dashboard e2e] failed ${((Date.now() - t0) / 1_000).toFixed(1)} s after the start; ` +
          `last output of each process:\n${services.map((s) => s.tail()).join('\n')}\n`,
      );
      throw err;
    });

  async function as(user: NatsUser): Promise<NatsConnection> {
    if (!nats) throw new Error('nats-server is not running');
    const nc = await connectNatsAs(nats.url, user, { name: `e2e-${user}`, reconnect: true });
    connections.push(nc);
    return nc;
  }

  function start(name: string, env: Record<string, string>): ServiceProcess {
    if (!nats) throw new Error('nats-server is not running');
    const service = startService(name, nats.url, env);
    services.push(service);
    return service;
  }

  async function started(service: ServiceProcess): Promise<void> {
    await waitFor(
      () => {
        if (service.exit() !== undefined) throw new Error(`${service.name} exited (${service.exit()})`);
        const beat = latestHeartbeat(service.name);
        return beat !== undefined && beat.status !== 'starting';
      },
      { timeoutMs: 30_000, intervalMs: 50, message: `${service.name} to start` },
    );
  }

  /** The page's current snapshot, through its own session (the same JSON the live stream carries). */
  const pageSnapshot = (): Promise<DashboardSnapshot> =>
    page.evaluate(async () => (await fetch('/api/state')).json() as Promise<DashboardSnapshot>);

  async function screenshot(name: string): Promise<void> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  let loginAttempts = 0;
  /** Submits the login form; with `expectRefusal`, waits for the page to show this attempt's refusal and returns it. */
  async function loginWith(password: string, expectRefusal = false): Promise<string> {
    await page.fill('[data-testid=login-password]', password);
    await page.click('[data-testid=login-submit]');
    loginAttempts += 1;
    if (!expectRefusal) return '';
    const selector = `[data-testid=login-error][data-attempt="${loginAttempts}"]`;
    await page.waitForSelector(selector, { timeout: 10_000 });
    return text(selector);
  }

  async function text(selector: string): Promise<string> {
    return (await page.locator(selector).first().textContent())?.trim() ?? '';
  }

  beforeAll(
    reported(async () => {
      dir = mkdtempSync(join(tmpdir(), 'voltimax-dashboard-e2e-'));
      [nats, redis] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startRedis()]);

      // Stream TELEMETRY and KV config were made by the provisioner (startNats, as `voltimax bus init`); KV config is
      // written by the cloud-bridge.
      const cloudBridge = await as('cloud-bridge');
      kv = await new Kvm(cloudBridge).open('config');
      bridge = createBus(cloudBridge, captureLogger('warn').log);

      // The chart's past, three hours ago, published by a driver before anything else runs.
      const poller = await as('modbus-poller');
      const pastMs = Date.now() - 3 * 3_600_000;
      for (let i = 0; i < 6; i += 1) {
        const atMs = pastMs + i * 60_000;
        const grid: AssetReading = {
          v: 1,
          assetId: 'grid-1',
          kind: 'grid-meter',
          atMs,
          sequence: i,
          quality: 'good',
          values: { powerW: PAST_GRID_W },
        };
        const battery: AssetReading = {
          v: 1,
          assetId: 'bat-1',
          kind: 'battery',
          atMs,
          sequence: i,
          quality: 'good',
          values: { powerW: 0, socPct: PAST_SOC_PCT },
        };
        poller.publish('telemetry.grid-1', JSON.stringify(grid));
        poller.publish('telemetry.bat-1', JSON.stringify(battery));
      }
      await poller.flush();

      const observer = createBus(await as('cli'), captureLogger('warn').log);
      observer.subscribe(subjects.telemetry, seen(readings));
      observer.subscribe(subjects.arbiterDecision, seen(decisions));
      observer.subscribe(subjects.strategyDecision, seen(metrics));
      observer.subscribe(subjects.health, seen(heartbeats));
      observer.subscribe(subjects.estop, seen(estops));
      await connections.at(-1)?.flush();

      // The password, set as an installer does: the real `voltimax` command, from stdin.
      const passwordFile = join(dir, 'dashboard-password');
      const cli = startProcess(
        'voltimax',
        process.execPath,
        [
          join(ROOT, 'tools', 'run-ts.js'),
          join(ROOT, 'services', 'cli', 'src', 'main.ts'),
          'dashboard',
          'set-password',
          '--file',
          passwordFile,
        ],
        {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        },
        { stdin: 'pipe' },
      );
      cli.child.stdin?.end(`${PASSWORD}\n`);

      const siteFile = join(dir, 'site.json');
      writeFileSync(siteFile, JSON.stringify(e2eSite(), null, 2));
      const simulator = start('simulator', {
        SITE_FILE: siteFile,
        STATE_DIR: dir,
        SIM_SPEED: '1',
        SIM_INITIAL_SOC_PCT: '50',
        HEARTBEAT_MS: '1000',
      });
      const simAssets = join(dir, 'sim-assets.json');
      await waitFor(() => existsSync(simAssets) || simulator.exit() !== undefined, {
        timeoutMs: 30_000,
        message: 'the simulator to write sim-assets.json',
      });
      await waitFor(() => cli.exit() !== undefined, {
        timeoutMs: 30_000,
        message: 'voltimax dashboard set-password to finish',
      });
      expect(cli.exit()).toBe('0');

      const site = { SITE_FILE: simAssets, STATE_DIR: dir };
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      const rest = [
        start('modbus-poller', site),
        start('safety-arbiter', { ...site, HEARTBEAT_MS: '1000' }),
        start('strategy-engine', { ...site, REDIS_URL: redis.url }),
        start('dashboard', {
          SITE_FILE: simAssets,
          DASHBOARD_HOST: '127.0.0.1',
          DASHBOARD_PORT: String(port),
          DASHBOARD_PASSWORD_FILE: passwordFile,
          LOGIN_MAX_FAILURES: String(MAX_FAILURES),
          HEARTBEAT_MS: '1000',
        }),
      ];
      await Promise.all([simulator, ...rest].map(started));

      context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
        executablePath: '/usr/bin/chromium',
        headless: true,
        chromiumSandbox: false,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1_360, height: 1_000 },
      });
      page = context.pages()[0] ?? (await context.newPage());
    }),
    90_000,
  );

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    const stop = (names: readonly string[]) =>
      Promise.all(services.filter((s) => names.includes(s.name)).map((s) => s.stop(5_000)));
    await stop(['dashboard', 'strategy-engine', 'safety-arbiter']);
    await stop(['modbus-poller', 'simulator']);
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await Promise.all([nats?.stop(), redis?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it(
    'refuses a wrong password',
    reported(async () => {
      await page.goto(url);
      const refusal = await loginWith('not the password', true);

      expect(refusal).toBe(`Wrong password. ${MAX_FAILURES - 1} attempt(s) left before a lockout.`);
      expect(await page.locator('[data-testid=estop-button]').count()).toBe(0);
    }),
  );

  it(
    'logs in and shows the power flows of the simulated site, each within one update of the telemetry',
    reported(async () => {
      await loginWith(PASSWORD);
      await page.waitForSelector('[data-testid=flow-grid][data-w]:not([data-w=""])', { timeout: 20_000 });

      /** Flow → the asset and value that telemetry gives it on this site (grid meter, battery, hybrid inverter). */
      const expected: Record<
        string,
        { testId: string; assetId: string; value: (r: AssetReading) => number | undefined; attr: string }
      > = {
        grid: { testId: 'flow-grid', assetId: 'grid-1', value: (r) => r.values.powerW, attr: 'data-w' },
        battery: { testId: 'flow-battery', assetId: 'bat-1', value: (r) => r.values.powerW, attr: 'data-w' },
        soc: { testId: 'flow-soc', assetId: 'bat-1', value: (r) => r.values.socPct, attr: 'data-pct' },
        pv: { testId: 'flow-pv', assetId: 'inv-1', value: (r) => r.values.pvPowerW, attr: 'data-w' },
        load: { testId: 'flow-load', assetId: 'inv-1', value: (r) => r.values.loadPowerW, attr: 'data-w' },
      };
      await waitFor(async () => (await page.getAttribute('[data-testid=flow-load]', 'data-w')) !== '', {
        timeoutMs: 10_000,
        message: 'the load flow',
      });

      // Three snapshots, each checked flow by flow. A snapshot in which a flow's source is a reading the test's own
      // subscription never got (CI saw one, once, on a loaded runner) is set aside and the next update taken
      // instead, at most seven times: the page must still agree with the bus in three of them.
      let good = 0;
      const setAside: string[] = [];
      for (let sample = 0; good < 3; sample += 1) {
        if (setAside.length > 7) throw new Error(`the page showed readings the bus never carried: ${setAside.join('; ')}`);
        if (sample > 0) {
          const before = await page.getAttribute('[data-testid=link]', 'data-at');
          await waitFor(async () => (await page.getAttribute('[data-testid=link]', 'data-at')) !== before, {
            message: 'the next update',
          });
        }
        // One snapshot of the page, read in one go in the browser: attribute by attribute, an update could land between
        // a value and its sources.
        const query = Object.fromEntries(
          Object.entries(expected).map(([flow, e]) => [
            flow,
            { value: `[data-testid=${e.testId}]`, attr: e.attr, sources: `[data-testid=flow-${flow === 'soc' ? 'battery' : flow}]` },
          ]),
        );
        const snapshot = await page.evaluate((q: Record<string, { value: string; attr: string; sources: string }>) => {
          // Runs in the browser (this file is typed for Node: no DOM lib).
          const doc = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document;
          const attr = (selector: string, name: string): string | null => doc.querySelector(selector)?.getAttribute(name) ?? null;
          return {
            at: attr('[data-testid=link]', 'data-at'),
            flows: Object.fromEntries(Object.entries(q).map(([flow, x]) => [flow, { shown: attr(x.value, x.attr), sources: attr(x.sources, 'data-sources') }])),
          };
        }, query);
        const shownAtMs = Number(snapshot.at);
        /** Flows whose source reading the test's own subscription has not (yet) seen. */
        const unseen = (): string[] =>
          Object.entries(expected).flatMap(([flow, e]) => {
            const sources = JSON.parse(snapshot.flows[flow]?.sources ?? '[]') as FlowSource[];
            const atMs = sources.find((s) => s.assetId === e.assetId)?.atMs;
            return readings.some((r) => r.payload.assetId === e.assetId && r.payload.atMs === atMs)
              ? []
              : [`${flow}: ${e.assetId} at ${String(atMs)}`];
          });
        // The test's own subscription may get a reading a moment after the dashboard has shown it (a busy runner).
        await waitFor(() => unseen().length === 0, { timeoutMs: 3_000 }).catch(() => undefined);
        if (unseen().length > 0) {
          setAside.push(`sample ${sample}: ${unseen().join(', ')}`);
          continue;
        }
        good += 1;
        for (const [flow, e] of Object.entries(expected)) {
          const shown = Number(snapshot.flows[flow]?.shown);
          const sources = JSON.parse(snapshot.flows[flow]?.sources ?? '[]') as FlowSource[];
          const source = sources.find((s) => s.assetId === e.assetId);
          const ofAsset = readings.filter((r) => r.payload.assetId === e.assetId);
          const index = ofAsset.findIndex((r) => r.payload.atMs === source?.atMs);
          // The reading the page shows is the newest the bus carried when the snapshot was made, or the one before.
          const newestThen = ofAsset.filter((r) => r.receivedAtMs <= shownAtMs + 200).length - 1;

          expect({ flow, found: index >= 0 }).toEqual({ flow, found: true });
          expect(shown).toBe(e.value(ofAsset[index]?.payload as AssetReading));
          expect({ flow, isWithinOneUpdate: newestThen - index <= 1 }).toEqual({ flow, isWithinOneUpdate: true });
        }
      }
      const gridW = Number(await page.getAttribute('[data-testid=flow-grid]', 'data-w'));
      const shownText = await text('[data-testid=flow-grid]');
      expect(shownText).toBe(
        Math.abs(gridW) < 1_000 ? `${Math.round(Math.abs(gridW))} W` : `${(Math.abs(gridW) / 1_000).toFixed(2)} kW`,
      );
      await screenshot('dashboard-overview');
    }),
    40_000,
  );

  it(
    "shows the active strategy with its DecisionMetrics, and a strategy change from the cloud's configuration",
    reported(async () => {
      await page.waitForSelector('[data-testid=strategy-net-zero][data-active=true][data-configured=true]', {
        timeout: 15_000,
      });
      const netZero = metrics.filter((m) => m.payload.strategy === 'net-zero').at(-1)?.payload;
      expect(netZero).toBeDefined();
      expect(await text('[data-testid=strategy-reason-net-zero]')).toMatch(/^[a-z0-9-]+$/);

      // The cloud-bridge writes the new configuration into KV config and announces it.
      const next = JSON.parse(readFileSync(join(dir ?? '', 'sim-assets.json'), 'utf8')) as Record<string, unknown>;
      next['strategy'] = {
        active: ['self-consumption'],
        tickMs: 1_000,
        config: { 'self-consumption': { targetGridW: 0, deadbandW: 50 } },
      };
      const json = JSON.stringify(next);
      await kv.put('site', json);
      bridge.publish(
        subjects.configUpdated,
        {},
        {
          v: 1,
          hash: createHash('sha256').update(json).digest('hex'),
          atMs: Date.now(),
          requiresRestart: false,
          source: 'cloud',
        },
      );

      await page.waitForSelector('[data-testid=strategy-self-consumption][data-active=true][data-configured=true]', {
        timeout: 20_000,
      });
      await page.waitForSelector('[data-testid=strategy-net-zero][data-configured=false]', { timeout: 10_000 });
      expect(metrics.some((m) => m.payload.strategy === 'self-consumption')).toBe(true);
      expect(await text('[data-testid=active-strategies]')).toContain('self-consumption');
    }),
    40_000,
  );

  it(
    "sends a manual setpoint as a manual intent and shows the arbiter's decision with what clipped it",
    reported(async () => {
      await page.click('[data-testid=tab-control]');
      await page.selectOption('[data-testid=setpoint-asset]', 'bat-1');
      await page.selectOption('[data-testid=setpoint-kind]', 'battery-power');
      await page.fill('[data-testid=setpoint-value]', '8000');
      await page.fill('[data-testid=setpoint-minutes]', '1');
      await page.fill('[data-testid=setpoint-reason]', 'e2e: more than the battery can give');
      await page.click('[data-testid=setpoint-submit]');
      await page.waitForSelector('[data-testid=setpoint-result]', { timeout: 10_000 });

      const intentId = (await page.getAttribute('[data-testid=setpoint-result]', 'data-intent')) ?? '';
      const decision = await waitFor(() => decisions.find((d) => d.payload.intentId === intentId)?.payload, {
        message: `the arbiter's decision for ${intentId} on the bus`,
      });
      expect(intentId).toMatch(/^dashboard-/);
      expect(decision).toMatchObject({ assetId: 'bat-1', source: 'manual' });
      expect(await page.getAttribute('[data-testid=setpoint-result]', 'data-outcome')).toBe(decision.outcome);
      // 8 kW is beyond the battery's 5 kW: the arbiter narrows it and the page says by which rule.
      expect(decision.outcome).not.toBe('applied');
      const shown = await text('[data-testid=setpoint-result]');
      for (const v of decision.violations) expect(shown).toContain(v.code);
      await screenshot('dashboard-control');
    }),
    30_000,
  );

  it(
    'engages the e-stop from the button: it reaches the safety-arbiter, and the page shows the confirmation',
    reported(async () => {
      await page.click('[data-testid=tab-overview]');
      const pressedAtMs = Date.now();
      await page.click('[data-testid=estop-button]');
      await page.fill('[data-testid=estop-reason]', 'e2e: smoke in the battery room');
      await page.click('[data-testid=estop-confirm]');

      await page.waitForSelector('[data-testid=estop-state][data-state=engaged]', { timeout: 10_000 });
      await page.waitForSelector('[data-testid=estop-confirmed]', { timeout: 10_000 });
      // Each asset's safe decision arrives on its own; the page lists them as they come.
      await waitFor(async () => (await text('[data-testid=estop-confirmed]')).includes('bat-1'), {
        message: 'the page to list bat-1 as held at its safe setpoint',
      });
      expect(await text('[data-testid=estop-banner]')).toContain('EMERGENCY STOP ENGAGED');

      const message = estops.find((e) => e.payload.action === 'engage')?.payload;
      expect(message).toMatchObject({ by: 'dashboard@127.0.0.1', reason: 'e2e: smoke in the battery room' });
      const safe = await waitFor(
        () =>
          decisions.find(
            (d) =>
              d.receivedAtMs >= pressedAtMs &&
              d.payload.assetId === 'bat-1' &&
              d.payload.violations.some((v) => v.code === 'emergency-stop'),
          )?.payload,
        { message: "the arbiter's e-stop decision for bat-1" },
      );
      expect(safe.outcome).toBe('safe');
      expect((await pageSnapshot()).alarms[0]).toMatchObject({ code: 'estop', severity: 'critical' });
      await screenshot('dashboard-estop');

      await page.click('[data-testid=estop-button]');
      await page.fill('[data-testid=estop-reason]', 'e2e: checked, all clear');
      await page.click('[data-testid=estop-confirm]');
      await page.waitForSelector('[data-testid=estop-state][data-state=released]', { timeout: 10_000 });
      expect(estops.at(-1)?.payload).toMatchObject({ action: 'release', by: 'dashboard@127.0.0.1' });
    }),
    30_000,
  );

  it(
    'draws the 24 h chart from stream TELEMETRY, readings from before the dashboard started included',
    reported(async () => {
      await page.click('[data-testid=tab-history]');
      await page.waitForSelector('[data-testid=history-chart]', { timeout: 10_000 });
      const history = await page.evaluate(async () => (await fetch('/api/history')).json() as Promise<HistorySeries>);

      expect(history.streamProblem).toBeNull();
      expect(history.samples.stream).toBeGreaterThanOrEqual(12);
      const past = history.points.find((p) => p.atMs < Date.now() - 2 * 3_600_000);
      expect(past).toMatchObject({ gridW: PAST_GRID_W, socPct: PAST_SOC_PCT });
      expect(Number(await page.getAttribute('[data-testid=history-chart]', 'data-points'))).toBe(history.points.length);
      expect(await page.getAttribute('[data-testid=series-gridW]', 'd')).toMatch(/^M[\d.]+,[\d.]+/);
      expect(await page.locator('[data-testid=series-socPct]').count()).toBe(1);
      await screenshot('dashboard-history');
      await page.click('[data-testid=tab-devices]');
      await page.waitForSelector('[data-testid=device-bat-1][data-health=ok]');
      await screenshot('dashboard-devices');
    }),
    20_000,
  );

  it(
    'locks the login out after repeated wrong passwords, and then refuses the right one too',
    reported(async () => {
      await page.click('[data-testid=logout]');
      await page.waitForSelector('[data-testid=login-password]');
      loginAttempts = 0; // a new login form
      for (let i = 1; i < MAX_FAILURES; i += 1) {
        expect(await loginWith(`wrong ${i}`, true)).toBe(
          `Wrong password. ${MAX_FAILURES - i} attempt(s) left before a lockout.`,
        );
      }
      expect(await loginWith('wrong again', true)).toBe('Too many wrong passwords: locked out. Try again in 15 min.');

      expect(await loginWith(PASSWORD, true)).toMatch(
        /^Too many wrong passwords: locked out\. Try again in 1[45] min\.$/,
      );
      expect(await page.locator('[data-testid=estop-button]').count()).toBe(0);
      const status = await page.evaluate(async (password) => {
        const response = await fetch('/api/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ password }),
        });
        return response.status;
      }, PASSWORD);
      expect(status).toBe(429);
      await screenshot('dashboard-locked-out');
    }),
    30_000,
  );

  it(
    'kept every process running',
    reported(async () => {
      expect(services.map((s) => `${s.name}: ${s.exit() ?? 'running'}`)).toEqual([
        'simulator: running',
        'modbus-poller: running',
        'safety-arbiter: running',
        'strategy-engine: running',
        'dashboard: running',
      ]);
      // One wrong password at the start, MAX_FAILURES at the end; then two attempts refused while locked out.
      await waitFor(
        () => {
          const counters = latestHeartbeat('dashboard')?.counters;
          return counters?.['loginsFailed'] === MAX_FAILURES + 1 && counters['loginsThrottled'] === 2;
        },
        { message: 'the dashboard heartbeat to count the refused logins' },
      );
      expect(latestHeartbeat('dashboard')?.counters).toMatchObject({
        loginsOk: 1,
        estopsSent: 2,
        intentsSent: 1,
        loginsThrottled: 2,
      });
    }),
  );
});
