import { problemSummary, validateSite } from './site-validation';
import { testSite } from './testing/site';

describe('validateSite (the checks of voltimax config validate)', () => {
  it('accepts a valid site and hashes its parsed form', () => {
    const result = validateSite(testSite(), 'gw-test');
    expect(result.ok && result.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same hash whether defaults were written or not', () => {
    const bare = testSite();
    const explicit = { ...testSite(), rules: [], cloud: { transport: 'none' as const } };
    delete (bare as { rules?: unknown }).rules;
    const a = validateSite(bare, 'gw-test');
    const b = validateSite(explicit, 'gw-test');
    expect(a.ok && b.ok && a.hash === b.hash).toBe(true);
  });

  it.each([
    ['a schema problem', testSite({ grid: { maxImportW: -5, maxExportW: 0 } }), '$.grid.maxImportW'],
    [
      'an unknown device profile',
      testSite({ assets: [{ ...testSite().assets[1]!, profile: 'acme.nothing' }] }),
      '$.assets[0].profile',
    ],
    [
      'a strategy block with a typo',
      testSite({ strategy: { active: ['net-zero'], config: { 'net-zero': { deadbandWatts: 50 } } } }),
      '$.strategy.config["net-zero"]',
    ],
    ['another gateway', testSite({ gatewayId: 'gw-other' }), '$.gatewayId'],
  ])('refuses %s, naming its JSON path', (_name, raw, path) => {
    const result = validateSite(raw, 'gw-test');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.path)).toContain(path);
  });

  it('refuses what is not a configuration at all', () => {
    expect(validateSite('not an object', 'gw-test').ok).toBe(false);
  });

  it('summarizes problems on one line within a limit', () => {
    const problems = Array.from({ length: 50 }, (_, i) => ({
      path: `$.assets[${i}].id`,
      message: 'duplicate asset id',
    }));
    const summary = problemSummary(problems, 200);
    expect(summary.length).toBeLessThanOrEqual(200);
    expect(summary.startsWith('$.assets[0].id: duplicate asset id; $.assets[1].id')).toBe(true);
  });
});
