import type { AssetConfig, SetpointKind, SiteConfig } from '@voltimax/contracts';
import { batteryCatalogue, getBatteryEntry, type BatteryCatalogueEntry } from '@voltimax/devices';
import {
  assetSafetyLimits,
  DEFAULT_STALENESS,
  slowPollProblem,
  type AssetSafetyLimits,
  type CatalogueLimits,
  type StalenessSettings,
} from '@voltimax/safety';

/** An asset the arbiter writes to (battery, hybrid inverter, EV charger, PV inverter) and its enforced limits. */
export interface ControllableAsset {
  readonly id: string;
  readonly kind: AssetConfig['kind'];
  readonly limits: AssetSafetyLimits;
  /** From assets.json; telemetry older than a few of these is stale. */
  readonly pollIntervalMs: number;
  /** Setpoint kinds the asset takes besides `safe`. */
  readonly accepts: readonly SetpointKind[];
  /** Battery catalogue entries whose limits were applied (tightened by the site limits). */
  readonly catalogueEntries: readonly string[];
}

/** Where the grid power reading comes from. */
export interface GridMeterSource {
  readonly assetId: string;
  readonly pollIntervalMs: number;
  /** A grid meter's `powerW`, or a hybrid inverter's own `gridPowerW` when the site has no grid meter. */
  readonly from: 'grid-meter' | 'hybrid-inverter';
}

/** What the arbiter needs from assets.json, resolved once at start. */
export interface SitePlan {
  readonly grid: SiteConfig['grid'];
  readonly controllable: readonly ControllableAsset[];
  readonly gridMeter: GridMeterSource | undefined;
  /** Every enabled asset by id (controllable or not), for telemetry checks. */
  readonly enabled: ReadonlyMap<string, AssetConfig>;
  /** Things an operator should know (ambiguous catalogue mapping, no grid meter …), logged at start. */
  readonly warnings: readonly string[];
}

/** The catalogue limits of one entry, in the shape `@voltimax/safety` takes. */
export function catalogueLimitsOf(entry: BatteryCatalogueEntry): CatalogueLimits {
  return {
    maxChargePowerW: entry.maxChargePowerW,
    maxDischargePowerW: entry.maxDischargePowerW,
    ...(entry.maxChargeCurrentA === undefined ? {} : { maxChargeCurrentA: entry.maxChargeCurrentA }),
    ...(entry.maxDischargeCurrentA === undefined ? {} : { maxDischargeCurrentA: entry.maxDischargeCurrentA }),
    minSocPct: entry.minSocPct,
    maxSocPct: entry.maxSocPct,
    chargeTemperatureC: [entry.chargeTemperatureC[0], entry.chargeTemperatureC[1]],
    dischargeTemperatureC: [entry.dischargeTemperatureC[0], entry.dischargeTemperatureC[1]],
  };
}

const minOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);
const maxOf = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);
type Window = [number, number];
const intersect = (a: Window | undefined, b: Window | undefined): Window | undefined =>
  a === undefined ? b : b === undefined ? a : [Math.max(a[0], b[0]), Math.min(a[1], b[1])];

const MAXIMA = [
  'maxChargePowerW',
  'maxDischargePowerW',
  'maxChargeCurrentA',
  'maxDischargeCurrentA',
  'maxSocPct',
  'maxRampWPerS',
] as const;

/** Limit by limit the tighter of two catalogue entries: min of maxima, max of minima, intersection of windows. */
function tighter(a: CatalogueLimits, b: CatalogueLimits): CatalogueLimits {
  const out: CatalogueLimits = {};
  for (const key of MAXIMA) {
    const value = minOf(a[key], b[key]);
    if (value !== undefined) out[key] = value;
  }
  const minSocPct = maxOf(a.minSocPct, b.minSocPct);
  if (minSocPct !== undefined) out.minSocPct = minSocPct;
  const chargeTemperatureC = intersect(a.chargeTemperatureC, b.chargeTemperatureC);
  if (chargeTemperatureC !== undefined) out.chargeTemperatureC = chargeTemperatureC;
  const dischargeTemperatureC = intersect(a.dischargeTemperatureC, b.dischargeTemperatureC);
  if (dischargeTemperatureC !== undefined) out.dischargeTemperatureC = dischargeTemperatureC;
  return out;
}

