import type { Bus } from '@voltimax/bus';
import { subjects, type ConfigurationUpdated, type SiteConfig, type ValidationProblem } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { BridgeHealth } from './bridge-health';
import { changedSections, configHash, requiresRestart } from './config-hash';
import type { ConfigurationFetch } from './platform-api';
import type { Scheduler } from './scheduler';
import {
  missingCloudSecrets,
  problemSummary,
  validateSite,
  type SiteValidation,
  type ValidSite,
} from './site-validation';

/** KV `config`, key `site` (CONFIG_KV_KEY): the running configuration for every service. */
export interface ConfigStore {
  /** The stored value (raw JSON) and when it was written, or undefined when there is none. */
  get(): Promise<{ readonly raw: unknown; readonly createdMs: number } | undefined>;
  put(site: SiteConfig): Promise<void>;
}

/** Where a configuration came from (ConfigurationUpdated.source). */
export type ConfigSource = ConfigurationUpdated['source'];

/** What became of one configuration (the `gateway.config.apply` reply, minus `v` and `atMs`). */
export interface ApplyResult {
  readonly outcome: 'applied' | 'unchanged' | 'rejected' | 'conflict' | 'failed';
  /** The running configuration's hash afterwards. */
  readonly hash: string;
  readonly problems: readonly ValidationProblem[];
  readonly requiresRestart?: boolean;
  readonly changedSections?: readonly string[];
  readonly error?: string;
}

/** The answer to RefreshConfiguration / `gateway.config.refresh`. */
export interface RefreshResult {
  readonly changed: boolean;
  readonly hash: string;
  readonly error?: string;
}

export interface ConfigSyncOptions {
  readonly bus: Bus;
  readonly log: Logger;
  readonly health: BridgeHealth;
  readonly scheduler: Scheduler;
  readonly gatewayId: string;
  /** assets.json: the durable copy. */
  readonly siteFile: string;
  /**
   * This gateway's environment: a configuration whose `cloud` block names a secret (usernameEnv, passwordEnv,
   * connectionStringEnv) that is not set here is rejected, since neither the bridge nor the telemetry-publisher
   * could start on it (exit 78) and the gateway would be cut off from the cloud.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The configuration in SITE_FILE at start, already validated. */
  readonly initial: ValidSite;
  /**
   * What `initial` (SITE_FILE at start) fails beyond the schema (device profiles, strategy blocks): reported as the
   * health problem `site-file` until a configuration that passes is applied.
   */
  readonly initialProblems?: readonly ValidationProblem[];
  /** When SITE_FILE was last modified, epoch ms (undefined if unknown). */
  readonly fileModifiedMs: () => Promise<number | undefined>;
  /** Replaces SITE_FILE atomically (temp, fsync, rename, keeping `.prev`); throws when nothing was written. */
  readonly writeFile: (path: string, text: string) => Promise<unknown>;
  readonly store: ConfigStore;
  /** The Platform API's configuration endpoint; undefined when no Platform API is configured. */
  readonly fetchConfiguration?: (etag: string | undefined) => Promise<ConfigurationFetch>;
  readonly pollMs: number;
  /** After a KV write failed, try again after this long, ms (default 5 000). */
  readonly storeRetryMs?: number;
  /** Called after a new configuration is in place (file and KV). */
  readonly onApplied?: (site: SiteConfig) => void;
}

export interface ConfigSync {
  /** The running configuration. */
  current(): ValidSite;
  /** Reconcile SITE_FILE with KV `config`, then poll the Platform API (first poll at once) every `pollMs`. */
  start(): Promise<void>;
  /** Fetch from the Platform API now. */
  refresh(reason: string): Promise<RefreshResult>;
  /** Validate and, if new, persist and announce a configuration (from the cli, or the cloud via refresh). */
  apply(raw: unknown, source: ConfigSource, opts?: { readonly baseHash?: string }): Promise<ApplyResult>;
  stop(): void;
}

