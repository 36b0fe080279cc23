import { readUtf8File, siteFileEnv, type ReadTextFile } from '@voltimax/service-kit';
import { z } from 'zod';
import { planChargers, type ChargerPlan } from './chargers';

export type { ReadTextFile };

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** OCPP id tags are CiString20. */
const IdTagSchema = z.string().min(1).max(20);

/** OCPP security profile: 0 none (isolated networks only), 1 HTTP basic auth, 2 basic auth over TLS. */
export const SecurityProfileSchema = z.coerce.number().pipe(z.union([z.literal(0), z.literal(1), z.literal(2)]));
export type SecurityProfile = z.output<typeof SecurityProfileSchema>;

/** The TLS material of security profile 2 (PEM text). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/**
 * The central system's own environment (the kit reads NATS_URL, NATS_USER/NATS_PASS, LOG_LEVEL, HEARTBEAT_MS, …).
 * assets.json, the charge points' passwords (from the variables the site names) and the TLS files are read and
 * checked here, so any problem is listed with the other bad variables and the process exits 78 before it listens.
 * `z.looseObject`: the password variables are looked up by the names assets.json gives.
 */
export function csmsEnvSchema(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .looseObject({
      /** Path of assets.json. */
      SITE_FILE: siteFileEnv(readTextFile),
      /** Address and port of the OCPP WebSocket endpoint (`ws[s]://host:port/<anything>/<chargePointId>`). */
      OCPP_HOST: z.string().min(1).default('0.0.0.0'),
      OCPP_PORT: int(0, 65_535, 8887),
      OCPP_SECURITY_PROFILE: SecurityProfileSchema.default(1),
      /** PEM files of security profile 2. */
      OCPP_TLS_CERT_FILE: z.string().min(1).optional(),
      OCPP_TLS_KEY_FILE: z.string().min(1).optional(),
      OCPP_TLS_CA_FILE: z.string().min(1).optional(),
      /** `accept-all`, or `local-list`: only OCPP_ID_TAGS (and OCPP_REMOTE_ID_TAG) may charge. */
      OCPP_AUTHORIZE: z.enum(['accept-all', 'local-list']).default('accept-all'),
      OCPP_ID_TAGS: z
        .string()
        .transform((text) => text.split(',').map((t) => t.trim()).filter((t) => t.length > 0))
        .pipe(z.array(IdTagSchema))
        .default([]),
      /** The id tag of sessions we start (RemoteStartTransaction). */
      OCPP_REMOTE_ID_TAG: IdTagSchema.default('voltimax'),
      /** Heartbeat interval given to charge points at boot, s. */
      OCPP_HEARTBEAT_INTERVAL_S: int(10, 86_400, 60),
      /** Retry interval given to unknown charge points with their Rejected boot, s. */
      OCPP_REJECTED_RETRY_S: int(10, 86_400, 300),
      /** MeterValueSampleInterval set on every charge point at connect, s; 0 = leave the charger's own. */
      OCPP_METER_INTERVAL_S: int(0, 3_600, 10),
      /** Meter values older than this during a session make the reading `stale`, ms. */
      METER_STALE_MS: int(1_000, 3_600_000, 35_000),
      /** Timeout of calls to a charge point (configuration, set-up), ms. */
      OCPP_CALL_TIMEOUT_MS: int(100, 120_000, 10_000),
      /** Timeout of each call of a device write (profile, read-back, remote start/stop), ms. */
      OCPP_WRITE_TIMEOUT_MS: int(100, 60_000, 2_500),
      /** WebSocket ping interval; a charge point that misses a pong is disconnected, ms. */
      OCPP_PING_INTERVAL_MS: int(1_000, 600_000, 30_000),
      /** Stack level of our charging profiles. */
      OCPP_STACK_LEVEL: int(0, 100, 1),
      /** Wait this long after a connection for a BootNotification before setting the charge point up anyway, ms. */
      OCPP_SETUP_DELAY_MS: int(0, 60_000, 1_000),
    })
    .transform((env, ctx) => {
      const plan: ChargerPlan = planChargers(env.SITE_FILE.site);
      for (const problem of plan.problems) ctx.addIssue({ code: 'custom', path: ['SITE_FILE'], message: problem });
      const passwords = new Map<string, Buffer>();
      for (const cp of plan.chargePoints.values()) {
        if (env.OCPP_SECURITY_PROFILE === 0) break;
        if (cp.passwordEnv === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['OCPP_SECURITY_PROFILE'],
            message: `security profile ${env.OCPP_SECURITY_PROFILE} needs a password for charge point '${cp.identity}': set connection.passwordEnv in ${env.SITE_FILE.path}`,
          });
          continue;
        }
        const value = (env as Record<string, unknown>)[cp.passwordEnv];
        if (typeof value !== 'string' || value.length === 0) {
          ctx.addIssue({
            code: 'custom',
            path: [cp.passwordEnv],
            message: `the password of charge point '${cp.identity}' is not set`,
          });
          continue;
        }
        passwords.set(cp.identity, Buffer.from(value, 'utf8'));
      }
      let tls: TlsFiles | undefined;
      if (env.OCPP_SECURITY_PROFILE === 2) {
        const read = (name: 'OCPP_TLS_CERT_FILE' | 'OCPP_TLS_KEY_FILE' | 'OCPP_TLS_CA_FILE', required: boolean) => {
          const path = env[name];
          if (path === undefined) {
            if (required) ctx.addIssue({ code: 'custom', path: [name], message: 'required for security profile 2 (TLS)' });
            return undefined;
          }
          try {
            return readTextFile(path);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: [name], message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
            return undefined;
          }
        };
        const cert = read('OCPP_TLS_CERT_FILE', true);
        const key = read('OCPP_TLS_KEY_FILE', true);
        const ca = read('OCPP_TLS_CA_FILE', false);
        if (cert !== undefined && key !== undefined) tls = { cert, key, ...(ca === undefined ? {} : { ca }) };
      }
      if (env.OCPP_AUTHORIZE === 'local-list' && env.OCPP_ID_TAGS.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['OCPP_ID_TAGS'], message: 'local-list authorization needs at least one id tag' });
      }
      return {
        siteFile: env.SITE_FILE.path,
        site: env.SITE_FILE.site,
        plan,
        passwords: passwords as ReadonlyMap<string, Buffer>,
        tls,
        host: env.OCPP_HOST,
        port: env.OCPP_PORT,
        securityProfile: env.OCPP_SECURITY_PROFILE,
        authorize: env.OCPP_AUTHORIZE,
        idTags: new Set(env.OCPP_ID_TAGS) as ReadonlySet<string>,
        remoteIdTag: env.OCPP_REMOTE_ID_TAG,
        heartbeatIntervalS: env.OCPP_HEARTBEAT_INTERVAL_S,
        rejectedRetryS: env.OCPP_REJECTED_RETRY_S,
        meterIntervalS: env.OCPP_METER_INTERVAL_S,
        meterStaleMs: env.METER_STALE_MS,
        callTimeoutMs: env.OCPP_CALL_TIMEOUT_MS,
        writeTimeoutMs: env.OCPP_WRITE_TIMEOUT_MS,
        pingIntervalMs: env.OCPP_PING_INTERVAL_MS,
        stackLevel: env.OCPP_STACK_LEVEL,
        setupDelayMs: env.OCPP_SETUP_DELAY_MS,
      };
    });
}

/** The parsed environment: settings, the validated site, the charger plan, passwords and TLS material. */
export type CsmsEnv = z.output<ReturnType<typeof csmsEnvSchema>>;
