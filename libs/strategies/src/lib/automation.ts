import { z } from 'zod';
import {
  INTENT_PRIORITY,
  type AutomationRule,
  type ControlIntent,
  type IntentSource,
  type Setpoint,
  type StrategyName,
} from '@voltimax/contracts';
import { DEFAULT_MAX_READING_AGE_MS, isBatteryStale, isGridStale } from './battery';
import { isInDailyWindow, toLocalTime } from './local-time';
import { currentPrice } from './prices';
import type { SiteState } from './site-state';
import type { Clock } from './strategy';

/**
 * Per-rule options the contracts' AutomationRuleSchema has no room for, keyed by rule id.
 */
export const RuleOptionsSchema = z.strictObject({
  /** Source stamped on the rule's intents: 'safety' outranks manual commands at the arbiter, 'scheduled' does not. */
  source: z.enum(['scheduled', 'safety']).default('scheduled'),
  /** The condition must hold continuously this long before the rule fires, ms. */
  forMs: z.number().int().min(0).default(0),
  /** Lifetime of the intents the rule emits, ms (re-emitted every tick while the rule fires); default: the engine's. */
  ttlMs: z.number().int().positive().max(24 * 3_600_000).optional(),
});
export type RuleOptions = z.infer<typeof RuleOptionsSchema>;

const DEFAULT_RULE_OPTIONS: RuleOptions = { source: 'scheduled', forMs: 0 };

export const AutomationOptionsSchema = z
  .strictObject({
    rules: z.record(z.string(), RuleOptionsSchema).default({}),
    /** Readings older than this make soc and grid conditions unknown (not satisfied), ms. */
    maxReadingAgeMs: z.number().int().positive().default(DEFAULT_MAX_READING_AGE_MS),
    /** Lifetime of a rule's intents when the rule sets none, ms (the engine's intent lifetime). */
    defaultTtlMs: z.number().int().positive().max(24 * 3_600_000).default(60_000),
  })
  .prefault({});
export type AutomationOptions = z.infer<typeof AutomationOptionsSchema>;

/** Memory of the rule evaluator: since when each rule's condition has held. */
export interface AutomationMemory {
  readonly conditionSinceMs: Readonly<Record<string, number>>;
}

export const INITIAL_AUTOMATION_MEMORY: AutomationMemory = { conditionSinceMs: {} };

/** An intent a rule wants the strategy-engine to publish on `control.intent.<source>.<assetId>`. */
export interface RuleIntent {
  readonly ruleId: string;
  readonly source: 'scheduled' | 'safety';
  readonly assetId: string;
  readonly setpoint: Setpoint;
  readonly ttlMs: number;
  readonly reason: string;
}

/** Why a rule did or did not fire this tick. */
export type RuleStatus = 'fired' | 'pending' | 'inactive' | 'unknown' | 'disabled' | 'superseded';

/** Why a condition could not be evaluated (kebab-case). */
export type RuleUnknownReason = 'invalid-timezone' | 'unknown-asset' | 'stale-data' | 'no-price';

export interface RuleEvaluation {
  readonly ruleId: string;
  readonly status: RuleStatus;
  /** Set when status is 'unknown' (or an action's asset is unknown). */
  readonly detail?: RuleUnknownReason;
  /** The value the condition compared (SoC %, price EUR/MWh, grid W, minute of day). */
  readonly value?: number;
  /** Since when the condition holds, epoch ms. */
  readonly sinceMs?: number;
}

/** A cap a firing `limit-*` rule puts on an asset's set-points. */
export interface RuleLimit {
  readonly ruleId: string;
  /** The rule's source: it caps intents of this rank and below (a scheduled cap never weakens a safety rule). */
  readonly source: 'scheduled' | 'safety';
  readonly assetId: string;
  /** Battery: the most it may discharge / charge, W (≥ 0). */
  readonly maxDischargeW?: number;
  readonly maxChargeW?: number;
  /** EV charger: the most current it may offer, A. */
  readonly maxCurrentA?: number;
}

