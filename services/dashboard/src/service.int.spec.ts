// The dashboard service in-process (service-kit's runService) against a real nats-server from docker/nats/nats.conf,
// as the `dashboard` user: the UI build when it is missing, the password file, manual intents with and without an
// arbiter, and the site configuration from KV `config`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createBus, type Bus } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { subjects, type ArbiterDecision, type ControlIntent, type Heartbeat } from '@voltimax/contracts';
import { hashPassword, runService, type ServiceRuntime } from '@voltimax/service-kit';
import {
  connectNatsAs,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  type NatsTestServer,
  type NatsUser,
  startNats,
  waitFor,
} from '@voltimax/testing';
import { dashboardService } from './service';
import { testSite } from './testing/fixtures';
import type { DashboardSnapshot } from './view';

let server: NatsTestServer;
let dir: string;
let runtime: ServiceRuntime | undefined;
let url = '';
let passwordFile: string;
const lines: Record<string, unknown>[] = [];
const heartbeats: Heartbeat[] = [];
const connections: NatsConnection[] = [];
let cookie = '';
let csrf = '';

async function as(user: NatsUser): Promise<NatsConnection> {
  const nc = await connectNatsAs(server.url, user);
  connections.push(nc);
  return nc;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url, cookie, 'x-csrf-token': csrf, ...headers },
    body: JSON.stringify(body),
  });
}

async function state(): Promise<DashboardSnapshot> {
  return (await (await fetch(`${url}/api/state`, { headers: { cookie } })).json()) as DashboardSnapshot;
}

const latest = () => heartbeats.at(-1);

beforeAll(async () => {
  // Not provisioned: the last test needs TELEMETRY missing; KV config is made by the provisioner where it is needed.
  server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
  dir = mkdtempSync(join(tmpdir(), 'voltimax-dashboard-int-'));
  passwordFile = join(dir, 'dashboard-password');
  const observer = createBus(await as('cli'), captureLogger('warn').log);
  observer.subscribe(subjects.health, (h) => {
    if (h.service === 'dashboard') heartbeats.push(h);
  });
  await connections[0]?.flush();

  runtime = await runService(dashboardService(), {
    env: {
      NATS_URL: server.url,
      NATS_USER: 'dashboard',
      NATS_PASS: NATS_DEV_PASSWORDS.dashboard,
      HEALTH_PORT: 'off',
      HEARTBEAT_MS: '200',
      DASHBOARD_PORT: '0',
      DASHBOARD_PASSWORD_FILE: passwordFile,
      // An empty folder: the service builds the UI into it at start.
      DASHBOARD_UI_DIR: join(dir, 'ui'),
      INTENT_TIMEOUT_MS: '1000',
    },
    logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    exit: () => undefined,
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
  });
  const listening = lines.find((l) => l['msg'] === 'dashboard listening');
  url = String(listening?.['url']);
}, 120_000);

