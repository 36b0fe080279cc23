import type { AssetReading, ControlIntent, IntentSource, Measurements, Setpoint } from '@voltimax/contracts';
import type { ArbitrationInput, DriverHealth } from '../lib/context';
import { ESTOP_RELEASED } from '../lib/estop';
import type { GridLimits } from '../lib/grid';
import type { AssetSafetyLimits, BatterySafetyLimits, EvChargerSafetyLimits } from '../lib/limits';

/** A fixed instant for tests, epoch ms. */
export const NOW_MS = 1_700_000_000_000;

export const GRID_LIMITS: GridLimits = {
  maxImportW: 17_000,
  maxExportW: 10_000,
  phases: 3,
  maxPhaseCurrentA: 25,
  nominalVoltageV: 230,
};

export const BATTERY_LIMITS: BatterySafetyLimits = {
  maxChargePowerW: 5_000,
  maxDischargePowerW: 6_000,
  maxChargeCurrentA: 100,
  maxDischargeCurrentA: 120,
  minSocPct: 10,
  maxSocPct: 95,
  reserveSocPct: 20,
  chargeTemperatureC: [0, 45],
  dischargeTemperatureC: [-10, 50],
  maxRampWPerS: 1_000,
};

export const EV_LIMITS: EvChargerSafetyLimits = { minCurrentA: 6, maxCurrentA: 16, phases: 3 };

export const BATTERY: AssetSafetyLimits = { assetId: 'bat-1', battery: BATTERY_LIMITS };
export const EV: AssetSafetyLimits = { assetId: 'ev-1', evCharger: EV_LIMITS };
export const PV: AssetSafetyLimits = { assetId: 'pv-1', pv: { ratedPowerW: 8_000 } };

export const DRIVER_OK: DriverHealth = { lastSeenAtMs: NOW_MS - 1_000, intervalMs: 5_000, status: 'ok' };

export function reading(
  assetId: string,
  kind: AssetReading['kind'],
  values: Measurements,
  overrides: Partial<AssetReading> = {},
): AssetReading {
  return { v: 1, assetId, kind, atMs: NOW_MS - 500, sequence: 1, quality: 'good', values, ...overrides };
}

/** A battery at 50 %, 25 °C, idle, 400 V. */
export function batteryReading(values: Measurements = {}, overrides: Partial<AssetReading> = {}): AssetReading {
  return reading(
    'bat-1',
    'battery',
    { socPct: 50, temperatureC: 25, powerW: 0, batteryVoltageV: 400, ...values },
    overrides,
  );
}

export function evReading(values: Measurements = {}, overrides: Partial<AssetReading> = {}): AssetReading {
  return reading('ev-1', 'ev-charger', { powerW: 0, ...values }, overrides);
}

/** The grid meter: 2 kW import, balanced. */
export function gridReading(values: Measurements = {}, overrides: Partial<AssetReading> = {}): AssetReading {
  return reading('grid', 'grid-meter', { powerW: 2_000, ...values }, overrides);
}

export function battery(powerW: number): Setpoint {
  return { kind: 'battery-power', powerW };
}

/**
 * A battery request with every input healthy and nothing binding except what the test changes: the last
 * applied setpoint is 1 h old, so the ramp limit allows anything.
 */
export function batteryInput(
  requested: Setpoint | undefined,
  overrides: Partial<ArbitrationInput> = {},
): ArbitrationInput {
  return {
    asset: BATTERY,
    ...(requested === undefined ? {} : { requested }),
    reading: batteryReading(),
    grid: { limits: GRID_LIMITS, reading: gridReading() },
    // Idle for an hour, and the ramp credits all of it: the ramp does not bind unless a test says so.
    lastApplied: { setpoint: battery(0), atMs: NOW_MS - 3_600_000 },
    options: { maxRampIntervalMs: 3_600_000 },
    estop: ESTOP_RELEASED,
    driver: DRIVER_OK,
    nowMs: NOW_MS,
    ...overrides,
  };
}

export function evInput(requested: Setpoint, overrides: Partial<ArbitrationInput> = {}): ArbitrationInput {
  return batteryInput(requested, { asset: EV, reading: evReading(), ...overrides });
}

export function pvInput(requested: Setpoint, overrides: Partial<ArbitrationInput> = {}): ArbitrationInput {
  return batteryInput(requested, {
    asset: PV,
    reading: reading('pv-1', 'pv-inverter', { powerW: 3_000 }),
    ...overrides,
  });
}

let intentCounter = 0;

export function intent(source: IntentSource, overrides: Partial<ControlIntent> = {}): ControlIntent {
  intentCounter += 1;
  return {
    v: 1,
    id: `intent-${intentCounter}`,
    source,
    assetId: 'bat-1',
    setpoint: battery(1_000),
    issuedAtMs: NOW_MS - 1_000,
    ttlMs: 60_000,
    reason: 'test',
    ...overrides,
  };
}
