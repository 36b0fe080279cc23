module.exports = { ...require('../../jest.preset.js'), displayName: 'safety-arbiter', rootDir: __dirname };
