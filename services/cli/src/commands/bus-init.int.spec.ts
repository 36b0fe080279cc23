/**
 * `voltimax bus init` against a real nats-server started from docker/nats/nats.conf and left empty, as `npm start`
 * and compose's `bus-init` run it before the services.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { streamRetention } from '@voltimax/contracts';
import {
  connectNatsAs,
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  type NatsTestServer,
  type NatsUser,
} from '@voltimax/testing';
import type { CliIo } from '../io';
import { runCli } from '../program';
import { busInit, BUS_INIT_EXIT } from './bus-init';
import { defaultArbiterCliDeps } from './arbiter-nats';

function captureIo(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      readFile: () => Promise.reject(new Error('unused')),
    },
    out: () => out,
    err: () => err,
  };
}

describe('voltimax bus init', () => {
  let server: NatsTestServer;
  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH, provision: false });
  });
  afterAll(async () => server?.stop());

  const run = async (
    user: NatsUser,
    extraEnv: Record<string, string> = {},
    args: { waitMs?: string; json?: boolean; url?: string } = {},
  ): Promise<{ code: number; out: string; err: string }> => {
    const c = captureIo();
    const deps = {
      ...defaultArbiterCliDeps(),
      env: { NATS_URL: args.url ?? server.url, NATS_USER: user, NATS_PASS: NATS_DEV_PASSWORDS[user], ...extraEnv },
    };
    let code = 0;
    try {
      await busInit(c.io, { waitMs: args.waitMs ?? '5000', json: args.json ?? true }, deps);
    } catch (err) {
      code = (err as { exitCode?: number }).exitCode ?? -1;
    }
    return { code, out: c.out(), err: c.err() };
  };

  it('refuses a service user: only the provisioner may create streams (exit 4), and nothing is created', async () => {
    const result = await run('cloud-bridge');
    expect(result.code).toBe(BUS_INIT_EXIT.refused);
    expect(result.err).toMatch(
      /the server refused .*Permissions Violation.* only the provisioner user may create streams/,
    );
    const nc = await connectNatsAs(server.url, 'provisioner');
    await expect((await jetstreamManager(nc)).streams.info('KV_config')).rejects.toThrow(/stream not found/);
    await nc.close();
  });

  it('refuses a retention below the 72 h the gateway keeps (exit 1), before connecting', async () => {
    const result = await run('provisioner', { TELEMETRY_MAX_AGE_MS: '3600000' });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`TELEMETRY_MAX_AGE_MS: an integer from ${streamRetention.telemetry.minAgeMs}`);
  });

  it('as the provisioner: creates the six with the retention from the environment, then finds them unchanged', async () => {
    const first = await run('provisioner', { AUDIT_MAX_AGE_MS: String(96 * 3_600_000) });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({
      streams: {
        KV_config: 'created',
        KV_prices: 'created',
        'KV_strategy-history': 'created',
        TELEMETRY: 'created',
        AUDIT: 'created',
        ESTOP: 'created',
      },
      retention: {
        audit: { maxAgeMs: 96 * 3_600_000 },
        telemetry: { maxAgeMs: streamRetention.telemetry.defaultAgeMs },
      },
      attempts: 1,
    });
    const nc = await connectNatsAs(server.url, 'provisioner');
    expect((await (await jetstreamManager(nc)).streams.info('AUDIT')).config.max_age).toBe(96 * 3_600_000 * 1e6);
    await nc.close();

    const again = await run('provisioner', { AUDIT_MAX_AGE_MS: String(96 * 3_600_000) }, { json: false });
    expect(again.code).toBe(0);
    expect(again.out.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^KV_config\s+unchanged$/),
      expect.stringMatching(/^KV_prices\s+unchanged$/),
      expect.stringMatching(/^KV_strategy-history\s+unchanged$/),
      expect.stringMatching(/^TELEMETRY\s+unchanged$/),
      expect.stringMatching(/^AUDIT\s+unchanged$/),
      expect.stringMatching(/^ESTOP\s+unchanged$/),
    ]);
  });

  it('keeps trying while NATS is not there, then gives up with exit 2 and the reason', async () => {
    const port = await freePort();
    const result = await run('provisioner', {}, { url: `nats://127.0.0.1:${port}`, waitMs: '1500' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(
      /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+ as provisioner.*\(gave up after [2-9]\d* attempts\)/s,
    );
  });

  it('does not retry a wrong password: exit 2 at once, saying so', async () => {
    const result = await run('provisioner', { NATS_PASS: 'wrong' }, { waitMs: '20000' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/Authorization Violation.*not retried/is);
  });

  it('is a command of the voltimax program', async () => {
    const c = captureIo();
    expect(await runCli(['bus', 'init', '--help'], c.io)).toBe(0);
    expect(c.out()).toContain('create the JetStream streams and KV buckets of the gateway');
  });
});
