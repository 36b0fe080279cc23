import { TransportError, type CloudCommandClient } from '@voltimax/cloud';
import type { CloudReplyEnvelope, CloudSettings } from '@voltimax/contracts';
import { runCli } from '../program';
import { cloudCommand, parseDurationMs, resolveTarget, type CloudCliDeps } from './cloud';

function capture(files: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: (p: string) =>
        p in files
          ? Promise.resolve(files[p] ?? '')
          : Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })),
    },
  };
}

const SITE = {
  v: 1,
  gatewayId: 'gw-site',
  siteName: 'Site',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 10_000, maxExportW: 5_000 },
  assets: [],
  strategy: { active: ['null'] },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
  cloud: { transport: 'mqtt', brokerUrl: 'mqtt://broker.example:1883', topicPrefix: 'acme' },
};

/** A cloud client fake at the port: records what it was asked and answers as told. */
function fakeClient(answer: (req: Parameters<CloudCommandClient['send']>[0]) => Promise<CloudReplyEnvelope>) {
  const sent: Parameters<CloudCommandClient['send']>[0][] = [];
  const settings: CloudSettings[] = [];
  let closed = 0;
  const deps: CloudCliDeps = {
    env: {},
    now: () => 1_000,
    createClient: (s) => {
      settings.push(s);
      return {
        send: (req) => {
          sent.push(req);
          return answer(req);
        },
        close: async () => {
          closed += 1;
        },
      };
    },
  };
  return { deps, sent, settings, closed: () => closed };
}

const reply = (patch: Partial<CloudReplyEnvelope>): CloudReplyEnvelope => ({
  messageType: 'PingGateway',
  correlationId: 'c-1',
  gatewayId: 'gw-1',
  sentAtMs: 1_050,
  ok: true,
  ...patch,
});

