module.exports = { ...require('../../jest.preset.js'), displayName: 'cloud', rootDir: __dirname };
