import { exampleSiteConfig } from '@voltimax/contracts/testing';
import { ConfigError, parseEnv } from '@voltimax/service-kit';
import { MIN_TELEMETRY_MAX_AGE_MS, publisherEnvSchema } from './config';
import { publisherSettings } from './service';

const files: Record<string, unknown> = {
  '/site/none.json': exampleSiteConfig,
  '/site/mqtt.json': {
    ...exampleSiteConfig,
    cloud: {
      transport: 'mqtt',
      brokerUrl: 'mqtts://broker.example:8883',
      usernameEnv: 'CLOUD_USER',
      passwordEnv: 'CLOUD_PASS',
      platformApiUrl: 'https://api.example/v1',
    },
  },
};
const readTextFile = (path: string): string => {
  const content = files[path];
  if (content === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return JSON.stringify(content);
};
const parse = (env: Record<string, string>) =>
  parseEnv('telemetry-publisher', publisherEnvSchema(readTextFile), env).service;

function problems(env: Record<string, string>): string[] {
  try {
    parse(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('publisher environment', () => {
  it('has defaults for everything but the site file', () => {
    const env = parse({ SITE_FILE: '/site/none.json' });
    expect(env.site.gatewayId).toBe('gw-lorraine-01');
    expect(env.TELEMETRY_MAX_AGE_MS).toBe(7 * 24 * 3_600_000);
    expect(env.TELEMETRY_MAX_BYTES).toBe(2 * 1024 ** 3);
    const settings = publisherSettings(env);
    expect(settings.frame).toEqual({ windowMs: 10_000, maxReadings: 5_000, maxBytes: 256 * 1024, graceMs: 1_000 });
    expect(settings.backlogRate).toEqual({ ratePerS: 5_000, burst: 10_000 });
    expect(settings.stream).toBe('TELEMETRY');
  });

  it('reads the secrets the cloud block names from the environment', () => {
    const env = parse({ SITE_FILE: '/site/mqtt.json', CLOUD_USER: 'gw', CLOUD_PASS: 'secret' });
    expect(env.secrets['CLOUD_PASS']).toBe('secret');
  });

  it('refuses a missing named secret, naming the variable, never its value', () => {
    expect(problems({ SITE_FILE: '/site/mqtt.json', CLOUD_USER: 'gw' })).toEqual([
      expect.stringMatching(/^SITE_FILE: cloud: CLOUD_PASS is not set/),
    ]);
  });

  it.each<{ name: string; env: Record<string, string>; variable: string }>([
    {
      name: 'retention below 72 h',
      env: { TELEMETRY_MAX_AGE_MS: String(MIN_TELEMETRY_MAX_AGE_MS - 1) },
      variable: 'TELEMETRY_MAX_AGE_MS',
    },
    {
      name: 'a buffer that cannot hold one full frame',
      env: { FRAME_MAX_READINGS: '5000', LANE_BUFFER_MESSAGES: '5000' },
      variable: 'LANE_BUFFER_MESSAGES',
    },
    {
      name: 'too few unacked deliveries for a restart',
      env: { LANE_BUFFER_MESSAGES: '12000', MAX_ACK_PENDING: '20000' },
      variable: 'MAX_ACK_PENDING',
    },
    {
      name: 'a backoff whose maximum is below its minimum',
      env: { RETRY_MIN_MS: '5000', RETRY_MAX_MS: '1000' },
      variable: 'RETRY_MAX_MS',
    },
    { name: 'not a number', env: { BACKLOG_READINGS_PER_S: 'fast' }, variable: 'BACKLOG_READINGS_PER_S' },
    { name: 'a missing site file', env: { SITE_FILE: '/site/missing.json' }, variable: 'SITE_FILE' },
  ])('refuses $name ($variable)', ({ env, variable }) => {
    const found = problems({ SITE_FILE: '/site/none.json', ...env });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => p.startsWith(`${variable}:`))).toBe(true);
  });
});
