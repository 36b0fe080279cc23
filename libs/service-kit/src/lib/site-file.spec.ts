import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, parseEnv } from './env';
import { loadSiteConfig, siteFileEnv, siteFileMessages, type ReadTextFile } from './site-file';

const EXAMPLE = readFileSync(join(__dirname, '../../../../docker/config/assets.example.json'), 'utf8');

function files(contents: Record<string, string>): ReadTextFile {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
}

function invalidSite(): string {
  const raw = JSON.parse(EXAMPLE) as { grid: Record<string, unknown> };
  raw.grid['maxImportW'] = -1;
  return JSON.stringify(raw);
}

describe('loadSiteConfig', () => {
  it('reads, parses and validates assets.json, keeping the raw JSON', () => {
    const outcome = loadSiteConfig('site.json', files({ 'site.json': EXAMPLE }));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.path).toBe('site.json');
    expect(outcome.site.assets.map((a) => a.kind)).toEqual(['battery', 'hybrid-inverter', 'grid-meter', 'ev-charger']);
    expect(outcome.raw).toEqual(JSON.parse(EXAMPLE));
  });

  it('reads from disk by default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'site-file-'));
    try {
      writeFileSync(join(dir, 'assets.json'), EXAMPLE);
      expect(loadSiteConfig(join(dir, 'assets.json')).ok).toBe(true);
      const missing = loadSiteConfig(join(dir, 'nope.json'));
      expect(missing).toEqual({
        ok: false,
        reason: 'unreadable',
        problems: [{ path: '$', message: `cannot read ${join(dir, 'nope.json')}: ENOENT` }],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file it cannot read, naming the error code', () => {
    expect(loadSiteConfig('nope.json', files({}))).toEqual({
      ok: false,
      reason: 'unreadable',
      problems: [{ path: '$', message: 'cannot read nope.json: ENOENT' }],
    });
  });

  it('falls back to the error text when a read error has no code', () => {
    const outcome = loadSiteConfig('x.json', () => {
      throw new Error('boom');
    });
    expect(!outcome.ok && outcome.problems).toEqual([{ path: '$', message: 'cannot read x.json: Error: boom' }]);
  });

  it('refuses broken JSON', () => {
    const outcome = loadSiteConfig('broken.json', files({ 'broken.json': '{ "v": 1,' }));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.reason).toBe('not-json');
    expect(outcome.problems).toHaveLength(1);
    expect(outcome.problems[0]?.path).toBe('$');
    expect(outcome.problems[0]?.message).toMatch(/^broken\.json is not valid JSON: /);
  });

  it('lists every schema problem with its JSON path', () => {
    const outcome = loadSiteConfig('invalid.json', files({ 'invalid.json': invalidSite() }));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.reason).toBe('invalid');
    expect(outcome.problems.map((p) => p.path)).toContain('$.grid.maxImportW');
  });
});

describe('siteFileMessages', () => {
  it('keeps read and JSON problems as they are and prefixes schema problems with the file', () => {
    expect(
      siteFileMessages('a.json', {
        ok: false,
        reason: 'unreadable',
        problems: [{ path: '$', message: 'cannot read a.json: EACCES' }],
      }),
    ).toEqual(['cannot read a.json: EACCES']);
    expect(
      siteFileMessages('a.json', {
        ok: false,
        reason: 'invalid',
        problems: [
          { path: '$', message: 'Invalid input' },
          { path: '$.v', message: 'Invalid input' },
        ],
      }),
    ).toEqual(['a.json $: Invalid input', 'a.json $.v: Invalid input']);
  });
});

describe('siteFileEnv', () => {
  const disk = files({ 'site.json': EXAMPLE, 'broken.json': '[', 'invalid.json': invalidSite() });
  const schema = z.object({ SITE_FILE: siteFileEnv(disk), OTHER: z.coerce.number().int().default(1) });

  function problems(env: Record<string, string>): string {
    try {
      parseEnv('svc', schema, env);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    throw new Error('expected a ConfigError');
  }

  it('yields the path, the validated site and the raw JSON', () => {
    const { service } = parseEnv('svc', schema, { SITE_FILE: 'site.json' });
    expect(service.SITE_FILE.path).toBe('site.json');
    expect(service.SITE_FILE.site.assets).toHaveLength(4);
    expect(service.SITE_FILE.raw).toEqual(JSON.parse(EXAMPLE));
  });

  it.each([
    [{}, /^ {2}SITE_FILE: /m],
    [{ SITE_FILE: 'nope.json' }, /^ {2}SITE_FILE: cannot read nope\.json: ENOENT$/m],
    [{ SITE_FILE: 'broken.json' }, /^ {2}SITE_FILE: broken\.json is not valid JSON: /m],
    [{ SITE_FILE: 'invalid.json' }, /^ {2}SITE_FILE: invalid\.json \$\.grid\.maxImportW: /m],
  ])('refuses %j', (env, message) => {
    expect(problems(env)).toMatch(message);
  });

  it('is listed with the other bad variables', () => {
    const message = problems({ SITE_FILE: 'nope.json', OTHER: 'x' });
    expect(message).toMatch(/SITE_FILE: cannot read nope\.json/);
    expect(message).toMatch(/OTHER: /);
  });
});
