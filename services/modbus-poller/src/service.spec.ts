import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EX_CONFIG, runService } from '@voltimax/service-kit';
import { modbusPollerService } from './service';

const ROOT = join(__dirname, '..', '..', '..');

describe('modbus-poller service', () => {
  it('exits 78 naming SITE_FILE when assets.json cannot be read, before connecting to NATS', async () => {
    const exit = jest.fn();
    const connect = jest.fn();
    const stderr: string[] = [];
    const runtime = await runService(
      modbusPollerService(() => {
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      }),
      {
        env: { SITE_FILE: '/etc/voltimax/assets.json', POLLER_SHARD: '3/2' },
        exit,
        connect,
        stderr: { write: (text: string) => stderr.push(text) },
        onSignal: () => () => undefined,
        onFatal: () => () => undefined,
      },
    );
    expect(runtime).toBeUndefined();
    expect(exit).toHaveBeenCalledWith(EX_CONFIG);
    expect(connect).not.toHaveBeenCalled();
    const text = stderr.join('');
    expect(text).toContain('SITE_FILE: cannot read /etc/voltimax/assets.json: ENOENT');
    expect(text).toMatch(/POLLER_SHARD: index must be below count/);
  });

  it('main.ts exits 78 on a bad configuration (the process an orchestrator sees)', () => {
    const result = spawnSync(process.execPath, ['tools/run-ts.js', 'services/modbus-poller/src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], SITE_FILE: '/nonexistent/assets.json', HEALTH_PORT: 'off' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toContain('SITE_FILE: cannot read /nonexistent/assets.json: ENOENT');
    expect(result.status).toBe(78);
  }, 20_000);
});
