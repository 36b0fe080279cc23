import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDriverModule, type ResolveOptions } from './resolve-module';
import { WORKSPACE_TSCONFIG } from './worker-spawn';

let dir: string;
const base = (typescript: boolean): ResolveOptions => ({
  siteDir: join(dir, 'config'),
  hostFile: __filename,
  typescript,
  workspaceTsconfig: WORKSPACE_TSCONFIG,
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'resolve-module-'));
  mkdirSync(join(dir, 'config', 'drivers', 'acme', 'src'), { recursive: true });
  mkdirSync(join(dir, 'config', 'drivers', 'acme', 'dist'), { recursive: true });
  writeFileSync(
    join(dir, 'config', 'drivers', 'acme', 'package.json'),
    JSON.stringify({ main: 'dist/index.js', source: 'src/index.ts' }),
  );
  writeFileSync(join(dir, 'config', 'drivers', 'acme', 'dist', 'index.js'), '');
  writeFileSync(join(dir, 'config', 'drivers', 'acme', 'src', 'index.ts'), '');
  writeFileSync(join(dir, 'config', 'drivers', 'single.js'), '');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveDriverModule', () => {
  it('resolves a path relative to the site file folder: a file, or a package folder by its main', () => {
    expect(resolveDriverModule('./drivers/single.js', base(false))).toEqual({
      ok: true,
      path: join(dir, 'config', 'drivers', 'single.js'),
      via: 'path',
    });
    expect(resolveDriverModule('./drivers/single', base(false))).toMatchObject({
      ok: true,
      path: join(dir, 'config', 'drivers', 'single.js'),
    });
    expect(resolveDriverModule('./drivers/acme', base(false))).toMatchObject({
      ok: true,
      path: join(dir, 'config', 'drivers', 'acme', 'dist', 'index.js'),
    });
    expect(resolveDriverModule(join(dir, 'config', 'drivers', 'acme'), base(false))).toMatchObject({
      ok: true,
      via: 'path',
    });
  });

  it('prefers the package source (TypeScript) when running from TypeScript sources', () => {
    expect(resolveDriverModule('./drivers/acme', base(true))).toMatchObject({
      ok: true,
      path: join(dir, 'config', 'drivers', 'acme', 'src', 'index.ts'),
    });
  });

  it('names the path it looked at when there is nothing', () => {
    expect(resolveDriverModule('../nowhere', base(false))).toEqual({
      ok: false,
      reason: `no driver module at ${join(dir, 'nowhere')} (a .js file, or a folder with package.json "main")`,
    });
  });

  it('resolves npm package names from the host node_modules', () => {
    expect(resolveDriverModule('zod', base(false))).toMatchObject({ ok: true, via: 'package' });
    expect(resolveDriverModule('@voltimax/no-such-driver', base(false))).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^npm package '@voltimax\/no-such-driver' is not installed next to the driver-host/,
      ),
    });
  });

  it('finds workspace packages through the path aliases only when running from TypeScript sources', () => {
    expect(resolveDriverModule('@voltimax/driver-example-keba', base(true))).toMatchObject({
      ok: true,
      via: 'workspace',
      path: expect.stringMatching(/libs\/driver-example-keba\/src\/index\.ts$/),
    });
    expect(resolveDriverModule('@voltimax/driver-example-keba', base(false))).toMatchObject({ ok: false });
  });
});
