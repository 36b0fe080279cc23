import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

function voltimax(...args: string[]) {
  return spawnSync(join(ROOT, 'bin/voltimax'), args, { cwd: ROOT, encoding: 'utf8' });
}

describe('the voltimax executable', () => {
  it('validates the example with exit 0', () => {
    const result = voltimax('config', 'validate', 'docker/config/assets.example.json');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('exits non-zero with paths on a bad file', () => {
    const result = voltimax('config', 'validate', 'package.json');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/\$\.gatewayId/);
  });
});