export interface RulesOutcome {
  /** Intents to publish, at most one per asset (safety before scheduled, then rule order). */
  readonly intents: readonly RuleIntent[];
  /** Caps of the firing `limit-*` rules, in rule order (every one applies: the tightest wins). */
  readonly limits: readonly RuleLimit[];
  /** The active strategy list: strategies activated by firing rules first (rule order), then the configured ones. */
  readonly active: readonly StrategyName[];
  /** Strategies activated by rules this tick. */
  readonly activated: readonly StrategyName[];
  readonly evaluations: readonly RuleEvaluation[];
  readonly memory: AutomationMemory;
}

type ConditionResult =
  | { readonly kind: 'true' | 'false'; readonly value: number }
  | { readonly kind: 'unknown'; readonly detail: RuleUnknownReason };

function evaluateCondition(
  when: AutomationRule['when'],
  state: SiteState,
  clock: Clock,
  maxReadingAgeMs: number,
): ConditionResult {
  const compare = (holds: boolean, value: number): ConditionResult => ({ kind: holds ? 'true' : 'false', value });
  switch (when.type) {
    case 'time': {
      const local = toLocalTime(clock.nowMs, state.timezone);
      if (!local) return { kind: 'unknown', detail: 'invalid-timezone' };
      return compare(isInDailyWindow(local, when.from, when.to, when.days), Math.floor(local.minuteOfDay));
    }
    case 'soc-below':
    case 'soc-above': {
      const battery = state.batteries.find((b) => b.assetId === when.assetId);
      if (!battery) return { kind: 'unknown', detail: 'unknown-asset' };
      if (isBatteryStale(battery, maxReadingAgeMs)) return { kind: 'unknown', detail: 'stale-data' };
      return compare(when.type === 'soc-below' ? battery.socPct < when.socPct : battery.socPct > when.socPct, battery.socPct);
    }
    case 'price-below':
    case 'price-above': {
      const price = currentPrice(state, clock.nowMs);
      // On a dynamic tariff only a spot price is the price: its fixed fallback (what the strategies plan on while no
      // day-ahead prices came) made `price-above 200` fire for good on a site without internet.
      if (!price || (state.tariff?.kind === 'dynamic' && price.source !== 'spot')) return { kind: 'unknown', detail: 'no-price' };
      const p = price.eurPerMwh;
      return compare(when.type === 'price-below' ? p < when.eurPerMwh : p > when.eurPerMwh, p);
    }
    case 'grid-import-above': {
      if (isGridStale(state, maxReadingAgeMs)) return { kind: 'unknown', detail: 'stale-data' };
      return compare(state.gridPowerW > when.powerW, state.gridPowerW);
    }
  }
}

function intentFor(rule: AutomationRule, options: RuleOptions, defaultTtlMs: number): RuleIntent | undefined {
  const base = { ruleId: rule.id, source: options.source, ttlMs: options.ttlMs ?? defaultTtlMs, reason: `rule:${rule.id}` };
  switch (rule.then.type) {
    case 'set-battery-power':
      return { ...base, assetId: rule.then.assetId, setpoint: { kind: 'battery-power', powerW: rule.then.powerW } };
    case 'set-ev-current':
      return { ...base, assetId: rule.then.assetId, setpoint: { kind: 'ev-current', currentA: rule.then.currentA } };
    case 'activate-strategy':
    case 'limit-battery-power':
    case 'limit-ev-current':
      return undefined;
  }
}

function limitFor(rule: AutomationRule, options: RuleOptions): RuleLimit | undefined {
  switch (rule.then.type) {
    case 'limit-battery-power':
      return {
        ruleId: rule.id,
        source: options.source,
        assetId: rule.then.assetId,
        ...(rule.then.maxDischargeW !== undefined ? { maxDischargeW: rule.then.maxDischargeW } : {}),
        ...(rule.then.maxChargeW !== undefined ? { maxChargeW: rule.then.maxChargeW } : {}),
      };
    case 'limit-ev-current':
      return { ruleId: rule.id, source: options.source, assetId: rule.then.assetId, maxCurrentA: rule.then.maxCurrentA };
    default:
      return undefined;
  }
}

/**
 * A set-point of an intent from `source` within the caps the firing `limit-*` rules of at least that rank put on its
 * asset, and the rules that changed it (in rule order). A battery power is clamped to [−maxChargeW, maxDischargeW];
 * an EV current to maxCurrentA, and to 0 when that is under `evMinCurrentA` (a car takes nothing between 0 and its
 * minimum). Other set-points pass unchanged.
 */