afterAll(async () => {
  await runtime?.shutdown('test done');
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard service', () => {
  it('builds the UI when it is missing at start, and serves it', async () => {
    expect(lines.find((l) => l['msg'] === 'UI built')).toMatchObject({ dir: join(dir, 'ui') });
    const page = await fetch(`${url}/`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('<div id="app"></div>');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${url}${script ?? ''}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(html).not.toMatch(/<script>(?!<\/script>)|https?:\/\/(?!www\.w3\.org)/); // no inline script, no CDN
  });

  it('without a password file: degraded, naming the command, and refuses logins; a new file works without restart', async () => {
    await waitFor(() => latest()?.status === 'degraded', { message: 'a degraded heartbeat' });
    expect(latest()?.detail).toBe(`no usable password in ${passwordFile}: run 'voltimax dashboard set-password'`);
    const refused = await post('/api/login', { password: 'whatever it is' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ error: 'no-password' });

    writeFileSync(passwordFile, `${await hashPassword('the new password', { logN: 12, r: 8, p: 1 })}\n`, {
      mode: 0o600,
    });
    const ok = await post('/api/login', { password: 'the new password' });
    expect(ok.status).toBe(200);
    cookie = (ok.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    csrf = ((await ok.json()) as { csrfToken: string }).csrfToken;
    await waitFor(() => latest()?.status === 'ok', { message: 'the heartbeat to recover', timeoutMs: 15_000 });
  });

  it('answers a manual intent with the reason when no safety-arbiter listens, and lists the failed action', async () => {
    const reply = await post('/api/intent', {
      assetId: 'bat-1',
      setpoint: { kind: 'battery-power', powerW: 1_000 },
      ttlMs: 60_000,
      reason: 'test',
    });
    expect(reply.status).toBe(502);
    expect(await reply.json()).toMatchObject({
      error: 'no-decision',
      detail: 'no safety-arbiter is listening: the intent was not taken',
    });
    expect((await state()).actions[0]).toMatchObject({
      kind: 'intent',
      status: 'failed',
      summary: 'bat-1: discharge 1000 W for 60 s (test)',
    });
  });

  it('sends a manual intent on control.intent.manual.<asset> as a request and returns the arbiter decision', async () => {
    const arbiter: Bus = createBus(await as('safety-arbiter'), captureLogger('warn').log);
    const received: { intent: ControlIntent; subject: string }[] = [];
    arbiter.reply(subjects.intent, (intent, ctx): ArbiterDecision => {
      received.push({ intent, subject: ctx.subject });
      return {
        v: 1,
        assetId: intent.assetId,
        intentId: intent.id,
        source: intent.source,
        outcome: 'clamped',
        requested: intent.setpoint,
        applied: { kind: 'battery-power', powerW: 5_000 },
        violations: [{ code: 'max-discharge-power', limit: 5_000, value: 8_000, unit: 'W' }],
        atMs: Date.now(),
      };
    });
    await connections.at(-1)?.flush();

    const reply = await post('/api/intent', {
      assetId: 'bat-1',
      setpoint: { kind: 'battery-power', powerW: 8_000 },
      ttlMs: 60_000,
      reason: 'peak',
    });
    expect(reply.status).toBe(200);
    const body = (await reply.json()) as { intent: ControlIntent; decision: ArbiterDecision };
    expect(body.decision).toMatchObject({ outcome: 'clamped', intentId: body.intent.id });
    expect(received).toEqual([
      {
        subject: 'control.intent.manual.bat-1',
        intent: expect.objectContaining({
          source: 'manual',
          issuedBy: 'dashboard@127.0.0.1',
          reason: 'dashboard: peak',
          ttlMs: 60_000,
        }),
      },
    ]);
    expect((await state()).actions[0]).toMatchObject({ status: 'decided', decision: { outcome: 'clamped' } });
  });

  it('takes the site configuration from KV config on config.updated, and keeps it when the next one is invalid', async () => {
    await new Kvm(await as('provisioner')).create('config');
    const bridgeNc = await as('cloud-bridge');
    const kv: KV = await new Kvm(bridgeNc).open('config');
    const bridge = createBus(bridgeNc, captureLogger('warn').log);
    const announce = () =>
      bridge.publish(
        subjects.configUpdated,
        {},
        { v: 1, hash: 'a'.repeat(64), atMs: Date.now(), requiresRestart: false, source: 'cloud' },
      );

    await kv.put('site', JSON.stringify(testSite({ strategy: { active: ['net-zero'], tickMs: 1_000, config: {} } })));
    announce();
    await waitFor(async () => (await state()).site?.source === 'kv', { message: 'the KV configuration' });
    expect((await state()).configuredStrategies).toEqual(['net-zero']);

    await kv.put('site', JSON.stringify({ v: 1, gatewayId: 'broken' }));
    announce();
    await waitFor(() => latest()?.counters?.['configRejected'] === 1, { message: 'the refusal to be counted' });
    expect((await state()).configuredStrategies).toEqual(['net-zero']);
    expect(
      lines.find((l) => l['msg'] === 'KV config holds an invalid site configuration; keeping the current one'),
    ).toBeDefined();
  });

  it('says in the history why stream TELEMETRY could not be read, and keeps what arrives live', async () => {
    const poller = await as('modbus-poller');
    poller.publish(
      'telemetry.grid-1',
      JSON.stringify({
        v: 1,
        assetId: 'grid-1',
        kind: 'grid-meter',
        atMs: Date.now(),
        sequence: 1,
        quality: 'good',
        values: { powerW: 640 },
      }),
    );
    await poller.flush();
    await waitFor(async () => (await state()).flow.gridW === 640, { message: 'the live reading' });

    const history = (await (await fetch(`${url}/api/history`, { headers: { cookie } })).json()) as {
      streamProblem: string | null;
      points: { gridW: number | null }[];
      samples: { live: number };
    };
    expect(history.streamProblem).toMatch(/stream not found/i);
    expect(history.samples.live).toBe(1);
    expect(history.points.map((p) => p.gridW)).toEqual([640]);
    expect(readFileSync(passwordFile, 'utf8')).toMatch(/^\$scrypt\$/);
  });
});
