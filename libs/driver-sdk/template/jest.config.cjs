module.exports = { ...require('../../../jest.preset.js'), displayName: 'driver-template', rootDir: __dirname };
