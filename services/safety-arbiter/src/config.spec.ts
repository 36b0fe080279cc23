import { parseEnv } from '@voltimax/service-kit';
import { arbiterEnvSchema, MIN_AUDIT_MAX_AGE_MS, ruleOptions } from './config';
import { TEST_SITE } from './testing/site';

const files: Record<string, string> = {
  'site.json': JSON.stringify(TEST_SITE),
  'broken.json': '{ "v": 1,',
  'invalid.json': JSON.stringify({ ...TEST_SITE, grid: { maxImportW: 'lots' } }),
};
const read = (path: string): string => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  return text;
};
const parse = (env: Record<string, string>) => parseEnv('safety-arbiter', arbiterEnvSchema(read), env).service;
const problems = (env: Record<string, string>): string => {
  try {
    parse(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('safety-arbiter environment', () => {
  it('has safe defaults and loads the site', () => {
    const env = parse({ SITE_FILE: 'site.json' });
    expect(env).toMatchObject({
      TICK_MS: 1_000,
      STALE_AFTER_POLL_INTERVALS: 1.5,
      FROZEN_METER_AFTER_POLL_INTERVALS: 30,
      SETPOINT_VALIDITY_MS: 15_000,
      REASSERT_MARGIN_MS: 5_000,
      WRITE_TIMEOUT_MS: 1_000,
      WRITE_ATTEMPTS: 3,
      AUDIT_MAX_AGE_MS: 7 * 24 * 3_600_000,
    });
    expect(env.site.gatewayId).toBe('gw-test');
    expect(env.BATTERY_MODELS.size).toBe(0);
    expect([...env.DRIVER_SERVICES]).toEqual(['modbus-poller', 'http-devices', 'ocpp-csms', 'driver-host']);
    expect(ruleOptions(env)).toEqual({
      maxTelemetryAgeMs: 5_000,
      maxClockSkewMs: 2_000,
      missedHeartbeats: 3,
      maxRampIntervalMs: 1_500,
      evLimitHoldA: 0.5,
    });
  });

  it('reads the rule options and the battery models', () => {
    const env = parse({
      SITE_FILE: 'site.json',
      MAX_TELEMETRY_AGE_MS: '3000',
      MAX_CLOCK_SKEW_MS: '500',
      MISSED_HEARTBEATS: '2',
      MIN_WRITE_INTERVAL_MS: '2000',
      EV_LIMIT_HOLD_A: '0',
      BATTERY_MODELS: 'bat-1=growatt.ark-hv-10kwh',
    });
    // The ramp credit follows the longer of a tick and the minimum write interval.
    expect(ruleOptions(env)).toEqual({
      maxTelemetryAgeMs: 3_000,
      maxClockSkewMs: 500,
      missedHeartbeats: 2,
      maxRampIntervalMs: 3_000,
      evLimitHoldA: 0,
    });
    expect([...env.BATTERY_MODELS]).toEqual([['bat-1', 'growatt.ark-hv-10kwh']]);
  });

  it.each([
    [{}, /SITE_FILE: Invalid input/],
    [{ SITE_FILE: 'missing.json' }, /SITE_FILE: cannot read missing.json: ENOENT/],
    [{ SITE_FILE: 'broken.json' }, /SITE_FILE: broken.json is not valid JSON/],
    [{ SITE_FILE: 'invalid.json' }, /SITE_FILE: invalid.json \$\.grid\.maxImportW/],
    [{ SITE_FILE: 'site.json', AUDIT_MAX_AGE_MS: String(MIN_AUDIT_MAX_AGE_MS - 1) }, /AUDIT_MAX_AGE_MS: Too small/],
    [{ SITE_FILE: 'site.json', REASSERT_MARGIN_MS: '20000' }, /REASSERT_MARGIN_MS: must be below SETPOINT_VALIDITY_MS/],
    [
      { SITE_FILE: 'site.json', REASSERT_MARGIN_MS: '2000' },
      /REASSERT_MARGIN_MS: must exceed the longest write with retries \(3400 ms\)/,
    ],
    [
      { SITE_FILE: 'site.json', BATTERY_MODELS: 'bat-1=acme.nothing' },
      /BATTERY_MODELS: 'acme.nothing' is not in the battery catalogue/,
    ],
    [
      { SITE_FILE: 'site.json', BATTERY_MODELS: 'ev-1=growatt.ark-hv-10kwh' },
      /BATTERY_MODELS: 'ev-1' is not a battery/,
    ],
    [{ SITE_FILE: 'site.json', STALE_AFTER_POLL_INTERVALS: '0.5' }, /STALE_AFTER_POLL_INTERVALS: Too small/],
    [
      { SITE_FILE: 'site.json', FROZEN_METER_AFTER_POLL_INTERVALS: '1' },
      /FROZEN_METER_AFTER_POLL_INTERVALS: must be 0 \(off\) or at least 2/,
    ],
    [{ SITE_FILE: 'site.json', EV_LIMIT_HOLD_A: '-0.5' }, /EV_LIMIT_HOLD_A: Too small/],
    [{ SITE_FILE: 'site.json', EV_LIMIT_HOLD_A: 'lots' }, /EV_LIMIT_HOLD_A: Invalid input/],
  ])('refuses %j', (env, message) => {
    expect(problems(env as Record<string, string>)).toMatch(message);
  });
});
