// The whole-gateway suites (every service, NATS, Redis and Mosquitto as processes) are left out of a run with
// VOLTIMAX_WHOLE_GATEWAY=later: `npm test` (tools/test.js) runs them afterwards, one at a time.
const WHOLE_GATEWAY = ['faults\\.int\\.spec\\.ts$', 'day-scenario\\.int\\.spec\\.ts$'];

module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'e2e',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...(process.env.VOLTIMAX_WHOLE_GATEWAY === 'later' ? WHOLE_GATEWAY : [])],
};
