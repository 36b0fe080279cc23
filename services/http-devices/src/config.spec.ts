import { ConfigError, parseEnv } from '@voltimax/service-kit';
import { httpDevicesEnvSchema } from './config';
import { mqttAsset, peblarAsset, siteWith } from './testing/site';

const SITE = JSON.stringify(siteWith([peblarAsset('ev-1', 'http://192.0.2.30', { tokenEnv: 'PEBLAR_TOKEN' })]));
const MQTT_SITE = JSON.stringify(siteWith([mqttAsset('grid-1', 'grid-meter', 'shelly.pro-3em', 'shelly-1')]));

function parse(env: Record<string, string>) {
  const schema = httpDevicesEnvSchema((path) => {
    const text = { '/site.json': SITE, '/mqtt.json': MQTT_SITE }[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  });
  return parseEnv('http-devices', schema, env);
}

function problems(env: Record<string, string>): string {
  try {
    parse(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('http-devices environment', () => {
  it('applies the defaults, loads the site and resolves the token', () => {
    const { service } = parse({ SITE_FILE: '/site.json', PEBLAR_TOKEN: 'a'.repeat(64) });
    expect(service).toMatchObject({
      SITE_FILE: '/site.json',
      HTTP_TIMEOUT_MS: 2_000,
      HTTP_RETRY_ATTEMPTS: 2,
      HTTP_BREAKER_FAILURES: 5,
      HTTP_BREAKER_HALF_OPEN_MS: 10_000,
      HTTP_MAX_BODY_BYTES: 262_144,
      MQTT_VERSION: '3.1.1',
      MQTT_CONFIRM_TIMEOUT_MS: 5_000,
      STALE_AFTER_INTERVALS: 3,
    });
    const driver = service.plan.owned[0]?.driver;
    expect(driver?.kind === 'http' && driver.token).toBe('a'.repeat(64));
  });

  it('refuses to start without the token variable, naming it and never a value', () => {
    const text = problems({ SITE_FILE: '/site.json' });
    expect(text).toContain("PEBLAR_TOKEN: the API token of asset 'ev-1' (named in the site file) is not set");
  });

  it('needs a broker for MQTT assets', () => {
    expect(problems({ SITE_FILE: '/mqtt.json' })).toContain("MQTT_URL: asset 'grid-1' names no brokerUrl");
    const { service } = parse({
      SITE_FILE: '/mqtt.json',
      MQTT_URL: 'mqtt://127.0.0.1:1883',
      MQTT_VERSION: '5.0',
      MQTT_PASSWORD: 'pw',
      MQTT_USERNAME: 'gw',
    });
    expect(service.plan.brokers).toEqual([
      { url: 'mqtt://127.0.0.1:1883', protocolVersion: 5, username: 'gw', password: 'pw' },
    ]);
    expect(JSON.stringify(Object.keys(service))).not.toContain('MQTT_PASSWORD');
  });

  it.each([
    [{ SITE_FILE: '/missing.json' }, 'cannot read /missing.json'],
    [{ SITE_FILE: '/site.json', PEBLAR_TOKEN: 't', HTTP_TIMEOUT_MS: '10' }, 'HTTP_TIMEOUT_MS'],
    [{ SITE_FILE: '/site.json', PEBLAR_TOKEN: 't', HTTP_RETRY_ATTEMPTS: '0' }, 'HTTP_RETRY_ATTEMPTS'],
    [{ SITE_FILE: '/site.json', PEBLAR_TOKEN: 't', MQTT_URL: 'broker:1883' }, 'MQTT_URL: must start with mqtt://'],
    [{ SITE_FILE: '/site.json', PEBLAR_TOKEN: 't', MQTT_VERSION: '3' }, 'MQTT_VERSION'],
    [{ SITE_FILE: '/site.json', PEBLAR_TOKEN: 't', STALE_AFTER_INTERVALS: '1' }, 'STALE_AFTER_INTERVALS'],
  ])('refuses %j', (env, message) => {
    expect(problems(env)).toContain(message);
  });
});
