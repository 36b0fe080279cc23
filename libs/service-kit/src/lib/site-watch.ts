import type { Unsubscribe } from '@voltimax/bus';
import { canonicalJson, subjects } from '@voltimax/contracts';
import type { ServiceContext } from './service';

/**
 * The parts of the configuration a service reads only at start, by name (e.g. `{ grid, assets }`, or only the
 * assets it drives): plain JSON data, compared canonically.
 */
export type SiteParts = Readonly<Record<string, unknown>>;

/** The parts as the service would load them at start now, or why it would refuse to start. */
export type SiteLoad =
  | { readonly ok: true; readonly parts: SiteParts }
  | { readonly ok: false; readonly problems: readonly string[] };

/** What the site file as it is now means for a service that read some of it at start. */
export type SiteChange =
  /** Nothing the service uses differs from what it runs with. */
  | { readonly kind: 'unchanged' }
  /** The service could not start with it (unreadable, invalid, its own checks fail): keep running as is. */
  | { readonly kind: 'refused'; readonly problems: readonly string[] }
  /** These parts differ: restart to load them. */
  | { readonly kind: 'changed'; readonly sections: readonly string[] };

/**
 * Pure: compares the parts as the service would load them now with the ones it runs with (validated configurations,
 * so a default spelled out or not is no change). Parts the service would refuse at start are `refused`, so a restart
 * never turns a running service into one that refuses its configuration (exit 78, which no supervisor restarts).
 */
export function judgeSiteChange(running: SiteParts, now: SiteLoad): SiteChange {
  if (!now.ok) return { kind: 'refused', problems: now.problems };
  const keys = [...new Set([...Object.keys(running), ...Object.keys(now.parts)])];
  // an absent part is null (canonicalJson refuses undefined)
  const changed = keys.filter((key) => canonicalJson(now.parts[key] ?? null) !== canonicalJson(running[key] ?? null));
  return changed.length === 0 ? { kind: 'unchanged' } : { kind: 'changed', sections: changed };
}

/**
 * The parts of a service's context {@link restartOnSiteChange} uses; the connection is flushed once the
 * subscription is made, so no announcement after the first look is lost.
 */
export type SiteWatchContext<Env> = Pick<
  ServiceContext<Env>,
  'bus' | 'log' | 'env' | 'connection' | 'restart' | 'reloadEnv'
>;

/** Options of {@link restartOnSiteChange}. */
export interface SiteWatchOptions {
  /**
   * Called with why the service does not run on the file as it is now (it would refuse it, or its restart waits),
   * and with undefined once that is over.
   */
  readonly onPending?: (problem: string | undefined) => void;
  /** Why a restart must wait now (undefined: it may happen); looked at again every `retryMs` while it waits. */
  readonly holdRestart?: () => string | undefined;
  /** While a restart waits, ms (default 2 000). */
  readonly retryMs?: number;
}

/**
 * For a service that reads parts of the site configuration only at start (`uses` picks them from its env: the
 * sections, or only the assets it drives): on every `config.updated` (the cloud bridge writes the file, then announces it), and once right after the
 * subscription (a change announced while the service was starting was not heard), the environment is parsed again
 * as at start, and a change to one of the parts restarts the service (`ctx.restart`: a graceful stop, exit 75,
 * started again by its supervisor). A file it could not start with keeps it running as it is; so does
 * `holdRestart` until it clears. Both are logged and reported through `onPending`. Returns the stop function.
 */
export function restartOnSiteChange<Env>(
  ctx: SiteWatchContext<Env>,
  uses: (env: Env) => SiteParts,
  options: SiteWatchOptions = {},
): Unsubscribe {
  const log = ctx.log.child({ component: 'site-watch' });
  const running = uses(ctx.env);
  let restarting = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const check = (trigger: string): void => {
    if (restarting || stopped) return;
    clearTimeout(retry);
    retry = undefined;
    const reloaded = ctx.reloadEnv();
    const now: SiteLoad = reloaded.ok ? { ok: true, parts: uses(reloaded.env) } : reloaded;
    const change = judgeSiteChange(running, now);
    if (change.kind === 'refused') {
      log.error(
        { trigger, problems: change.problems },
        'changed site configuration cannot be used; running on as configured at start',
      );
      options.onPending?.(`changed site configuration cannot be used: ${change.problems[0] ?? ''}`);
      return;
    }
    if (change.kind === 'unchanged') {
      options.onPending?.(undefined);
      log.debug({ trigger, parts: Object.keys(running) }, 'site configuration: nothing this service uses changed');
      return;
    }
    const held = options.holdRestart?.();
    if (held !== undefined) {
      log.warn(
        { trigger, sections: change.sections, held },
        'site configuration changed; the restart to load it waits',
      );
      options.onPending?.(`changed site configuration waits for a restart: ${held}`);
      retry = setTimeout(() => check('retry'), options.retryMs ?? 2_000);
      return;
    }
    restarting = true;
    log.warn({ trigger, sections: change.sections }, 'site configuration changed: restarting to load it');
    ctx.restart(`site configuration changed (${change.sections.join(', ')})`);
  };
  const unsubscribe = ctx.bus.subscribe(subjects.configUpdated, (update) => check(`config.updated ${update.hash}`));
  ctx.connection.nc.flush().then(
    () => check('start'),
    (err: unknown) => log.warn({ err }, 'could not look at the site file after subscribing'),
  );
  return () => {
    stopped = true;
    clearTimeout(retry);
    unsubscribe();
  };
}
