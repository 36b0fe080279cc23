#!/usr/bin/env node
// `npm run bench`: runs every script in tools/bench/ (*.js with node, *.ts through tools/run-ts.js), one after the
// other, and prints their figures. A bench prints its own lines ("<bench>: <what>: <figures>"); this runner adds
// the wall time of each script and exits non-zero if any script failed. Only some: npm run bench -- backtest
//
// Figures a bench records (tools/bench/lib-bench.ts `record`) are gathered into bench-results.json at the
// repository root (machine, node, load, every figure with its unit and target) and printed as one table at the end.
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
const resultsLines = path.join(os.tmpdir(), `voltimax-bench-${process.pid}.jsonl`);
fs.rmSync(resultsLines, { force: true });
const startedAt = new Date().toISOString();
const loadAtStart = os.loadavg();
const walls = {};
for (const script of scripts) {
  const file = path.join(DIR, script);
  const args = script.endsWith('.ts') ? [path.join(__dirname, 'run-ts.js'), file] : [file];
  process.stdout.write(`\n=== ${script}\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NX_DAEMON: 'false', BENCH_RESULTS_FILE: resultsLines },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  walls[script] = { seconds: Number(seconds), ok: result.status === 0 };
  if (result.status !== 0) failed.push(script);
  process.stdout.write(`=== ${script}: ${result.status === 0 ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${seconds} s\n`);
}
const figures = fs.existsSync(resultsLines)
  ? fs
      .readFileSync(resultsLines, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
  : [];
fs.rmSync(resultsLines, { force: true });
if (figures.length > 0) {
  const summary = {
    startedAt,
    machine: { cores: os.cpus().length, cpu: cpu ? cpu.model.trim() : 'cpu', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    loadAverageAtStart: loadAtStart.map((l) => Number(l.toFixed(2))),
    scripts: walls,
    figures,
  };
  // Only a full run replaces the summary file; a filtered run (npm run bench -- x) writes bench-results.<x>.json.
  const name = filters.length === 0 ? 'bench-results.json' : `bench-results.${filters.join('+').replace(/[^a-z0-9+_-]/gi, '_')}.json`;
  fs.writeFileSync(path.join(ROOT, name), `${JSON.stringify(summary, null, 2)}\n`);
  const rows = figures.map((f) => [f.bench, f.metric, `${Number.isInteger(f.value) ? f.value : f.value.toFixed(2)} ${f.unit}`, f.target || '']);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), ['bench', 'figure', 'value', 'target'][i].length));
  const line = (cells) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  process.stdout.write(`\n=== summary (${name})\n${line(['bench', 'figure', 'value', 'target'])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}
if (failed.length > 0) process.stdout.write(`\nfailed: ${failed.join(', ')}\n`);
process.exit(failed.length === 0 ? 0 : 1);
