#!/usr/bin/env node
// Builds the dashboard UI (services/dashboard/ui, Vite + Preact) into services/dashboard/dist-ui, or `--out <dir>`.
// Run by the root `prepare` script at `npm ci`, and by the dashboard itself when dist-ui is missing at start.
// Without the build tools (an `npm ci --omit=dev` image) it says so and exits 0: such an image must ship dist-ui.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf('--out');
const outDir = resolve(outFlag > 0 && process.argv[outFlag + 1] ? process.argv[outFlag + 1] : join(here, 'dist-ui'));
const require = createRequire(import.meta.url);

function available(name) {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}

const missing = ['vite', '@preact/preset-vite', 'preact'].filter((name) => !available(name));
if (missing.length > 0) {
  process.stdout.write(`[dashboard-ui] not built: ${missing.join(', ')} not installed (dev dependencies)\n`);
  process.exit(0);
}

const { build } = await import('vite');
const started = Date.now();
await build({
  configFile: join(here, 'ui', 'vite.config.mjs'),
  logLevel: 'warn',
  build: { outDir, emptyOutDir: true },
});
process.stdout.write(`[dashboard-ui] built into ${outDir} in ${Date.now() - started} ms\n`);
