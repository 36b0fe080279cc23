// What the built-in drivers (modbus-poller, http-devices, ocpp-csms) and the driver host share: the write path and
// the reading publisher. Plugins import `@voltimax/driver-sdk` (the contract) instead.
export * from './lib/driver';
export * from './lib/write-path';
export * from './lib/readings';
export * from './lib/readings-loop';
