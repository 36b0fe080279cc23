/**
 * `voltimax estop` and `voltimax arbiter why` against a real nats-server from docker/nats/nats.conf, as user cli, with
 * the real safety-arbiter running as a child process (services never import each other) and a fake driver.
 * The stock nats.conf grants the cli user exactly one read-only JetStream permission, `$JS.API.STREAM.MSG.GET.AUDIT`,
 * so `arbiter why` reads stream AUDIT; on a server without that grant it falls back to listening live.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createBus, ensureStream, type Bus } from '@voltimax/bus';
import { subjects, type ArbiterDecision, type SiteConfigInput, type WriteResult } from '@voltimax/contracts';
import {
  connectNatsAs,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  type NatsTestServer,
  type NatsUser,
  provisionTestStreams,
  startNats,
  waitFor,
} from '@voltimax/testing';
import { pino } from 'pino';
import { runCli } from '../program';
import { AUDIT_READ_PERMISSION, findInForceDecision } from './arbiter-why';

const ROOT = join(__dirname, '../../../..');
const SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-cli-test',
  siteName: 'CLI test site',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 20_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'bat-1',
      name: 'Battery',
      kind: 'battery',
      profile: 'acme.battery',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000, minSocPct: 10, maxSocPct: 95 },
    },
    {
      id: 'grid-1',
      name: 'Grid',
      kind: 'grid-meter',
      profile: 'acme.meter',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
    },
    {
      id: 'ev-1',
      name: 'Wallbox',
      kind: 'ev-charger',
      profile: 'acme.wallbox',
      connection: { protocol: 'simulated' },
      pollIntervalMs: 1_000,
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    },
  ],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};

jest.setTimeout(30_000);
const quiet = pino({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
let dir: string;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: (p: string) => readFile(p, 'utf8'),
    },
  };
}

async function connectAs(server: NatsTestServer, user: NatsUser): Promise<NatsConnection> {
  const nc = await connectNatsAs(server.url, user, { name: `cli-test-${user}` });
  cleanups.push(() => nc.close());
  return nc;
}

/** Runs the CLI in-process as the given NATS user. */
async function voltimax(server: NatsTestServer, user: NatsUser, ...argv: string[]) {
  const saved = {
    NATS_URL: process.env['NATS_URL'],
    NATS_USER: process.env['NATS_USER'],
    NATS_PASS: process.env['NATS_PASS'],
  };
  Object.assign(process.env, { NATS_URL: server.url, NATS_USER: user, NATS_PASS: NATS_DEV_PASSWORDS[user] });
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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-arbiter-'));
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('with the safety-arbiter running (nats.conf without the cli AUDIT read grant)', () => {
  let server: NatsTestServer;
  let arbiter: ChildProcess;
  let arbiterOut = '';
  let driver: Bus;

  beforeAll(async () => {
    const stock = await readFile(NATS_CONFIG_PATH, 'utf8');
    expect(stock).toContain(`"${AUDIT_READ_PERMISSION}",`);
    const withoutGrant = join(dir, 'nats-no-audit-read.conf');
    await writeFile(withoutGrant, stock.replace(`"${AUDIT_READ_PERMISSION}",`, ''));
    server = await startNats({ config: withoutGrant });
    cleanups.push(() => server.stop());
    // As `voltimax bus init` before the services start: stream ESTOP is what `estop release` reads.
    await provisionTestStreams(server.url);
    const siteFile = join(dir, 'assets.json');
    await writeFile(siteFile, JSON.stringify(SITE));

    // A fake modbus-poller: owns the assets, answers every write, publishes fresh telemetry.
    driver = createBus(await connectAs(server, 'modbus-poller'), quiet);
    driver.reply(
      subjects.deviceWrite,
      (w): WriteResult => ({ v: 1, commandId: w.commandId, assetId: w.assetId, status: 'applied', atMs: Date.now() }),
    );
    const tick = () => {
      const atMs = Date.now();
      driver.publish(
        subjects.health,
        { service: 'modbus-poller' },
        {
          v: 1,
          service: 'modbus-poller',
          instanceId: 'fake',
          status: 'ok',
          atMs,
          startedAtMs: atMs,
          version: '0',
          intervalMs: 250,
          assets: ['bat-1', 'grid-1', 'ev-1'],
        },
      );
      const base = { v: 1 as const, atMs, sequence: 1, quality: 'good' as const };
      driver.publish(
        subjects.telemetry,
        { assetId: 'bat-1' },
        { ...base, assetId: 'bat-1', kind: 'battery', values: { powerW: 0, socPct: 60 } },
      );
      driver.publish(
        subjects.telemetry,
        { assetId: 'grid-1' },
        { ...base, assetId: 'grid-1', kind: 'grid-meter', values: { powerW: 500 } },
      );
      driver.publish(
        subjects.telemetry,
        { assetId: 'ev-1' },
        { ...base, assetId: 'ev-1', kind: 'ev-charger', values: { powerW: 0 } },
      );
    };
    tick();
    const timer = setInterval(tick, 250);
    cleanups.push(async () => clearInterval(timer));

    arbiter = spawn(
      process.execPath,
      [join(ROOT, 'tools/run-ts.js'), join(ROOT, 'services/safety-arbiter/src/main.ts')],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NATS_URL: server.url,
          NATS_USER: 'safety-arbiter',
          NATS_PASS: NATS_DEV_PASSWORDS['safety-arbiter'],
          SITE_FILE: siteFile,
          HEALTH_PORT: 'off',
          HEARTBEAT_MS: '200',
          TICK_MS: '250',
          LOG_LEVEL: 'info',
          OTEL_SDK_DISABLED: 'true',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    arbiter.stdout?.on('data', (chunk: Buffer) => (arbiterOut += chunk.toString()));
    arbiter.stderr?.on('data', (chunk: Buffer) => (arbiterOut += chunk.toString()));
    cleanups.push(async () => {
      if (arbiter.exitCode === null) {
        arbiter.kill('SIGTERM');
        await once(arbiter, 'exit');
      }
    });
    await waitFor(() => arbiterOut.includes('"msg":"started"'), {
      timeoutMs: 20_000,
      message: `the arbiter to start: ${arbiterOut.slice(-500)}`,
    });
  }, 30_000);

  it('estop engage publishes as cli and lists the safe setpoints the arbiter wrote', async () => {
    const result = await voltimax(server, 'cli', 'estop', 'engage', '--reason', 'fire drill', '--by', 'operator:test');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^e-stop ENGAGED by operator:test: fire drill \(published on safety\.estop to nats:\/\/127\.0\.0\.1:\d+ as cli\)\n/,
    );
    expect(result.stdout).toMatch(/^ {2}bat-1 {2}safe {2}safe \(device default\) {2}\(emergency-stop\) {2}cmd-/m);
    expect(result.stdout).toMatch(/^ {2}ev-1 {2}safe {2}safe \(device default\) {2}\(emergency-stop\) {2}cmd-/m);
  });

  it('estop release resumes arbitration', async () => {
    const result = await voltimax(
      server,
      'cli',
      'estop',
      'release',
      '--reason',
      'drill over',
      '--by',
      'operator:test',
      '--json',
    );
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { published: { action: string }; confirmed: ArbiterDecision[] };
    expect(report.published.action).toBe('release');
    expect(report.confirmed.length).toBeGreaterThan(0);
    expect(report.confirmed.every((d) => !d.violations.some((v) => v.code === 'emergency-stop'))).toBe(true);
    expect(report).toMatchObject({ wasEngaged: true, lastRecord: { action: 'engage', reason: 'fire drill' } });
  });

  it('estop release when nothing is engaged says so (from stream ESTOP) and does not claim a release', async () => {
    const result = await voltimax(server, 'cli', 'estop', 'release', '--reason', 'again', '--by', 'operator:two');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^e-stop was not engaged \(last released by operator:test at \d{4}-\d\d-\d\dT[\d:.]+Z: drill over\): nothing to release; the release by operator:two was recorded anyway \(published on safety\.estop to nats:\/\/127\.0\.0\.1:\d+ as cli\)\n$/,
    );
    expect(result.stdout).not.toMatch(/resumed/);
    await waitFor(() => arbiterOut.includes('emergency stop release ignored: not engaged'), {
      timeoutMs: 5_000,
      message: 'the arbiter to ignore the release',
    });
  });

  it('a user who may not publish safety.estop gets exit 4', async () => {
    const result = await voltimax(
      server,
      'telemetry-publisher',
      'estop',
      'engage',
      '--reason',
      'not allowed',
      '--wait-ms',
      '2000',
    );
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/the NATS server refused to let telemetry-publisher publish safety\.estop/);
  });

  it('arbiter why falls back to live decisions when the cli user may not read AUDIT, and says which permission is missing', async () => {
    const running = voltimax(server, 'cli', 'arbiter', 'why', 'bat-1', '--last', '1', '--wait-ms', '5000');
    const cli = createBus(await connectAs(server, 'cli'), quiet);
    // The command subscribes right after it failed to read AUDIT; keep sending until it has printed a decision.
    let sent = 0;
    const sender = setInterval(() => {
      sent += 1;
      void cli
        .request(
          subjects.intent,
          { source: 'manual', assetId: 'bat-1' },
          {
            v: 1,
            id: `why-${sent}`,
            source: 'manual',
            assetId: 'bat-1',
            setpoint: { kind: 'battery-power', powerW: 8_000 },
            issuedAtMs: Date.now(),
            ttlMs: 60_000,
            reason: 'why test',
          },
          { timeoutMs: 1_000 },
        )
        .catch(() => undefined);
    }, 200);
    const result = await running.finally(() => clearInterval(sender));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `NATS user cli may not read stream AUDIT (it needs publish permission on ${AUDIT_READ_PERMISSION}); listening live on arbiter.decision.bat-1`,
    );
    expect(result.stdout).toMatch(/ {2}bat-1 {2}clamped {2}manual intent why-\d+/);
    expect(result.stdout).toContain('  battery +8000 W (discharge) → battery +5000 W (discharge)\n');
    expect(result.stdout).toContain(
      '  clipped by max-discharge-power: limit 5000 W, value 8000 W — configured limit\n',
    );
  });

  it('estop without an arbiter answering: published, exit 3', async () => {
    arbiter.kill('SIGTERM');
    const [code] = (await once(arbiter, 'exit')) as [number | null];
    expect(code).toBe(0);
    const result = await voltimax(server, 'cli', 'estop', 'engage', '--reason', 'nobody home', '--wait-ms', '500');
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/published, but no decision from the safety-arbiter within 500 ms/);
  });
});

