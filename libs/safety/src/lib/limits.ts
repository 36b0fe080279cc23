import { z } from 'zod';
import type { AssetConfig, BatteryLimitsSchema, EvChargerLimitsSchema, PvLimitsSchema } from '@voltimax/contracts';

/** Site battery limits as parsed from `assets.json` (defaults applied). */
export type SiteBatteryLimits = z.output<typeof BatteryLimitsSchema>;
/** Site EV charger limits as parsed from `assets.json`. */
export type SiteEvChargerLimits = z.output<typeof EvChargerLimitsSchema>;
/** Site PV inverter limits as parsed from `assets.json`. */
export type SitePvLimits = z.output<typeof PvLimitsSchema>;

const TemperatureWindowSchema = z.tuple([z.number(), z.number()]);

/**
 * The limits of a battery model from the battery specification catalogue (`libs/devices` provides the
 * entries). Every field is optional: a datasheet that does not state a limit leaves it out, and then only
 * the site configuration applies. All powers and currents are magnitudes (≥ 0) per direction.
 */
export const CatalogueLimitsSchema = z.strictObject({
  /** Largest charge power, W, ≥ 0. */
  maxChargePowerW: z.number().nonnegative().optional(),
  /** Largest discharge power, W, ≥ 0. */
  maxDischargePowerW: z.number().nonnegative().optional(),
  /** Largest DC charge current, A, ≥ 0. */
  maxChargeCurrentA: z.number().nonnegative().optional(),
  /** Largest DC discharge current, A, ≥ 0. */
  maxDischargeCurrentA: z.number().nonnegative().optional(),
  /** Lowest SoC the cells may be discharged to, %. */
  minSocPct: z.number().min(0).max(100).optional(),
  /** Highest SoC the cells may be charged to, %. */
  maxSocPct: z.number().min(0).max(100).optional(),
  /** Cell temperature window for charging, °C, [min, max]. */
  chargeTemperatureC: TemperatureWindowSchema.optional(),
  /** Cell temperature window for discharging, °C, [min, max]. */
  dischargeTemperatureC: TemperatureWindowSchema.optional(),
  /** Largest setpoint change per second, W/s, ≥ 0. */
  maxRampWPerS: z.number().nonnegative().optional(),
});
/** See {@link CatalogueLimitsSchema}. */
export type CatalogueLimits = z.input<typeof CatalogueLimitsSchema>;

/** A temperature window in °C, `[min, max]` inclusive. A window with min > max or a non-finite bound admits nothing. */
export type TemperatureWindow = readonly [minC: number, maxC: number];

/**
 * The battery limits the arbiter enforces: the catalogue tightened by the site (see {@link effectiveLimits}).
 * Powers and currents are magnitudes per direction (≥ 0, finite); battery sign convention elsewhere is
 * + = discharge, − = charge.
 */
export interface BatterySafetyLimits {
  /** W, ≥ 0. */
  readonly maxChargePowerW: number;
  /** W, ≥ 0. */
  readonly maxDischargePowerW: number;
  /** DC A, ≥ 0; checked only when the reading carries the battery voltage. */
  readonly maxChargeCurrentA?: number;
  /** DC A, ≥ 0; checked only when the reading carries the battery voltage. */
  readonly maxDischargeCurrentA?: number;
  /** %: no discharge at or below. */
  readonly minSocPct: number;
  /** %: no charge at or above. */
  readonly maxSocPct: number;
  /** %: backup reserve, no discharge at or below (unless the grid is down). */
  readonly reserveSocPct: number;
  /** °C: charging only inside; a missing temperature blocks charging. */
  readonly chargeTemperatureC?: TemperatureWindow;
  /** °C: discharging only inside; a missing temperature blocks discharging. */
  readonly dischargeTemperatureC?: TemperatureWindow;
  /** W/s, ≥ 0: largest growth of |setpoint| per second. */
  readonly maxRampWPerS?: number;
}

/** EV charger limits the arbiter enforces. Currents per phase, A. */
export interface EvChargerSafetyLimits {
  /** A, ≥ 0: below it the charger is paused (0 A). */
  readonly minCurrentA: number;
  /** A, ≥ 0: never offered above it. */
  readonly maxCurrentA: number;
  /** Phases the charger is wired to. */
  readonly phases: 1 | 3;
}

/** PV inverter limits the arbiter enforces. */
export interface PvSafetyLimits {
  /** W, ≥ 0: a PV limit setpoint lies in [0, ratedPowerW]. */
  readonly ratedPowerW: number;
}

/**
 * What the arbiter knows about one controllable asset. A setpoint kind needs its section: `battery-power`
 * needs `battery`, `ev-current` needs `evCharger`, `pv-limit` needs `pv` (a hybrid inverter has two).
 */
export interface AssetSafetyLimits {
  readonly assetId: string;
  readonly battery?: BatterySafetyLimits;
  readonly evCharger?: EvChargerSafetyLimits;
  readonly pv?: PvSafetyLimits;
  /**
   * Grid phases the battery inverter feeds (site config `battery.phases`; default: all phases of the grid
   * connection). A single-phase asset on a three-phase connection is assumed to sit on the worst phase.
   */
  readonly batteryPhases?: 1 | 3;
}