export function applyRuleLimits(
  assetId: string,
  setpoint: Setpoint,
  limits: readonly RuleLimit[],
  evMinCurrentA = 0,
  source: IntentSource = 'optimization',
): { readonly setpoint: Setpoint; readonly ruleIds: readonly string[] } {
  let out = setpoint;
  const ruleIds: string[] = [];
  for (const limit of limits) {
    if (limit.assetId !== assetId || INTENT_PRIORITY[limit.source] < INTENT_PRIORITY[source]) continue;
    if (out.kind === 'battery-power') {
      const powerW = Math.max(-(limit.maxChargeW ?? Infinity), Math.min(limit.maxDischargeW ?? Infinity, out.powerW));
      if (powerW !== out.powerW) {
        out = { ...out, powerW: powerW === 0 ? 0 : powerW };
        ruleIds.push(limit.ruleId);
      }
    } else if (out.kind === 'ev-current' && limit.maxCurrentA !== undefined && out.currentA > limit.maxCurrentA) {
      const capped = limit.maxCurrentA < evMinCurrentA ? 0 : limit.maxCurrentA;
      out = { ...out, currentA: capped };
      ruleIds.push(limit.ruleId);
    }
  }
  return { setpoint: out, ruleIds };
}

/**
 * Evaluates the site's automation rules against the snapshot. A condition that cannot be evaluated (stale data,
 * unknown asset, no price, bad time zone) counts as not satisfied and restarts its `forMs` hold.
 * A rule fires when its condition has held for `forMs`. Firing rules emit intents (one per asset: safety rules
 * before scheduled ones, then list order; the others are 'superseded'), caps (`limit-*`: every one applies, see
 * `applyRuleLimits`) or activate a strategy, which is put in front of the configured active list (so an activated
 * primary becomes the primary under the combination rule).
 */
export function evaluateRules(
  rules: readonly AutomationRule[],
  options: AutomationOptions,
  state: SiteState,
  clock: Clock,
  memory: AutomationMemory,
  configuredActive: readonly StrategyName[],
): RulesOutcome {
  const evaluations: RuleEvaluation[] = [];
  const since: Record<string, number> = {};
  const firing: { readonly rule: AutomationRule; readonly options: RuleOptions; readonly index: number }[] = [];
  const batteries = new Set(state.batteries.map((b) => b.assetId));
  const chargers = new Set(state.evChargers.map((c) => c.assetId));
  /** The action's asset is one the snapshot has, of the kind the action needs. */
  const knownAssetFor = (then: Exclude<AutomationRule['then'], { type: 'activate-strategy' }>): boolean =>
    then.type === 'set-ev-current' || then.type === 'limit-ev-current' ? chargers.has(then.assetId) : batteries.has(then.assetId);

  rules.forEach((rule, index) => {
    const ruleOptions = options.rules[rule.id] ?? DEFAULT_RULE_OPTIONS;
    if (!rule.enabled) {
      evaluations.push({ ruleId: rule.id, status: 'disabled' });
      return;
    }
    const result = evaluateCondition(rule.when, state, clock, options.maxReadingAgeMs);
    if (result.kind === 'unknown') {
      evaluations.push({ ruleId: rule.id, status: 'unknown', detail: result.detail });
      return;
    }
    if (result.kind === 'false') {
      evaluations.push({ ruleId: rule.id, status: 'inactive', value: result.value });
      return;
    }
    const startedMs = Math.min(memory.conditionSinceMs[rule.id] ?? clock.nowMs, clock.nowMs);
    since[rule.id] = startedMs;
    if (clock.nowMs - startedMs < ruleOptions.forMs) {
      evaluations.push({ ruleId: rule.id, status: 'pending', value: result.value, sinceMs: startedMs });
      return;
    }
    if (rule.then.type !== 'activate-strategy' && !knownAssetFor(rule.then)) {
      evaluations.push({ ruleId: rule.id, status: 'unknown', detail: 'unknown-asset', value: result.value, sinceMs: startedMs });
      return;
    }
    firing.push({ rule, options: ruleOptions, index });
    evaluations.push({ ruleId: rule.id, status: 'fired', value: result.value, sinceMs: startedMs });
  });

  const activated: StrategyName[] = [];
  for (const { rule } of firing) {
    if (rule.then.type === 'activate-strategy' && !activated.includes(rule.then.strategy)) activated.push(rule.then.strategy);
  }
  const ordered = [...firing].sort(
    (a, b) => INTENT_PRIORITY[b.options.source] - INTENT_PRIORITY[a.options.source] || a.index - b.index,
  );
  const intents: RuleIntent[] = [];
  const claimed = new Set<string>();
  const superseded = new Set<string>();
  const limits = firing.flatMap(({ rule, options: ruleOptions }) => limitFor(rule, ruleOptions) ?? []);
  for (const { rule, options: ruleOptions } of ordered) {
    const intent = intentFor(rule, ruleOptions, options.defaultTtlMs);
    if (!intent) continue;
    if (claimed.has(intent.assetId)) {
      superseded.add(rule.id);
      continue;
    }
    claimed.add(intent.assetId);
    intents.push(intent);
  }

  return {
    intents,
    limits,
    active: [...activated, ...configuredActive.filter((n) => !activated.includes(n))],
    activated,
    evaluations: evaluations.map((e) => (superseded.has(e.ruleId) ? { ...e, status: 'superseded' } : e)),
    memory: { conditionSinceMs: since },
  };
}