describe('voltimax cloud', () => {
  it.each([
    ['900000', 900_000],
    ['90s', 90_000],
    ['15m', 900_000],
    ['1.5h', 5_400_000],
    ['0', undefined],
    ['soon', undefined],
    ['-5m', undefined],
  ])('duration %s → %s ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it('takes the transport and gateway id from the site’s cloud block', async () => {
    const c = capture({ 'assets.json': JSON.stringify(SITE) });
    expect(await resolveTarget(c.io, { site: 'assets.json' }, {})).toEqual({
      gatewayId: 'gw-site',
      settings: expect.objectContaining({
        transport: 'mqtt',
        brokerUrl: 'mqtt://broker.example:1883',
        topicPrefix: 'acme',
      }),
    });
  });

  it('flags win over the site, and --broker-url implies mqtt', async () => {
    const c = capture();
    const target = await resolveTarget(c.io, { brokerUrl: 'mqtt://127.0.0.1:1883', gateway: 'gw-9' }, {});
    expect(target).toEqual({
      gatewayId: 'gw-9',
      settings: expect.objectContaining({
        transport: 'mqtt',
        brokerUrl: 'mqtt://127.0.0.1:1883',
        topicPrefix: 'voltimax',
      }),
    });
  });

  it.each([
    [{}, /no transport: give --site/],
    [{ brokerUrl: 'http://x' }, /brokerUrl must start with mqtt/],
    [{ brokerUrl: 'mqtt://x' }, /which gateway\? give --gateway/],
    [{ brokerUrl: 'mqtt://x', gateway: 'GW.1' }, /'GW\.1' is not a gateway id/],
    [{ site: 'none.json' }, /cannot read none\.json: ENOENT/],
  ])('refuses %j with exit 2', async (opts, message) => {
    const c = capture();
    await expect(resolveTarget(c.io, opts, {})).rejects.toMatchObject({ exitCode: 2 });
    expect(c.err.join('')).toMatch(message);
  });

  it('a site without a cloud transport cannot be reached', async () => {
    const c = capture({ 's.json': JSON.stringify({ ...SITE, cloud: { transport: 'none' } }) });
    await expect(resolveTarget(c.io, { site: 's.json' }, {})).rejects.toMatchObject({ exitCode: 2 });
    expect(c.err.join('')).toMatch(/cloud transport is 'none'/);
  });

  it('prints the ping reply with the round trip and every service', async () => {
    const fake = fakeClient(async () =>
      reply({
        payload: {
          gatewayId: 'gw-1',
          version: '0.1.0',
          uptimeMs: 61_000,
          receivedAtMs: 1_020,
          requestSentAtMs: 1_000,
          services: [{ service: 'safety-arbiter', status: 'ok', lastSeenAtMs: 0, instances: 1 }],
        },
      }),
    );
    const c = capture();
    await cloudCommand(c.io, 'PingGateway', { sentAtMs: 1_000 }, { brokerUrl: 'mqtt://b', gateway: 'gw-1' }, fake.deps);

    const text = c.out.join('');
    expect(text).toMatch(/^PingGateway → gw-1: ok \(round trip \d+\.\d ms\)\n/);
    expect(text).toContain('version 0.1.0, up 61 s; received 20 ms after sending');
    expect(text).toMatch(/safety-arbiter\s+ok\s+1 instance /);
    expect(fake.sent[0]).toMatchObject({ gatewayId: 'gw-1', messageType: 'PingGateway', timeoutMs: 10_000 });
    expect(fake.closed()).toBe(1);
  });

  it('exits 1 when the gateway answers with an error, printing it', async () => {
    const fake = fakeClient(async () =>
      reply({
        messageType: 'SetBatterySetpoint',
        ok: false,
        error: 'no decision within 5000 ms',
        payload: { accepted: false, outcome: 'timeout', violations: [] },
      }),
    );
    const c = capture();
    await expect(
      cloudCommand(
        c.io,
        'SetBatterySetpoint',
        { assetId: 'bat-1', powerW: 1000, durationMs: 60_000, reason: 'x', operator: 'y' },
        { brokerUrl: 'mqtt://b', gateway: 'gw-1' },
        fake.deps,
      ),
    ).rejects.toMatchObject({ exitCode: 1 });
    expect(c.out.join('')).toContain('SetBatterySetpoint → gw-1: FAILED');
    expect(c.out.join('')).toContain('not accepted: timeout');
  });

  it('exits 3 without a reply, naming why', async () => {
    const fake = fakeClient(() =>
      Promise.reject(new TransportError('no reply from gateway gw-1 within 500 ms', 'timeout', true)),
    );
    const c = capture();
    await expect(
      cloudCommand(
        c.io,
        'RefreshConfiguration',
        { reason: 'x' },
        { brokerUrl: 'mqtt://b', gateway: 'gw-1', timeoutMs: '500' },
        fake.deps,
      ),
    ).rejects.toMatchObject({
      exitCode: 3,
    });
    expect(c.err.join('')).toBe(
      'voltimax cloud: RefreshConfiguration to gw-1: no reply from gateway gw-1 within 500 ms\n',
    );
  });

  it('--json prints the reply envelope and the round trip', async () => {
    const fake = fakeClient(async () =>
      reply({ messageType: 'RefreshConfiguration', payload: { changed: false, hash: 'a'.repeat(64) } }),
    );
    const c = capture();
    await cloudCommand(
      c.io,
      'RefreshConfiguration',
      { reason: 'x' },
      { brokerUrl: 'mqtt://b', gateway: 'gw-1', json: true },
      fake.deps,
    );
    const printed = JSON.parse(c.out.join('')) as { roundTripMs: number; reply: CloudReplyEnvelope };
    expect(printed.reply.payload).toEqual({ changed: false, hash: 'a'.repeat(64) });
    expect(printed.roundTripMs).toBeGreaterThanOrEqual(0);
  });

  it.each([
    [
      [
        'cloud',
        'setpoint',
        '--gateway',
        'gw-1',
        '--broker-url',
        'mqtt://127.0.0.1:1',
        '--asset',
        'bat-1',
        '--power',
        'lots',
        '--reason',
        'x',
      ],
      /--power must be a number/,
    ],
    [
      [
        'cloud',
        'setpoint',
        '--gateway',
        'gw-1',
        '--broker-url',
        'mqtt://127.0.0.1:1',
        '--asset',
        'bat-1',
        '--power',
        '100',
        '--reason',
        'x',
        '--duration',
        'forever',
      ],
      /--duration must be like/,
    ],
    [
      [
        'cloud',
        'setpoint',
        '--gateway',
        'gw-1',
        '--broker-url',
        'mqtt://127.0.0.1:1',
        '--asset',
        'Bat.1',
        '--power',
        '100',
        '--reason',
        'x',
      ],
      /invalid SetBatterySetpoint: assetId/,
    ],
    [
      ['cloud', 'ping', '--gateway', 'gw-1', '--broker-url', 'mqtt://127.0.0.1:1', '--timeout-ms', '5'],
      /--timeout-ms must be an integer between 100/,
    ],
  ])('refuses bad options before connecting: %j', async (argv, message) => {
    const c = capture();
    expect(await runCli(argv, c.io)).toBe(2);
    expect(c.err.join('')).toMatch(message);
  });
});
