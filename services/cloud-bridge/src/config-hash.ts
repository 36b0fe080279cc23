import { createHash } from 'node:crypto';
import { canonicalJson, type SiteConfig } from '@voltimax/contracts';

/** SHA-256 of the canonical JSON (sorted keys) of a value, lower-case hex: `config.updated.hash`. */
export function configHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * Top-level sections that take effect without a restart: the strategy-engine re-reads KV `config` on every
 * `config.updated` and switches strategy, rules and tariff live; `siteName`, `timezone` and `$schema` are read where
 * they are used. Everything else — `assets` (drivers and the arbiter load them at start), `grid` (the arbiter's
 * limits), `cloud` (this bridge's and the telemetry-publisher's transport), `gatewayId`, `v` — needs the services
 * restarted, so `requiresRestart` is true when any of those changed.
 */
export const LIVE_SECTIONS: ReadonlySet<string> = new Set([
  'strategy',
  'rules',
  'tariff',
  'siteName',
  'timezone',
  '$schema',
]);

/** The top-level keys whose canonical JSON differs between two configurations, sorted. */
export function changedSections(previous: SiteConfig, next: SiteConfig): string[] {
  const a = previous as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys]
    .filter((key) => {
      const before = a[key];
      const after = b[key];
      if (before === undefined || after === undefined) return before !== after;
      return canonicalJson(before) !== canonicalJson(after);
    })
    .sort();
}

/** True when one of the changed sections is not live (see {@link LIVE_SECTIONS}). */
export function requiresRestart(sections: readonly string[]): boolean {
  return sections.some((section) => !LIVE_SECTIONS.has(section));
}
