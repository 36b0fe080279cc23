import { randomUUID } from 'node:crypto';
import { context, trace, type Context, type Link } from '@opentelemetry/api';
import type { Bus, Unsubscribe } from '@voltimax/bus';
import {
  DEFAULT_MIN_TICK_MS,
  AUTOMATION_RULES_DECISION,
  EXPORT_LIMIT_DECISION,
  intentParams,
  subjects,
  type ControlIntent,
  type Setpoint,
  type SiteConfig,
  type StrategyHistoryImportReply,
  type StrategyHistoryImportRequest,
  type StrategyName,
  type ValidationProblem,
} from '@voltimax/contracts';
import { serviceTracer, type HealthControl } from '@voltimax/service-kit';
import {
  combine,
  applyRuleLimits,
  evaluateRules,
  rulesDecisionMetrics,
  INITIAL_AUTOMATION_MEMORY,
  INITIAL_METER_MEMORY,
  meterFromHistory,
  meterFromPastReadings,
  mergeSiteMeters,
  recordSiteHistory,
  seedSiteMeter,
  SiteHistorySchema,
  siteHistoryOf,
  strategyByName,
  toControlIntent,
  toDecisionMetrics,
  type AutomationMemory,
  type MeterMemory,
  type CombinedDecision,
  type DemandMemory,
  type ExportLimitMemory,
  type RulesOutcome,
  type StrategyMemories,
} from '@voltimax/strategies';
import type { Logger } from 'pino';
import { intentTtlMs, parseEngineConfig, type EngineConfig } from './config';
import { noHistoryStore, type HistoryStore } from './history-store';
import {
  lastSetpoint,
  memoryTtlMs,
  restorableHolds,
  restorableMemories,
  ruleHoldKey,
  toSnapshot,
  type LastSetpoint,
  type MemoryStore,
} from './memory-store';
import { PriceSeriesSchema, selectPrices, type PriceSeries } from './prices';
import { IntentGate, triggerAssetIds } from './reactive';
import {
  buildSiteState,
  essentialAssetIds,
  implausibleReading,
  plausiblePowerLimitW,
  TelemetryCache,
  type BuiltSiteState,
} from './site-state';

/** The site history is saved at most once per metering block (it changes when a block completes), ms. */
const HISTORY_SAVE_EVERY_MS = 900_000;

/** Days the site meter holds readings of. */
function historyDays(meter: MeterMemory): number {
  return meter.historyDay.filter((day) => day >= 0).length;
}

/** A stored value whose version (`v`) is later than the one this engine writes (1). */
function isNewerVersion(value: unknown): boolean {
  const v = typeof value === 'object' && value !== null ? (value as { v?: unknown }).v : undefined;
  return typeof v === 'number' && v > 1;
}

/** Quarter hours of a history day that make it complete (a few may be missing: a restart, a stale meter). */
const COMPLETE_DAY_BLOCKS = 90;

/** Days of the last seven before today (UTC days, as the meter keeps them) with nearly every quarter hour measured. */
function completeDays(meter: MeterMemory, nowMs: number): number {
  const today = Math.floor(nowMs / 86_400_000);
  const perDay = meter.historyW.length / Math.max(1, meter.historyDay.length);
  return meter.historyDay.filter((day, row) => {
    if (day < today - 7 || day >= today) return false;
    let measured = 0;
    for (let q = 0; q < perDay; q++) if (meter.historyW[row * perDay + q] !== null) measured++;
    return measured >= COMPLETE_DAY_BLOCKS;
  }).length;
}

/** The smallest gap between two reading ticks: `strategy.minTickMs`, or its default. */
export function minTickMsOf(site: SiteConfig): number {
  return site.strategy.minTickMs ?? DEFAULT_MIN_TICK_MS;
}

