module.exports = { ...require('../../jest.preset.js'), displayName: 'http-devices', rootDir: __dirname };