/** A maximum (W, A, W/s): non-finite or negative counts as 0, the most restrictive value. */
function saneMax(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** The tighter of two maxima; undefined only if both are. */
function tighterMax(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b === undefined ? undefined : saneMax(b);
  if (b === undefined) return saneMax(a);
  return Math.min(saneMax(a), saneMax(b));
}

/** A minimum SoC: non-finite counts as 100 % (never discharge). */
function saneMinPct(value: number): number {
  return Number.isFinite(value) ? value : 100;
}

/** A maximum SoC: non-finite counts as 0 % (never charge). */
function saneMaxPct(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** The intersection of two windows; a non-finite bound makes the result admit nothing (NaN propagates). */
function tighterWindow(
  a: readonly [number, number] | undefined,
  b: readonly [number, number] | undefined,
): TemperatureWindow | undefined {
  const sane = (w: readonly [number, number]): TemperatureWindow =>
    Number.isFinite(w[0]) && Number.isFinite(w[1]) ? [w[0], w[1]] : [Number.NaN, Number.NaN];
  if (a === undefined) return b === undefined ? undefined : sane(b);
  if (b === undefined) return sane(a);
  const [aLo, aHi] = sane(a);
  const [bLo, bHi] = sane(b);
  return [Math.max(aLo, bLo), Math.min(aHi, bHi)];
}

/**
 * The battery limits to enforce: per limit the tighter of the catalogue entry and the site configuration
 * (min of maxima, max of minima, intersection of temperature windows). Site configuration may tighten the
 * catalogue, never loosen it, and vice versa. A non-finite or negative maximum counts as 0 and a non-finite
 * SoC bound as the blocking end, so broken data never loosens anything. The backup reserve is a site choice
 * and comes from the site only.
 */
export function effectiveLimits(catalogue: CatalogueLimits | undefined, site: SiteBatteryLimits): BatterySafetyLimits {
  const cat = catalogue ?? {};
  const maxChargeCurrentA = tighterMax(cat.maxChargeCurrentA, site.maxChargeCurrentA);
  const maxDischargeCurrentA = tighterMax(cat.maxDischargeCurrentA, site.maxDischargeCurrentA);
  const chargeTemperatureC = tighterWindow(cat.chargeTemperatureC, site.chargeTemperatureC);
  const dischargeTemperatureC = tighterWindow(cat.dischargeTemperatureC, site.dischargeTemperatureC);
  const maxRampWPerS = tighterMax(cat.maxRampWPerS, site.maxRampWPerS);
  return {
    maxChargePowerW: tighterMax(cat.maxChargePowerW, site.maxChargePowerW) ?? 0,
    maxDischargePowerW: tighterMax(cat.maxDischargePowerW, site.maxDischargePowerW) ?? 0,
    ...(maxChargeCurrentA === undefined ? {} : { maxChargeCurrentA }),
    ...(maxDischargeCurrentA === undefined ? {} : { maxDischargeCurrentA }),
    minSocPct: Math.max(saneMinPct(site.minSocPct), cat.minSocPct === undefined ? 0 : saneMinPct(cat.minSocPct)),
    maxSocPct: Math.min(saneMaxPct(site.maxSocPct), cat.maxSocPct === undefined ? 100 : saneMaxPct(cat.maxSocPct)),
    reserveSocPct: saneMinPct(site.reserveSocPct),
    ...(chargeTemperatureC === undefined ? {} : { chargeTemperatureC }),
    ...(dischargeTemperatureC === undefined ? {} : { dischargeTemperatureC }),
    ...(maxRampWPerS === undefined ? {} : { maxRampWPerS }),
  };
}

/** EV charger limits from the site configuration, sanitised like {@link effectiveLimits}. */
export function evChargerSafetyLimits(site: SiteEvChargerLimits): EvChargerSafetyLimits {
  return { minCurrentA: saneMinCurrent(site.minCurrentA), maxCurrentA: saneMax(site.maxCurrentA), phases: site.phases };
}

/** A minimum current: non-finite counts as +Infinity (never offer anything but 0 A). */
function saneMinCurrent(value: number): number {
  return Number.isNaN(value) ? Number.POSITIVE_INFINITY : Math.max(0, value);
}

/**
 * The safety limits of one configured asset, or undefined for assets the arbiter never commands
 * (meters, loads). `catalogue` is the battery model's catalogue entry, if known.
 */
export function assetSafetyLimits(asset: AssetConfig, catalogue?: CatalogueLimits): AssetSafetyLimits | undefined {
  switch (asset.kind) {
    case 'battery':
      return {
        assetId: asset.id,
        battery: effectiveLimits(catalogue, asset.battery),
        ...(asset.battery.phases === undefined ? {} : { batteryPhases: asset.battery.phases }),
      };
    case 'hybrid-inverter':
      return {
        assetId: asset.id,
        ...(asset.battery === undefined ? {} : { battery: effectiveLimits(catalogue, asset.battery) }),
        ...(asset.battery?.phases === undefined ? {} : { batteryPhases: asset.battery.phases }),
        ...(asset.pv === undefined ? {} : { pv: { ratedPowerW: saneMax(asset.pv.ratedPowerW) } }),
      };
    case 'pv-inverter':
      return { assetId: asset.id, pv: { ratedPowerW: saneMax(asset.pv.ratedPowerW) } };
    case 'ev-charger':
      return { assetId: asset.id, evCharger: evChargerSafetyLimits(asset.evCharger) };
    case 'grid-meter':
    case 'meter':
    case 'load':
      return undefined;
  }
}
