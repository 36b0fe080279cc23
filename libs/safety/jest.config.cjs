module.exports = { ...require('../../jest.preset.js'), displayName: 'safety', rootDir: __dirname };