/** How assets.json is written: the validated configuration (defaults applied), 2-space JSON, newline at the end. */
export function renderSiteFile(site: SiteConfig): string {
  return `${JSON.stringify(site, null, 2)}\n`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The configuration pipeline. Every change goes through one queue (a poll, a cloud refresh and a cli apply never
 * interleave): validate (schema, profiles, strategy blocks, gateway id, the cloud block's secrets set here) → unchanged hash: nothing → write assets.json
 * atomically (a failure leaves the old file and the running configuration; outcome `failed`) → KV `config` (retried
 * until it succeeds) → `config.updated` with `requiresRestart` and `changedSections`. An invalid configuration is
 * rejected, logged, counted (`configRejected`) and answered with its problems; the running one stays. A cloud
 * document identical to the last one fetched (same canonical hash, or a 304 for its ETag) is not looked at again,
 * so a local change made with `gateway.config.apply` is not overwritten until the cloud's configuration changes.
 */
export function createConfigSync(opts: ConfigSyncOptions): ConfigSync {
  const { bus, log, health, scheduler } = opts;
  let running: ValidSite = opts.initial;
  let queue: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let cancelPoll: (() => void) | undefined;
  let cancelStoreRetry: (() => void) | undefined;
  let etag: string | undefined;
  let lastDocumentHash: string | undefined;
  let lastRejection: string | undefined;
  let platformDownSinceMs: number | undefined;
  /** A configuration on disk whose KV write and announcement are still owed. */
  let owed: { source: ConfigSource; sections: Set<string>; restart: boolean } | undefined;

  function serial<T>(task: () => Promise<T>): Promise<T> {
    const result = queue.then(task, task);
    queue = result.catch(() => undefined);
    return result;
  }

  function announce(source: ConfigSource, sections: readonly string[] | undefined, restart: boolean): void {
    try {
      bus.publish(
        subjects.configUpdated,
        {},
        {
          v: 1,
          hash: running.hash,
          atMs: scheduler.now(),
          requiresRestart: restart,
          source,
          ...(sections === undefined ? {} : { changedSections: [...sections] }),
        },
      );
      health.count('configAnnounced');
    } catch (err) {
      log.error({ err }, 'config.updated not published');
    }
  }

  /** KV first, then the event (the engine re-reads KV on the event). A KV failure is retried; the event waits for it. */
  async function storeAndAnnounce(
    source: ConfigSource,
    sections: readonly string[] | undefined,
    restart: boolean,
  ): Promise<void> {
    if (owed) {
      for (const s of sections ?? []) owed.sections.add(s);
      owed = { source, sections: owed.sections, restart: owed.restart || restart };
    } else {
      owed = { source, sections: new Set(sections ?? []), restart };
    }
    try {
      await opts.store.put(running.site);
    } catch (err) {
      health.count('configStoreFailures');
      health.setProblem('config-store', 'KV config not updated (retrying)');
      log.error({ err, hash: running.hash }, 'writing KV config failed; retrying');
      cancelStoreRetry?.();
      if (!stopped) cancelStoreRetry = scheduler.after(opts.storeRetryMs ?? 5_000, () => serial(retryStore));
      return;
    }
    health.setProblem('config-store', undefined);
    const done = owed;
    owed = undefined;
    announce(
      done.source,
      sections === undefined && done.sections.size === 0 ? undefined : [...done.sections].sort(),
      done.restart,
    );
  }

  async function retryStore(): Promise<void> {
    if (!owed || stopped) return;
    const { source, sections, restart } = owed;
    owed = undefined;
    await storeAndAnnounce(source, [...sections].sort(), restart);
  }

  /** validateSite, plus: every secret the `cloud` block names is set in this gateway's environment. */
  function validateForThisGateway(raw: unknown): SiteValidation {
    const checked = validateSite(raw, opts.gatewayId);
    if (!checked.ok) return checked;
    const missing = missingCloudSecrets(checked.site.cloud, opts.env);
    if (missing.length === 0) return checked;
    return {
      ok: false,
      problems: missing.map(({ key, variable }) => ({
        path: `$.cloud.${key}`,
        message: `${variable} is not set in this gateway's environment (the cloud link could not start)`,
      })),
    };
  }

  async function applyNow(raw: unknown, source: ConfigSource, baseHash: string | undefined): Promise<ApplyResult> {
    if (baseHash !== undefined && baseHash !== running.hash) {
      health.count('configConflicts');
      return {
        outcome: 'conflict',
        hash: running.hash,
        problems: [],
        error: `the running configuration is ${running.hash}, not the base ${baseHash}: read it again and retry`,
      };
    }
    const checked = validateForThisGateway(raw);
    if (!checked.ok) {
      health.count('configRejected');
      if (source === 'cloud')
        health.setProblem(
          'config-rejected',
          `configuration from the cloud rejected (${checked.problems.length} problems)`,
        );
      log.error(
        { source, problems: checked.problems.slice(0, 20), count: checked.problems.length },
        'configuration rejected; keeping the running one',
      );
      return { outcome: 'rejected', hash: running.hash, problems: checked.problems.slice(0, 100) };
    }
    if (source === 'cloud') health.setProblem('config-rejected', undefined);
    if (checked.hash === running.hash) {
      health.count('configUnchanged');
      return { outcome: 'unchanged', hash: running.hash, problems: [] };
    }
    const sections = changedSections(running.site, checked.site);
    const restart = requiresRestart(sections);
    try {
      await opts.writeFile(opts.siteFile, renderSiteFile(checked.site));
    } catch (err) {
      health.count('configPersistFailures');
      health.setProblem('config-persist', `cannot write ${opts.siteFile}: ${describe(err)}`);
      log.error(
        { err, source, hash: checked.hash, file: opts.siteFile },
        'configuration not persisted; keeping the running one',
      );
      return { outcome: 'failed', hash: running.hash, problems: [], error: describe(err) };
    }
    health.setProblem('config-persist', undefined);
    health.setProblem('site-file', undefined);
    const previous = running;
    running = checked;
    health.count('configApplied');
    log.info(
      { source, hash: checked.hash, previousHash: previous.hash, changedSections: sections, requiresRestart: restart },
      'configuration applied',
    );
    await storeAndAnnounce(source, sections, restart);
    try {
      opts.onApplied?.(checked.site);
    } catch (err) {
      log.error({ err }, 'onApplied failed');
    }
    return {
      outcome: 'applied',
      hash: checked.hash,
      problems: [],
      requiresRestart: restart,
      changedSections: sections,
    };
  }

  async function refreshNow(reason: string): Promise<RefreshResult> {
    const fetchConfiguration = opts.fetchConfiguration;
    if (fetchConfiguration === undefined) {
      return {
        changed: false,
        hash: running.hash,
        error: 'no Platform API configured (cloud.platformApiUrl or PLATFORM_API_URL)',
      };
    }
    health.count('configPolls');
    let fetched: ConfigurationFetch;
    try {
      fetched = await fetchConfiguration(etag);
    } catch (err) {
      health.count('configPollFailures');
      const nowMs = scheduler.now();
      if (platformDownSinceMs === undefined) {
        platformDownSinceMs = nowMs;
        log.warn({ err, reason }, 'configuration fetch failed; keeping the running configuration');
      } else {
        log.debug({ err, reason }, 'configuration fetch failed again');
      }
      health.setProblem(
        'platform-api',
        `platform API unreachable since ${new Date(platformDownSinceMs).toISOString()}`,
      );
      return { changed: false, hash: running.hash, error: describe(err) };
    }
    if (platformDownSinceMs !== undefined) {
      log.info({ downForMs: scheduler.now() - platformDownSinceMs }, 'platform API reachable again');
      platformDownSinceMs = undefined;
      health.setProblem('platform-api', undefined);
    }
    if (fetched.kind === 'not-modified') {
      health.count('configNotModified');
      return { changed: false, hash: running.hash, ...(lastRejection === undefined ? {} : { error: lastRejection }) };
    }
    let documentHash: string;
    try {
      documentHash = configHash(fetched.raw);
    } catch (err) {
      return { changed: false, hash: running.hash, error: `configuration is not JSON data: ${describe(err)}` };
    }
    if (documentHash === lastDocumentHash) {
      etag = fetched.etag;
      health.count('configNotModified');
      return { changed: false, hash: running.hash, ...(lastRejection === undefined ? {} : { error: lastRejection }) };
    }
    const result = await applyNow(fetched.raw, 'cloud', undefined);
    if (result.outcome === 'failed') {
      // Not remembered: the same document is tried again at the next poll.
      return {
        changed: false,
        hash: result.hash,
        error: `configuration valid but not persisted: ${result.error ?? 'unknown error'}`,
      };
    }
    lastDocumentHash = documentHash;
    etag = fetched.etag;
    lastRejection =
      result.outcome === 'rejected' ? `configuration rejected: ${problemSummary(result.problems, 470)}` : undefined;
    return {
      changed: result.outcome === 'applied',
      hash: result.hash,
      ...(lastRejection === undefined ? {} : { error: lastRejection }),
    };
  }

  async function reconcile(): Promise<void> {
    let stored: { raw: unknown; createdMs: number } | undefined;
    try {
      stored = await opts.store.get();
    } catch (err) {
      log.warn({ err }, 'reading KV config failed; writing SITE_FILE to it');
    }
    if (stored === undefined) {
      log.info({ hash: running.hash, file: opts.siteFile }, 'KV config empty: loading SITE_FILE into it');
      await storeAndAnnounce('file', undefined, false);
      return;
    }
    const fromKv = validateForThisGateway(stored.raw);
    if (!fromKv.ok) {
      log.warn(
        { problems: fromKv.problems.slice(0, 10) },
        'KV config is not a valid configuration for this gateway: replacing it with SITE_FILE',
      );
      await storeAndAnnounce('file', undefined, false);
      return;
    }
    if (fromKv.hash === running.hash) {
      log.info({ hash: running.hash }, 'KV config and SITE_FILE agree');
      return;
    }
    const fileModifiedMs = await opts.fileModifiedMs().catch(() => undefined);
    const sections = changedSections(fromKv.site, running.site);
    if (fileModifiedMs === undefined || fileModifiedMs > stored.createdMs) {
      log.info(
        { hash: running.hash, kvHash: fromKv.hash, changedSections: sections },
        'SITE_FILE is newer than KV config: loading it into KV',
      );
      await storeAndAnnounce('file', sections, requiresRestart(sections));
      return;
    }
    // KV is newer: assets.json is its durable copy, so bring the file up to date, and announce it: services that
    // read the file only at start and already run restart to load it (service-kit restartOnSiteChange).
    log.warn(
      { hash: fromKv.hash, fileHash: running.hash, changedSections: sections },
      'KV config is newer than SITE_FILE: rewriting SITE_FILE from it',
    );
    running = fromKv;
    try {
      await opts.writeFile(opts.siteFile, renderSiteFile(fromKv.site));
    } catch (err) {
      health.count('configPersistFailures');
      health.setProblem('config-persist', `cannot write ${opts.siteFile}: ${describe(err)}`);
      log.error({ err, file: opts.siteFile }, 'cannot bring SITE_FILE up to date with KV config');
      return;
    }
    health.setProblem('site-file', undefined);
    announce('file', sections, requiresRestart(sections));
  }

  function armPoll(delayMs: number): void {
    if (stopped || opts.fetchConfiguration === undefined) return;
    cancelPoll = scheduler.after(delayMs, async () => {
      await serial(() => refreshNow('poll'));
      armPoll(opts.pollMs);
    });
  }

  return {
    current: () => running,
    async start() {
      const problems = opts.initialProblems ?? [];
      if (problems.length > 0) {
        log.error(
          { file: opts.siteFile, problems: problems.slice(0, 20), count: problems.length },
          'SITE_FILE fails validation; running on it until a configuration that passes is applied',
        );
        health.setProblem(
          'site-file',
          `${opts.siteFile} fails validation (${problems.length} problems: ${problemSummary(problems, 300)})`,
        );
      }
      await serial(reconcile);
      health.set('configPollMs', opts.fetchConfiguration === undefined ? 0 : opts.pollMs);
      armPoll(0);
    },
    refresh: (reason) => serial(() => refreshNow(reason)),
    apply: (raw, source, applyOpts) => serial(() => applyNow(raw, source, applyOpts?.baseHash)),
    stop() {
      stopped = true;
      cancelPoll?.();
      cancelStoreRetry?.();
    },
  };
}
