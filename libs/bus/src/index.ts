export {
  createBusOnTransport,
  DEFAULT_DROP_LOG_INTERVAL_MS,
  ERROR_HEADER,
  headerValue,
  type Bus,
  type BusOptions,
  type MessageContext,
  type MessageHandler,
  type PublishOptions,
  type ReplyErrorCode,
  type ReplyHandler,
  type RequestOptions,
  type SubscribeOptions,
  type Unsubscribe,
} from './lib/core';
export { createBus, natsTransport } from './lib/nats-transport';
export { connectBus, logStatus, replyInbox, type BusConnection, type ConnectBusOptions } from './lib/connect';
export {
  BusReplyRejectedError,
  BusRequestFailedError,
  BusValidationError,
  summarizeProblems,
  type RequestFailure,
  type ValidationStage,
} from './lib/errors';
export { droppedTotal, STAT_NAMES, type BusStats, type StatName, type SubjectStats } from './lib/stats';
export type { BusHeaders } from './lib/trace';
export type { Msg, MsgHdrs, NatsConnection, Status } from '@nats-io/transport-node';
export type { BusTransport, RawMessage } from './lib/transport';
export {
  ensureConsumer,
  ensureStream,
  isPermissionRefusal,
  JetStreamConfigConflictError,
  StreamNotProvisionedError,
  type ConsumerSpec,
  type EnsureAction,
  type StreamSpec,
} from './lib/jetstream';
export { ensureKv, typedKv, type KvSpec, type TypedKv } from './lib/kv';
export { provisionGatewayStreams, type ProvisionReport, type StreamRetention } from './lib/provision';
