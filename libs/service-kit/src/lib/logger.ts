import { pino, type DestinationStream, type Logger } from 'pino';

const SECRET_KEYS = [
  'password',
  'pass',
  'passphrase',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'clientSecret',
  'apiKey',
  'authorization',
  'cookie',
  'connectionString',
  'sharedAccessKey',
  'privateKey',
  'NATS_PASS',
];

/** Keys redacted wherever they appear at the top level of a log object or one level down. */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** Options for {@link createServiceLogger}. */
export interface ServiceLoggerOptions {
  readonly name: string;
  readonly level: pino.LevelWithSilent;
  /** Where lines go (default stdout); tests pass a capturing stream. */
  readonly destination?: DestinationStream;
  /** Extra redact paths on top of {@link REDACT_PATHS}. */
  readonly redact?: readonly string[];
}

/** The service's one root logger: `name` = service, common secret keys redacted. Components use `log.child()`. */
export function createServiceLogger(opts: ServiceLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    name: opts.name,
    level: opts.level,
    redact: { paths: [...REDACT_PATHS, ...(opts.redact ?? [])], censor: '[redacted]' },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
