import { runService } from '@voltimax/service-kit';
import { simulatorService } from './service';

describe('simulator service configuration', () => {
  it('exits 78 naming the problem when SITE_FILE cannot be read, before connecting anywhere', async () => {
    const stderr: string[] = [];
    const exits: number[] = [];
    const connect = jest.fn();
    const runtime = await runService(
      simulatorService({
        readTextFile: () => {
          throw Object.assign(new Error('no'), { code: 'ENOENT' });
        },
      }),
      {
        env: { SITE_FILE: '/nowhere/assets.json', SIM_SPEED: '-1' },
        stderr: { write: (text: string) => stderr.push(text) },
        exit: (code) => void exits.push(code),
        connect,
      },
    );
    expect(runtime).toBeUndefined();
    expect(exits).toEqual([78]);
    expect(stderr.join('')).toMatch(/SITE_FILE: cannot read \/nowhere\/assets.json: ENOENT/);
    expect(stderr.join('')).toMatch(/SIM_SPEED/);
    expect(connect).not.toHaveBeenCalled();
  });
});
