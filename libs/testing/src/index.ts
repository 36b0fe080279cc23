export { waitFor, WaitForTimeoutError, type Truthy, type WaitForOptions } from './lib/wait-for';
export { freePort } from './lib/free-port';
export { findBinary, SERVER_BINARY_DIRS, type FindBinaryOptions } from './lib/find-binary';
export {
  chooseServerSource,
  SERVER_SPECS,
  TestServerUnavailableError,
  type ServerKind,
  type ServerSource,
  type ServerSpec,
  type SourceDecision,
  type SourceInputs,
} from './lib/server-source';
export { ServerStartError } from './lib/server-process';
export {
  startMqtt,
  startNats,
  startRedis,
  type NatsTestServer,
  type StartMqttOptions,
  type StartNatsOptions,
  type TestServer,
} from './lib/servers';
export { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, NATS_USERS, connectNatsAs, type NatsUser } from './lib/nats-dev-users';
export {
  provisionTestStreams,
  type ProvisionTestOptions,
  type TestStreamRetention,
} from './lib/provision';
export {
  startPlatformApi,
  type PlatformApiDouble,
  type PlatformApiFault,
  type PlatformApiRequest,
  type PlatformApiRoute,
  type StartPlatformApiOptions,
  type TelemetryPost,
} from './lib/platform-api';
export {
  startServiceBusStandIn,
  type ManagementCall,
  type ServiceBusStandIn,
  type ServiceBusStandInOptions,
  type StandInMessage,
  type StandInQueueOptions,
  type StandInTopicOptions,
  type TokenRequest,
} from './lib/servicebus-standin';
export { REPO_ROOT, startProcess, startServiceProcess, type ServiceProcess } from './lib/processes';
