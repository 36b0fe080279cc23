import { z } from 'zod';
import type { BatteryLimitsSchema } from '@voltimax/contracts';

/** Cell chemistry; decides the typical windows below. */
export const ChemistrySchema = z.enum(['LFP', 'NMC']);
export type Chemistry = z.infer<typeof ChemistrySchema>;

const TemperatureCSchema = z.number().finite().min(-60).max(120);
/** A closed temperature window [min, max] in °C. */
export const TemperatureWindowSchema = z
  .tuple([TemperatureCSchema, TemperatureCSchema])
  .refine(([lo, hi]) => lo <= hi, { message: 'window must be [min, max]' });
export type TemperatureWindow = readonly [number, number];

const PctSchema = z.number().finite().min(0).max(100);
const PositiveSchema = z.number().finite().positive();

/**
 * Hard limits of one battery model, used by the safety arbiter (after `tightenLimits` with the site
 * config). Powers and currents are magnitudes ≥ 0 at the battery terminals; SoC in %; temperatures in °C
 * (cell/module temperature as the BMS reports it).
 */
export const BatteryCatalogueEntrySchema = z
  .strictObject({
    /** `vendor.model`, lower case. */
    id: z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/),
    vendor: z.string().min(1).max(100),
    model: z.string().min(1).max(200),
    chemistry: ChemistrySchema,
    /** Nominal energy of the configuration this entry describes, Wh. */
    capacityWh: PositiveSchema,
    nominalVoltageV: PositiveSchema.optional(),
    minSocPct: PctSchema,
    maxSocPct: PctSchema,
    maxChargePowerW: PositiveSchema,
    maxDischargePowerW: PositiveSchema,
    maxChargeCurrentA: PositiveSchema.optional(),
    maxDischargeCurrentA: PositiveSchema.optional(),
    chargeTemperatureC: TemperatureWindowSchema,
    dischargeTemperatureC: TemperatureWindowSchema,
    /** Full equivalent cycles per day the warranty or cell life allows. */
    maxCyclesPerDay: PositiveSchema,
    /**
     * `datasheet`: numbers from this product's datasheet (named in `source`); `typical`: conservative values
     * typical of the chemistry and product class, **not** verified against this product's datasheet.
     */
    basis: z.enum(['datasheet', 'typical']),
    source: z.string().min(1).max(1_000),
    /** Device profiles this battery is used with. */
    profiles: z.array(z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/)).default([]),
  })
  .refine((e) => e.minSocPct < e.maxSocPct, { message: 'minSocPct must be below maxSocPct', path: ['minSocPct'] });
export type BatteryCatalogueEntryInput = z.input<typeof BatteryCatalogueEntrySchema>;
export type BatteryCatalogueEntry = z.output<typeof BatteryCatalogueEntrySchema>;

/** Chemistry-typical limits (conservative values typical of datasheets, not of one product). */
export interface ChemistryTypicalLimits {
  readonly minSocPct: number;
  readonly maxSocPct: number;
  readonly chargeTemperatureC: TemperatureWindow;
  readonly dischargeTemperatureC: TemperatureWindow;
  readonly maxCyclesPerDay: number;
  /** Continuous charge/discharge rate as a fraction of capacity per hour (C-rate). */
  readonly continuousCRate: number;
}

/**
 * Typical windows per chemistry. LFP: charge 0..45 °C, discharge −20..55 °C, full SoC range usable
 * (5..100 % kept as the floor). NMC: similar but tighter when hot (charge 0..40 °C, discharge −20..50 °C)
 * and a narrower SoC window (10..95 %). Cycles per day and the 0.5 C rate are conservative typical values.
 */
export const CHEMISTRY_TYPICAL_LIMITS: Readonly<Record<Chemistry, ChemistryTypicalLimits>> = {
  LFP: {
    minSocPct: 5,
    maxSocPct: 100,
    chargeTemperatureC: [0, 45],
    dischargeTemperatureC: [-20, 55],
    maxCyclesPerDay: 1.5,
    continuousCRate: 0.5,
  },
  NMC: {
    minSocPct: 10,
    maxSocPct: 95,
    chargeTemperatureC: [0, 40],
    dischargeTemperatureC: [-20, 50],
    maxCyclesPerDay: 1,
    continuousCRate: 0.5,
  },
};

const LFP = CHEMISTRY_TYPICAL_LIMITS.LFP;
const lfpWindows: Pick<
  BatteryCatalogueEntryInput,
  'chemistry' | 'minSocPct' | 'maxSocPct' | 'chargeTemperatureC' | 'dischargeTemperatureC' | 'maxCyclesPerDay' | 'basis'
> = {
  chemistry: 'LFP',
  minSocPct: LFP.minSocPct,
  maxSocPct: LFP.maxSocPct,
  chargeTemperatureC: [...LFP.chargeTemperatureC],
  dischargeTemperatureC: [...LFP.dischargeTemperatureC],
  maxCyclesPerDay: LFP.maxCyclesPerDay,
  basis: 'typical',
};

