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
  type StartNatsOptions,
  type TestServer,
} from './lib/servers';
export { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, NATS_USERS, type NatsUser } from './lib/nats-dev-users';
export { REPO_ROOT, startProcess, startServiceProcess, type ServiceProcess } from './lib/processes';
