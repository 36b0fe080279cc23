import {
  formatIssues,
  SiteConfigSchema,
  type CloudSettings,
  type SiteConfig,
  type ValidationProblem,
} from '@voltimax/contracts';
import { siteProfileProblems } from '@voltimax/devices';
import { parseSiteStrategies } from '@voltimax/strategies';
import { configHash } from './config-hash';

/** A configuration that passed every check, with its hash. */
export interface ValidSite {
  readonly site: SiteConfig;
  readonly hash: string;
}

export type SiteValidation =
  | ({ readonly ok: true } & ValidSite)
  | { readonly ok: false; readonly problems: readonly ValidationProblem[] };

/**
 * The checks of `voltimax config validate`, on a configuration as received: SiteConfigSchema, every asset's device
 * profile (exists, serves the asset's kind, speaks its protocol — libs/devices), every strategy block that can run
 * (libs/strategies), and that it is this gateway's configuration.
 */
export function validateSite(raw: unknown, gatewayId: string): SiteValidation {
  const parsed = SiteConfigSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
  const site = parsed.data;
  const problems: ValidationProblem[] = [];
  if (site.gatewayId !== gatewayId) {
    problems.push({
      path: '$.gatewayId',
      message: `configuration is for gateway '${site.gatewayId}', this is '${gatewayId}'`,
    });
  }
  problems.push(...siteProfileProblems(site), ...parseSiteStrategies(site).problems);
  return problems.length === 0 ? { ok: true, site, hash: configHash(site) } : { ok: false, problems };
}

/** A secret the site's `cloud` block names (by its environment variable) that this gateway's environment lacks. */
export interface MissingCloudSecret {
  /** The key of the cloud block that names it: `usernameEnv`, `passwordEnv` or `connectionStringEnv`. */
  readonly key: 'usernameEnv' | 'passwordEnv' | 'connectionStringEnv';
  /** The environment variable. */
  readonly variable: string;
}

/**
 * The secrets a `cloud` block names (never stored in assets.json) that are unset or empty in `env`. Without them
 * the bridge and the telemetry-publisher refuse to start (exit 78), so the start-up check and the configuration
 * sync (which must not accept a configuration this gateway could not start on) both use this one.
 */
export function missingCloudSecrets(
  cloud: CloudSettings,
  env: Readonly<Record<string, unknown>>,
): MissingCloudSecret[] {
  const named: MissingCloudSecret[] = [];
  switch (cloud.transport) {
    case 'none':
      break;
    case 'servicebus':
      named.push({ key: 'connectionStringEnv', variable: cloud.connectionStringEnv });
      break;
    case 'mqtt':
      if (cloud.usernameEnv !== undefined) named.push({ key: 'usernameEnv', variable: cloud.usernameEnv });
      if (cloud.passwordEnv !== undefined) named.push({ key: 'passwordEnv', variable: cloud.passwordEnv });
      break;
  }
  return named.filter(({ variable }) => typeof env[variable] !== 'string' || env[variable] === '');
}

/** `<path>: <message>; …` for a reply's one-line error field, cut to `max` characters. */
export function problemSummary(problems: readonly ValidationProblem[], max = 500): string {
  const text = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
