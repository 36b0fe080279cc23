// The driver contract only: what a protocol plugin imports. It loads nothing at run time but `defineDriver`, so a
// plugin (and the worker that runs it) does not carry NATS, the bus or OpenTelemetry. The plumbing the built-in
// drivers and the driver host share is `@voltimax/driver-sdk/plumbing`.
export * from './lib/driver';
