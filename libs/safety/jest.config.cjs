// The property suites (over a million generated cases) are CPU-bound: use every core, where Jest's default
// leaves one idle (on a 2-core machine that would mean a single worker).
module.exports = { ...require('../../jest.preset.js'), displayName: 'safety', rootDir: __dirname, maxWorkers: '100%' };
