module.exports = { ...require('../../jest.preset.js'), displayName: 'telemetry-publisher', rootDir: __dirname };
