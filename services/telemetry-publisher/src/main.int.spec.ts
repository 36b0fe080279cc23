import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeSite } from './testing/harness';

const ROOT = join(__dirname, '../../..');

function runMain(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [join(ROOT, 'tools/run-ts.js'), join(__dirname, 'main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], NATS_URL: 'nats://127.0.0.1:1', HEALTH_PORT: 'off', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('telemetry-publisher main', () => {
  it('exits 78 before connecting when assets.json is missing, naming the variable', () => {
    const result = runMain({ SITE_FILE: '/nonexistent/assets.json' });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('SITE_FILE: cannot read /nonexistent/assets.json: ENOENT');
  });

  it('exits 78 when a secret the cloud block names is not set, and when retention is below 72 h', () => {
    const site = writeSite('gw-main', {
      transport: 'mqtt',
      brokerUrl: 'mqtt://127.0.0.1:1',
      passwordEnv: 'CLOUD_MQTT_PASSWORD',
    });
    try {
      const result = runMain({ SITE_FILE: site.path, TELEMETRY_MAX_AGE_MS: '3600000' });
      expect(result.status).toBe(78);
      expect(result.stderr).toContain('TELEMETRY_MAX_AGE_MS:');
      expect(result.stderr).toContain('CLOUD_MQTT_PASSWORD is not set');
    } finally {
      site.remove();
    }
  });
});
