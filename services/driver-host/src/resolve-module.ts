import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** Where a driver module was found, or why not. */
export type ModuleResolution =
  | { readonly ok: true; readonly path: string; readonly via: 'path' | 'package' | 'workspace' }
  | { readonly ok: false; readonly reason: string };

export interface ResolveOptions {
  /** Folder of the site file: relative module paths start here. */
  readonly siteDir: string;
  /** A file of the host: npm package names resolve from its node_modules. */
  readonly hostFile: string;
  /**
   * Running from TypeScript sources: a package's `source` entry (its TypeScript) is preferred over `main`, and
   * workspace path aliases (`paths` of this tsconfig) are tried for package names not installed.
   */
  readonly typescript: boolean;
  readonly workspaceTsconfig?: string;
}

const isFile = (path: string): boolean => existsSync(path) && statSync(path).isFile();
const isDirectory = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A file, or a package folder (package.json `source` in TypeScript mode, then `main`, then index.js/index.ts). */
function entryOf(target: string, typescript: boolean): string | undefined {
  if (isFile(target)) return target;
  if (!isDirectory(target)) {
    for (const ext of typescript ? ['.js', '.cjs', '.ts'] : ['.js', '.cjs'])
      if (isFile(`${target}${ext}`)) return `${target}${ext}`;
    return undefined;
  }
  const manifest = readJson(join(target, 'package.json'));
  const candidates = [
    ...(typescript ? [manifest?.['source']] : []),
    manifest?.['main'],
    exportedEntry(manifest?.['exports']),
  ];
  for (const value of candidates) {
    if (typeof value === 'string' && value !== '') {
      const found = entryOf(resolve(target, value), typescript);
      if (found !== undefined) return found;
    }
  }
  for (const name of typescript ? ['index.js', 'index.ts', 'src/index.ts'] : ['index.js']) {
    if (isFile(join(target, name))) return join(target, name);
  }
  return undefined;
}

/** The CommonJS entry of package.json `exports` (`"./x.js"`, `{ ".": … }`, `{ require | node | default: … }`). */
function exportedEntry(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (typeof exports !== 'object' || exports === null) return undefined;
  const map = exports as Record<string, unknown>;
  if ('.' in map) return exportedEntry(map['.']);
  for (const condition of ['require', 'node', 'default']) {
    const found = exportedEntry(map[condition]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The folder of package `name` in the node_modules above `fromDir` (Node's lookup, done by hand). */
function packageDir(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (isFile(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** `@voltimax/driver-x` → `libs/driver-x/src/index.ts` through the workspace's `paths` (development only). */
function workspaceAlias(name: string, tsconfig: string): string | undefined {
  const compilerOptions = readJson(tsconfig)?.['compilerOptions'] as Record<string, unknown> | undefined;
  const paths = compilerOptions?.['paths'] as Record<string, unknown> | undefined;
  const targets = paths?.[name];
  if (!Array.isArray(targets)) return undefined;
  const base = resolve(
    dirname(tsconfig),
    typeof compilerOptions?.['baseUrl'] === 'string' ? compilerOptions['baseUrl'] : '.',
  );
  for (const target of targets) {
    if (typeof target === 'string' && isFile(resolve(base, target))) return resolve(base, target);
  }
  return undefined;
}

/**
 * Finds the module of a `drivers[].module` entry: a path (absolute, or relative to the site file's folder; a file or
 * a package folder) or an npm package name, resolved from the host's own node_modules (and, from TypeScript sources,
 * the workspace's path aliases).
 */
export function resolveDriverModule(spec: string, options: ResolveOptions): ModuleResolution {
  if (isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../')) {
    const target = resolve(options.siteDir, spec);
    const entry = entryOf(target, options.typescript);
    return entry === undefined
      ? { ok: false, reason: `no driver module at ${target} (a .js file, or a folder with package.json "main")` }
      : { ok: true, path: entry, via: 'path' };
  }
  // Looked up by hand rather than with require.resolve: the same answer under any module loader (Jest replaces it).
  const installed = packageDir(spec, dirname(options.hostFile));
  if (installed !== undefined) {
    const entry = entryOf(installed, options.typescript);
    return entry === undefined
      ? { ok: false, reason: `npm package '${spec}' (${installed}) has no entry ("main" or "exports")` }
      : { ok: true, path: entry, via: 'package' };
  }
  if (options.typescript && options.workspaceTsconfig !== undefined) {
    const alias = workspaceAlias(spec, options.workspaceTsconfig);
    if (alias !== undefined) return { ok: true, path: alias, via: 'workspace' };
  }
  return {
    ok: false,
    reason: `npm package '${spec}' is not installed next to the driver-host (${dirname(options.hostFile)})`,
  };
}
