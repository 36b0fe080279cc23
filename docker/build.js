#!/usr/bin/env node
// Production build of the service images (docker/Dockerfile runs it; it runs the same way on a workstation).
//
//   node docker/build.js [--out dist] [service ...]
//     Bundles each services/<name>/src/main.ts (default: every service that has one) with esbuild into
//     <out>/<name>/main.js: one CommonJS file for Node 20 with the workspace path aliases of tsconfig.base.json
//     resolved and every pure-JavaScript dependency inlined. Packages that cannot be inlined (EXTERNAL: native
//     addons, files loaded from the package folder at run time) stay `require`s; the ones a bundle really uses
//     are listed, with the installed version, in <out>/<name>/package.json.
//
//     With driver-host, the workspace's protocol plugins (libs/driver-*/ with a package.json name) are bundled too,
//     each into one file at <out>/driver-plugins/node_modules/<package>/index.js: the driver-host image puts them in
//     /node_modules, where the host finds them by package name (`drivers[].module: "@voltimax/driver-bacnet"`).
//
//   node docker/build.js --modules <dir-with-node_modules> [--out dist] [--verify]
//     Copies, for every bundle in <out>, those packages and everything they depend on from an installed
//     node_modules tree (same nested layout, so resolution is unchanged) into <out>/<name>/node_modules.
//     The Dockerfile runs this on the target platform after `npm ci --omit=dev`, so a native addon always
//     matches the image's architecture. --verify then loads each of them once from the bundle's folder.
const fs = require('node:fs');
const path = require('node:path');
const { isBuiltin } = require('node:module');

const ROOT = path.join(__dirname, '..');

/**
 * Never inlined. serialport: a native addon found through node-gyp-build relative to its package folder.
 * highs: an Emscripten build that reads highs.wasm next to its own file.
 */
const EXTERNAL = ['serialport', '@serialport/*', 'highs'];

/** Optional peers that libraries `require` inside try/catch; absent on purpose. */
const OPTIONAL_ABSENT = ['bufferutil', 'utf-8-validate', 'supports-color', 'pino-pretty'];

function parseArgs(argv) {
  const args = { out: path.join(ROOT, 'dist'), modules: undefined, verify: false, services: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--out') args.out = path.resolve(argv[++i] ?? '');
    else if (arg === '--modules') args.modules = path.resolve(argv[++i] ?? '');
    else if (arg === '--verify') args.verify = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else args.services.push(arg);
  }
  return args;
}

