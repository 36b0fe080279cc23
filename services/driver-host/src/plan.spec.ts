import { join } from 'node:path';
import { SiteConfigSchema } from '@voltimax/contracts';
import { planHost } from './plan';
import { pluginAsset, siteJson } from './testing/harness';

const resolve = { siteDir: __dirname, hostFile: __filename, typescript: true };

describe('planHost', () => {
  const site = SiteConfigSchema.parse(
    siteJson(
      [
        pluginAsset('a-1', 'alpha', {}),
        pluginAsset('a-2', 'alpha', {}),
        { ...pluginAsset('a-off', 'alpha', {}), enabled: false },
        pluginAsset('b-1', 'beta', {}),
        {
          id: 'grid',
          name: 'grid',
          kind: 'grid-meter',
          profile: 'eastron.sdm630',
          connection: { protocol: 'simulated' },
        },
      ],
      [
        { name: 'alpha', module: './testing/fixtures/battery.ts' },
        { name: 'beta', module: './testing/fixtures/battery.ts', enabled: false },
        { name: 'gamma', module: './nope.js' },
      ],
    ),
  );
  const plan = planHost(site, resolve);

  it('serves every enabled plugin asset, and only those', () => {
    expect(plan.assets.map((a) => [a.id, a.index, a.driver])).toEqual([
      ['a-1', 0, 'alpha'],
      ['a-2', 1, 'alpha'],
      ['b-1', 3, 'beta'],
    ]);
  });

  it('loads the enabled drivers that have assets, with their module resolved from the site folder', () => {
    expect(plan.drivers.map((d) => [d.name, d.index, d.assets.map((a) => a.id)])).toEqual([
      ['alpha', 0, ['a-1', 'a-2']],
    ]);
    expect(plan.drivers[0]?.resolution).toEqual({
      ok: true,
      path: join(__dirname, 'testing', 'fixtures', 'battery.ts'),
      via: 'path',
    });
    expect(plan.idle).toEqual(['gamma']);
  });

  it('keeps the assets of a disabled driver, with the reason they cannot be driven', () => {
    expect([...plan.unusable]).toEqual([['b-1', "driver 'beta' is disabled in the site's drivers list"]]);
  });
});
