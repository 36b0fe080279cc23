module.exports = { ...require('../../jest.preset.js'), displayName: 'modbus', rootDir: __dirname };
