import { canonicalJson, type SiteConfig } from '@voltimax/contracts';
import { loadSiteConfig, siteFileMessages, type ReadTextFile } from '@voltimax/service-kit';
import { batteryModelsProblem } from './config';

/** The sections of the site configuration the arbiter enforces (it reads them only at start). */
export const ENFORCED_SECTIONS = ['grid', 'assets'] as const;

/** What a changed site file means for the running arbiter. */
export type SiteFileChange =
  /** Nothing the arbiter enforces differs from what it runs with. */
  | { readonly kind: 'unchanged' }
  /** The file cannot be enforced (unreadable, invalid, BATTERY_MODELS no longer fit): keep the running limits. */
  | { readonly kind: 'refused'; readonly problems: readonly string[] }
  /** These enforced sections differ: restart to enforce them. */
  | { readonly kind: 'changed'; readonly sections: readonly string[] };

/**
 * Compares the site file as it is now with the site the arbiter started with, section by section (`grid`, `assets`:
 * limits, assets, poll intervals). A file the arbiter would refuse at start is `refused`, so a restart can never
 * turn a running arbiter into one that refuses its configuration (exit 78, not restarted).
 */
export function judgeSiteFile(
  running: SiteConfig,
  siteFile: string,
  batteryModels: ReadonlyMap<string, string>,
  readTextFile?: ReadTextFile,
): SiteFileChange {
  const loaded = loadSiteConfig(siteFile, readTextFile);
  if (!loaded.ok) return { kind: 'refused', problems: siteFileMessages(siteFile, loaded) };
  const problem = batteryModelsProblem(loaded.site, batteryModels, siteFile);
  if (problem !== undefined) return { kind: 'refused', problems: [`BATTERY_MODELS: ${problem}`] };
  const sections = ENFORCED_SECTIONS.filter(
    (key) => canonicalJson(loaded.site[key]) !== canonicalJson(running[key]),
  );
  return sections.length === 0 ? { kind: 'unchanged' } : { kind: 'changed', sections };
}
