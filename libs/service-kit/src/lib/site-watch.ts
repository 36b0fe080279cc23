import type { Bus, Unsubscribe } from '@voltimax/bus';
import { canonicalJson, subjects, type SiteConfig } from '@voltimax/contracts';
import type { Logger } from 'pino';

/** Top-level sections of the site configuration. */
export type SiteSection = keyof SiteConfig;

/** The site configuration as the service would load it at start now, or why it would refuse to start. */
export type SiteLoad =
  | { readonly ok: true; readonly site: SiteConfig }
  | { readonly ok: false; readonly problems: readonly string[] };

/** What the site file as it is now means for a service that read some of its sections at start. */
export type SiteChange =
  /** Nothing the service uses differs from what it runs with. */
  | { readonly kind: 'unchanged' }
  /** The service could not start with it (unreadable, invalid, its own checks fail): keep running as is. */
  | { readonly kind: 'refused'; readonly problems: readonly string[] }
  /** These sections differ: restart to load them. */
  | { readonly kind: 'changed'; readonly sections: readonly SiteSection[] };

/**
 * Pure: compares the site as the service would load it now with the one it runs with, on the sections it uses
 * (validated configurations, so a default spelled out or not is no change). A site the service would refuse at
 * start is `refused`, so a restart never turns a running service into one that refuses its configuration (exit 78,
 * which no supervisor restarts).
 */
export function judgeSiteChange(running: SiteConfig, now: SiteLoad, sections: readonly SiteSection[]): SiteChange {
  if (!now.ok) return { kind: 'refused', problems: now.problems };
  const changed = sections.filter((key) => canonicalJson(now.site[key]) !== canonicalJson(running[key]));
  return changed.length === 0 ? { kind: 'unchanged' } : { kind: 'changed', sections: changed };
}

/** The parts of a service's context {@link restartOnSiteChange} uses. */
export interface SiteWatchContext<Env> {
  readonly bus: Bus;
  readonly log: Logger;
  readonly env: Env;
  /** The service context's `restart`. */
  readonly restart: (reason: string) => void;
  /** The service context's `reloadEnv`: the environment parsed again, every start-up check included. */
  readonly reloadEnv: () =>
    | { readonly ok: true; readonly env: Env }
    | { readonly ok: false; readonly problems: readonly string[] };
}

/**
 * For a service that reads `sections` of the site configuration only at start (`siteOf` finds the site in its
 * env): on every `config.updated` (the cloud bridge writes the file, then announces it) the environment is parsed
 * again as at start, and a change to one of the sections restarts the service (`ctx.restart`: a graceful stop, exit
 * 75, started again by its supervisor). A file it could not start with keeps it running as it is, logged and
 * reported through `onRefused` (with undefined once that is over). Returns the unsubscribe function.
 */
export function restartOnSiteChange<Env>(
  ctx: SiteWatchContext<Env>,
  siteOf: (env: Env) => SiteConfig,
  sections: readonly SiteSection[],
  onRefused?: (problems: readonly string[] | undefined) => void,
): Unsubscribe {
  const log = ctx.log.child({ component: 'site-watch' });
  const running = siteOf(ctx.env);
  let restarting = false;
  return ctx.bus.subscribe(subjects.configUpdated, (update) => {
    if (restarting) return;
    const reloaded = ctx.reloadEnv();
    const now: SiteLoad = reloaded.ok ? { ok: true, site: siteOf(reloaded.env) } : reloaded;
    const change = judgeSiteChange(running, now, sections);
    if (change.kind === 'refused') {
      log.error(
        { hash: update.hash, problems: change.problems },
        'changed site configuration cannot be used; running on as configured at start',
      );
      onRefused?.(change.problems);
      return;
    }
    onRefused?.(undefined);
    if (change.kind === 'unchanged') {
      log.debug({ hash: update.hash, sections }, 'config.updated: nothing this service uses changed');
      return;
    }
    restarting = true;
    log.warn(
      { hash: update.hash, source: update.source, sections: change.sections },
      'site configuration changed: restarting to load it',
    );
    ctx.restart(`site configuration changed (${change.sections.join(', ')})`);
  });
}
