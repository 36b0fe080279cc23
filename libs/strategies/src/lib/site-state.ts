import type { Quality, Tariff } from '@voltimax/contracts';

/**
 * One battery as the strategy engine sees it this tick.
 * Power sign: + = discharge, − = charge (DESIGN § Units and signs).
 */
export interface BatteryState {
  readonly assetId: string;
  /** State of charge, %, 0..100. */
  readonly socPct: number;
  /** Measured active power, W, + = discharge, − = charge. */
  readonly powerW: number;
  /** Usable capacity, Wh, > 0. */
  readonly capacityWh: number;
  /** Largest charge power the battery accepts right now, W, ≥ 0 (site config tightened by the BMS value). */
  readonly maxChargePowerW: number;
  /** Largest discharge power the battery delivers right now, W, ≥ 0. */
  readonly maxDischargePowerW: number;
  /** Lowest SoC the battery may be discharged to, %. */
  readonly minSocPct: number;
  /** Highest SoC the battery may be charged to, %. */
  readonly maxSocPct: number;
  /** Backup reserve from the site config, %; strategies do not discharge below max(minSocPct, reserveSocPct). */
  readonly reserveSocPct: number;
  /** Smallest setpoint step the device resolves, W (e.g. 10); setpoints are quantized to it. Optional. */
  readonly powerStepW?: number;
  /** The arbiter's ramp limit for this battery, W/s, when the site config sets one (how long a change takes). */
  readonly maxRampWPerS?: number;
  /** From a set-point to its effect in this battery's readings, ms, when the site config sets one (`responseMs`). */
  readonly responseMs?: number;
  /** Quality of the latest reading. Anything but 'good' is stale data. */
  readonly quality: Quality;
  /** Age of the latest reading at the time of the snapshot, ms, ≥ 0. */
  readonly ageMs: number;
}

/** The charging session of an EV charger, when one is running. */
export interface EvSession {
  /** When the driver wants to leave, epoch ms (UTC). */
  readonly departureAtMs?: number;
  /** Energy the driver wants in this session, Wh, ≥ 0. */
  readonly energyWantedWh?: number;
  /** Energy delivered so far in this session, Wh, ≥ 0. */
  readonly energyDeliveredWh: number;
}

/** One EV charger (one connector) as the strategy engine sees it this tick. */
export interface EvChargerState {
  readonly assetId: string;
  /** A car is plugged in. */
  readonly connected: boolean;
  /** Measured charging power, W, ≥ 0. */
  readonly powerW: number;
  /** Current limit the charger offers right now, A per phase, ≥ 0. */
  readonly currentLimitA: number;
  /** Smallest current a car accepts (IEC 61851: 6 A), A; below it the only option is 0 = pause. */
  readonly minCurrentA: number;
  /** Largest current the charger (and its cable) allows, A per phase. */
  readonly maxCurrentA: number;
  /** Phases in use now. */
  readonly phases: 1 | 3;
  /** The charger can switch between 1 and 3 phases on request. */
  readonly canSwitchPhases?: boolean;
  readonly session?: EvSession;
  /** Quality of the latest reading. Anything but 'good' is stale data. */
  readonly quality: Quality;
  /** Age of the latest reading at the time of the snapshot, ms, ≥ 0. */
  readonly ageMs: number;
}

/** A PV inverter the gateway may curtail (a `pv-limit` set-point): the feed-in limit (`limitExport`) uses it. */
export interface PvInverterState {
  readonly assetId: string;
  /** Measured AC power, W, ≥ 0. */
  readonly powerW: number;
  /** Rated AC power, W, > 0 (site config `pv.ratedPowerW`): a limit at it is no limit. */
  readonly ratedPowerW: number;
  /** Quality of the latest reading. Anything but 'good' is stale data. */
  readonly quality: Quality;
  /** Age of the latest reading at the time of the snapshot, ms, ≥ 0. */
  readonly ageMs: number;
}

/** A known price for the interval [startMs, endMs), EUR/MWh (may be negative). */
export interface PricePoint {
  readonly startMs: number;
  readonly endMs: number;
  readonly eurPerMwh: number;
}

