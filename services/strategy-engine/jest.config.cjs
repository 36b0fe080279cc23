module.exports = { ...require('../../jest.preset.js'), displayName: 'strategy-engine', rootDir: __dirname };
