#!/usr/bin/env node
// `npm test`: lint, typecheck, then every project's unit and integration tests (the whole-gateway suites last).
// Prints one closing line "N passed, N failed" (tests), and exits non-zero if any step failed.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', OTEL_SDK_DISABLED: 'true', FORCE_COLOR: '0' };
const jestArgs = process.argv.slice(2);

function run(title, command, args, { forbidden, extraEnv } = {}) {
  process.stdout.write(`\n=== ${title}\n`);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: forbidden ? 'pipe' : 'inherit', encoding: 'utf8', maxBuffer: 64 << 20 });
  let ok = result.status === 0;
  if (forbidden) {
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    if (forbidden.test(result.stdout + result.stderr)) {
      process.stdout.write(`=== ${title}: output matches ${forbidden}, which means a check was skipped\n`);
      ok = false;
    }
  }
  process.stdout.write(`=== ${title}: ${ok ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return ok;
}

const bin = (pkg, file) => path.join(ROOT, 'node_modules', pkg, file);
const steps = [];
// The boundary rule silently skips itself without a cached project graph: build it first.
steps.push(['project graph', run('project graph', process.execPath, [require.resolve('nx/bin/nx.js'), 'show', 'projects'])]);
// Without the graph, @nx/enforce-module-boundaries prints a warning and checks nothing: treat that as a failure.
steps.push(['lint', run('lint', process.execPath, [bin('eslint', 'bin/eslint.js'), '--max-warnings=0', '.'], { forbidden: /No cached ProjectGraph/ })]);
steps.push(['typecheck', run('typecheck', process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit'])]);
// The dashboard's browser code has its own compiler settings (DOM, JSX): a second program.
steps.push([
  'typecheck (dashboard UI)',
  run('typecheck (dashboard UI)', process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'services/dashboard/ui/tsconfig.json', '--noEmit']),
]);

// The whole-gateway suites start every service, NATS, Redis and Mosquitto as processes: on a small machine they run
// after the rest, one at a time, so that their timing is not at the mercy of three other Jest workers
// (tools/e2e/jest.config.cjs leaves them out of the first run).
const WHOLE_GATEWAY = ['tools/e2e/faults\\.int\\.spec\\.ts$', 'tools/e2e/day-scenario\\.int\\.spec\\.ts$'];

function jest(title, file, args, extraEnv = {}) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  const jestBin = bin('jest', 'bin/jest.js');
  const ok = run(title, process.execPath, [jestBin, '--ci', '--json', `--outputFile=${file}`, ...args], { extraEnv });
  steps.push([title, ok]);
  if (!fs.existsSync(file)) return { passed: 0, failed: 1 }; // Jest died before writing results
  const results = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { passed: results.numPassedTests, failed: results.numFailedTests + results.numRuntimeErrorTestSuites };
}

const runs =
  jestArgs.length > 0
    ? [jest('tests', path.join(ROOT, 'tmp', 'jest-results.json'), ['--maxWorkers=3', ...jestArgs])]
    : [
        jest(
          'tests (unit + integration, every project)',
          path.join(ROOT, 'tmp', 'jest-results.json'),
          ['--maxWorkers=3'],
          { VOLTIMAX_WHOLE_GATEWAY: 'later' },
        ),
        jest('tests (whole gateway: day scenario, faults)', path.join(ROOT, 'tmp', 'jest-results-gateway.json'), [
          '--runInBand',
          '--selectProjects',
          'e2e',
          '--testPathPatterns',
          ...WHOLE_GATEWAY,
        ]),
      ];
const passed = runs.reduce((sum, r) => sum + r.passed, 0);
let failed = runs.reduce((sum, r) => sum + r.failed, 0);
const failedSteps = steps.filter(([, ok]) => !ok).map(([name]) => name);
if (failedSteps.length > 0) process.stdout.write(`\nfailed steps: ${failedSteps.join(', ')}\n`);
if (failed === 0 && failedSteps.length > 0) failed = failedSteps.length;
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failedSteps.length === 0 && failed === 0 ? 0 : 1);
