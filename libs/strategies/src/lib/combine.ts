import type { Setpoint, StrategyName } from '@voltimax/contracts';
import { clamp } from './arithmetic';
import { batteryPower, batteryWindow, evDrawW } from './battery';
import {
  DEFAULT_DEMAND_OPTIONS,
  estimateDemand,
  recordBatterySetpoints,
  type DemandMemory,
  type DemandOptions,
  type DemandSource,
} from './demand';
import {
  DEFAULT_EXPORT_LIMIT_OPTIONS,
  limitExport,
  type ExportLimitMemory,
  type ExportLimitResult,
} from './export-limit';
import { strategies, strategyByName, type StrategyConfigs, type StrategyMemories } from './registry';
import type { SiteState } from './site-state';
import type { Clock, StrategyMetrics, StrategySetpoints } from './strategy';

/** Constraint layers run in this fixed order, whatever the order of the active list. */
export const LAYER_ORDER = ['ev-charging', 'peak-shaving', 'backup-power'] as const satisfies readonly StrategyName[];

/** What `combine` needs besides the state and the clock. */
export interface CombineInput {
  /** Enabled strategies, highest precedence first (site config `strategy.active`, or the automation rules' list). */
  readonly active: readonly StrategyName[];
  /** Parsed configs; an active strategy without one uses its defaults (or is skipped with 'invalid-config'). */
  readonly configs: StrategyConfigs;
  /** Memories from the previous tick; a strategy without one starts from its initial memory. */
  readonly memories: StrategyMemories;
  /** The feed-in limit's memory from the previous tick (`CombinedDecision.exportLimit.memory`). */
  readonly exportLimit?: ExportLimitMemory;
  /** How long a PV limit sent stays in force without being sent again (the engine's intent TTL), ms; default 3 s. */
  readonly exportLimitInForceMs?: number;
  /** The demand estimate's memory from the previous tick (`CombinedDecision.demand.memory`); absent: a first tick. */
  readonly demand?: DemandMemory;
  readonly demandOptions?: DemandOptions;
}

/** How a strategy took part in this tick. */
export type CombineStage = 'primary' | 'ev' | 'layer' | 'skipped';

export interface CombinedDecisionEntry {
  readonly name: StrategyName;
  readonly stage: CombineStage;
  readonly metrics: StrategyMetrics;
}

export interface CombinedDecision {
  /**
   * Final setpoints per asset id: battery-power for every battery, ev-current for chargers when ev-charging is active,
   * pv-limit for curtailable PV inverters while the feed-in limit curtails.
   */
  readonly setpoints: StrategySetpoints;
  /** For each asset, the strategies that changed or set its setpoint, in order. */
  readonly shapedBy: Readonly<Record<string, readonly StrategyName[]>>;
  /** One entry per strategy that ran (primary, ev, layers in order; skipped ones too), for `strategy.decision.<name>`. */
  readonly decisions: readonly CombinedDecisionEntry[];
  /** Memories for the next tick: only strategies that ran keep one, so a re-activated strategy starts fresh. */
  readonly memories: StrategyMemories;
  /** The strategy that drove the batteries. */
  readonly primary: StrategyName;
  /** The layers applied, in order. */
  readonly layers: readonly StrategyName[];
  /** The feed-in limit (step 5): its PV set-points are in `setpoints`; its memory goes into the next tick's input. */
  readonly exportLimit: ExportLimitResult;
  /** The net demand the strategies saw (step 0) and how it was measured; its memory goes into the next tick's input. */
  readonly demand: { readonly netDemandW: number; readonly source: DemandSource; readonly memory: DemandMemory };
}

/**
 * The combination rule (README § Combination rule):
 * 0. The net demand every strategy sees (`netDemandW`) is measured from grid and battery readings that agree
 *    (`estimateDemand`): a battery set-point change the grid reading shows and the battery's does not yet is not
 *    counted as demand.
 * 1. Primary: the first active strategy with role 'primary' drives the batteries; if none is active, the active layer
 *    first in LAYER_ORDER (peak-shaving, then backup-power) runs on its own, whatever the order of `active`, and it
 *    constrains again in its place among the layers when one before it (the EV guard) changed a set-point; if none,
 *    'null' (0 W).
 * 2. EV: if 'ev-charging' is active, it alone sets the EV chargers; told whether the primary charges the batteries with
 *    the PV surplus (`followsSurplus`), so that its battery priority can leave them their rate.
 * 3. Layers, in the fixed order LAYER_ORDER (ev-charging's battery guard, peak-shaving, backup-power), each active
 *    one except the primary adjusts the battery setpoints. A layer may only narrow a setpoint or add a floor:
 *    the EV guard and backup-power only lower battery power (less discharge / more charge), peak-shaving only
 *    raises it (more discharge / less charge). A later layer wins a conflict, so the backup reserve wins over a peak.
 * 4. Finally each battery setpoint is clamped to that battery's SoC window and power limits; a battery no strategy
 *    spoke for gets 0 W.
 * 5. The feed-in limit (`limitExport`): whatever is active, curtailable PV inverters get a `pv-limit` while the
 *    export the final battery set-points leave would pass `maxExportW`.
 */