/** Option keys that name no rule (a typo would otherwise be ignored silently). */
export function unknownRuleOptionIds(rules: readonly AutomationRule[], options: AutomationOptions): string[] {
  const ids = new Set(rules.map((r) => r.id));
  return Object.keys(options.rules).filter((id) => !ids.has(id));
}

/** The `control.intent.<source>.<assetId>` payload for a rule intent; the service supplies the id. */
export function toControlIntent(intent: RuleIntent, id: string, clock: Clock): ControlIntent {
  return {
    v: 1,
    id,
    source: intent.source,
    assetId: intent.assetId,
    setpoint: intent.setpoint,
    issuedAtMs: Math.max(0, Math.round(clock.nowMs)),
    ttlMs: intent.ttlMs,
    reason: intent.reason,
    issuedBy: 'strategy-engine',
  };
}

/** Longest metrics key and reason the contract takes. */
const MAX_KEY = 64;
const MAX_REASON = 200;

/**
 * The rules' evaluations as decision metrics (`strategy.decision.automation-rules`): `inputs` the value each
 * condition compared, `outputs` 1 for a firing rule and 0 for the others, `terms` since when a condition holds, and
 * the reason listing the rules by status — `fired: a; pending: b; unknown: c (stale-data)`, or `none firing`.
 */
export function rulesDecisionMetrics(evaluations: readonly RuleEvaluation[]): {
  readonly inputs: Record<string, number>;
  readonly outputs: Record<string, number>;
  readonly terms: Record<string, number>;
  readonly reason: string;
} {
  const key = (id: string, suffix = ''): string => `${id.slice(0, MAX_KEY - suffix.length)}${suffix}`;
  const inputs: Record<string, number> = {};
  const outputs: Record<string, number> = {};
  const terms: Record<string, number> = {};
  const byStatus = new Map<RuleStatus, string[]>();
  for (const e of evaluations) {
    if (e.value !== undefined && Number.isFinite(e.value)) inputs[key(e.ruleId)] = e.value;
    outputs[key(e.ruleId)] = e.status === 'fired' ? 1 : 0;
    if (e.sinceMs !== undefined) terms[key(e.ruleId, 'SinceMs')] = e.sinceMs;
    const label = e.detail !== undefined ? `${e.ruleId} (${e.detail})` : e.ruleId;
    byStatus.set(e.status, [...(byStatus.get(e.status) ?? []), label]);
  }
  const order: readonly RuleStatus[] = ['fired', 'pending', 'unknown', 'superseded', 'inactive', 'disabled'];
  const parts = order.flatMap((status) => {
    const ids = byStatus.get(status);
    return ids === undefined || status === 'inactive' || status === 'disabled' ? [] : [`${status}: ${ids.join(', ')}`];
  });
  const reason = parts.length === 0 ? 'none firing' : parts.join('; ');
  return { inputs, outputs, terms, reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 3)}...` : reason };
}
