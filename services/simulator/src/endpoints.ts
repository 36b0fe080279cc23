import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatIssues, SiteConfigSchema } from '@voltimax/contracts';

/** Where the poller reaches one simulated device. */
export interface ResolvedEndpoint {
  readonly assetId: string;
  readonly host: string;
  readonly port: number;
  readonly unitId: number;
  /** Profile of the image served (replaces the configured one, e.g. `cnte.storage` → `cnte.ess-cabinet`). */
  readonly profile: string;
}

/** The address clients use for a bind address (a wildcard bind is reached on the loopback). */
export function clientHost(bind: string): string {
  return bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
}

/**
 * The site file with each served asset's connection replaced by its Modbus TCP endpoint and its profile by the
 * one served; every other key is kept as written. Pure; throws if the result is not a valid site (a bug here).
 */
export function resolvedSite(
  raw: Record<string, unknown>,
  endpoints: readonly ResolvedEndpoint[],
): Record<string, unknown> {
  const byId = new Map(endpoints.map((e) => [e.assetId, e]));
  const assets = Array.isArray(raw['assets']) ? (raw['assets'] as Record<string, unknown>[]) : [];
  const result = {
    ...raw,
    assets: assets.map((asset) => {
      const endpoint = byId.get(String(asset['id']));
      if (!endpoint) return asset;
      return {
        ...asset,
        profile: endpoint.profile,
        connection: { protocol: 'modbus-tcp', host: endpoint.host, port: endpoint.port, unitId: endpoint.unitId },
      };
    }),
  };
  const check = SiteConfigSchema.safeParse(result);
  if (!check.success) {
    const problems = formatIssues(check.error.issues).map((p) => `${p.path}: ${p.message}`);
    throw new Error(`resolved site is invalid: ${problems.join('; ')}`);
  }
  return result;
}

/** Writes the resolved site atomically (temporary file, then rename), so a reader never sees half a file. */
export function writeResolvedSite(path: string, site: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(site, null, 2)}\n`);
  renameSync(temporary, path);
}
