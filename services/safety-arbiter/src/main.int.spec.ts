import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

describe('safety-arbiter main', () => {
  it('exits 78 before connecting when assets.json is missing, naming the variable', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'tools/run-ts.js'), join(__dirname, 'main.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'],
        SITE_FILE: '/nonexistent/assets.json',
        NATS_URL: 'nats://127.0.0.1:1',
        HEALTH_PORT: 'off',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('SITE_FILE: cannot read /nonexistent/assets.json: ENOENT');
  });
});