/**
 * The tightest of several catalogue entries, used when a profile fits more than one battery model and the site did
 * not say which. Narrows, never widens; undefined for no entries.
 */
export function tightestCatalogueLimits(entries: readonly BatteryCatalogueEntry[]): CatalogueLimits | undefined {
  return entries
    .map(catalogueLimitsOf)
    .reduce<CatalogueLimits | undefined>((acc, next) => (acc === undefined ? next : tighter(acc, next)), undefined);
}

function acceptedKinds(limits: AssetSafetyLimits): SetpointKind[] {
  return [
    ...(limits.battery === undefined ? [] : (['battery-power'] as const)),
    ...(limits.evCharger === undefined ? [] : (['ev-current'] as const)),
    ...(limits.pv === undefined ? [] : (['pv-limit'] as const)),
  ];
}

/**
 * Resolves assets.json into what the arbiter enforces: per controllable asset its limits (battery catalogue entry —
 * chosen in `batteryModels`, else the entries listing the asset's profile — tightened by the site limits), and the
 * grid-meter reading to use. Disabled assets are left out: the arbiter never writes to them. Warns about a
 * controllable asset or grid meter polled too slowly for `staleness` (its readings would go stale between polls).
 */
export function planSite(
  site: SiteConfig,
  batteryModels: ReadonlyMap<string, string> = new Map(),
  staleness: StalenessSettings = DEFAULT_STALENESS,
): SitePlan {
  const warnings: string[] = [];
  const enabled = site.assets.filter((a) => a.enabled);
  const controllable: ControllableAsset[] = [];
  for (const asset of enabled) {
    let entries: BatteryCatalogueEntry[] = [];
    if ((asset.kind === 'battery' || asset.kind === 'hybrid-inverter') && asset.battery !== undefined) {
      const chosen = batteryModels.get(asset.id);
      const chosenEntry = chosen === undefined ? undefined : getBatteryEntry(chosen);
      entries =
        chosenEntry !== undefined ? [chosenEntry] : batteryCatalogue.filter((e) => e.profiles.includes(asset.profile));
      if (chosenEntry === undefined && entries.length > 1) {
        warnings.push(
          `${asset.id}: profile ${asset.profile} fits several battery catalogue entries (${entries.map((e) => e.id).join(', ')}); ` +
            'enforcing the tightest limits of all — set BATTERY_MODELS to name the installed model',
        );
      }
    }
    const limits = assetSafetyLimits(asset, tightestCatalogueLimits(entries));
    if (limits === undefined) continue;
    controllable.push({
      id: asset.id,
      kind: asset.kind,
      limits,
      pollIntervalMs: asset.pollIntervalMs,
      accepts: acceptedKinds(limits),
      catalogueEntries: entries.map((e) => e.id),
    });
  }

  const meters = enabled.filter((a) => a.kind === 'grid-meter');
  const hybrid = enabled.find((a) => a.kind === 'hybrid-inverter');
  let gridMeter: GridMeterSource | undefined;
  const [firstMeter] = meters;
  if (firstMeter !== undefined) {
    gridMeter = { assetId: firstMeter.id, pollIntervalMs: firstMeter.pollIntervalMs, from: 'grid-meter' };
    if (meters.length > 1)
      warnings.push(`several grid meters (${meters.map((m) => m.id).join(', ')}); using ${firstMeter.id}`);
  } else if (hybrid !== undefined) {
    gridMeter = { assetId: hybrid.id, pollIntervalMs: hybrid.pollIntervalMs, from: 'hybrid-inverter' };
    warnings.push(`no grid meter; using the grid power hybrid inverter ${hybrid.id} reports`);
  } else if (controllable.some((a) => a.limits.battery !== undefined || a.limits.evCharger !== undefined)) {
    warnings.push(
      'no grid meter and no hybrid inverter: battery and EV setpoints stay safe (the grid limit cannot be checked)',
    );
  }
  for (const { id, pollIntervalMs } of [
    ...controllable,
    ...(gridMeter === undefined ? [] : [{ id: gridMeter.assetId, ...gridMeter }]),
  ]) {
    const problem = slowPollProblem(id, pollIntervalMs, staleness);
    if (problem !== undefined && !warnings.includes(problem)) warnings.push(problem);
  }
  return { grid: site.grid, controllable, gridMeter, enabled: new Map(enabled.map((a) => [a.id, a])), warnings };
}
