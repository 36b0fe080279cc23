module.exports = { ...require('../../jest.preset.js'), displayName: 'ocpp-csms', rootDir: __dirname };