/** Timers and the clock, injected so the tick is testable without real delays (Jest fake timers drive the default). */
export interface Scheduler {
  /** Epoch ms. */
  now(): number;
  setTimer(fn: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock and timers. */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Engine settings from the environment. */
export interface EngineSettings {
  /** Intent lifetime, ms; default 3 × tickMs. */
  readonly intentTtlMs?: number;
  /** Readings older than this are stale, ms. */
  readonly maxTelemetryAgeMs: number;
}

/** What the engine is built from: everything injected, nothing global. */
export interface EngineDeps {
  readonly bus: Bus;
  readonly log: Logger;
  readonly health: HealthControl;
  readonly store: MemoryStore;
  /** Where the site's meter history survives restarts (KV `strategy-history`); default none. */
  readonly history?: HistoryStore;
  /** The configuration to start with (validated). */
  readonly config: EngineConfig;
  /** Where it came from ('file', 'kv'), for logs. */
  readonly configSource?: string;
  readonly settings: EngineSettings;
  readonly scheduler?: Scheduler;
  /** Reads the current configuration when `config.updated` arrives (KV `config`, else the file); undefined = none. */
  readonly readConfig?: () => Promise<{ readonly raw: unknown; readonly source: string } | undefined>;
  /** Intent ids; default random UUIDs. */
  readonly newId?: () => string;
}

/**
 * Why a tick ran: `reading` — a fresh reading of an input an active strategy reacts to (it publishes only what
 * changed, and what is due for a refresh); `cadence` — the fallback every `strategy.tickMs`; `request` — new prices, a
 * new configuration, the first complete telemetry (these two publish everything).
 */
export type TickTrigger = 'reading' | 'cadence' | 'request';

/** What one tick did (returned for tests and logs). */
export interface TickOutcome {
  readonly atMs: number;
  readonly trigger: TickTrigger;
  readonly built: BuiltSiteState;
  readonly rules: RulesOutcome;
  readonly combined: CombinedDecision;
  readonly intents: readonly ControlIntent[];
}

/** The outcome of a configuration switch. */
export type ApplyOutcome =
  | { readonly kind: 'applied' }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rejected'; readonly problems: readonly ValidationProblem[] };

export interface Engine {
  /** Restore memory, subscribe, start ticking (the first tick waits for telemetry, at most one intent TTL). */
  start(): Promise<void>;
  /** Stop ticking and unsubscribe; saves the memory and the site history one last time. */
  stop(): Promise<void>;
  /** Run one tick now (tests; the scheduler calls it). Undefined while waiting for first telemetry. */
  tick(): TickOutcome | undefined;
  /** Validate and switch to a new site configuration; an invalid one is refused and the current one kept. */
  applyConfig(raw: unknown, source: string): ApplyOutcome;
  /** A value of KV `prices` arrived (undefined: the key was deleted). */
  setPrices(key: string, raw: unknown): void;
  /** The configuration in use. */
  readonly config: EngineConfig;
  readonly telemetry: TelemetryCache;
  /** The site's meter as recorded so far (what a starting planner is handed). */
  readonly siteMeter: MeterMemory;
}

/**
 * The intent reason for an asset: `<strategy>:<reason>` of the last strategy that shaped its setpoint — the asset's own
 * reason where the strategy gives one per asset (each charger). ev-charging decides twice (the chargers, then its
 * battery guard layer): a charger takes the first, a battery the second.
 */
function reasonFor(assetId: string, setpoint: Setpoint, combined: CombinedDecision): string {
  if (setpoint.kind === 'pv-limit') return `export-limit:${combined.exportLimit.reason}`;
  const shapers = combined.shapedBy[assetId] ?? [];
  const name = shapers[shapers.length - 1] ?? combined.primary;
  const entries = combined.decisions.filter((d) => d.name === name);
  const entry =
    setpoint.kind === 'ev-current' ? entries.find((d) => d.stage === 'ev') : entries.filter((d) => d.stage !== 'ev').at(-1);
  const metrics = (entry ?? entries[0])?.metrics;
  return `${name}:${metrics?.assetReasons?.[assetId] ?? metrics?.reason ?? 'unassigned'}`;
}

/**
 * The strategy engine: the tick (snapshot → automation rules → `combine` → publish intents and decision metrics →
 * store memory) at once on a fresh reading of an input the active strategies react to (at most every
 * `strategy.minTickMs`), else on the `strategy.tickMs` cadence, and the live inputs (telemetry, prices, configuration
 * switches).
 */
export function createEngine(deps: EngineDeps): Engine {
  const { bus, log, health, store, settings } = deps;
  const history = deps.history ?? noHistoryStore;
  const scheduler = deps.scheduler ?? systemScheduler;
  const newId = deps.newId ?? randomUUID;
  const telemetry = new TelemetryCache();
  const prices = new Map<string, PriceSeries>();

  let config = deps.config;
  let memories: StrategyMemories = {};
  /**
   * The feed-in limit's memory, saved with the strategies' memories: a restart within its intents' TTL goes on from
   * the limit in force (an older one no longer binds: the arbiter has released the inverters).
   */
  let exportLimitMemory: ExportLimitMemory = {};
  let automationMemory: AutomationMemory = INITIAL_AUTOMATION_MEMORY;
  /**
   * The demand estimate's readings and battery set-point changes (combine § 0): which grid and battery readings agree.
   * Seconds of history, not saved: after a restart the first ticks count the latest readings as they are.
   */
  let demandMemory: DemandMemory = {};
  /**
   * The site's grid meter, recorded every tick whatever strategy runs (recordSiteHistory): the month's peak, the
   * learned profiles, the last seven days. Kept in `history` every metering block, so a restart, however long, and a
   * planner activated later start from what the site has shown instead of blind.
   */
  let siteMeter: MeterMemory = INITIAL_METER_MEMORY;
  /** The metering block (15 min) the site history was last saved in. */
  let historySavedBlock = Number.NaN;
  let historySaving = false;
  let historyHealthy = true;
  /**
   * The store has been asked successfully (found, absent or invalid). Until then nothing is saved — a store that
   * could not be read at start may still hold days of history, which a fresh one must not overwrite — and it is
   * asked again once a block.
   */
  let historyLoaded = false;
  let historyLoading = false;
  /** The store holds a history of a newer version: it is not overwritten (asked again once a block). */
  let historyNewer = false;
  const lastSetpoints = new Map<string, LastSetpoint>();
  let waitingForTelemetryUntilMs: number | undefined;
  let timer: unknown;
  let timerDueMs = Number.POSITIVE_INFINITY;
  /**
   * Start of the last reading tick, epoch ms: the next comes at least `minTickMs` after it. Other ticks (cadence,
   * requests) do not hold a reading back: they are at most one a tick.
   */
  let lastReadingTickAtMs = Number.NEGATIVE_INFINITY;
  /** A fresh reading of a trigger asset arrived since the last tick. */
  let freshTriggerReading = false;
  /** An extra tick was asked for (prices, configuration, first telemetry) since the last tick. */
  let tickRequested = false;
  /** The strategies the last tick ran (rule-activated ones included): their inputs trigger ticks. */
  let lastActive: readonly StrategyName[] = config.site.strategy.active;
  let triggerIds = triggerAssetIds(config.site, lastActive);
  let plausibleLimitW = plausiblePowerLimitW(config.site);
  // Each configured asset's kind, for the check on every reading (not a search of the asset list per reading).
  const kindsOf = (site: SiteConfig): ReadonlyMap<string, string> => new Map(site.assets.map((a) => [a.id, a.kind]));
  let assetKinds = kindsOf(config.site);
  const implausibleLoggedAt = new Map<string, number>();
  const gate = new IntentGate();
  let lastDecisionsAtMs = Number.NEGATIVE_INFINITY;
  let lastSaveAtMs = Number.NEGATIVE_INFINITY;
  let running = false;
  let hasTicked = false;
  let saving = false;
  let storeHealthy = true;
  let rejectedConfig = false;
  // The last tick threw (status degraded until one succeeds).
  let tickFailed = false;
  let lastStaleKey = '';
  const unsubscribes: Unsubscribe[] = [];
  let configQueue: Promise<void> = Promise.resolve();

  const ttlMs = (): number => intentTtlMs({ INTENT_TTL_MS: settings.intentTtlMs }, config.site.strategy.tickMs);
  /** INTENT_TTL_MS under two ticks is raised (`intentTtlMs`): said at the start and at a switch to a longer tick. */
  const warnShortTtl = (): void => {
    if (settings.intentTtlMs !== undefined && settings.intentTtlMs < 2 * config.site.strategy.tickMs) {
      log.warn(
        { intentTtlMsSetting: settings.intentTtlMs, tickMs: config.site.strategy.tickMs, intentTtlMs: ttlMs() },
        'INTENT_TTL_MS is under two ticks: intents would lapse between ticks; using two ticks',
      );
    }
  };

  function schedule(dueMs: number): void {
    if (!running) return;
    if (timer !== undefined && timerDueMs <= dueMs) return;
    if (timer !== undefined) scheduler.clearTimer(timer);
    timerDueMs = dueMs;
    timer = scheduler.setTimer(onTimer, Math.max(0, dueMs - scheduler.now()));
  }

  function onTimer(): void {
    timer = undefined;
    timerDueMs = Number.POSITIVE_INFINITY;
    const startedMs = scheduler.now();
    const outcome = safeTick();
    const { tickMs } = config.site.strategy;
    const minTickMs = minTickMsOf(config.site);
    // After a reading tick the next reading is due in about one poll interval: the fallback waits minTickMs longer,
    // so it does not run just before that reading (and push the reading's tick back by minTickMs).
    schedule(startedMs + tickMs + (outcome?.trigger === 'reading' ? minTickMs : 0));
  }

  /** An extra tick as soon as possible (new prices, new configuration, first telemetry). */
  function requestTick(): void {
    tickRequested = true;
    schedule(scheduler.now());
  }

  /** A fresh reading an active strategy reacts to: tick at once, but not sooner than minTickMs after the last reading tick. */
  function onTriggerReading(): void {
    freshTriggerReading = true;
    schedule(Math.max(scheduler.now(), lastReadingTickAtMs + minTickMsOf(config.site)));
  }

  /** The trace context each asset's latest reading arrived with: a tick continues the trace of the newest one. */
  const readingTraces = new Map<string, { readonly atMs: number; readonly ctx: Context }>();

  /**
   * Runs the tick in a span whose parent is the newest reading's trace (the meter reading that led to this decision),
   * linked to the other assets' latest readings; the intents it publishes carry that trace on to the arbiter.
   */
  function tracedTick(): TickOutcome | undefined {
    const traces = [...readingTraces.values()].sort((a, b) => b.atMs - a.atMs);
    const parent = traces[0]?.ctx ?? context.active();
    const links: Link[] = traces
      .slice(1)
      .map((t) => trace.getSpanContext(t.ctx))
      .filter((sc) => sc !== undefined)
      .map((sc) => ({ context: sc }));
    const span = serviceTracer().startSpan('strategy tick', { links }, parent);
    try {
      return context.with(trace.setSpan(parent, span), tick);
    } finally {
      span.end();
    }
  }

  /** Each rule's status as last logged: a change is logged once (warn when a rule cannot act). */
  const ruleStatus = new Map<string, string>();
  function logRuleChanges(evaluations: RulesOutcome['evaluations']): void {
    for (const e of evaluations) {
      const now = e.detail === undefined ? e.status : `${e.status} (${e.detail})`;
      const before = ruleStatus.get(e.ruleId);
      if (before === now) continue;
      ruleStatus.set(e.ruleId, now);
      if (e.status === 'unknown' || e.status === 'superseded') {
        log.warn({ rule: e.ruleId, status: e.status, detail: e.detail }, 'automation rule cannot act');
      } else if (e.status === 'fired' || before?.startsWith('fired')) {
        log.info({ rule: e.ruleId, status: e.status, value: e.value }, e.status === 'fired' ? 'automation rule fired' : 'automation rule stopped');
      }
    }
  }

  function safeTick(): TickOutcome | undefined {
    try {
      const outcome = tracedTick();
      // A tick that works again ends the 'tick failed' state (it stayed degraded until a restart or a config switch).
      if (tickFailed) {
        tickFailed = false;
        log.info('ticks succeed again');
        if (!rejectedConfig) health.setStatus('ok');
      }
      return outcome;
    } catch (err) {
      // A strategy threw: a programming error or a memory it cannot read. Publish nothing (our intents expire at the
      // arbiter, which then applies the safe default) and start the memories afresh.
      log.error({ err }, 'tick failed; memories reset');
      health.incrementCounter('tickErrors');
      health.setStatus('degraded', 'tick failed');
      tickFailed = true;
      memories = {};
      automationMemory = INITIAL_AUTOMATION_MEMORY;
      demandMemory = {};
      return undefined;
    }
  }

  function isWaitingForTelemetry(nowMs: number): boolean {
    if (waitingForTelemetryUntilMs === undefined) return false;
    const allThere = essentialAssetIds(config.site).every((id) => telemetry.has(id));
    if (allThere || nowMs >= waitingForTelemetryUntilMs) {
      log.info({ complete: allThere }, allThere ? 'telemetry complete; ticking' : 'telemetry incomplete after the start grace; ticking');
      waitingForTelemetryUntilMs = undefined;
      return false;
    }
    return true;
  }

  function publishSafely(what: string, publish: () => void): boolean {
    try {
      publish();
      return true;
    } catch (err) {
      log.error({ err, what }, 'publish failed');
      health.incrementCounter('publishErrors');
      return false;
    }
  }

  function tick(): TickOutcome | undefined {
    const nowMs = scheduler.now();
    const trigger: TickTrigger = tickRequested ? 'request' : freshTriggerReading ? 'reading' : 'cadence';
    if (trigger === 'reading') lastReadingTickAtMs = nowMs;
    tickRequested = false;
    freshTriggerReading = false;
    if (isWaitingForTelemetry(nowMs)) {
      log.debug('waiting for first telemetry');
      return undefined;
    }
    const clock = { nowMs };
    const { site } = config;
    const built = buildSiteState({
      site,
      readings: telemetry,
      prices: selectPrices(prices.values(), site.tariff.priceZone, nowMs),
      nowMs,
      maxTelemetryAgeMs: settings.maxTelemetryAgeMs,
    });
    const rules = evaluateRules(
      site.rules,
      { ...config.automation, defaultTtlMs: ttlMs() },
      built.state,
      clock,
      automationMemory,
      site.strategy.active,
    );
    siteMeter = recordSiteHistory(siteMeter, built.state, nowMs, settings.maxTelemetryAgeMs);
    // A planner without memory (first start, memory expired, just activated) starts from the site's meter.
    const seeded = seedSiteMeter(rules.active, config.configs, memories, siteMeter);
    const combined = combine(built.state, clock, {
      active: rules.active,
      configs: config.configs,
      memories: seeded.memories,
      exportLimit: exportLimitMemory,
      exportLimitInForceMs: ttlMs(),
      demand: demandMemory,
    });
    exportLimitMemory = combined.exportLimit.memory;
    demandMemory = combined.demand.memory;
    if (combined.demand.source === 'held') health.incrementCounter('demandHeldTicks');
    // Only those that ran keep a memory (an active primary behind another one does not run): count those.
    const started = seeded.seeded.filter((name) => combined.memories[name] !== undefined);
    if (started.length > 0) {
      log.info({ seeded: started, historyDays: historyDays(siteMeter), monthPeakW: Math.round(siteMeter.monthPeakW) }, 'planners start from the site history');
      health.incrementCounter('memoriesSeeded', started.length);
    }
    memories = combined.memories;
    automationMemory = rules.memory;
    logRuleChanges(rules.evaluations);
    if (rules.active.join() !== lastActive.join()) {
      lastActive = rules.active;
      triggerIds = triggerAssetIds(site, lastActive);
    }

    const ttl = ttlMs();
    const { tickMs } = site.strategy;
    // A reading tick publishes what changed (and refreshes what is a tick old); the other ticks publish everything.
    const refreshMs = trigger === 'reading' ? tickMs : 0;
    const intents: ControlIntent[] = [];
    const publishIntent = (intent: ControlIntent, what: string): boolean => {
      if (!gate.wants(intent, nowMs, refreshMs)) {
        health.incrementCounter('intentsUnchanged');
        return false;
      }
      if (!publishSafely(what, () => bus.publish(subjects.intent, intentParams(intent), intent))) return false;
      gate.published(intent, nowMs);
      intents.push(intent);
      return true;
    };
    // The caps of firing `limit-*` rules shape the strategies' set-points and the other rules' alike.
    const limited = (assetId: string, setpoint: Setpoint, source: ControlIntent['source'] = 'optimization') => {
      const asset = site.assets.find((a) => a.id === assetId);
      return applyRuleLimits(assetId, setpoint, rules.limits, asset?.kind === 'ev-charger' ? asset.evCharger.minCurrentA : 0, source);
    };
    const clipReason = (reason: string): string => (reason.length > 500 ? `${reason.slice(0, 497)}...` : reason);
    for (const [assetId, proposed] of Object.entries(combined.setpoints)) {
      const { setpoint, ruleIds } = limited(assetId, proposed);
      const strategyReason = reasonFor(assetId, proposed, combined);
      const intent: ControlIntent = {
        v: 1,
        id: newId(),
        source: 'optimization',
        assetId,
        setpoint,
        issuedAtMs: nowMs,
        ttlMs: ttl,
        reason: clipReason(ruleIds.length === 0 ? strategyReason : `${ruleIds.map((id) => `rule:${id}`).join(', ')} (limits ${strategyReason})`),
        issuedBy: 'strategy-engine',
      };
      if (publishIntent(intent, 'intent')) lastSetpoints.set(assetId, lastSetpoint(assetId, setpoint, nowMs, intent.reason));
    }
    for (const ruleIntent of rules.intents) {
      // A cap applies to rule intents of its own rank and below: a scheduled cap never weakens a safety rule.
      const { setpoint, ruleIds } = limited(ruleIntent.assetId, ruleIntent.setpoint, ruleIntent.source);
      const capped =
        ruleIds.length === 0
          ? ruleIntent
          : { ...ruleIntent, setpoint, reason: clipReason(`${ruleIntent.reason} (limited by ${ruleIds.map((id) => `rule:${id}`).join(', ')})`) };
      const intent = toControlIntent(capped, newId(), clock);
      // On the rule's own source subject (scheduled or safety): nats.conf grants those to this service, not manual.
      if (publishIntent(intent, 'rule intent')) health.incrementCounter('ruleIntents');
    }
    // Decision metrics with the intents they explain, and at least once a tick.
    if (trigger !== 'reading' || intents.length > 0 || nowMs - lastDecisionsAtMs >= tickMs) {
      lastDecisionsAtMs = nowMs;
      for (const decision of combined.decisions) {
        publishSafely('decision', () =>
          bus.publish(subjects.strategyDecision, { strategy: decision.name }, toDecisionMetrics(decision.name, decision.metrics, clock)),
        );
      }
      // The rules too, on sites with rules: which fired, which wait for their hold, which cannot be evaluated and why.
      if (site.rules.length > 0) {
        publishSafely('decision', () =>
          bus.publish(
            subjects.strategyDecision,
            { strategy: AUTOMATION_RULES_DECISION },
            { v: 1, strategy: AUTOMATION_RULES_DECISION, atMs: Math.max(0, Math.round(nowMs)), ...rulesDecisionMetrics(rules.evaluations) },
          ),
        );
      }
      // The feed-in limit explains itself too, on sites with PV it may curtail (whatever the strategies).
      if ((built.state.pvInverters ?? []).length > 0) {
        publishSafely('decision', () =>
          bus.publish(
            subjects.strategyDecision,
            { strategy: EXPORT_LIMIT_DECISION },
            toDecisionMetrics(EXPORT_LIMIT_DECISION, combined.exportLimit.metrics, clock),
          ),
        );
      }
    }

    hasTicked = true;
    health.incrementCounter('ticks');
    if (trigger === 'reading') health.incrementCounter('readingTicks');
    health.setCounter('staleAssets', built.stale.length + built.missing.length);
    const staleKey = [...built.missing, ...built.stale].join(',');
    if (staleKey !== lastStaleKey) {
      lastStaleKey = staleKey;
      if (staleKey) log.warn({ missing: built.missing, stale: built.stale }, 'telemetry missing or stale; those assets are held');
      else log.info('telemetry fresh for every asset');
    }
    log.debug(
      {
        trigger,
        primary: combined.primary,
        layers: combined.layers,
        demand: [Math.round(combined.demand.netDemandW), combined.demand.source],
        activated: rules.activated,
        intents: intents.map((i) => [i.assetId, i.setpoint]),
      },
      'tick',
    );
    // Reading ticks may come every poll: the memory is saved at most once a tick (cadence) from them.
    if (trigger !== 'reading' || nowMs - lastSaveAtMs >= tickMs) saveMemory(nowMs);
    // The site history changes once a metering block completes: saved at most once a block.
    if (Math.floor(nowMs / HISTORY_SAVE_EVERY_MS) !== historySavedBlock && siteMeter.lastAtMs !== null) {
      if (historyLoaded) saveHistory(nowMs);
      else retryHistoryLoad(nowMs);
    }
    return { atMs: nowMs, trigger, built, rules, combined, intents };
  }

  function saveHistory(nowMs: number): void {
    if (historySaving || history.kind === 'none') return;
    historySaving = true;
    historySavedBlock = Math.floor(nowMs / HISTORY_SAVE_EVERY_MS);
    void history
      .save(siteHistoryOf(siteMeter, nowMs))
      .then((ok) => {
        if (ok !== historyHealthy) {
          historyHealthy = ok;
          if (ok) log.info('site history saved again');
        }
        health.incrementCounter(ok ? 'historySaves' : 'historySaveFailures');
      })
      .finally(() => {
        historySaving = false;
      });
  }

  function retryHistoryLoad(nowMs: number): void {
    if (historyLoading) return;
    historyLoading = true;
    historySavedBlock = Math.floor(nowMs / HISTORY_SAVE_EVERY_MS);
    void loadHistory().finally(() => {
      historyLoading = false;
    });
  }

  /**
   * The running planners take what the site's meter has learned beyond their own (after a late read or an import),
   * keeping their block in progress.
   */
  function handSiteMeterToPlanners(): void {
    const next: Partial<Record<StrategyName, unknown>> = { ...memories };
    for (const [name, memory] of Object.entries(memories)) {
      const strategy = strategyByName(name as StrategyName);
      if (strategy.withSiteMeter && memory !== undefined) {
        next[name as StrategyName] = strategy.withSiteMeter(memory, (own) => mergeSiteMeters(own, siteMeter, 'other'));
      }
    }
    memories = next as StrategyMemories;
  }

  /**
   * `gateway.strategy.history.import`: commissioning with past readings. Refused when the engine already holds a
   * complete day of history (unless `replace`) or when the readings hold no complete day of the last seven; else the
   * site meter is rebuilt from them, handed to the running planners and saved at once.
   */
  async function importHistory(request: StrategyHistoryImportRequest): Promise<StrategyHistoryImportReply> {
    const nowMs = scheduler.now();
    const reply = (outcome: 'imported' | 'refused', saved: boolean, reason?: string): StrategyHistoryImportReply => {
      if (outcome === 'refused') {
        health.incrementCounter('historyImportsRefused');
        log.warn({ requestedBy: request.requestedBy, readings: request.readings.length, reason }, 'site history import refused');
      }
      return {
      v: 1,
      outcome,
      ...(reason ? { reason } : {}),
      days: completeDays(siteMeter, nowMs),
      monthPeakW: Math.max(0, Math.round(siteMeter.monthPeakW)),
      monthKey: siteMeter.monthKey,
      saved,
      atMs: nowMs,
      };
    };
    const held = completeDays(siteMeter, nowMs);
    if (held > 0 && request.replace !== true) {
      return reply('refused', false, `the engine already holds ${held} complete day${held === 1 ? '' : 's'} of readings; set replace to overwrite them`);
    }
    const latestMs = Math.max(...request.readings.map((r) => r.atMs));
    if (latestMs > nowMs + HISTORY_SAVE_EVERY_MS) return reply('refused', false, 'readings lie in the future: check the clock or the time zone of the export');
    const imported = meterFromHistory(siteHistoryOf(meterFromPastReadings(request.readings, config.site.timezone), nowMs));
    if (completeDays(imported, nowMs) === 0) return reply('refused', false, 'the readings hold no complete day of the last seven');
    // The days imported win with replace, the engine's own otherwise (it then holds no complete day: only today's).
    siteMeter = mergeSiteMeters(siteMeter, imported, request.replace === true ? 'other' : 'live');
    handSiteMeterToPlanners();
    const saved = history.kind !== 'none' && !historyNewer && (await history.save(siteHistoryOf(siteMeter, nowMs)));
    if (saved) historyLoaded = true; // what the store held before is replaced on purpose
    health.incrementCounter('historyImports');
    log.info(
      { requestedBy: request.requestedBy, readings: request.readings.length, days: completeDays(siteMeter, nowMs), monthPeakW: Math.round(siteMeter.monthPeakW), saved },
      'site history imported',
    );
    return reply('imported', saved);
  }

  /** Reads the stored site history and merges a valid one into the meter. */
  async function loadHistory(): Promise<void> {
    const loaded = await history.load();
    if (loaded.status === 'failed') {
      health.incrementCounter('historyLoadFailures');
      return;
    }
    if (loaded.status === 'found' && isNewerVersion(loaded.value)) {
      // Saved by a newer engine (this one was rolled back): left alone, never overwritten; the planners learn anew.
      if (!historyNewer) log.warn({ v: (loaded.value as { v: unknown }).v }, 'stored site history is of a newer version; left alone and not saved over');
      historyNewer = true;
      health.incrementCounter('historyNewerVersion');
      return;
    }
    historyLoaded = true;
    if (loaded.status === 'absent') {
      if (history.kind !== 'none') log.info({ store: history.kind }, 'no site history yet; the planners learn from the first readings');
      return;
    }
    const parsed = SiteHistorySchema.safeParse(loaded.value);
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues.slice(0, 5) }, 'stored site history invalid; ignored (it is rebuilt from readings)');
      health.incrementCounter('historyRejected');
      return;
    }
    // Added to what was recorded or imported meanwhile, which wins: a read that comes late (after a long outage of
    // the store, or while an import was being learned) must not wipe the days since; a billed peak only goes up.
    siteMeter = mergeSiteMeters(siteMeter, meterFromHistory(parsed.data), 'live');
    // Read late (the store was away at start): the planners running meanwhile take what it adds.
    if (hasTicked) handSiteMeterToPlanners();
    log.info(
      { historyDays: historyDays(siteMeter), monthKey: siteMeter.monthKey, monthPeakW: Math.round(siteMeter.monthPeakW), ageMs: scheduler.now() - parsed.data.savedAtMs },
      'site history restored',
    );
  }

  function saveMemory(nowMs: number): void {
    if (saving || store.kind === 'none') return;
    saving = true;
    lastSaveAtMs = nowMs;
    const snapshot = toSnapshot(nowMs, memories, config.configHashes, automationMemory, exportLimitMemory, config.site.rules);
    void store
      .save(config.site.gatewayId, snapshot, [...lastSetpoints.values()], memoryTtlMs(config.site.strategy.tickMs))
      .then((ok) => {
        if (ok !== storeHealthy) {
          storeHealthy = ok;
          if (ok) log.info('memory store reachable again');
          else log.warn({ store: store.kind }, 'memory store unreachable; memories are not persisted');
        }
        if (!ok) health.incrementCounter('memorySaveFailures');
      })
      .finally(() => {
        saving = false;
      });
  }

  function applyConfig(raw: unknown, source: string): ApplyOutcome {
    const outcome = parseEngineConfig(raw);
    if (!outcome.ok) {
      log.error({ source, problems: outcome.problems }, 'configuration rejected; keeping the current one');
      health.incrementCounter('configRejected');
      health.setStatus('degraded', `configuration from ${source} rejected`);
      rejectedConfig = true;
      return { kind: 'rejected', problems: outcome.problems };
    }
    const next = outcome.config;
    const clearRejection = (): void => {
      if (!rejectedConfig) return;
      rejectedConfig = false;
      health.setStatus('ok');
    };
    if (next.hash === config.hash) {
      clearRejection();
      return { kind: 'unchanged' };
    }
    const previous = config;
    // A strategy whose config changed starts from fresh memory (NetZero then starts bumpless from the measured power).
    const kept: Partial<Record<StrategyName, unknown>> = {};
    for (const [key, memory] of Object.entries(memories)) {
      const name = key as StrategyName;
      if (next.configHashes[name] !== undefined && next.configHashes[name] === previous.configHashes[name]) kept[name] = memory;
    }
    memories = kept as StrategyMemories;
    // A rule's `forMs` hold goes on only while what it holds for is the same (an edited threshold starts it over).
    const before = Object.fromEntries(previous.site.rules.map((rule) => [rule.id, ruleHoldKey(rule)]));
    automationMemory = restorableHolds({ conditionSinceMs: automationMemory.conditionSinceMs, holdKeys: before }, next.site.rules);
    config = next;
    telemetry.retain(new Set(next.site.assets.map((a) => a.id)));
    lastActive = next.site.strategy.active;
    triggerIds = triggerAssetIds(next.site, lastActive);
    plausibleLimitW = plausiblePowerLimitW(next.site);
    assetKinds = kindsOf(next.site);
    gate.clear();
    clearRejection();
    health.incrementCounter('configSwitches');
    log.info(
      {
        source,
        hash: next.hash,
        active: next.site.strategy.active,
        previousActive: previous.site.strategy.active,
        tickMs: next.site.strategy.tickMs,
        minTickMs: minTickMsOf(next.site),
        triggers: [...triggerIds],
        keptMemories: Object.keys(kept),
      },
      'configuration switched',
    );
    warnShortTtl();
    requestTick();
    return { kind: 'applied' };
  }

  function setPrices(key: string, raw: unknown): void {
    if (raw === undefined) {
      if (prices.delete(key)) {
        log.info({ key }, 'prices removed');
        requestTick();
      }
      return;
    }
    const parsed = PriceSeriesSchema.safeParse(raw);
    if (!parsed.success) {
      log.warn({ key, issues: parsed.error.issues.slice(0, 10) }, 'invalid prices dropped; keeping the previous ones');
      health.incrementCounter('pricesRejected');
      return;
    }
    const before = prices.get(key);
    prices.set(key, parsed.data);
    // The same series again (a KV re-delivery, a cloud resend) or another zone's changes nothing here: no update, no
    // tick. Before, each counted as an update and forced a full-publish tick.
    const priceZone = config.site.tariff.priceZone;
    if (priceZone !== undefined && parsed.data.zone !== priceZone && before?.zone !== priceZone) {
      log.debug({ key, zone: parsed.data.zone, siteZone: priceZone }, 'prices of another zone kept, not used');
      health.incrementCounter('pricesOtherZone');
      return;
    }
    if (before !== undefined && JSON.stringify(before) === JSON.stringify(parsed.data)) {
      health.incrementCounter('pricesUnchanged');
      return;
    }
    log.info({ key, zone: parsed.data.zone, points: parsed.data.series.length }, 'prices received');
    health.incrementCounter('priceUpdates');
    // Planners (arbitrage, time-of-use) re-plan when the price hash in their memory changes: tick now.
    requestTick();
  }

  async function refreshConfig(): Promise<void> {
    if (!deps.readConfig) return;
    try {
      const found = await deps.readConfig();
      if (found) applyConfig(found.raw, found.source);
    } catch (err) {
      log.warn({ err }, 'reading the configuration failed; keeping the current one');
    }
  }

  return {
    get config() {
      return config;
    },
    get siteMeter() {
      return siteMeter;
    },
    telemetry,
    tick: () => safeTick(),
    applyConfig,
    setPrices,

    async start() {
      await loadHistory();
      const restored = await store.load(config.site.gatewayId, config.site.assets.map((a) => a.id));
      const { memories: restoredMemories, dropped } = restorableMemories(restored.snapshot, config.configHashes);
      memories = restoredMemories as StrategyMemories;
      automationMemory = restorableHolds(restored.snapshot?.automation, config.site.rules);
      // A limit saved without its time counts from when the snapshot was saved (never as just sent).
      const saved = restored.snapshot;
      exportLimitMemory = saved?.exportLimit
        ? { ...saved.exportLimit, sentAtMs: saved.exportLimit.sentAtMs ?? saved.savedAtMs }
        : {};
      for (const sp of restored.setpoints) lastSetpoints.set(sp.assetId, sp);
      const nowMs = scheduler.now();
      log.info(
        {
          store: store.kind,
          restored: Object.keys(restoredMemories),
          droppedChangedConfig: dropped,
          memoryAgeMs: restored.snapshot ? nowMs - restored.snapshot.savedAtMs : undefined,
          lastSetpoints: restored.setpoints.map((sp) => ({ assetId: sp.assetId, setpoint: sp.setpoint, ageMs: nowMs - sp.atMs })),
        },
        store.kind === 'none' ? 'no memory store; starting with fresh memory' : 'memory restored',
      );
      log.info(
        {
          source: deps.configSource ?? 'file',
          gatewayId: config.site.gatewayId,
          active: config.site.strategy.active,
          tickMs: config.site.strategy.tickMs,
          minTickMs: minTickMsOf(config.site),
          triggers: [...triggerIds],
          intentTtlMs: ttlMs(),
          maxTelemetryAgeMs: settings.maxTelemetryAgeMs,
          rules: config.site.rules.map((r) => r.id),
          assets: config.site.assets.map((a) => `${a.id}:${a.kind}`),
        },
        'engine configuration',
      );
      warnShortTtl();

      unsubscribes.push(
        bus.subscribe(subjects.telemetry, (reading, ctx) => {
          // A reading on another asset's subject, or of another kind than the configured asset (a battery's reading on
          // telemetry.grid-1 was taken as the grid power), is not this asset's.
          const configuredKind = assetKinds.get(reading.assetId);
          if (ctx.params.assetId !== reading.assetId || (configuredKind !== undefined && configuredKind !== reading.kind)) {
            health.incrementCounter('telemetryMismatch');
            return;
          }
          const implausible = implausibleReading(reading, plausibleLimitW);
          if (implausible !== undefined) {
            health.incrementCounter('implausibleReadings');
            const lastLogMs = implausibleLoggedAt.get(reading.assetId);
            if (lastLogMs === undefined || scheduler.now() - lastLogMs >= 60_000) {
              implausibleLoggedAt.set(reading.assetId, scheduler.now());
              log.warn({ assetId: reading.assetId, atMs: reading.atMs, reason: implausible }, 'implausible reading refused (logged once a minute per asset)');
            }
            return;
          }
          const previousAtMs = telemetry.get(reading.assetId)?.atMs;
          if (!telemetry.update(reading, scheduler.now())) return;
          readingTraces.set(reading.assetId, { atMs: reading.atMs, ctx: ctx.traceContext });
          if (waitingForTelemetryUntilMs !== undefined) {
            if (essentialAssetIds(config.site).every((id) => telemetry.has(id))) requestTick();
          } else if (triggerIds.has(reading.assetId) && (previousAtMs === undefined || reading.atMs > previousAtMs)) {
            // Only a newer measurement: a repeated one (same atMs) has nothing new to react to.
            onTriggerReading();
          }
        }),
        bus.subscribe(subjects.configUpdated, (update) => {
          log.info({ hash: update.hash, source: update.source }, 'config.updated received');
          configQueue = configQueue.then(refreshConfig);
          return configQueue;
        }),
        bus.reply(subjects.gatewayStrategyHistoryImport, (request) => importHistory(request)),
        bus.subscribe(subjects.arbiterDecision, (decision) => {
          // The engine's own sources: optimization, and the rules' scheduled and safety intents.
          if (decision.source !== 'optimization' && decision.source !== 'scheduled' && decision.source !== 'safety') return;
          if (decision.outcome === 'rejected') {
            health.incrementCounter('arbiterRejected');
            log.debug({ assetId: decision.assetId, violations: decision.violations }, 'arbiter rejected an intent');
          } else if (decision.outcome === 'clamped') {
            health.incrementCounter('arbiterClamped');
          }
        }),
      );

      running = true;
      // The intents published before a restart stay valid for one TTL: wait that long for telemetry rather than
      // deciding on an empty snapshot (which would hold the battery at 0 W and bump it).
      waitingForTelemetryUntilMs = nowMs + ttlMs();
      schedule(nowMs);
    },

    async stop() {
      running = false;
      if (timer !== undefined) scheduler.clearTimer(timer);
      timer = undefined;
      for (const off of unsubscribes.splice(0)) off();
      await configQueue.catch(() => undefined);
      if (history.kind !== 'none' && historyLoaded && hasTicked && siteMeter.lastAtMs !== null) {
        const ok = await history.save(siteHistoryOf(siteMeter, scheduler.now()));
        health.incrementCounter(ok ? 'historySaves' : 'historySaveFailures');
      }
      // Without a tick there is nothing new; re-saving the restored memory would only stretch its TTL.
      if (store.kind !== 'none' && hasTicked) {
        await store.save(
          config.site.gatewayId,
          toSnapshot(scheduler.now(), memories, config.configHashes, automationMemory, exportLimitMemory, config.site.rules),
          [...lastSetpoints.values()],
          memoryTtlMs(config.site.strategy.tickMs),
        );
      }
    },
  };
}
