import { SiteConfigSchema, type SiteConfigInput } from '@voltimax/contracts';
import { runCli } from '../program';
import type { ArbiterCliDeps } from './arbiter-nats';
import { siteHash, strategySet, withStrategy } from './strategy';

const SITE: SiteConfigInput = {
  v: 1,
  gatewayId: 'gw-1',
  siteName: 'Site',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 10_000, maxExportW: 5_000 },
  assets: [],
  strategy: { active: ['self-consumption', 'backup-power'], config: { 'backup-power': { reserveSocPct: 30 } } },
  tariff: { kind: 'fixed', fixedEurPerMwh: 200 },
};
const base = SiteConfigSchema.parse(SITE);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: () => Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })),
    },
  };
}

const unreachable: ArbiterCliDeps = {
  env: { NATS_URL: 'nats://127.0.0.1:1' },
  connect: () => Promise.reject(new Error('CONNECTION_REFUSED')),
  now: () => 0,
  delay: () => Promise.resolve(),
};

describe('voltimax strategy set', () => {
  it('makes the strategy the only active one and keeps the other blocks', () => {
    const result = withStrategy(base, 'net-zero', { deadbandW: 80 });
    expect(result.ok && result.site.strategy).toEqual({
      active: ['net-zero'],
      tickMs: 1000,
      config: { 'backup-power': { reserveSocPct: 30 }, 'net-zero': { deadbandW: 80 } },
    });
  });

  it('without --config keeps the strategy’s existing block', () => {
    const result = withStrategy(base, 'backup-power', undefined);
    expect(result.ok && result.site.strategy.config['backup-power']).toEqual({ reserveSocPct: 30 });
  });

  it('makes several active in order (a+b), with --config as blocks by strategy', () => {
    const result = withStrategy(base, ['self-consumption', 'backup-power'], { 'backup-power': { reserveSocPct: 40 } });
    expect(result.ok && result.site.strategy.active).toEqual(['self-consumption', 'backup-power']);
    expect(result.ok && result.site.strategy.config['backup-power']).toEqual({ reserveSocPct: 40 });
    const stray = withStrategy(base, ['self-consumption', 'backup-power'], { 'net-zero': {} });
    expect(!stray.ok && stray.problems).toEqual([
      { path: '--config.net-zero', message: 'not one of the strategies named (self-consumption, backup-power)' },
    ]);
  });

  it('refuses a block its strategy’s schema refuses, with the JSON path', () => {
    const result = withStrategy(base, 'net-zero', { deadbandWatts: 80 });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.map((p) => p.path)).toContain('$.strategy.config["net-zero"]');
  });

  it('hashes like the cloud-bridge: independent of key order', () => {
    const reverse = (value: unknown): unknown =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(
            Object.entries(value)
              .reverse()
              .map(([k, v]) => [k, reverse(v)]),
          )
        : value;
    const reordered = reverse(base) as typeof base;
    expect(Object.keys(reordered)[0]).not.toBe(Object.keys(base)[0]);
    expect(siteHash(reordered)).toBe(siteHash(base));
    expect(siteHash(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    [['strategy', 'set', 'turbo'], /unknown strategy 'turbo' \(known: null, charge/],
    [['strategy', 'set', 'net-zero+turbo'], /unknown strategy 'turbo'/],
    [['strategy', 'set', 'net-zero+net-zero'], /'net-zero' is named twice/],
    [['strategy', 'set', 'net-zero', '--config', '{oops'], /--config is not valid JSON/],
    [['strategy', 'set', 'net-zero', '--config', '[1]'], /--config must be a JSON object/],
    [['strategy', 'set', 'net-zero', '--config', '@missing.json'], /cannot read missing\.json: ENOENT/],
  ])('refuses %j before connecting (exit 2)', async (argv, message) => {
    const c = capture();
    expect(await runCli(argv, c.io)).toBe(2);
    expect(c.err.join('')).toMatch(message);
  });

  it('exits 2 when NATS cannot be reached', async () => {
    const c = capture();
    await expect(strategySet(c.io, 'null', {}, unreachable)).rejects.toMatchObject({ exitCode: 2 });
    expect(c.err.join('')).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: CONNECTION_REFUSED/);
  });
});
