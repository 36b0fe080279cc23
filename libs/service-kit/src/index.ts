export {
  defineService,
  runService,
  type RunDeps,
  type RunningService,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceRuntime,
} from './lib/service';
export {
  assertServiceName,
  ConfigError,
  EX_CONFIG,
  EX_RESTART,
  KitEnvSchema,
  LogLevelSchema,
  parseEnv,
  type KitEnv,
} from './lib/env';
export { createServiceLogger, REDACT_PATHS, type ServiceLoggerOptions } from './lib/logger';
export {
  buildHeartbeat,
  healthControl,
  HealthState,
  startHeartbeat,
  type HealthControl,
  type HeartbeatLoop,
  type HeartbeatOptions,
  type ServiceStatus,
} from './lib/heartbeat';
export { readiness, startHealthServer, type HealthServer, type Readiness } from './lib/health-server';
export {
  loadSiteConfig,
  readUtf8File,
  siteFileEnv,
  siteFileMessages,
  type LoadedSiteFile,
  type ReadTextFile,
  type SiteFileFailure,
  type SiteFileOutcome,
} from './lib/site-file';
export {
  judgeSiteChange,
  restartOnSiteChange,
  type SiteChange,
  type SiteLoad,
  type SiteParts,
  type SiteWatchContext,
  type SiteWatchOptions,
} from './lib/site-watch';
export {
  DEFAULT_SCRYPT_COST,
  hashPassword,
  MIN_PASSWORD_LENGTH,
  parsePasswordHash,
  verifyPassword,
  type PasswordHash,
  type ScryptCost,
} from './lib/password-hash';
export { renderMetrics, escapeLabel, type MetricsInput } from './lib/metrics';
export { serviceTracer, startTracing, type Tracing, type TracingOptions } from './lib/tracing';
export { readBodyCapped } from './lib/http-body';
