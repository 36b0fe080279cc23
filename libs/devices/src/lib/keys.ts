import { z } from 'zod';
import { MeasurementsSchema, type MeasurementKey } from '@voltimax/contracts';

/** Every key of the contracts' `MeasurementsSchema` (what telemetry carries). */
export const MEASUREMENT_KEYS: readonly MeasurementKey[] = MeasurementsSchema.keyof().options;

/**
 * Read values a device offers beyond the contracts' measurements (split charge/discharge registers,
 * energy counters per flow, status codes). PV, grid and load flows of a hybrid are contracts measurements. Units are in the name; signs:
 * `gridPowerW` + = import, `batteryPowerW` + = discharge, every `…ChargePowerW`/`…DischargePowerW`/
 * `…ImportPowerW`/`…ExportPowerW`/`pvPowerW`/`loadPowerW` ≥ 0 (a magnitude).
 */
export const EXTRA_KEYS = [
  'dcPowerW',
  'acPowerW',
  'gridImportPowerW',
  'gridExportPowerW',
  'gridImportEnergyWh',
  'gridExportEnergyWh',
  'batteryPowerW',
  'batteryChargePowerW',
  'batteryDischargePowerW',
  'batteryChargeEnergyWh',
  'batteryDischargeEnergyWh',
  'pvEnergyWh',
  'apparentPowerVa',
  'powerFactor',
  'capacityWh',
  'ratedChargePowerW',
  'ratedDischargePowerW',
  'maxChargeCurrentA',
  'maxDischargeCurrentA',
  'temperatureMaxC',
  'temperatureMinC',
  'cycleCount',
  'statusCode',
  'faultCode',
  'workMode',
  'chargeStatus',
  'batteryState',
  'controlMode',
  'deviceHeartbeat',
  'cpState',
  'currentLimitSource',
  'relayFitted',
  /** A relay's output as the device reports it: 1 = closed (on), 0 = open (off). */
  'relayOn',
] as const;
export type ExtraKey = (typeof EXTRA_KEYS)[number];

/** Identification strings (decoded from `string` points, usually read once on connect). */
export const IDENTITY_KEYS = ['manufacturer', 'modelName', 'serialNumber', 'productNumber', 'firmwareVersion'] as const;
export type IdentityKey = (typeof IDENTITY_KEYS)[number];

/**
 * Writable registers that are not measurements: set-points, enable/mode switches, schedules, watchdogs.
 * Units are in the name where there is one (`…Pct`, `…W`, `…A`, `…S` for seconds).
 */
export const CONTROL_KEYS = [
  'setpointEnable',
  'setpointMode',
  'setpointRevertEnable',
  'setpointRevertW',
  'setpointRevertTimeS',
  'controllerHeartbeat',
  'evCurrentSetpointA',
  'forceSinglePhase',
  'inverterOn',
  'priorityMode',
  'acChargeEnable',
  'chargeRatePct',
  'chargeStopSocPct',
  'dischargeRatePct',
  'dischargeStopSocPct',
  'batteryFirstSlot1Start',
  'batteryFirstSlot1End',
  'batteryFirstSlot1Enable',
  'timeSlot1',
] as const;
export type ControlKey = (typeof CONTROL_KEYS)[number];

/** Any key a register point may carry. */
export type PointKey = MeasurementKey | ExtraKey | IdentityKey | ControlKey;

const ALL_POINT_KEYS: readonly PointKey[] = [...MEASUREMENT_KEYS, ...EXTRA_KEYS, ...IDENTITY_KEYS, ...CONTROL_KEYS];
const MEASUREMENT_KEY_SET: ReadonlySet<string> = new Set(MEASUREMENT_KEYS);

/** Validates a point key: a contracts measurement key, or one of the extra, identity or control keys above. */
export const PointKeySchema = z.custom<PointKey>(
  (value) => typeof value === 'string' && (ALL_POINT_KEYS as readonly string[]).includes(value),
  { message: 'unknown point key (must be a contracts MeasurementKey or a devices extra/identity/control key)' },
);

/** Validates a contracts measurement key. */
export const MeasurementKeySchema = z.custom<MeasurementKey>(
  (value) => typeof value === 'string' && MEASUREMENT_KEY_SET.has(value),
  {
    message: 'not a contracts MeasurementKey',
  },
);

/** True when `key` is one of the contracts' measurement keys. */
export function isMeasurementKey(key: string): key is MeasurementKey {
  return MEASUREMENT_KEY_SET.has(key);
}

/** Every key a point may carry, in a stable order (measurement, extra, identity, control). */
export function allPointKeys(): readonly PointKey[] {
  return ALL_POINT_KEYS;
}
