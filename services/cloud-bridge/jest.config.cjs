module.exports = { ...require('../../jest.preset.js'), displayName: 'cloud-bridge', rootDir: __dirname };
