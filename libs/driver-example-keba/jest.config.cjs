module.exports = { ...require('../../jest.preset.js'), displayName: 'driver-example-keba', rootDir: __dirname };
