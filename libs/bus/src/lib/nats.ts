/**
 * Typed façade over NATS.js v3 core. `@nats-io/transport-node` re-exports nats-core through the subpath
 * `@nats-io/nats-core/internal`, which TypeScript's `node10` module resolution (tsconfig.base.json) cannot follow:
 * imported from there, every name is untyped (`connect()` returns `any`). The values below come from transport-node
 * at runtime (the declared dependency) and take their types from the same nats-core 3.4.0 (type-only import).
 */
import type * as core from '@nats-io/nats-core';
import * as transportNode from '@nats-io/transport-node';

export type { ConnectionOptions, Msg, MsgHdrs, NatsConnection, Status, Subscription } from '@nats-io/nats-core';

interface TransportNode {
  connect(opts?: core.ConnectionOptions): Promise<core.NatsConnection>;
  headers: typeof core.headers;
  nanos: typeof core.nanos;
  millis: typeof core.millis;
  TimeoutError: typeof core.TimeoutError;
  RequestError: typeof core.RequestError;
  NoRespondersError: typeof core.NoRespondersError;
  PermissionViolationError: typeof core.PermissionViolationError;
}

const nats = transportNode as unknown as TransportNode;

export const connect = nats.connect;
export const headers = nats.headers;
export const nanos = nats.nanos;
export const millis = nats.millis;
export const TimeoutError = nats.TimeoutError;
export const RequestError = nats.RequestError;
export const NoRespondersError = nats.NoRespondersError;
export const PermissionViolationError = nats.PermissionViolationError;
