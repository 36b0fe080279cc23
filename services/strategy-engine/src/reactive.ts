import type { ControlIntent, SiteConfig, StrategyName } from '@voltimax/contracts';

/** A live input whose fresh reading makes a reactive strategy want a tick at once. */
export type ReactiveInput = 'grid';

/**
 * Per strategy, the readings it reacts to at once (a tick when one arrives, `strategy.minTickMs` apart) rather than
 * at the next cadence tick. Exhaustive, so a new strategy needs a decision here.
 *
 * - reactive to the grid meter: net-zero (PID on the grid error), self-consumption (follows the net demand),
 *   peak-shaving (shaves the import above its threshold), grid-services (frequency response on the meter's
 *   frequency), ev-charging (the solar surplus is the export the meter shows);
 * - cadence only: null, charge and discharge (fixed power), backup-power (SoC, slow), arbitrage and time-of-use
 *   (planners: the slot power of a plan re-made on new prices; the cadence is their clock).
 */
export const REACTIVE_INPUTS: Readonly<Record<StrategyName, readonly ReactiveInput[]>> = {
  null: [],
  charge: [],
  discharge: [],
  'net-zero': ['grid'],
  'peak-shaving': ['grid'],
  'time-of-use': [],
  'self-consumption': ['grid'],
  'grid-services': ['grid'],
  arbitrage: [],
  'backup-power': [],
  'ev-charging': ['grid'],
};

/**
 * Ids of the assets whose fresh readings trigger a tick, for the strategies in `active`: the grid source (the first
 * enabled grid meter; without one, the enabled hybrid inverters, whose `gridPowerW` stands in for it). Empty when no
 * active strategy is reactive.
 */
export function triggerAssetIds(site: SiteConfig, active: readonly StrategyName[]): ReadonlySet<string> {
  const inputs = new Set(active.flatMap((name) => REACTIVE_INPUTS[name]));
  const ids = new Set<string>();
  if (inputs.has('grid')) {
    const enabled = site.assets.filter((a) => a.enabled);
    const meter = enabled.find((a) => a.kind === 'grid-meter');
    for (const asset of meter ? [meter] : enabled.filter((a) => a.kind === 'hybrid-inverter')) ids.add(asset.id);
  }
  return ids;
}

/**
 * Which intents a tick publishes: every one whose setpoint or reason differs from the last published on its subject
 * (source and asset), and every one whose last publication is `refreshMs` old (so it never expires at the arbiter
 * while the engine runs); the others are skipped. A tick triggered by a reading publishes through the gate; the
 * cadence and the other ticks publish everything (and record it).
 */
export class IntentGate {
  readonly #last = new Map<string, { readonly key: string; readonly atMs: number }>();

  /** True if `intent` is to be published at `nowMs` (a change, or due for a refresh). */
  wants(intent: ControlIntent, nowMs: number, refreshMs: number): boolean {
    const last = this.#last.get(IntentGate.#subjectKey(intent));
    return last === undefined || last.key !== IntentGate.#contentKey(intent) || nowMs - last.atMs >= refreshMs;
  }

  /** Remembers a published intent. */
  published(intent: ControlIntent, nowMs: number): void {
    this.#last.set(IntentGate.#subjectKey(intent), { key: IntentGate.#contentKey(intent), atMs: nowMs });
  }

  /** Forget everything (a configuration switch: publish everything again). */
  clear(): void {
    this.#last.clear();
  }

  static #subjectKey(intent: ControlIntent): string {
    return `${intent.source}/${intent.assetId}`;
  }

  static #contentKey(intent: ControlIntent): string {
    return JSON.stringify([intent.setpoint, intent.reason]);
  }
}
