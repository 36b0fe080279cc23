import { z } from 'zod';
import { AssetIdSchema, AssetKindSchema, EpochMsSchema, FiniteSchema, QualitySchema } from './common';

/**
 * The measurements a reading may carry. The unit is in the key; signs follow DESIGN § Units and signs:
 * grid power + = import, battery power + = discharge, PV/load/EV power ≥ 0.
 */
export const MeasurementsSchema = z.strictObject({
  /** Active power at the asset in W, sign per asset kind (grid + import, battery + discharge, PV ≥ 0). */
  powerW: FiniteSchema.optional(),
  powerL1W: FiniteSchema.optional(),
  powerL2W: FiniteSchema.optional(),
  powerL3W: FiniteSchema.optional(),
  reactivePowerVar: FiniteSchema.optional(),
  voltageL1V: FiniteSchema.optional(),
  voltageL2V: FiniteSchema.optional(),
  voltageL3V: FiniteSchema.optional(),
  currentL1A: FiniteSchema.optional(),
  currentL2A: FiniteSchema.optional(),
  currentL3A: FiniteSchema.optional(),
  frequencyHz: FiniteSchema.optional(),
  /** Energy counters in Wh (monotonic). */
  importEnergyWh: FiniteSchema.nonnegative().optional(),
  exportEnergyWh: FiniteSchema.nonnegative().optional(),
  /** Battery state of charge in %, 0..100. */
  socPct: FiniteSchema.min(0).max(100).optional(),
  /** Battery state of health in %, 0..100. */
  sohPct: FiniteSchema.min(0).max(100).optional(),
  /** Battery DC voltage and current (current + = discharge). */
  batteryVoltageV: FiniteSchema.optional(),
  batteryCurrentA: FiniteSchema.optional(),
  /** Battery cell/module temperature in °C. */
  temperatureC: FiniteSchema.optional(),
  /** Limits the device reports right now (BMS), W and A, ≥ 0. */
  maxChargePowerW: FiniteSchema.nonnegative().optional(),
  maxDischargePowerW: FiniteSchema.nonnegative().optional(),
  /** The setpoint the device reports it is executing (read back), W, battery sign. */
  setpointW: FiniteSchema.optional(),
  /** Hybrid inverters report the other flows they see: PV (≥ 0), grid (+ = import) and house load (≥ 0), W. */
  pvPowerW: FiniteSchema.nonnegative().optional(),
  gridPowerW: FiniteSchema.optional(),
  loadPowerW: FiniteSchema.nonnegative().optional(),
  /** EV charger: offered current limit per phase in A, and the number of phases in use. */
  currentLimitA: FiniteSchema.nonnegative().optional(),
  phases: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),
  /** EV charger: energy delivered in the current session, Wh. */
  sessionEnergyWh: FiniteSchema.nonnegative().optional(),
  /** PV inverter: active power limit currently applied, in % of rated power. */
  powerLimitPct: FiniteSchema.min(0).max(100).optional(),
});
export type Measurements = z.infer<typeof MeasurementsSchema>;
export type MeasurementKey = keyof Measurements;

/** EV charger connector state (OCPP-like, simplified). */
export const ChargerStateSchema = z.enum(['available', 'preparing', 'charging', 'suspended', 'finishing', 'faulted', 'unavailable']);

/** `telemetry.<assetId>`: one reading of one asset. */
export const AssetReadingSchema = z.strictObject({
  v: z.literal(1),
  assetId: AssetIdSchema,
  kind: AssetKindSchema,
  /** When the values were measured, epoch ms. */
  atMs: EpochMsSchema,
  /** Per-asset publish counter, increases by one per reading; resets when the driver restarts. */
  sequence: z.number().int().nonnegative(),
  quality: QualitySchema,
  values: MeasurementsSchema,
  /** EV chargers only. */
  chargerState: ChargerStateSchema.optional(),
  /** Why the quality is not good (timeout, exception code, implausible value …). */
  error: z.string().max(500).optional(),
});
export type AssetReading = z.infer<typeof AssetReadingSchema>;
