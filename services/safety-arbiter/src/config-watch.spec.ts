import { judgeSiteFile } from './config-watch';
import { testSite, TEST_SITE } from './testing/site';

const running = testSite();
const judge = (text: string | undefined, batteryModels: ReadonlyMap<string, string> = new Map()) =>
  judgeSiteFile(running, 'assets.json', batteryModels, () => {
    if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return text;
  });
const withGrid = (grid: object) => JSON.stringify({ ...TEST_SITE, grid: { ...TEST_SITE.grid, ...grid } });

describe('judgeSiteFile (what a changed site file means for the running arbiter)', () => {
  it('is unchanged when only what the arbiter does not enforce changed (strategy, name, tariff)', () => {
    expect(judge(JSON.stringify(TEST_SITE))).toEqual({ kind: 'unchanged' });
    const other = { ...TEST_SITE, siteName: 'renamed', strategy: { active: ['self-consumption'] } };
    expect(judge(JSON.stringify(other))).toEqual({ kind: 'unchanged' });
  });

  it('names a changed grid limit and changed assets', () => {
    expect(judge(withGrid({ maxImportW: 8_000 }))).toEqual({ kind: 'changed', sections: ['grid'] });
    const assets = (TEST_SITE.assets ?? []).map((a) =>
      a.id === 'bat-1' && a.kind === 'battery' ? { ...a, battery: { ...a.battery, maxDischargePowerW: 3_000 } } : a,
    );
    expect(judge(JSON.stringify({ ...TEST_SITE, assets }))).toEqual({ kind: 'changed', sections: ['assets'] });
  });

  it('compares validated configurations: an equal one written differently (defaults spelled out) is unchanged', () => {
    expect(judge(withGrid({ phases: 3 }))).toEqual({ kind: 'unchanged' });
  });

  it('refuses a file it could not start with, keeping the running limits: unreadable, invalid, BATTERY_MODELS', () => {
    expect(judge(undefined)).toMatchObject({ kind: 'refused', problems: [expect.stringMatching(/cannot read assets\.json/)] });
    expect(judge('{ "v": 1,')).toMatchObject({ kind: 'refused', problems: [expect.stringMatching(/not valid JSON/)] });
    expect(judge(withGrid({ maxImportW: -1 }))).toMatchObject({ kind: 'refused' });
    const noBattery = { ...TEST_SITE, assets: (TEST_SITE.assets ?? []).filter((a) => a.id !== 'bat-1') };
    expect(judge(JSON.stringify(noBattery), new Map([['bat-1', 'cnte.cabinet-125kw-261kwh']]))).toEqual({
      kind: 'refused',
      problems: ["BATTERY_MODELS: 'bat-1' is not a battery in assets.json"],
    });
  });
});
