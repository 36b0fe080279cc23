import type { z } from 'zod';
import type { DecisionMetrics, Setpoint, StrategyName } from '@voltimax/contracts';
import type { MeterMemory } from './meter';
import type { StrategyReason } from './reasons';
import type { SiteState } from './site-state';

/** The time of this tick. A value read once per cycle by the service, never a function. */
export interface Clock {
  /** Epoch ms (UTC). */
  readonly nowMs: number;
}

/**
 * What a strategy wants, per asset id: `battery-power` (W, + = discharge), `ev-current` (A per phase, 0 = pause)
 * or `pv-limit` (W). An asset that is absent is one the strategy has no opinion about.
 */
export type StrategySetpoints = Readonly<Record<string, Setpoint>>;

/** Numbers that explain a decision; every value is finite. */
export type MetricValues = Readonly<Record<string, number>>;

/** Why a strategy decided what it did: the body of a `strategy.decision.<name>` message. */
export interface StrategyMetrics {
  /** The measurements the decision used (grid power, SoC, price …). */
  readonly inputs: MetricValues;
  /** What was decided (battery power, current …). */
  readonly outputs: MetricValues;
  /** Internal terms (P, I, D, thresholds, plan values …). */
  readonly terms: MetricValues;
  /** Kebab-case reason code. */
  readonly reason: StrategyReason;
  /**
   * Each asset's own reason where a strategy decides several assets differently (ev-charging: one charger fast, the
   * next paused by the grid limit); `reason` is then the first one's. Used for the intents' reasons, not published.
   */
  readonly assetReasons?: Readonly<Record<string, StrategyReason>>;
}

/** The outcome of one decision. */
export interface StrategyResult<M> {
  readonly setpoints: StrategySetpoints;
  readonly metrics: StrategyMetrics;
  /** State for the next cycle (integrators, timers, hysteresis, plans). Plain data, JSON-serializable. */
  readonly memory: M;
}

/**
 * How a strategy takes part in the combination rule (see `combine`):
 * - `primary`: drives the batteries; the first active one wins.
 * - `layer`: a constraint (BackupPower, PeakShaving): narrows the primary's battery setpoints or adds a floor;
 *   used as the primary only when no `primary` strategy is active.
 * - `ev`: drives EV chargers only.
 */
export type StrategyRole = 'primary' | 'layer' | 'ev';

/**
 * A strategy: a pure function of (site state, config, clock, memory) → setpoints + metrics + next memory.
 *
 * The service (and the backtest runner in libs/sim) drives it step by step:
 * ```ts
 * const config = strategy.configSchema.parse(raw);      // once, at the edge
 * let memory = strategy.initialMemory(config);
 * for each tick: ({ setpoints, metrics, memory } = strategy.decide(state, config, { nowMs }, memory));
 * ```
 * Same inputs → same output; nothing is read from the wall clock, nothing is mutated.
 */
export interface Strategy<C, M> {
  readonly name: StrategyName;
  readonly role: StrategyRole;
  /**
   * Primaries that charge the batteries with any PV surplus they see, up to their rate (NetZero, SelfConsumption):
   * behind them EVCharging's battery priority leaves the batteries that rate (`SiteState.batteriesFollowSurplus`).
   */
  readonly followsSurplus?: boolean;
  /** A strict zod object with defaults: unknown keys are errors, missing keys take their default. */
  readonly configSchema: z.ZodType<C>;
  /** Memory for the first decision. */
  initialMemory(config: C): M;
  /** One decision for this tick. */
  decide(state: SiteState, config: C, clock: Clock, memory: M): StrategyResult<M>;
  /**
   * Layers only: adjust another strategy's proposal. May only narrow a battery setpoint or add a floor
   * (a minimum discharge or a minimum charge); never touches assets absent from the proposal except to add a floor.
   */
  constrain?(proposal: StrategySetpoints, state: SiteState, config: C, clock: Clock, memory: M): StrategyResult<M>;
  /**
   * Strategies that learn from the grid meter (the planners): this memory with its meter replaced by `update(own)`.
   * The strategy engine records one meter for the whole site (`recordSiteHistory`) and keeps it across restarts, so
   * a planner that starts — after a restart, or activated later — is handed the site's meter, and a running one gets
   * what a late-read or imported history adds (`mergeSiteMeters`), keeping its block in progress.
   */
  withSiteMeter?(memory: M, update: (own: MeterMemory) => MeterMemory): M;
}

/** Keeps only finite values, so a metrics record always passes the contract (NaN/±Infinity are refused there). */
export function finiteValues(values: Readonly<Record<string, number | undefined>>): MetricValues {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && Number.isFinite(value)) out[key] = value;
  }
  return out;
}

/** The `strategy.decision.<name>` payload for a decision (a strategy's, or the feed-in limit's). */
export function toDecisionMetrics(
  strategy: string,
  metrics: Omit<StrategyMetrics, 'reason'> & { readonly reason: string },
  clock: Clock,
): DecisionMetrics {
  return {
    v: 1,
    strategy,
    atMs: Math.max(0, Math.round(clock.nowMs)),
    inputs: finiteValues(metrics.inputs),
    outputs: finiteValues(metrics.outputs),
    terms: finiteValues(metrics.terms),
    reason: metrics.reason,
  };
}
