import { chooseServerSource, SERVER_SPECS, type ServerKind, type SourceInputs } from './server-source';

const none: Omit<SourceInputs, 'kind'> = {
  env: {},
  ownServerReason: undefined,
  binaryPath: undefined,
  containerRuntime: false,
};

describe('chooseServerSource', () => {
  it.each<[string, Partial<SourceInputs>, ReturnType<typeof chooseServerSource>]>([
    [
      'env URL first, even with a binary and a runtime',
      { env: { NATS_URL: 'nats://10.0.0.5:4222' }, binaryPath: '/usr/sbin/nats-server', containerRuntime: true },
      { source: 'env', url: 'nats://10.0.0.5:4222' },
    ],
    ['trims the env URL', { env: { NATS_URL: '  nats://h:1 \n' } }, { source: 'env', url: 'nats://h:1' }],
    [
      'an empty env var counts as unset',
      { env: { NATS_URL: ' ' }, binaryPath: '/usr/sbin/nats-server' },
      { source: 'binary', binaryPath: '/usr/sbin/nats-server' },
    ],
    [
      'binary when no env URL',
      { binaryPath: '/usr/sbin/nats-server', containerRuntime: true },
      { source: 'binary', binaryPath: '/usr/sbin/nats-server' },
    ],
    [
      'a test with its own config skips the env URL',
      {
        env: { NATS_URL: 'nats://shared:4222' },
        ownServerReason: 'it needs users',
        binaryPath: '/usr/sbin/nats-server',
      },
      { source: 'binary', binaryPath: '/usr/sbin/nats-server' },
    ],
    [
      'container when neither env nor binary',
      { containerRuntime: true },
      { source: 'container', image: 'nats:2.10-alpine' },
    ],
    [
      'container for a test with its own config and only a runtime',
      { env: { NATS_URL: 'nats://shared:4222' }, ownServerReason: 'it needs users', containerRuntime: true },
      { source: 'container', image: 'nats:2.10-alpine' },
    ],
  ])('nats: %s', (_name, inputs, expected) => {
    expect(chooseServerSource({ ...none, kind: 'nats', ...inputs })).toEqual(expected);
  });

  it.each<[ServerKind, string, string]>([
    ['nats', 'NATS_URL', 'nats:2.10-alpine'],
    ['redis', 'REDIS_URL', 'redis:7-alpine'],
    ['mqtt', 'MQTT_URL', 'eclipse-mosquitto:2'],
  ])('%s reads %s and falls back to image %s', (kind, envVar, image) => {
    expect(chooseServerSource({ ...none, kind, env: { [envVar]: 'x://h:1' } })).toEqual({
      source: 'env',
      url: 'x://h:1',
    });
    expect(chooseServerSource({ ...none, kind, containerRuntime: true })).toEqual({ source: 'container', image });
  });

  it('ignores the env var of another kind', () => {
    expect(chooseServerSource({ ...none, kind: 'redis', env: { NATS_URL: 'nats://h:1' } }).source).toBe('unavailable');
  });

  it.each<[ServerKind, RegExp[]]>([
    [
      'nats',
      [
        /^no NATS server for this test/,
        /NATS_URL is not set/,
        /nats-server is not on PATH nor in \/usr\/sbin, \/usr\/bin, \/usr\/local\/bin/,
        /apt-get install nats-server/,
        /set NATS_URL \(e\.g\. nats:\/\/127\.0\.0\.1:4222\)/,
        /run a Docker engine/,
      ],
    ],
    ['redis', [/^no Redis server/, /apt-get install redis-server/, /set REDIS_URL/]],
    ['mqtt', [/^no MQTT broker/, /mosquitto is not on PATH/, /apt-get install mosquitto/, /set MQTT_URL/]],
  ])('%s: says what is missing and how to get it', (kind, patterns) => {
    const decision = chooseServerSource({ ...none, kind });
    expect(decision.source).toBe('unavailable');
    const message = decision.source === 'unavailable' ? decision.message : '';
    for (const pattern of patterns) expect(message).toMatch(pattern);
  });

  it('explains why the env URL does not help a test with its own config', () => {
    const decision = chooseServerSource({
      ...none,
      kind: 'nats',
      env: { NATS_URL: 'nats://shared:4222' },
      ownServerReason: 'it runs with config docker/nats/nats.conf',
    });
    expect(decision).toEqual({
      source: 'unavailable',
      message: expect.stringContaining('NATS_URL is set but cannot be used'),
    });
    const message = decision.source === 'unavailable' ? decision.message : '';
    expect(message).toContain('because it runs with config docker/nats/nats.conf');
    expect(message).not.toMatch(/set NATS_URL/);
  });

  it('has one spec per kind with a distinct env var', () => {
    expect(new Set(Object.values(SERVER_SPECS).map((spec) => spec.envVar)).size).toBe(3);
  });
});
