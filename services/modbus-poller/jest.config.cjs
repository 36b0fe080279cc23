module.exports = { ...require('../../jest.preset.js'), displayName: 'modbus-poller', rootDir: __dirname };
