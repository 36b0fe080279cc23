import { ConfigError, parseEnv } from '@voltimax/service-kit';
import { pollerEnvSchema } from './config';
import { siteWith, tcpAsset } from './testing/site';

const SITE = JSON.stringify(siteWith([tcpAsset('grid-1', 'grid-meter', 'eastron.sdm630', 502)]));

function parse(env: Record<string, string>, files: Record<string, string> = { '/etc/voltimax/assets.json': SITE }) {
  const schema = pollerEnvSchema((path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  });
  return parseEnv('modbus-poller', schema, env);
}

function problems(env: Record<string, string>, files?: Record<string, string>): string {
  try {
    parse(env, files);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('modbus-poller environment', () => {
  it('applies the defaults and loads the site file', () => {
    const { service } = parse({ SITE_FILE: '/etc/voltimax/assets.json' });
    expect(service).toMatchObject({
      POLLER_SHARD: { index: 0, count: 1 },
      MODBUS_TIMEOUT_MS: 1_000,
      MODBUS_RETRY_ATTEMPTS: 2,
      STALE_AFTER_INTERVALS: 3,
    });
    expect(service.site.assets.map((a) => a.id)).toEqual(['grid-1']);
  });

  it.each([
    ['1/2', { index: 1, count: 2 }],
    ['0/1', { index: 0, count: 1 }],
    ['2/3', { index: 2, count: 3 }],
  ])('parses POLLER_SHARD=%s', (text, shard) => {
    expect(parse({ SITE_FILE: '/etc/voltimax/assets.json', POLLER_SHARD: text }).service.POLLER_SHARD).toEqual(shard);
  });

  it.each(['2/2', '0/0', 'a/b', '1', '-1/2'])('refuses POLLER_SHARD=%s', (text) => {
    expect(problems({ SITE_FILE: '/etc/voltimax/assets.json', POLLER_SHARD: text })).toMatch(/^ {2}POLLER_SHARD: /m);
  });

  it('names a missing SITE_FILE', () => {
    expect(problems({})).toMatch(/^ {2}SITE_FILE: /m);
  });

  it('refuses an unreadable or invalid assets.json with the JSON path of each problem', () => {
    expect(problems({ SITE_FILE: '/nope.json' })).toContain('SITE_FILE: cannot read /nope.json: ENOENT');
    expect(problems({ SITE_FILE: '/bad.json' }, { '/bad.json': '{ "v": 1,' })).toMatch(
      /SITE_FILE: \/bad\.json is not valid JSON/,
    );
    const site = JSON.parse(SITE) as { assets: { connection: { port: number } }[] };
    site.assets[0]!.connection.port = 70_000;
    expect(problems({ SITE_FILE: '/p.json' }, { '/p.json': JSON.stringify(site) })).toMatch(
      /SITE_FILE: \/p\.json \$\.assets\[0\]\.connection\.port: Too big/,
    );
  });
});
