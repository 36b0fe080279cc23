// Unit and integration specs of libs/cloud. Two integration files need what this machine may lack, so they are left
// out of the run (never registered, never "skipped") unless it is there:
// - servicebus-live.int.spec.ts: a real namespace, SERVICEBUS_CONNECTION_STRING;
// - servicebus-emulator.int.spec.ts: a Docker engine, found the way libs/testing finds one (testcontainers'
//   getContainerRuntimeClient, ~0.8 s to say "none"); SERVICEBUS_EMULATOR=0 skips the probe.
const { spawnSync } = require('node:child_process');

function dockerAnswers() {
  if (process.env.SERVICEBUS_EMULATOR === '0') return false;
  const probe =
    "require('testcontainers').getContainerRuntimeClient().then(() => process.exit(0), () => process.exit(1))";
  return spawnSync(process.execPath, ['-e', probe], { cwd: __dirname, stdio: 'ignore', timeout: 20_000 }).status === 0;
}

const optional = [];
if (!process.env.SERVICEBUS_CONNECTION_STRING) optional.push('servicebus-live\\.int\\.spec\\.ts$');
if (!dockerAnswers()) optional.push('servicebus-emulator\\.int\\.spec\\.ts$');

module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'cloud',
  rootDir: __dirname,
  testPathIgnorePatterns: ['/node_modules/', ...optional],
};
