import { createServiceLogger } from './logger';

describe('createServiceLogger', () => {
  it('names lines after the service and redacts common secret keys', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createServiceLogger({
      name: 'cloud-bridge',
      level: 'info',
      destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
    });

    log.info(
      { password: 'a', config: { token: 'b', apiKey: 'c', host: 'cloud' }, env: { NATS_PASS: 'd' } },
      'starting',
    );

    expect(lines[0]).toMatchObject({
      name: 'cloud-bridge',
      msg: 'starting',
      password: '[redacted]',
      config: { token: '[redacted]', apiKey: '[redacted]', host: 'cloud' },
      env: { NATS_PASS: '[redacted]' },
    });
  });

  it('honours the level', () => {
    const lines: string[] = [];
    const log = createServiceLogger({ name: 'x', level: 'warn', destination: { write: (s: string) => lines.push(s) } });
    log.info('hidden');
    log.warn('shown');
    expect(lines).toHaveLength(1);
  });
});