export function combine(measured: SiteState, clock: Clock, input: CombineInput): CombinedDecision {
  const demandOptions = input.demandOptions ?? DEFAULT_DEMAND_OPTIONS;
  const demand = estimateDemand(measured, clock.nowMs, input.demand ?? {}, demandOptions);
  const state: SiteState = { ...measured, netDemandW: demand.netDemandW };
  const decisions: CombinedDecisionEntry[] = [];
  const memories: Partial<Record<StrategyName, unknown>> = {};
  const shapedBy: Record<string, StrategyName[]> = {};
  const active = [...new Set(input.active)];

  const configFor = (name: StrategyName): { readonly ok: true; readonly config: unknown } | { readonly ok: false } => {
    const given = input.configs[name];
    if (given !== undefined) return { ok: true, config: given };
    const parsed = strategyByName(name).configSchema.safeParse({});
    return parsed.success ? { ok: true, config: parsed.data } : { ok: false };
  };
  const memoryFor = (name: StrategyName, config: unknown): unknown =>
    (input.memories as Partial<Record<StrategyName, unknown>>)[name] ?? strategyByName(name).initialMemory(config);
  const skip = (name: StrategyName): void => {
    decisions.push({ name, stage: 'skipped', metrics: { inputs: {}, outputs: {}, terms: {}, reason: 'invalid-config' } });
  };
  const mark = (assetId: string, name: StrategyName): void => {
    const list = shapedBy[assetId] ?? [];
    if (list[list.length - 1] !== name) list.push(name);
    shapedBy[assetId] = list;
  };

  // 1. Primary.
  const usable = active.filter((name) => {
    const ok = configFor(name).ok;
    if (!ok) skip(name);
    return ok;
  });
  // Without a primary, the layer that comes first in LAYER_ORDER runs alone and the later ones constrain it, whatever
  // the order of `active` (before, the first in `active` ran alone: backup-power first let peak-shaving discharge
  // below the reserve).
  const primary: StrategyName =
    usable.find((n) => strategies[n].role === 'primary') ??
    LAYER_ORDER.find((n) => usable.includes(n) && strategies[n].role === 'layer') ??
    'null';
  const promotedLayer = strategies[primary].role === 'layer';
  const primaryConfig = configFor(primary);
  const primaryConfigValue = primaryConfig.ok ? primaryConfig.config : {};
  const primaryResult = strategyByName(primary).decide(state, primaryConfigValue, clock, memoryFor(primary, primaryConfigValue));
  memories[primary] = primaryResult.memory;
  decisions.push({ name: primary, stage: 'primary', metrics: primaryResult.metrics });
  let batterySetpoints: Record<string, Setpoint> = {};
  for (const [assetId, sp] of Object.entries(primaryResult.setpoints)) {
    if (sp.kind !== 'battery-power') continue;
    batterySetpoints[assetId] = sp;
    mark(assetId, primary);
  }

  // 2. EV chargers.
  const evSetpoints: Record<string, Setpoint> = {};
  if (usable.includes('ev-charging')) {
    const cfg = configFor('ev-charging');
    const config = cfg.ok ? cfg.config : {};
    // The import the primary's battery set-points add (charging from the grid) is not in the readings yet: without
    // it the car took the same headroom, the grid went over the limit, and the car and the battery alternated every
    // tick (a review: battery −5 kW + car 13 A → 17 kW on a 12 kW connection, then −30 W + 0 A, and again).
    let plannedExtraImportW = 0;
    for (const battery of state.batteries) {
      const planned = batterySetpoints[battery.assetId];
      if (planned?.kind === 'battery-power' && Number.isFinite(battery.powerW)) plannedExtraImportW += battery.powerW - planned.powerW;
    }
    const evState: SiteState = {
      ...state,
      batteriesFollowSurplus: strategies[primary].followsSurplus === true,
      ...(plannedExtraImportW > 0 ? { plannedExtraImportW } : {}),
    };
    const result = strategyByName('ev-charging').decide(evState, config, clock, memoryFor('ev-charging', config));
    memories['ev-charging'] = result.memory;
    decisions.push({ name: 'ev-charging', stage: 'ev', metrics: result.metrics });
    for (const [assetId, sp] of Object.entries(result.setpoints)) {
      if (sp.kind !== 'ev-current') continue;
      evSetpoints[assetId] = sp;
      mark(assetId, 'ev-charging');
    }
  }

  // 3. Layers in fixed order. They see what the EV set-points will add to the import (a restore from the grid took the
  // same headroom as a car in fast mode: 2 kW of house, 9.7 kW of car and 5 kW of battery on a 12 kW connection).
  // Only a raised offer counts: a car already offered as much and drawing less (full, or ramping) is not expected to
  // take more because the offer stays (counted, a full car on its minimum held a plugged-in site's restore 4 kW short).
  let plannedEvImportW = 0;
  const voltageV = state.limits.nominalVoltageV;
  for (const charger of state.evChargers) {
    const sp = evSetpoints[charger.assetId];
    if (sp?.kind !== 'ev-current' || !Number.isFinite(sp.currentA)) continue;
    const offeredW = sp.currentA * (sp.phases ?? charger.phases) * voltageV;
    const offeredBeforeW = Number.isFinite(charger.currentLimitA) ? Math.max(0, charger.currentLimitA) * charger.phases * voltageV : 0;
    plannedEvImportW += Math.max(0, offeredW - Math.max(offeredBeforeW, evDrawW(charger)));
  }
  const layerState: SiteState = plannedEvImportW > 0 ? { ...state, plannedEvImportW } : state;
  const layers: StrategyName[] = [];
  // A layer running alone as the primary also takes its place in the order when a layer before it changed a set-point:
  // peak-shaving alone with ev-charging shaves again after the EV guard (before, the guard undid the shave).
  let changedByLayer = false;
  for (const name of LAYER_ORDER) {
    if (!usable.includes(name)) continue;
    if (name === primary && !(promotedLayer && changedByLayer)) continue;
    const strategy = strategyByName(name);
    if (!strategy.constrain) continue;
    const cfg = configFor(name);
    const config = cfg.ok ? cfg.config : {};
    const result = strategy.constrain(batterySetpoints, layerState, config, clock, memories[name] ?? memoryFor(name, config));
    memories[name] = result.memory;
    decisions.push({ name, stage: 'layer', metrics: result.metrics });
    layers.push(name);
    const next: Record<string, Setpoint> = {};
    for (const [assetId, sp] of Object.entries(result.setpoints)) {
      if (sp.kind !== 'battery-power') continue;
      next[assetId] = sp;
      const before = batterySetpoints[assetId];
      if (!before || before.kind !== 'battery-power' || before.powerW !== sp.powerW) {
        mark(assetId, name);
        changedByLayer = true;
      }
    }
    batterySetpoints = next;
  }

  // 4. Battery limits, always last (only ever narrows).
  for (const battery of state.batteries) {
    const sp = batterySetpoints[battery.assetId];
    const requestedW = sp?.kind === 'battery-power' && Number.isFinite(sp.powerW) ? sp.powerW : 0;
    const window = batteryWindow(battery);
    batterySetpoints[battery.assetId] = batteryPower(clamp(requestedW, -window.maxChargeW, window.maxDischargeW));
  }
  const known = new Set(state.batteries.map((b) => b.assetId));
  for (const assetId of Object.keys(batterySetpoints)) if (!known.has(assetId)) delete batterySetpoints[assetId];

  // 5. The feed-in limit, on the final battery set-points.
  const exportLimit = limitExport(state, batterySetpoints, input.exportLimit ?? {}, clock.nowMs, {
    ...DEFAULT_EXPORT_LIMIT_OPTIONS,
    ...(input.exportLimitInForceMs === undefined ? {} : { limitInForceMs: input.exportLimitInForceMs }),
  });

  return {
    setpoints: { ...batterySetpoints, ...evSetpoints, ...exportLimit.setpoints },
    shapedBy,
    decisions,
    memories: memories as StrategyMemories,
    primary,
    layers,
    exportLimit,
    demand: {
      netDemandW: demand.netDemandW,
      source: demand.source,
      memory: recordBatterySetpoints(demand.memory, state, batterySetpoints, clock.nowMs, demandOptions),
    },
  };
}