/** A forecast on a regular grid: value i applies to [startMs + i·stepMs, startMs + (i+1)·stepMs). */
export interface Forecast {
  readonly startMs: number;
  readonly stepMs: number;
  /** Expected load (without EV), W, ≥ 0, per step. */
  readonly loadW: readonly number[];
  /** Expected PV production, W, ≥ 0, per step. */
  readonly pvW: readonly number[];
}

/** Limits of the grid connection (site config `grid`). */
export interface GridLimits {
  /** Largest import, W, ≥ 0. */
  readonly maxImportW: number;
  /** Largest export, W, ≥ 0. */
  readonly maxExportW: number;
  /** Phases of the connection. */
  readonly phases: 1 | 3;
  /** Nominal phase voltage, V (converts EV currents into power). */
  readonly nominalVoltageV: number;
  /** Main fuse per phase, A, when known. */
  readonly maxPhaseCurrentA?: number;
}

/**
 * The snapshot the strategy-engine builds once per tick, like a process image: latest readings with their
 * quality and age, the known prices, forecast and tariff. Strategies never fetch anything else.
 *
 * Balance: `gridPowerW = loadPowerW + Σ ev.powerW − pvPowerW − Σ battery.powerW`.
 */
export interface SiteState {
  /** Grid power at the connection point, W, + = import, − = export. */
  readonly gridPowerW: number;
  /** Per-phase grid power L1..L3, W, + = import, where the meter reports it. */
  readonly gridPhasePowersW?: readonly number[];
  /** Quality of the grid meter reading. */
  readonly gridQuality: Quality;
  /** Age of the grid meter reading, ms. */
  readonly gridAgeMs: number;
  /**
   * Net demand (load + EV − PV = grid + Σ battery), W, measured from readings that agree (`estimateDemand`); set by
   * `combine` for the strategies. Absent: `gridPowerW + Σ battery.powerW` of the latest readings.
   */
  readonly netDemandW?: number;
  /**
   * Whether the strategy driving the batteries this tick charges them with any PV surplus it sees, up to their rate
   * (NetZero, SelfConsumption); set by `combine` for EVCharging, whose battery priority then leaves them that rate.
   * Absent: no (a planner's or a fixed set-point's battery takes what its decision says, not the surplus).
   */
  readonly batteriesFollowSurplus?: boolean;
  /**
   * How much more the grid will import once this tick's battery set-points take effect than the readings show, W
   * (Σ measured − planned battery power, when positive: a primary charging from the grid); set by `combine` for
   * EVCharging, whose import headroom it takes off. Absent: 0.
   */
  readonly plannedExtraImportW?: number;
  /**
   * How much more the EV chargers will draw once this tick's EV set-points take effect than their readings show, W
   * (Σ (offered current × phases × voltage − measured power), when positive); set by `combine` for the layers after
   * the EV stage (backup-power's restore takes it off the surplus or import headroom it charges from). Absent: 0.
   */
  readonly plannedEvImportW?: number;
  /** PV production, W, ≥ 0. */
  readonly pvPowerW: number;
  /** Building load without EV chargers, W, ≥ 0 (measured, or derived from the balance). */
  readonly loadPowerW: number;
  /** Whether loadPowerW was measured by a meter or derived as grid + PV + batteries − EV. */
  readonly loadSource?: 'measured' | 'derived';
  readonly batteries: readonly BatteryState[];
  readonly evChargers: readonly EvChargerState[];
  /** PV inverters the gateway may curtail (their power is also in `pvPowerW`); absent or empty: none. */
  readonly pvInverters?: readonly PvInverterState[];
  /** Grid frequency, Hz, from the grid meter (same quality and age as the grid reading). */
  readonly frequencyHz?: number;
  /** Known prices (day-ahead), any order; may be empty or missing. */
  readonly prices?: readonly PricePoint[];
  readonly forecast?: Forecast;
  /** The site's tariff (site config `tariff`). */
  readonly tariff?: Tariff;
  /** IANA time zone of the site, e.g. 'Europe/Paris'; local-time rules (ToU, rules, months) use it. */
  readonly timezone: string;
  readonly limits: GridLimits;
}
