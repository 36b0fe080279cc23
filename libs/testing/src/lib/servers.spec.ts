import { mosquittoConfig, natsTestConfig } from './servers';

describe('natsTestConfig', () => {
  it('includes the config relative to its own dir and moves the JetStream store', () => {
    expect(
      natsTestConfig({
        configDir: '/tmp/voltimax-nats-x',
        config: '/repo/docker/nats/nats.conf',
        storeDir: '/tmp/voltimax-nats-x/store',
      }),
    ).toBe('include "../../repo/docker/nats/nats.conf"\njetstream { store_dir: "/tmp/voltimax-nats-x/store" }\n');
  });

  it('turns JetStream off when there is no store dir', () => {
    expect(natsTestConfig({ configDir: '/a', config: '/a/n.conf', storeDir: undefined })).toBe(
      'include "n.conf"\njetstream: disabled\n',
    );
  });
});

describe('mosquittoConfig', () => {
  it('listens on loopback only, anonymously, without persistence', () => {
    expect(mosquittoConfig(18830).split('\n')).toEqual([
      'listener 18830 127.0.0.1',
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      '',
    ]);
  });
});
