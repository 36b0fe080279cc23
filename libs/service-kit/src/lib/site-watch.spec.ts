import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SiteConfigSchema, type SiteConfig } from '@voltimax/contracts';
import { loadSiteConfig, siteFileMessages } from './site-file';
import { judgeSiteChange, type SiteLoad } from './site-watch';

const EXAMPLE = readFileSync(join(__dirname, '../../../../docker/config/assets.example.json'), 'utf8');
type Raw = { grid: Record<string, unknown>; assets: { id: string; battery?: Record<string, unknown> }[] } & Record<
  string,
  unknown
>;
const raw = (): Raw => JSON.parse(EXAMPLE) as Raw;
const running: SiteConfig = SiteConfigSchema.parse(raw());
/** The site as a service loading `text` as its SITE_FILE would see it, with an optional check of its own. */
const load = (text: string | undefined, check?: (site: SiteConfig) => string | undefined): SiteLoad => {
  const loaded = loadSiteConfig('assets.json', () => {
    if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return text;
  });
  if (!loaded.ok) return { ok: false, problems: siteFileMessages('assets.json', loaded) };
  const problem = check?.(loaded.site);
  if (problem !== undefined) return { ok: false, problems: [problem] };
  return { ok: true, parts: { grid: loaded.site.grid, assets: loaded.site.assets } };
};
const judge = (text: string | undefined, check?: (site: SiteConfig) => string | undefined) =>
  judgeSiteChange({ grid: running.grid, assets: running.assets }, load(text, check));

describe('judgeSiteChange (what a changed site file means for a service that read it at start)', () => {
  it('is unchanged when only sections the service does not use changed (name, strategy)', () => {
    expect(judge(EXAMPLE)).toEqual({ kind: 'unchanged' });
    expect(
      judge(JSON.stringify({ ...raw(), siteName: 'renamed', strategy: { active: ['self-consumption'] } })),
    ).toEqual({
      kind: 'unchanged',
    });
  });

  it('names the changed sections', () => {
    const tighter = raw();
    tighter.grid['maxImportW'] = 8_000;
    expect(judge(JSON.stringify(tighter))).toEqual({ kind: 'changed', sections: ['grid'] });
    const both = raw();
    both.grid['maxExportW'] = 0;
    const battery = both.assets.find((a) => a.id === 'bat-1')?.battery;
    if (battery !== undefined) battery['maxDischargePowerW'] = 2_000;
    expect(judge(JSON.stringify(both))).toEqual({ kind: 'changed', sections: ['grid', 'assets'] });
  });

  it('compares validated configurations: a default spelled out is no change', () => {
    const spelled = raw();
    spelled.grid['phases'] = running.grid.phases;
    spelled.grid['nominalVoltageV'] = running.grid.nominalVoltageV;
    expect(judge(JSON.stringify(spelled))).toEqual({ kind: 'unchanged' });
  });

  it("refuses a file the service could not start with: unreadable, not JSON, invalid, or failing the service's check", () => {
    expect(judge(undefined)).toMatchObject({
      kind: 'refused',
      problems: [expect.stringMatching(/cannot read assets\.json/)],
    });
    expect(judge('{ "v": 1,')).toMatchObject({ kind: 'refused', problems: [expect.stringMatching(/not valid JSON/)] });
    const invalid = raw();
    invalid.grid['maxImportW'] = -1;
    expect(judge(JSON.stringify(invalid))).toMatchObject({
      kind: 'refused',
      problems: [expect.stringMatching(/maxImportW/)],
    });
    expect(judge(EXAMPLE, (site) => (site.assets.length > 3 ? 'too many assets for this test' : undefined))).toEqual({
      kind: 'refused',
      problems: ['too many assets for this test'],
    });
  });
});
