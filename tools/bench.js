#!/usr/bin/env node
// `npm run bench`: runs every script in tools/bench/ (*.js with node, *.ts through tools/run-ts.js), one after the
// other, and prints their figures. A bench prints its own lines ("<bench>: <what>: <figures>"); this runner adds
// the wall time of each script and exits non-zero if any script failed. Only some: npm run bench -- backtest
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIR = path.join(__dirname, 'bench');
const filters = process.argv.slice(2);
const scripts = (fs.existsSync(DIR) ? fs.readdirSync(DIR) : [])
  .filter((f) => /\.(js|ts)$/.test(f) && !/\.(spec|d)\.ts$/.test(f) && !f.startsWith('lib-'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const cpu = os.cpus()[0];
process.stdout.write(`bench: ${scripts.length} script(s) on ${os.cpus().length} × ${cpu ? cpu.model : 'cpu'}, node ${process.version}\n`);
const failed = [];
for (const script of scripts) {
  const file = path.join(DIR, script);
  const args = script.endsWith('.ts') ? [path.join(__dirname, 'run-ts.js'), file] : [file];
  process.stdout.write(`\n=== ${script}\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) failed.push(script);
  process.stdout.write(`=== ${script}: ${result.status === 0 ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${seconds} s\n`);
}
if (failed.length > 0) process.stdout.write(`\nfailed: ${failed.join(', ')}\n`);
process.exit(failed.length === 0 ? 0 : 1);