/**
 * The catalogue as written. Every entry is `basis: 'typical'`: no datasheet for these products is in the
 * project's references (CNTE publishes no interface or limit data we could find; Growatt battery datasheets
 * were not among the sources). Capacities and voltages follow the product class named in `model`; powers
 * and currents are the typical 0.5 C continuous rate; windows are the LFP typical values above.
 * Replace with datasheet numbers (and `basis: 'datasheet'`) before commissioning.
 */
export const BATTERY_CATALOGUE_INPUTS: readonly BatteryCatalogueEntryInput[] = [
  {
    id: 'cnte.cabinet-100kw-215kwh',
    vendor: 'CNTE',
    model:
      'C&I LFP storage cabinet, 100 kW / 215 kWh class (1P240S, 280 Ah cells, 768 V nominal) — confirm against the cabinet nameplate',
    ...lfpWindows,
    capacityWh: 215_000,
    nominalVoltageV: 768,
    maxChargePowerW: 100_000,
    maxDischargePowerW: 100_000,
    maxChargeCurrentA: 140,
    maxDischargeCurrentA: 140,
    source:
      'typical values for this cabinet class (no public CNTE datasheet in the references; see docs/devices/cnte-battery.md)',
    profiles: ['cnte.ess-cabinet'],
  },
  {
    id: 'cnte.cabinet-125kw-261kwh',
    vendor: 'CNTE',
    model:
      'C&I LFP storage cabinet, 125 kW / 261 kWh class (1P260S, 314 Ah cells, 832 V nominal) — confirm against the cabinet nameplate',
    ...lfpWindows,
    capacityWh: 261_000,
    nominalVoltageV: 832,
    maxChargePowerW: 125_000,
    maxDischargePowerW: 125_000,
    maxChargeCurrentA: 157,
    maxDischargeCurrentA: 157,
    source:
      'typical values for this cabinet class (no public CNTE datasheet in the references; see docs/devices/cnte-battery.md)',
    profiles: ['cnte.ess-cabinet'],
  },
  {
    id: 'growatt.ark-lv-10kwh',
    vendor: 'Growatt',
    model: 'ARK LV, 4 × 2.56 kWh LFP modules (10.24 kWh, 51.2 V) — low-voltage battery for SPH single-phase',
    ...lfpWindows,
    maxCyclesPerDay: 1,
    capacityWh: 10_240,
    nominalVoltageV: 51.2,
    maxChargePowerW: 5_120,
    maxDischargePowerW: 5_120,
    maxChargeCurrentA: 100,
    maxDischargeCurrentA: 100,
    source: 'typical 0.5 C LFP values for this module class (no Growatt battery datasheet in the references)',
    profiles: ['growatt.sph'],
  },
  {
    id: 'growatt.ark-hv-10kwh',
    vendor: 'Growatt',
    model: 'ARK HV, 4 × 2.56 kWh LFP modules (10.24 kWh, ≈ 410 V) — high-voltage battery for SPH TL3 and TL-XH',
    ...lfpWindows,
    maxCyclesPerDay: 1,
    capacityWh: 10_240,
    nominalVoltageV: 409.6,
    maxChargePowerW: 5_120,
    maxDischargePowerW: 5_120,
    maxChargeCurrentA: 12.5,
    maxDischargeCurrentA: 12.5,
    source: 'typical 0.5 C LFP values for this module class (no Growatt battery datasheet in the references)',
    profiles: ['growatt.sph', 'growatt.tl-xh'],
  },
  {
    id: 'growatt.apx-10kwh',
    vendor: 'Growatt',
    model: 'APX HV, 2 × 5 kWh LFP modules (10 kWh) — battery for MIN/MOD TL-XH',
    ...lfpWindows,
    maxCyclesPerDay: 1,
    capacityWh: 10_000,
    maxChargePowerW: 5_000,
    maxDischargePowerW: 5_000,
    source:
      'typical 0.5 C LFP values (no Growatt battery datasheet in the references; nominal voltage and current limits unknown, left out)',
    profiles: ['growatt.tl-xh'],
  },
];

/** The battery catalogue, parsed when the module loads. */
export const batteryCatalogue: readonly BatteryCatalogueEntry[] = BATTERY_CATALOGUE_INPUTS.map((e) =>
  BatteryCatalogueEntrySchema.parse(e),
);

/** The catalogue entry with this id, or undefined. */
export function getBatteryEntry(id: string): BatteryCatalogueEntry | undefined {
  return batteryCatalogue.find((e) => e.id === id);
}

/**
 * `units` identical batteries in parallel: capacity, powers and currents add up; SoC and temperature
 * windows and cycles per day stay as they are.
 */