/** Every service with an entry point, in name order. */
function discoverServices() {
  const dir = path.join(ROOT, 'services');
  return fs
    .readdirSync(dir)
    .filter((name) => fs.existsSync(path.join(dir, name, 'src', 'main.ts')))
    .sort();
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

async function bundle(service, out) {
  const esbuild = require('esbuild');
  const entry = path.join(ROOT, 'services', service, 'src', 'main.ts');
  const dir = path.join(out, service);
  fs.rmSync(dir, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: { main: entry },
    outdir: dir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(ROOT, 'tsconfig.base.json'),
    external: [...EXTERNAL, ...OPTIONAL_ABSENT],
    sourcemap: 'linked',
    sourcesContent: false,
    // Memory: Node keeps a bundle's whole source in the heap for as long as it runs, as one string. Without comments
    // and indentation it is ~30 % smaller, and it is one byte per character: a single non-Latin-1 character (a `—`
    // in a comment) makes V8 store all of it as two-byte, doubling it (6 MiB instead of 3 for the poller).
    // Names stay (no identifier minification): stack traces keep function names; their positions (line:column of
    // main.js) map back to the sources through main.js.map.
    minifyWhitespace: true,
    // Keeps class and function names: error names and pino component names must read as in the sources.
    keepNames: true,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    banner: { js: `// ${service}: bundled by docker/build.js from services/${service}/src/main.ts` },
  });
  const imports = Object.entries(result.metafile.outputs)
    .filter(([file]) => file.endsWith('main.js'))
    .flatMap(([, output]) => output.imports);
  const externals = [
    ...new Set(
      imports
        .filter((i) => i.external && !isBuiltin(i.path) && !OPTIONAL_ABSENT.includes(packageName(i.path)))
        .map((i) => packageName(i.path)),
    ),
  ].sort();
  const rootPackage = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dependencies = Object.fromEntries(externals.map((name) => [name, installedVersion(name)]));
  const manifest = {
    name: `voltimax-${service}`,
    version: rootPackage.version,
    private: true,
    description: `Voltimax Edge Gateway ${service} (bundled; docker/build.js)`,
    main: 'main.js',
    engines: rootPackage.engines,
    dependencies,
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const bytes = fs.statSync(path.join(dir, 'main.js')).size;
  const wide = wideCharacters(fs.readFileSync(path.join(dir, 'main.js'), 'utf8'));
  process.stdout.write(
    `${service}: ${path.join(dir, 'main.js')} ${(bytes / 1024).toFixed(0)} KiB; external: ${externals.join(', ') || 'none'}\n`,
  );
  if (wide.length > 0)
    process.stdout.write(
      `${service}: warning: main.js has ${wide.length} character(s) beyond Latin-1 (first ${JSON.stringify(wide[0])}): ` +
        `Node then holds its source as a two-byte string, ${(bytes / 1024).toFixed(0)} KiB more heap\n`,
    );
  return { service, externals };
}

/** Workspace protocol plugins: libs/driver-<name> folders with a package.json name and src/index.ts (not the SDK). */
function discoverPlugins() {
  const dir = path.join(ROOT, 'libs');
  return fs
    .readdirSync(dir)
    .filter((name) => name.startsWith('driver-') && name !== 'driver-sdk')
    .filter(
      (name) =>
        fs.existsSync(path.join(dir, name, 'package.json')) && fs.existsSync(path.join(dir, name, 'src', 'index.ts')),
    )
    .sort();
}

/** Bundles one plugin with everything it imports into <out>/driver-plugins/node_modules/<package>/index.js. */
async function bundlePlugin(lib, out) {
  const esbuild = require('esbuild');
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'libs', lib, 'package.json'), 'utf8'));
  const dir = path.join(out, 'driver-plugins', 'node_modules', manifest.name);
  fs.rmSync(dir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { index: path.join(ROOT, 'libs', lib, 'src', 'index.ts') },
    outdir: dir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(ROOT, 'tsconfig.base.json'),
    external: OPTIONAL_ABSENT,
    minifyWhitespace: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    logLevel: 'warning',
    banner: { js: `// ${manifest.name}: bundled by docker/build.js from libs/${lib}/src/index.ts` },
  });
  const plugin = {
    name: manifest.name,
    version: manifest.version,
    private: true,
    main: 'index.js',
    engines: manifest.engines,
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(plugin, null, 2)}\n`);
  const bytes = fs.statSync(path.join(dir, 'index.js')).size;
  process.stdout.write(`plugin ${manifest.name}: ${path.join(dir, 'index.js')} ${(bytes / 1024).toFixed(0)} KiB\n`);
}

/** Characters above U+00FF in `text` (at most 10), each with some context: they make V8 store a string as two-byte. */
function wideCharacters(text) {
  const found = [];
  for (const match of text.matchAll(/[\u0100-\uffff]/g)) {
    found.push(text.slice(Math.max(0, match.index - 30), match.index + 10));
    if (found.length === 10) break;
  }
  return found;
}

/** The folder of package `name` as Node resolves it from `fromDir`, within `root`; undefined when absent. */
function resolvePackageDir(name, fromDir, root) {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root) return undefined;
    const parent = path.dirname(dir);
    if (parent === dir || path.relative(root, parent).startsWith('..')) return undefined;
    dir = parent;
  }
}

/** Version of a package installed in the workspace (read from its folder: `exports` may hide package.json). */
function installedVersion(name) {
  const dir = resolvePackageDir(name, ROOT, ROOT);
  if (dir === undefined) throw new Error(`${name} is not installed: run npm ci`);
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

/** Folders (relative to `root`) of `names` and their whole dependency closure. Missing optional packages are skipped. */
function dependencyClosure(names, root) {
  const found = new Map();
  const visit = (name, fromDir, required, wantedBy) => {
    const dir = resolvePackageDir(name, fromDir, root);
    if (dir === undefined) {
      if (required) throw new Error(`${name} (needed by ${wantedBy}) is not installed under ${root}`);
      return;
    }
    const rel = path.relative(root, dir);
    if (found.has(rel)) return;
    found.set(rel, name);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const optionalPeers = manifest.peerDependenciesMeta ?? {};
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep, dir, true, name);
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(dep, dir, false, name);
    for (const dep of Object.keys(manifest.peerDependencies ?? {}))
      visit(dep, dir, !optionalPeers[dep]?.optional, name);
  };
  for (const name of names) visit(name, root, true, 'the bundle');
  return [...found.keys()].sort();
}

function copyModules(out, modulesRoot, verify) {
  if (!fs.existsSync(path.join(modulesRoot, 'node_modules'))) throw new Error(`${modulesRoot} has no node_modules`);
  for (const service of fs.readdirSync(out).sort()) {
    const manifestFile = path.join(out, service, 'package.json');
    if (!fs.existsSync(manifestFile)) continue;
    const names = Object.keys(JSON.parse(fs.readFileSync(manifestFile, 'utf8')).dependencies ?? {});
    const target = path.join(out, service);
    fs.rmSync(path.join(target, 'node_modules'), { recursive: true, force: true });
    const folders = dependencyClosure(names, modulesRoot);
    for (const rel of folders) {
      const from = path.join(modulesRoot, rel);
      const nested = path.join(from, 'node_modules');
      // Nested node_modules are copied as packages of their own (only those in the closure).
      fs.cpSync(from, path.join(target, rel), { recursive: true, dereference: true, filter: (src) => src !== nested });
    }
    process.stdout.write(`${service}: ${folders.length} packages copied into ${path.join(target, 'node_modules')}\n`);
    // Loading each external once from the bundle's folder proves it resolves there and that a native addon
    // matches this platform (serialport loads its binding when required).
    if (verify) for (const name of names) require(require.resolve(name, { paths: [target] }));
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(
      'usage: node docker/build.js [--out dir] [service ...] | --modules <dir> [--out dir] [--verify]\n',
    );
    return;
  }
  if (args.modules !== undefined) {
    copyModules(args.out, args.modules, args.verify);
    return;
  }
  const known = discoverServices();
  const services = args.services.length > 0 ? args.services : known;
  const unknown = services.filter((s) => !known.includes(s));
  if (unknown.length > 0) throw new Error(`no services/<name>/src/main.ts for: ${unknown.join(', ')}`);
  fs.mkdirSync(args.out, { recursive: true });
  for (const service of services) await bundle(service, args.out);
  if (services.includes('driver-host')) for (const lib of discoverPlugins()) await bundlePlugin(lib, args.out);
}

module.exports = { EXTERNAL, discoverServices, discoverPlugins, dependencyClosure, packageName, wideCharacters };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`docker/build.js: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
