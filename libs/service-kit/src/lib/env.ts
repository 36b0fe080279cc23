import { formatIssues, SUBJECT_TOKEN } from '@voltimax/contracts';
import { z } from 'zod';

/** Exit code for a configuration error (sysexits.h EX_CONFIG): the orchestrator can tell "bad config" from "crashed". */
export const EX_CONFIG = 78;
/**
 * Exit code of a service that stopped to load a changed configuration it reads only at start (sysexits.h
 * EX_TEMPFAIL, "try again"): its supervisor starts it again at once (npm start does; compose and systemd restart
 * any exit).
 */
export const EX_RESTART = 75;

/** pino levels a service may be started with. */
export const LogLevelSchema = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** The variables every service reads through the kit. An empty variable counts as unset. */
export const KitEnvSchema = z
  .object({
    /** One URL or a comma-separated list. */
    NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
    NATS_USER: z.string().min(1).optional(),
    /** Never logged. */
    NATS_PASS: z.string().min(1).optional(),
    LOG_LEVEL: LogLevelSchema.default('info'),
    /** Heartbeat interval on `health.<service>`, ms. */
    HEARTBEAT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    /** Port of /healthz and /readyz: 0 = ephemeral (logged at start), `off` = no HTTP server. */
    HEALTH_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65_535)]).default(0),
    /** Address the health server binds (containers probed from outside: `0.0.0.0`). */
    HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
    /** Identifies this instance in heartbeats; default `<hostname>-<pid>`. */
    INSTANCE_ID: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,128}$/)
      .optional(),
  })
  .refine((env) => (env.NATS_USER === undefined) === (env.NATS_PASS === undefined), {
    message: 'NATS_USER and NATS_PASS must be set together',
    path: ['NATS_PASS'],
    // Also report this when other variables are invalid, so one run lists every problem.
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  });

/** The kit's settings, parsed from the environment. */
export type KitEnv = z.output<typeof KitEnvSchema>;

/** The environment failed a schema; the message names every bad variable (never its value). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly retryable = false;
  constructor(
    readonly service: string,
    readonly problems: readonly { readonly variable: string; readonly message: string }[],
  ) {
    super(
      `${service}: invalid configuration (environment):\n` +
        problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'),
    );
  }
}

function withoutEmpty(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

function problemsOf(error: z.ZodError): { variable: string; message: string }[] {
  return formatIssues(error.issues).map((p) => ({
    variable: p.path.replace(/^\$\.?/, '') || '(environment)',
    message: p.message,
  }));
}

/**
 * Parse the kit's variables and the service's own schema from the same environment. Throws ConfigError listing
 * every problem of both. Empty variables count as unset.
 */
export function parseEnv<E extends z.ZodType>(
  service: string,
  schema: E,
  env: Readonly<Record<string, string | undefined>>,
): { kit: KitEnv; service: z.output<E> } {
  const clean = withoutEmpty(env);
  const kit = KitEnvSchema.safeParse(clean);
  const own = schema.safeParse(clean);
  const problems = [...(kit.success ? [] : problemsOf(kit.error)), ...(own.success ? [] : problemsOf(own.error))];
  if (!kit.success || !own.success) throw new ConfigError(service, problems);
  return { kit: kit.data, service: own.data };
}

/** A service name must be one subject token (it becomes `health.<name>`). */
export function assertServiceName(name: string): void {
  if (!SUBJECT_TOKEN.test(name)) throw new Error(`service name '${name}' must match ${SUBJECT_TOKEN}`);
}
