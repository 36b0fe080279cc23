// The simulated site of the compressed-day scenario (day-scenario.int.spec.ts): assets.sim.json with a Peblar charger
// added, its load/PV profile (a CSV for the simulator), the strategies before and after the cloud's configuration
// push, and the day-ahead prices the Platform API double serves.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PriceSeries } from '@voltimax/contracts';
import { NetZeroConfigSchema } from '@voltimax/strategies';
import { REPO_ROOT } from '@voltimax/testing';

export const GRID = 'grid-1';
export const BATTERY = 'bat-1';
export const INVERTER = 'inv-1';
export const CHARGER = 'ev-1';

/** Sim time per wall time: one wall second is five simulated minutes. */
export const SIM_SPEED = 300;
/** The profile's rows, sim ms: a quarter hour, so 3 s of wall time each at SIM_SPEED. */
const ROW_MS = 15 * 60_000;
/** First row: 05:00 in Paris on a June day (CEST, UTC+2). The simulation starts there. */
const DAY_START_MS = Date.parse('2024-06-21T03:00:00Z');
/** Night rows before sunrise (15 s of wall time: the services start meanwhile). */
const NIGHT_ROWS = 5;
/** PV of the ramp rows, W: the compressed morning (06:15–07:30 in 15 s of wall time). */
const RAMP_PV_W = [400, 1_000, 1_600, 2_100, 2_400] as const;
/** Rows of the whole profile: a day (the simulator repeats the CSV, so it must outlast the test). */
const DAY_ROWS = 96;

/** The house's own load all day, W. */
export const BASE_LOAD_W = 400;
/** PV once the sun is up, W. */
export const PV_PEAK_W = 2_600;
/** The load step of phase 3, W. */
export const LOAD_STEP_W = 3_000;

/**
 * The car: a one-phase charger, so the PV surplus (2.2 kW) is above its minimum power (6 A × 230 V = 1.38 kW) and the
 * load step (3 kW) is larger than the surplus — with the car gone the battery has to discharge to hold the grid.
 */
export const CHARGER_PHASES = 1;
export const CHARGER_MIN_A = 6;
export const CHARGER_MAX_A = 16;
export const NOMINAL_VOLTAGE_V = 230;

/**
 * NetZero as the site configures it: the defaults (target 0 W, deadband 50 W, oscillation guard on), except that the
 * guard gives the gains back after 10 s of calm instead of 2 min: should the car's start trip it, the load step of
 * phase 3 still meets NetZero at full gains after a short wait, not after minutes.
 */
const NET_ZERO_RAW = { oscillation: { recoveryMs: 10_000 } } as const;
export const NET_ZERO = NetZeroConfigSchema.parse(NET_ZERO_RAW);

/**
 * EVCharging on PV surplus. `surplusPriority: 'ev'`: what the battery charges counts as surplus — with NetZero holding
 * the grid at 0 nothing is exported, so with the default ('battery') the car would never start. Short start delay so
 * the scenario does not wait a minute of wall time.
 */
export const EV_CHARGING_RAW = {
  mode: 'solar',
  surplusPriority: 'ev',
  startDelayMs: 2_000,
  stopDelayMs: 5_000,
} as const;

/** The strategy block before the configuration push: NetZero drives the battery, EVCharging the car. */
export const MORNING_STRATEGY = {
  active: ['net-zero', 'ev-charging'],
  tickMs: 1_000,
  config: { 'net-zero': NET_ZERO_RAW, 'ev-charging': EV_CHARGING_RAW },
} as const;

/** The strategy block the cloud pushes: Arbitrage on the day-ahead prices instead of NetZero. */
export const ARBITRAGE_STRATEGY = {
  active: ['arbitrage', 'ev-charging'],
  tickMs: 1_000,
  config: { arbitrage: {}, 'ev-charging': EV_CHARGING_RAW },
} as const;

/**
 * assets.sim.json for gateway `gatewayId`, with: the Peblar charger `ev-1` on its REST API (http-devices), every
 * device polled each second, the CNTE cabinet at its catalogue size (215 kWh: at SIM_SPEED a 10 kWh battery would
 * fill up within the scenario), the morning strategies and no automation rules (the night-charge rule would fire on
 * the wall clock's time of day).
 */
export function daySite(gatewayId: string): Record<string, unknown> {
  const sim = JSON.parse(readFileSync(join(REPO_ROOT, 'docker', 'config', 'assets.sim.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const assets = (sim['assets'] as Record<string, unknown>[]).map((asset) => {
    const polled = { ...asset, pollIntervalMs: 1_000 };
    return asset['id'] === BATTERY
      ? { ...polled, battery: { ...(asset['battery'] as Record<string, unknown>), capacityWh: 215_000 } }
      : polled;
  });
  const charger = {
    id: CHARGER,
    name: 'Peblar wallbox (local REST API), one phase',
    kind: 'ev-charger',
    profile: 'peblar.rest',
    connection: { protocol: 'simulated' },
    pollIntervalMs: 1_000,
    evCharger: { minCurrentA: CHARGER_MIN_A, maxCurrentA: CHARGER_MAX_A, phases: CHARGER_PHASES },
  };
  return {
    ...sim,
    gatewayId,
    siteName: 'Compressed-day scenario: battery, hybrid inverter, grid meter, Peblar charger',
    assets: [...assets, charger],
    strategy: MORNING_STRATEGY,
    rules: [],
  };
}

/** The PV of profile row `i`, W: night, the ramp, then full sun. */
function pvOfRow(i: number): number {
  if (i < NIGHT_ROWS) return 0;
  return RAMP_PV_W[i - NIGHT_ROWS] ?? PV_PEAK_W;
}

/** libs/sim's CSV (timestamp,load_w,pv_w,price_eur_per_mwh) of the compressed day, one row per quarter hour. */
export function dayProfileCsv(): string {
  const rows = Array.from(
    { length: DAY_ROWS },
    (_, i) => `${new Date(DAY_START_MS + i * ROW_MS).toISOString()},${BASE_LOAD_W},${pvOfRow(i)},80`,
  );
  return ['timestamp,load_w,pv_w,price_eur_per_mwh', ...rows, ''].join('\n');
}

/**
 * Hourly day-ahead prices for zone FR around the wall clock (the engine decides on the wall clock): from two days
 * back to two days ahead, cheap at night and midday, dear in the evening.
 */
export function dayAheadPrices(nowMs: number): PriceSeries {
  const hourMs = 3_600_000;
  const startMs = Math.floor(nowMs / hourMs) * hourMs - 48 * hourMs;
  const series = Array.from({ length: 96 }, (_, i) => {
    const atMs = startMs + i * hourMs;
    const hourOfDay = new Date(atMs).getUTCHours();
    const eurPerMwh = hourOfDay >= 16 && hourOfDay < 20 ? 240 : hourOfDay >= 10 && hourOfDay < 14 ? 20 : 90;
    return { startMs: atMs, endMs: atMs + hourMs, eurPerMwh };
  });
  return { v: 1, zone: 'FR', publishedAtMs: nowMs, series };
}
