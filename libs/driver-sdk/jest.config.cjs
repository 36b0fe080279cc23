module.exports = { ...require('../../jest.preset.js'), displayName: 'driver-sdk', rootDir: __dirname };