describe('arbiter why reading stream AUDIT (stock nats.conf: cli granted exactly $JS.API.STREAM.MSG.GET.AUDIT)', () => {
  let server: NatsTestServer;
  const published: ArbiterDecision[] = [];

  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH });
    cleanups.push(() => server.stop());

    // The running configuration (KV config, written by the cloud-bridge): bat-1, grid-1 and ev-1, not pv-1.
    await provisionTestStreams(server.url);
    const bridge = await connectAs(server, 'cloud-bridge');
    await (await new Kvm(bridge).open('config')).put('site', JSON.stringify(SITE));

    // The arbiter's user owns AUDIT; fill it with decisions for several assets, interleaved.
    const nc = await connectAs(server, 'safety-arbiter');
    await ensureStream(await jetstreamManager(nc), {
      name: 'AUDIT',
      subjects: ['arbiter.decision.*'],
      maxAgeMs: 72 * 3_600_000,
    });
    const bus = createBus(nc, quiet);
    for (let i = 0; i < 40; i += 1) {
      const assetId = i % 5 === 0 ? 'bat-1' : i % 2 === 0 ? 'ev-1' : 'pv-1';
      const decision: ArbiterDecision = {
        v: 1,
        assetId,
        intentId: `int-${i}`,
        source: 'optimization',
        outcome: 'clamped',
        requested: { kind: 'battery-power', powerW: 6_000 + i },
        applied: { kind: 'battery-power', powerW: 5_000 },
        violations: [{ code: 'max-discharge-power', limit: 5_000, value: 6_000 + i, unit: 'W' }],
        commandId: `cmd-${i}`,
        atMs: 1_767_225_600_000 + i * 1_000,
      };
      bus.publish(subjects.arbiterDecision, { assetId }, decision);
      published.push(decision);
    }
    // ev-1 then: a manual intent in force, and after it the strategy's intents, each superseded by it, and last a
    // manual one refused at the door (future-dated: no `applied`, what held before still holds).
    for (let i = 40; i < 45; i += 1) {
      const refused = i === 44;
      const decision: ArbiterDecision = {
        v: 1,
        assetId: 'ev-1',
        intentId: `int-${i}`,
        source: i === 40 || refused ? 'manual' : 'optimization',
        outcome: i === 40 ? 'applied' : refused ? 'rejected' : 'superseded',
        requested: { kind: 'ev-current', currentA: i === 40 ? 16 : 6 },
        ...(refused ? {} : { applied: { kind: 'ev-current', currentA: 16 } }),
        violations: refused ? [{ code: 'future-dated', detail: 'issued 1 h ahead' }] : [],
        ...(i === 40 ? { commandId: `cmd-${i}` } : {}),
        atMs: 1_767_225_600_000 + i * 1_000,
      };
      bus.publish(subjects.arbiterDecision, { assetId: 'ev-1' }, decision);
      published.push(decision);
    }
    await nc.flush();
    await waitFor(async () => (await (await jetstreamManager(nc)).streams.info('AUDIT')).state.messages === 45);
  }, 30_000);

  it('prints the last N decisions of the asset, oldest first, requested → applied with the clipping rule', async () => {
    const result = await voltimax(server, 'cli', 'arbiter', 'why', 'bat-1', '--last', '3');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      ['int-25', 'int-30', 'int-35']
        .map((id) => {
          const i = Number(id.slice(4));
          return [
            `${new Date(1_767_225_600_000 + i * 1_000).toISOString()}  bat-1  clamped  optimization intent ${id}  cmd-${i}`,
            `  battery +${6_000 + i} W (discharge) → battery +5000 W (discharge)`,
            `  clipped by max-discharge-power: limit 5000 W, value ${6_000 + i} W`,
            '',
          ].join('\n');
        })
        .join(''),
    );
  });

  it('returns all of them when there are fewer than N, as JSON', async () => {
    const result = await voltimax(server, 'cli', 'arbiter', 'why', 'pv-1', '--last', '100', '--json');
    const report = JSON.parse(result.stdout) as { from: string; decisions: ArbiterDecision[] };
    expect(report.from).toBe('audit');
    expect(report.decisions).toEqual(published.filter((d) => d.assetId === 'pv-1'));
  });

  it('when every decision shown is superseded or refused, shows the one in force first', async () => {
    const result = await voltimax(server, 'cli', 'arbiter', 'why', 'ev-1', '--last', '2');
    expect(result.code).toBe(0);
    const heads = result.stdout.split('\n').filter((line) => /^\d{4}-/.test(line));
    expect(heads.map((line) => line.split('  ').slice(2, 4).join('  '))).toEqual([
      'applied  manual intent int-40',
      'superseded  optimization intent int-43',
      'rejected  manual intent int-44',
    ]);
    expect(result.stdout).toContain('  (in force; later intents superseded by it or refused, the newest 2 below)\n');
  });

  it('finds the decision in force behind superseded ones; with its earlier answer it reads only what came since', async () => {
    const arbiter = createBus(await connectAs(server, 'safety-arbiter'), quiet);
    const cli = await connectAs(server, 'cli');
    const jsm = await jetstreamManager(cli);
    let i = 100;
    const publish = async (outcome: 'applied' | 'superseded', count: number) => {
      for (let n = 0; n < count; n += 1, i += 1) {
        arbiter.publish(
          subjects.arbiterDecision,
          { assetId: 'ev-2' },
          {
            v: 1,
            assetId: 'ev-2',
            intentId: `int-${i}`,
            source: outcome === 'applied' ? 'manual' : 'optimization',
            outcome,
            requested: { kind: 'ev-current', currentA: outcome === 'applied' ? 10 : 6 },
            applied: { kind: 'ev-current', currentA: 10 },
            violations: [],
            atMs: 1_767_225_600_000 + i * 1_000,
          },
        );
        // Another asset's decisions in between, as in a real stream.
        arbiter.publish(
          subjects.arbiterDecision,
          { assetId: 'bat-2' },
          { ...(published[0] as ArbiterDecision), assetId: 'bat-2', intentId: `b-${i}` },
        );
      }
      const lastId = `b-${i - 1}`;
      await waitFor(async () => {
        const last = await jsm.streams.getMessage('AUDIT', { last_by_subj: 'arbiter.decision.bat-2' });
        return (last?.json<ArbiterDecision>().intentId ?? '') === lastId;
      });
    };
    // The requests one lookup sends (each "get message" is one).
    const requests = async (lookup: () => Promise<unknown>) => {
      const before = cli.stats().outMsgs;
      const result = await lookup();
      return { result, sent: cli.stats().outMsgs - before };
    };

    await publish('applied', 1);
    await publish('superseded', 30);
    const full = await requests(() => findInForceDecision(cli, 'ev-2', { within: 50 }));
    const first = full.result as Awaited<ReturnType<typeof findInForceDecision>>;
    expect(first?.decision.intentId).toBe('int-100');
    expect(first?.checkedSeq).toBeGreaterThan(first?.seq ?? Infinity);
    // A walk shorter than the run of superseded decisions finds nothing on its own.
    expect(await findInForceDecision(cli, 'ev-2', { within: 10 })).toBeUndefined();

    // Nothing new: the earlier answer stands, after reading only the newest decision (and the JetStream manager's
    // API check) instead of a walk over all 30.
    const again = await requests(() =>
      findInForceDecision(cli, 'ev-2', { within: 10, ...(first ? { known: first } : {}) }),
    );
    expect(again.result).toEqual(first);
    expect(again.sent).toBeLessThanOrEqual(2);
    expect(full.sent).toBeGreaterThan(30);

    // More superseded ones: only they are read, and the answer stands although the run is now longer than `within`.
    await publish('superseded', 5);
    const later = await requests(() =>
      findInForceDecision(cli, 'ev-2', { within: 10, ...(first ? { known: first } : {}) }),
    );
    const laterHit = later.result as Awaited<ReturnType<typeof findInForceDecision>>;
    expect(laterHit?.decision.intentId).toBe('int-100');
    expect(laterHit?.checkedSeq).toBeGreaterThan(first?.checkedSeq ?? Infinity);
    expect(later.sent).toBeLessThan(full.sent / 2);

    // A newer decision in force replaces the earlier answer.
    await publish('applied', 1);
    await publish('superseded', 2);
    const newer = await findInForceDecision(cli, 'ev-2', { within: 10, ...(laterHit ? { known: laterHit } : {}) });
    expect(newer?.decision.intentId).toBe('int-136');
  });

  it('says so when an asset of the site has no decisions', async () => {
    const result = await voltimax(server, 'cli', 'arbiter', 'why', 'grid-1');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('no decisions for grid-1 in stream AUDIT\n');
  });

  it('exits 1 naming the site’s assets when the asset is not one of them (pv-1, removed, still shows its decisions)', async () => {
    const result = await voltimax(server, 'cli', 'arbiter', 'why', 'nothing-here');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "voltimax arbiter why: 'nothing-here' is not an asset of the running configuration (KV config/site); its assets: bat-1, grid-1, ev-1\n",
    );
  });
});
