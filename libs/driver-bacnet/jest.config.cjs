module.exports = { ...require('../../jest.preset.js'), displayName: 'driver-bacnet', rootDir: __dirname };
