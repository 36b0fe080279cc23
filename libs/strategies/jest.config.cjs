module.exports = { ...require('../../jest.preset.js'), displayName: 'strategies', rootDir: __dirname };
