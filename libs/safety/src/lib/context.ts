import { z } from 'zod';
import type { AssetReading, Heartbeat, Setpoint } from '@voltimax/contracts';
import type { EstopState } from './estop';
import type { GridBand, GridDelta, GridLimits } from './grid';
import type { AssetSafetyLimits } from './limits';

/** Arbiter tuning, validated once by the service (e.g. from its environment). */
export const ArbiterOptionsSchema = z.strictObject({
  /** A reading older than this (ms) is stale: the asset gets its safe setpoint. */
  maxTelemetryAgeMs: z.number().int().positive().default(5_000),
  /** Allowance for clocks of other services running ahead of ours (readings, heartbeats, intents), ms. */
  maxClockSkewMs: z.number().int().nonnegative().default(2_000),
  /** A driver silent for this many heartbeat intervals is lost (contracts: 3). */
  missedHeartbeats: z.number().int().positive().default(3),
  /**
   * The ramp credits at most this much time since the last applied setpoint, ms: a setpoint held (and re-asserted)
   * for seconds must not earn one step of many seconds' worth. 1.5 arbiter ticks by default, so tick jitter does not
   * slow a ramp.
   */
  maxRampIntervalMs: z.number().int().positive().default(1_500),
  /**
   * Where the grid connection leaves an EV charger about what it asks for, its last applied current is kept while
   * that lies inside every rule's interval and less than this many A below the value, A (0: off). The limit moves with every
   * house-load reading; without this the charger would get a new current on every reading (OCPP: a charging profile
   * a second). A limit that falls below the current is always written at once.
   */
  evLimitHoldA: z.number().nonnegative().max(16).default(0.5),
});
/** See {@link ArbiterOptionsSchema}. */
export type ArbiterOptions = z.output<typeof ArbiterOptionsSchema>;

/** The defaults of {@link ArbiterOptionsSchema}. */
export const DEFAULT_ARBITER_OPTIONS: ArbiterOptions = ArbiterOptionsSchema.parse({});

/** The last heartbeat of the driver that owns the asset (`health.<service>`). */
export interface DriverHealth {
  /** When the last heartbeat was received, epoch ms. */
  readonly lastSeenAtMs: number;
  /** The heartbeat interval the driver announced, ms. */
  readonly intervalMs: number;
  readonly status?: Heartbeat['status'];
}

/** A setpoint the arbiter wrote, and when (epoch ms). The ramp limit starts from it. */
export interface AppliedSetpoint {
  readonly setpoint: Setpoint;
  readonly atMs: number;
  /** The request it answered (the winning intent's setpoint then), when known: the EV hold compares it. */
  readonly requested?: Setpoint;
}

/** The grid connection: its limits, the grid-meter reading and changes the reading cannot show yet. */
export interface GridInput {
  readonly limits: GridLimits;
  /** The latest grid-meter reading (`powerW`: + = import, − = export). */
  readonly reading?: AssetReading;
  /**
   * Pending grid changes of *other* assets (their written setpoints may not have taken effect yet, and
   * decisions taken earlier in the same tick). Never include the asset being arbitrated. See {@link arbitrateSite}.
   */
  readonly pending?: GridDelta;
}

/** Everything {@link arbitrate} needs for one asset at one instant. */
export interface ArbitrationInput {
  readonly asset: AssetSafetyLimits;
  /** The winning intent's setpoint; undefined when no intent applies (the asset gets its safe setpoint). */
  readonly requested?: Setpoint;
  /** The asset's latest reading (battery `powerW`: + = discharge; `socPct`, `temperatureC`, BMS limits …). */
  readonly reading?: AssetReading;
  /**
   * The asset's reading from when the grid reading was taken, when `reading` is newer than that: the grid reading
   * shows the asset as it was then, so for the grid connection its present power is anywhere between the two.
   */
  readonly readingAtGrid?: AssetReading;
  readonly grid: GridInput;
  /** The last setpoint written to this asset; without it the ramp limit starts from 0 W now. */
  readonly lastApplied?: AppliedSetpoint;
  /**
   * Other setpoints written to the asset that may still land (not confirmed, not expired). For the grid connection
   * the asset may be at any of them or `lastApplied`, as well as where its readings say: a cut the grid reading
   * already shows frees nothing.
   */
  readonly mayStillLand?: readonly Setpoint[];
  /**
   * Where the ramp limit starts when the caller knows more than `lastApplied` says: without a last applied setpoint
   * (a failed write) it takes its place; with one it only tightens it. The arbiter gives, after a failed write and
   * until the re-assert margin before the earliest expiry of the last confirmed write and those since, the setpoint
   * closest to 0 W among them (the battery is at one of them, or between), tightened by the reading. Never a reading
   * alone: a reading must not loosen a limit.
   */
  readonly rampFrom?: AppliedSetpoint;
  readonly estop: EstopState;
  /** The owning driver's last heartbeat; undefined means never heard, i.e. lost. */
  readonly driver?: DriverHealth;
  /** True while the site is islanded: the backup reserve may then be used (the minimum SoC still holds). */
  readonly gridDown?: boolean;
  /** The instant of the decision, epoch ms (the service reads its clock once per tick). */
  readonly nowMs: number;
  readonly options?: Partial<ArbiterOptions>;
}

/** What each rule sees: the input with defaults resolved and derived values computed once. */
export interface RuleContext {
  readonly asset: AssetSafetyLimits;
  readonly requested: Setpoint;
  readonly reading?: AssetReading;
  readonly readingAtGrid?: AssetReading;
  readonly grid: GridInput;
  /** The grid band from the reading plus `grid.pending`; undefined if the reading has no finite power. */
  readonly gridBand?: GridBand;
  readonly lastApplied?: AppliedSetpoint;
  readonly mayStillLand?: readonly Setpoint[];
  readonly rampFrom?: AppliedSetpoint;
  readonly estop: EstopState;
  readonly driver?: DriverHealth;
  readonly gridDown: boolean;
  readonly nowMs: number;
  readonly options: ArbiterOptions;
  /** For `ev-current`: the phases the charger will use (the requested phases, at most the charger's). */
  readonly evPhases: 1 | 3;
}
