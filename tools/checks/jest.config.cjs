module.exports = { ...require('../../jest.preset.js'), displayName: 'workspace-checks', rootDir: __dirname, testMatch: ['<rootDir>/**/*.spec.ts'] };
