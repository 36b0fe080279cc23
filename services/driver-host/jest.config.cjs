module.exports = { ...require('../../jest.preset.js'), displayName: 'driver-host', rootDir: __dirname };