export function parallelEntry(entry: BatteryCatalogueEntry, units: number): BatteryCatalogueEntry {
  const scale = (value: number | undefined): number | undefined => (value === undefined ? undefined : value * units);
  const maxChargeCurrentA = scale(entry.maxChargeCurrentA);
  const maxDischargeCurrentA = scale(entry.maxDischargeCurrentA);
  return {
    ...entry,
    id: `${entry.id}-x${units}`,
    capacityWh: entry.capacityWh * units,
    maxChargePowerW: entry.maxChargePowerW * units,
    maxDischargePowerW: entry.maxDischargePowerW * units,
    ...(maxChargeCurrentA === undefined ? {} : { maxChargeCurrentA }),
    ...(maxDischargeCurrentA === undefined ? {} : { maxDischargeCurrentA }),
  };
}

/** The installer's battery limits from the site config (`BatteryLimitsSchema` in @voltimax/contracts), parsed. */
export type SiteBatteryLimits = z.output<typeof BatteryLimitsSchema>;

/** The limits the arbiter enforces: never looser than the catalogue or the site config. */
export interface EffectiveBatteryLimits {
  readonly capacityWh: number;
  readonly maxChargePowerW: number;
  readonly maxDischargePowerW: number;
  readonly maxChargeCurrentA?: number;
  readonly maxDischargeCurrentA?: number;
  readonly minSocPct: number;
  readonly maxSocPct: number;
  /** From the site config (the catalogue has no reserve), raised to at least `minSocPct`. */
  readonly reserveSocPct: number;
  readonly chargeTemperatureC: TemperatureWindow;
  readonly dischargeTemperatureC: TemperatureWindow;
  readonly maxCyclesPerDay: number;
  readonly maxRampWPerS?: number;
}

/** Windows that came out empty: the arbiter must then refuse the affected direction entirely. */
export type LimitConflict =
  | 'soc-window-empty'
  | 'charge-temperature-window-empty'
  | 'discharge-temperature-window-empty';

export interface TightenedLimits {
  readonly limits: EffectiveBatteryLimits;
  /** Empty windows (their `[min, max]` then has min > max, which allows nothing). */
  readonly conflicts: readonly LimitConflict[];
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function intersect(a: TemperatureWindow, b: TemperatureWindow | undefined): TemperatureWindow {
  return b === undefined ? [a[0], a[1]] : [Math.max(a[0], b[0]), Math.min(a[1], b[1])];
}

/**
 * Pure: the tighter of the catalogue entry and the site config, field by field: the smaller of each
 * maximum, the larger of each minimum, the intersection of each window. Never looser than either input.
 * An empty intersection is kept (min > max, which allows nothing) and listed in `conflicts`.
 */
export function tightenLimits(catalogue: BatteryCatalogueEntry, siteLimits: SiteBatteryLimits): TightenedLimits {
  const minSocPct = Math.max(catalogue.minSocPct, siteLimits.minSocPct);
  const maxSocPct = Math.min(catalogue.maxSocPct, siteLimits.maxSocPct);
  const chargeTemperatureC = intersect(catalogue.chargeTemperatureC, siteLimits.chargeTemperatureC);
  const dischargeTemperatureC = intersect(catalogue.dischargeTemperatureC, siteLimits.dischargeTemperatureC);
  const maxChargeCurrentA = minDefined(catalogue.maxChargeCurrentA, siteLimits.maxChargeCurrentA);
  const maxDischargeCurrentA = minDefined(catalogue.maxDischargeCurrentA, siteLimits.maxDischargeCurrentA);
  const conflicts: LimitConflict[] = [];
  if (minSocPct >= maxSocPct) conflicts.push('soc-window-empty');
  if (chargeTemperatureC[0] > chargeTemperatureC[1]) conflicts.push('charge-temperature-window-empty');
  if (dischargeTemperatureC[0] > dischargeTemperatureC[1]) conflicts.push('discharge-temperature-window-empty');
  return {
    limits: {
      capacityWh: Math.min(catalogue.capacityWh, siteLimits.capacityWh),
      maxChargePowerW: Math.min(catalogue.maxChargePowerW, siteLimits.maxChargePowerW),
      maxDischargePowerW: Math.min(catalogue.maxDischargePowerW, siteLimits.maxDischargePowerW),
      ...(maxChargeCurrentA === undefined ? {} : { maxChargeCurrentA }),
      ...(maxDischargeCurrentA === undefined ? {} : { maxDischargeCurrentA }),
      minSocPct,
      maxSocPct,
      reserveSocPct: Math.max(siteLimits.reserveSocPct, minSocPct),
      chargeTemperatureC,
      dischargeTemperatureC,
      maxCyclesPerDay: catalogue.maxCyclesPerDay,
      ...(siteLimits.maxRampWPerS === undefined ? {} : { maxRampWPerS: siteLimits.maxRampWPerS }),
    },
    conflicts,
  };
}
