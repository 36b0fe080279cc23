module.exports = { ...require('../../jest.preset.js'), displayName: 'sim', rootDir: __dirname };
