import { z } from 'zod';
import { ConfigError, parseEnv } from './env';

const ServiceEnv = z.object({
  SITE_FILE: z.string().min(1),
  POLL_INTERVAL_MS: z.coerce.number().int().min(200).default(1000),
});

describe('parseEnv', () => {
  it('applies the kit defaults and parses the service schema from the same environment', () => {
    const { kit, service } = parseEnv('poller', ServiceEnv, { SITE_FILE: '/etc/site.json', PATH: '/usr/bin' });
    expect(kit).toEqual({
      NATS_URL: 'nats://127.0.0.1:4222',
      LOG_LEVEL: 'info',
      HEARTBEAT_MS: 5000,
      HEALTH_PORT: 0,
      HEALTH_HOST: '127.0.0.1',
    });
    expect(service).toEqual({ SITE_FILE: '/etc/site.json', POLL_INTERVAL_MS: 1000 });
  });

  it.each([
    { HEALTH_PORT: 'off', expected: 'off' },
    { HEALTH_PORT: '8080', expected: 8080 },
    { HEALTH_PORT: '', expected: 0 },
  ])('reads HEALTH_PORT=$HEALTH_PORT as $expected', ({ HEALTH_PORT, expected }) => {
    expect(parseEnv('poller', ServiceEnv, { SITE_FILE: 'x', HEALTH_PORT }).kit.HEALTH_PORT).toBe(expected);
  });

  it('names every bad variable of the kit and of the service in one error, without echoing values', () => {
    let error: unknown;
    try {
      parseEnv('poller', ServiceEnv, {
        HEARTBEAT_MS: '10',
        LOG_LEVEL: 'chatty',
        NATS_PASS: 'hunter2',
        POLL_INTERVAL_MS: 'x',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    expect(config.problems.map((p) => p.variable).sort()).toEqual(
      ['HEARTBEAT_MS', 'LOG_LEVEL', 'NATS_PASS', 'POLL_INTERVAL_MS', 'SITE_FILE'].sort(),
    );
    expect(config.message).toMatch(/^poller: invalid configuration/);
    expect(config.message).not.toContain('hunter2');
  });

  it('treats an empty variable as unset', () => {
    expect(() => parseEnv('poller', ServiceEnv, { SITE_FILE: '' })).toThrow(/SITE_FILE/);
  });
});
