// Shared by the deployment checks: the repository's compose.yaml, .env.example, Dockerfile and nats.conf, read
// the way docker compose and nats-server read them (as far as the checks need).
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = join(__dirname, '..', '..');

export type Json = Record<string, unknown>;

/** compose.yaml as compose sees it before interpolation (YAML 1.1 merge keys `<<` resolved, as compose does). */
export function loadComposeRaw(file = join(ROOT, 'compose.yaml')): Json {
  return parse(readFileSync(file, 'utf8'), { merge: true }) as Json;
}

/** KEY=value lines of an env file (comments and blank lines skipped, no quotes handling needed here). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) env[match[1]] = match[2] ?? '';
  }
  return env;
}

export function loadEnvExample(): Record<string, string> {
  return parseEnvFile(readFileSync(join(ROOT, '.env.example'), 'utf8'));
}

/** Every `${NAME…}` reference in a text, by name. */
export function referencedVariables(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string));
}

/**
 * Compose interpolation of one string: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
 * `$VAR` and `$$`. Throws like compose does for a missing required variable.
 */
export function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, name?: string, op?: string, arg?: string, bare?: string) => {
      if (whole === '$$') return '$';
      if (bare !== undefined) return env[bare] ?? '';
      const value = env[name as string];
      const unsetOrEmpty = value === undefined || (op?.startsWith(':') === true && value === '');
      if (op === undefined) return value ?? '';
      if (op.endsWith('-')) return unsetOrEmpty ? (arg ?? '') : (value as string);
      if (unsetOrEmpty) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
      return value as string;
    },
  );
}

/** A parsed document with every string interpolated. */
export function interpolateDeep(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, env));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env)]));
  }
  return value;
}

/** Services of compose.yaml. */
export function composeServices(compose: Json): Record<string, Json> {
  return compose['services'] as Record<string, Json>;
}

/** Services that run our own image (they have a build section), by name. */
export function appServices(compose: Json): Record<string, Json> {
  return Object.fromEntries(Object.entries(composeServices(compose)).filter(([, s]) => s['build'] !== undefined));
}

/** `FROM … AS <name>` stage names of the Dockerfile, in order. */
export function dockerfileStages(text = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8')): string[] {
  return [...text.matchAll(/^FROM\s+\S+(?:\s+\S+)*?\s+AS\s+(\S+)\s*$/gim)].map((m) => m[1] as string);
}

/** NATS users and their passwords as written in docker/nats/nats.conf. */
export function natsUsers(text = readFileSync(join(ROOT, 'docker', 'nats', 'nats.conf'), 'utf8')): Map<string, string> {
  const users = new Map<string, string>();
  for (const m of text.matchAll(/user:\s*"([^"]+)"\s*\n\s*password:\s*"([^"]+)"/g))
    users.set(m[1] as string, m[2] as string);
  return users;
}

/** Projects under services/ that have an entry point. */
export function servicesWithMain(): string[] {
  return readdirSync(join(ROOT, 'services'))
    .filter((name) => existsSync(join(ROOT, 'services', name, 'src', 'main.ts')))
    .sort();
}

/** `NATS_PASS_MODBUS_POLLER` for `modbus-poller`. */
export const passwordVariable = (service: string): string => `NATS_PASS_${service.toUpperCase().replace(/-/g, '_')}`;
