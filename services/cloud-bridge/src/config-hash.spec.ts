import { changedSections, configHash, LIVE_SECTIONS, requiresRestart } from './config-hash';
import { parsedSite } from './testing/site';

describe('configuration hash', () => {
  it('is SHA-256 hex of the canonical JSON: key order does not matter, values do', () => {
    expect(configHash({ a: 1, b: [1, 2] })).toMatch(/^[0-9a-f]{64}$/);
    expect(configHash({ b: [1, 2], a: 1 })).toBe(configHash({ a: 1, b: [1, 2] }));
    expect(configHash({ a: 1, b: [2, 1] })).not.toBe(configHash({ a: 1, b: [1, 2] }));
  });

  it('is the SHA-256 of the canonical text (a fixed vector)', () => {
    // sha256('{"a":1}') computed independently: echo -n '{"a":1}' | sha256sum
    expect(configHash({ a: 1 })).toBe('015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
  });
});

describe('changed sections and requiresRestart', () => {
  const base = parsedSite();

  it.each([
    [
      'the active strategy',
      parsedSite({ strategy: { active: ['net-zero'], tickMs: 1000, config: {} } }),
      ['strategy'],
      false,
    ],
    ['the tariff', parsedSite({ tariff: { kind: 'fixed', fixedEurPerMwh: 200 } }), ['tariff'], false],
    [
      'the site name and time zone',
      parsedSite({ siteName: 'Renamed', timezone: 'Europe/Berlin' }),
      ['siteName', 'timezone'],
      false,
    ],
    [
      'an asset limit',
      parsedSite({
        assets: base.assets.map((a) =>
          a.kind === 'battery' ? { ...a, battery: { ...a.battery, maxDischargePowerW: 4000 } } : a,
        ),
      }),
      ['assets'],
      true,
    ],
    ['the grid connection', parsedSite({ grid: { ...base.grid, maxImportW: 12_000 } }), ['grid'], true],
    ['the cloud link', parsedSite({ cloud: { transport: 'mqtt', brokerUrl: 'mqtt://broker:1883' } }), ['cloud'], true],
    [
      'strategy and assets together',
      parsedSite({ strategy: { active: ['null'] }, assets: base.assets.slice(0, 1) }),
      ['assets', 'strategy'],
      true,
    ],
  ])('%s', (_name, next, sections, restart) => {
    const changed = changedSections(base, next);
    expect(changed).toEqual(sections);
    expect(requiresRestart(changed)).toBe(restart);
  });

  it('sees an added optional section', () => {
    expect(changedSections(base, { ...base, $schema: './schema.json' })).toEqual(['$schema']);
  });

  it('nothing changed → no sections, no restart', () => {
    expect(changedSections(base, parsedSite())).toEqual([]);
    expect(requiresRestart([])).toBe(false);
  });

  it('lists strategy, rules and tariff as live (the strategy-engine switches them on config.updated)', () => {
    expect([...LIVE_SECTIONS]).toEqual(expect.arrayContaining(['strategy', 'rules', 'tariff']));
    expect(LIVE_SECTIONS.has('assets')).toBe(false);
  });
});
