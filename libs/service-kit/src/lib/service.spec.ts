import { z } from 'zod';
import { runFixture } from '../__fixtures__/run-fixture';
import { defineService, runService } from './service';
import { EX_CONFIG } from './env';

describe('defineService', () => {
  it('refuses a name that is not one subject token', () => {
    expect(() =>
      defineService({
        name: 'Modbus.Poller',
        version: '1',
        env: z.object({}),
        start: () => ({ stop: () => undefined }),
      }),
    ).toThrow(/service name/);
  });
});

describe('runService with an invalid environment', () => {
  it('writes every bad variable to stderr and exits 78 without starting anything', async () => {
    const exit = jest.fn();
    const connect = jest.fn();
    const start = jest.fn();
    let stderr = '';
    const service = defineService({
      name: 'svc',
      version: '1',
      env: z.object({ SITE_FILE: z.string().min(1) }),
      start,
    });

    const runtime = await runService(service, {
      env: { HEALTH_PORT: 'ninety' },
      stderr: { write: (text: string) => (stderr += text) },
      exit,
      connect,
      onSignal: () => () => undefined,
      onFatal: () => () => undefined,
    });

    expect(runtime).toBeUndefined();
    expect(exit).toHaveBeenCalledWith(EX_CONFIG);
    expect(stderr).toContain('HEALTH_PORT');
    expect(stderr).toContain('SITE_FILE');
    expect(connect).not.toHaveBeenCalled();
    expect(start).not.toHaveBeenCalled();
  });

  it('exits the real process with code 78 and names the variable (child process)', async () => {
    const result = await runFixture('fixture-service.ts', { HEARTBEAT_MS: '5', NATS_PASS: 'do-not-print-me' });

    expect(result.code).toBe(78);
    expect(result.stderr).toContain('kit-fixture: invalid configuration');
    expect(result.stderr).toMatch(/FIXTURE_GREETING: /);
    expect(result.stderr).toMatch(/HEARTBEAT_MS: /);
    expect(result.stderr).toMatch(/NATS_PASS: /);
    expect(result.stderr).not.toContain('do-not-print-me');
    expect(result.stdout).toBe('');
  }, 15_000);
});
