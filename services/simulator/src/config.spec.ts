import { simulatorEnvSchema } from './config';
import { jsonDevicesSite } from './testing/json-site';
import { simSite } from './testing/site';

const CSV = 'timestamp,load_w,pv_w,price_eur_per_mwh\n2024-04-01T00:00:00Z,100,0,50\n2024-04-01T00:30:00Z,200,0,50\n';
const files: Record<string, string> = {
  '/site.json': JSON.stringify(simSite()),
  '/bad-site.json': JSON.stringify({ ...simSite(), timezone: 7 }),
  '/not-json.json': '{',
  '/profile.csv': CSV,
  '/bad-profile.csv': 'timestamp,load_w\nyesterday,-1\n',
  '/json-site.json': JSON.stringify(jsonDevicesSite()),
};
const read = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return text;
};
const parse = (env: Record<string, string>) => simulatorEnvSchema(read).safeParse(env);
const messages = (env: Record<string, string>) => {
  const result = parse(env);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('simulator environment', () => {
  it('defaults: speed 1, synthetic profile, SoC 50 %, ephemeral ports on 127.0.0.1, no assets file', () => {
    const result = parse({ SITE_FILE: '/site.json' });
    expect(result.success && result.data).toMatchObject({
      SIM_SPEED: 1,
      SIM_INITIAL_SOC_PCT: 50,
      SIM_BASE_PORT: 0,
      SIM_BIND: '127.0.0.1',
      SIM_ASSETS_FILE: undefined,
      SIM_FREQ_STEP_HZ: 0,
    });
    expect(result.success && [result.data.SIM_PROFILE, result.data.SIM_START]).toEqual([undefined, undefined]);
    expect(result.success && result.data.SITE_FILE.site.assets.map((a) => a.id)).toEqual([
      'bat-1',
      'inv-1',
      'grid-1',
      'ev-1',
    ]);
  });

  it('writes the assets file into STATE_DIR unless SIM_ASSETS_FILE names one', () => {
    const inState = parse({ SITE_FILE: '/site.json', STATE_DIR: '/state' });
    expect(inState.success && inState.data.SIM_ASSETS_FILE).toBe('/state/sim-assets.json');
    const named = parse({ SITE_FILE: '/site.json', STATE_DIR: '/state', SIM_ASSETS_FILE: '/x/endpoints.json' });
    expect(named.success && named.data.SIM_ASSETS_FILE).toBe('/x/endpoints.json');
  });

  it('takes the advertised host for the assets file', () => {
    const result = parse({ SITE_FILE: '/site.json', SIM_BIND: '0.0.0.0', SIM_ADVERTISE_HOST: 'simulator' });
    expect(result.success && [result.data.SIM_BIND, result.data.SIM_ADVERTISE_HOST]).toEqual(['0.0.0.0', 'simulator']);
    expect(messages({ SITE_FILE: '/site.json', SIM_ADVERTISE_HOST: 'not a host' }).join()).toMatch(
      /SIM_ADVERTISE_HOST/,
    );
  });

  it('reads SIM_PROFILE and SIM_START', () => {
    const result = parse({
      SITE_FILE: '/site.json',
      SIM_PROFILE: '/profile.csv',
      SIM_START: '2024-04-01T00:15:00Z',
      SIM_SPEED: '60',
    });
    expect(result.success && result.data.SIM_PROFILE?.series.points).toHaveLength(2);
    expect(result.success && result.data.SIM_START).toBe(Date.parse('2024-04-01T00:15:00Z'));
    expect(result.success && result.data.SIM_SPEED).toBe(60);
  });

  it.each<{ env: Record<string, string>; expected: RegExp }>([
    { env: {}, expected: /SITE_FILE/ },
    { env: { SITE_FILE: '/missing.json' }, expected: /cannot read \/missing.json: ENOENT/ },
    { env: { SITE_FILE: '/not-json.json' }, expected: /not valid JSON/ },
    { env: { SITE_FILE: '/bad-site.json' }, expected: /timezone/ },
    { env: { SITE_FILE: '/site.json', SIM_PROFILE: '/bad-profile.csv' }, expected: /bad-profile.csv: line/ },
    { env: { SITE_FILE: '/site.json', SIM_START: 'tomorrow' }, expected: /SIM_START: must be an ISO-8601 instant/ },
    { env: { SITE_FILE: '/site.json', SIM_SPEED: '0' }, expected: /SIM_SPEED/ },
    { env: { SITE_FILE: '/site.json', SIM_INITIAL_SOC_PCT: '101' }, expected: /SIM_INITIAL_SOC_PCT/ },
    { env: { SITE_FILE: '/site.json', SIM_BASE_PORT: '70000' }, expected: /SIM_BASE_PORT/ },
  ])('refuses $env', ({ env, expected }) => {
    expect(messages(env).join('\n')).toMatch(expected);
  });

  it('keeps the JSON devices off by default: no broker, no token, a plugged 16 A car', () => {
    const result = parse({ SITE_FILE: '/site.json' });
    expect(result.success && [result.data.MQTT_URL, result.data.SIM_PEBLAR_TOKEN]).toEqual([undefined, undefined]);
    expect(result.success && result.data).toMatchObject({
      SIM_PEBLAR_TOKEN_ENV: 'PEBLAR_TOKEN',
      SIM_EV_PLUGGED: true,
      SIM_EV_CAR_MAX_CURRENT_A: 16,
      SIM_EV_INITIAL_LIMIT_A: 16,
    });
  });

  it('needs MQTT_URL only for a site with an MQTT meter', () => {
    expect(messages({ SITE_FILE: '/json-site.json' }).join('\n')).toMatch(
      /MQTT_URL: the site has simulated MQTT meters \(grid-1\): set the broker/,
    );
    const result = parse({ SITE_FILE: '/json-site.json', MQTT_URL: 'mqtt://127.0.0.1:1883', SIM_EV_PLUGGED: 'false' });
    expect(result.success && [result.data.MQTT_URL, result.data.SIM_EV_PLUGGED]).toEqual(['mqtt://127.0.0.1:1883', false]);
  });

  it.each<{ env: Record<string, string>; expected: RegExp }>([
    { env: { SITE_FILE: '/site.json', MQTT_URL: 'localhost:1883' }, expected: /MQTT_URL: must start with mqtt/ },
    { env: { SITE_FILE: '/site.json', SIM_PEBLAR_TOKEN: 'short' }, expected: /SIM_PEBLAR_TOKEN/ },
    { env: { SITE_FILE: '/site.json', SIM_PEBLAR_TOKEN_ENV: 'token' }, expected: /SIM_PEBLAR_TOKEN_ENV/ },
    { env: { SITE_FILE: '/site.json', SIM_EV_PLUGGED: 'yes' }, expected: /SIM_EV_PLUGGED/ },
    { env: { SITE_FILE: '/site.json', SIM_EV_CAR_MAX_CURRENT_A: '3' }, expected: /SIM_EV_CAR_MAX_CURRENT_A/ },
  ])('refuses $env', ({ env, expected }) => {
    expect(messages(env).join('\n')).toMatch(expected);
  });
});
