#!/usr/bin/env node
// Bundles the driver into one CommonJS file, so the driver host can load it like any npm package from built
// JavaScript (package.json "main"): node libs/driver-bacnet/build.js [--out <dir>]   (default: libs/driver-bacnet/dist)
// The workspace aliases (@voltimax/contracts, @voltimax/driver-sdk) and @bacnet-js/client, zod, debug and iconv-lite
// are inlined; nothing is left to install next to it.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

async function main() {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? path.resolve(args[outIndex + 1] ?? '') : path.join(__dirname, 'dist');
  const esbuild = require('esbuild');
  fs.rmSync(out, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { index: path.join(__dirname, 'src', 'index.ts') },
    outdir: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(ROOT, 'tsconfig.base.json'),
    // optional peers of debug; absent on purpose
    external: ['supports-color'],
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    logLevel: 'warning',
    banner: { js: '// @voltimax/driver-bacnet: bundled by libs/driver-bacnet/build.js' },
  });
  const bytes = fs.statSync(path.join(out, 'index.js')).size;
  process.stdout.write(`${path.join(out, 'index.js')} ${(bytes / 1024).toFixed(0)} KiB\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
