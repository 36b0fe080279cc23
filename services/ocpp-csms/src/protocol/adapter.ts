// The version-neutral message layer. A ProtocolAdapter translates one OCPP version's wire messages into the
// StationHandler calls below (charge point → central system) and implements StationCommands on top of that
// version's calls (central system → charge point). Everything above this file (station state, telemetry, device
// writes, the charger list) knows nothing about OCPP versions. OCPP 1.6-J is implemented in ./v16; OCPP 2.0.1 is a
// second adapter (see the README) registered next to it.
import type { ChargerStateSchema } from '@voltimax/contracts';
import type { z } from 'zod';
import type { RpcConnection } from './rpc';

/** The simplified connector state of AssetReading.chargerState. */
export type ChargerState = z.infer<typeof ChargerStateSchema>;

/** Unit a charge point takes charging limits in. */
export type RateUnit = 'A' | 'W';

/** What a charge point says about itself when it boots. */
export interface BootInfo {
  readonly vendor: string;
  readonly model: string;
  readonly serial?: string;
  readonly firmware?: string;
}

/** The central system's answer to a boot. */
export interface BootAnswer {
  readonly status: 'accepted' | 'pending' | 'rejected';
  /** Heartbeat interval (accepted) or retry interval (pending, rejected), s. */
  readonly intervalS: number;
}

/** Whether an id tag may charge. */
export type IdTagStatus = 'accepted' | 'blocked' | 'expired' | 'invalid' | 'concurrent';

/** A connector status, mapped from the version's own enumeration. */
export interface ConnectorStatus {
  readonly connectorId: number;
  readonly state: ChargerState;
  /** The status word exactly as sent (e.g. `SuspendedEVSE`). */
  readonly raw: string;
  /** The charge point's error code when not `NoError`. */
  readonly errorCode?: string;
  readonly info?: string;
  readonly atMs: number;
}

/**
 * Measured values of one sample, in our units (W, Wh, A, V, %, °C). Powers and currents are import (to the EV),
 * ≥ 0. Per-phase fields only when the charger sent phase-resolved values.
 */
export interface MeterValues {
  powerW?: number;
  powerL1W?: number;
  powerL2W?: number;
  powerL3W?: number;
  currentL1A?: number;
  currentL2A?: number;
  currentL3A?: number;
  voltageL1V?: number;
  voltageL2V?: number;
  voltageL3V?: number;
  /** The charger's energy register (monotonic), Wh. */
  importEnergyWh?: number;
  socPct?: number;
  temperatureC?: number;
  frequencyHz?: number;
  /** The current the charger offers the EV right now, A per phase. */
  currentOfferedA?: number;
}

/** One timestamped sample of a MeterValues message (or the transaction data of a stop). */
export interface MeterSample {
  readonly atMs: number;
  readonly values: MeterValues;
  /** Values dropped as implausible or unusable, each `<measurand>=<raw>: <why>`. */
  readonly issues: readonly string[];
}

export interface MeterReport {
  readonly connectorId: number;
  readonly transactionId?: number;
  readonly samples: readonly MeterSample[];
}

export interface TransactionStart {
  readonly connectorId: number;
  readonly idTag: string;
  readonly meterStartWh: number;
  readonly atMs: number;
}

export interface TransactionStop {
  readonly transactionId: number;
  readonly idTag?: string;
  readonly meterStopWh: number;
  readonly atMs: number;
  readonly reason?: string;
  readonly samples: readonly MeterSample[];
}

/**
 * The central system as one charge point's adapter sees it. Each method answers one charge point → central system
 * message. Throwing {@link NotAcceptedError} refuses the message (CALLERROR SecurityError on the wire).
 */
export interface StationHandler {
  boot(info: BootInfo): BootAnswer;
  heartbeat(): void;
  authorize(idTag: string): IdTagStatus;
  status(status: ConnectorStatus): void;
  startTransaction(start: TransactionStart): { readonly transactionId: number; readonly idTagStatus: IdTagStatus };
  stopTransaction(stop: TransactionStop): { readonly idTagStatus?: IdTagStatus };
  meterValues(report: MeterReport): void;
  /** A message failed the schema (already answered with a CALLERROR) or was not OCPP-J at all. */
  violation(violation: {
    readonly method?: string;
    readonly code: string;
    readonly message: string;
    readonly connectorId?: number;
  }): void;
}

/** The charge point has not been accepted: its message is refused. */
export class NotAcceptedError extends Error {
  override readonly name = 'NotAcceptedError';
}

/**
 * A limit as it goes on the wire: a multiple of 0.1 (OCPP's resolution), rounded **down**, so the charger never gets
 * more than the arbiter allowed.
 */
export function roundLimitDown(limit: number): number {
  return Math.max(0, Math.floor(limit * 10 + 1e-9) / 10);
}

/** A charging limit to install as a profile on one connector. */
export interface LimitProfile {
  /** `default`: for the connector's next sessions (1.6 TxDefaultProfile); `transaction`: the running one (TxProfile). */
  readonly purpose: 'default' | 'transaction';
  readonly connectorId: number;
  readonly transactionId?: number;
  readonly unit: RateUnit;
  /** In `unit`: A per phase, or W in total. */
  readonly limit: number;
  readonly numberPhases?: 1 | 3;
  /**
   * Device-side watchdog: after this many seconds the profile itself drops to 0 (paused), so the charger falls back
   * to its safe state without us. Absent: the limit holds until replaced.
   */
  readonly fallbackAfterS?: number;
  /** Start of the schedule, epoch ms (our clock; charge points are synchronised by Heartbeat/Boot answers). */
  readonly startAtMs: number;
  readonly stackLevel: number;
  readonly profileId: number;
}

/** How a charge point answered a command. */
export type CommandStatus = 'accepted' | 'rejected' | 'not-supported';

/** A configuration key as the charge point reports it. */
export interface ConfigurationValue {
  readonly value?: string;
  readonly readonly: boolean;
}

/** What the central system can ask of a charge point, independent of the OCPP version. */
export interface StationCommands {
  /** Reads configuration keys (unknown keys are simply absent from the result). */
  readConfiguration(keys: readonly string[]): Promise<ReadonlyMap<string, ConfigurationValue>>;
  changeConfiguration(key: string, value: string): Promise<'accepted' | 'rejected' | 'reboot-required' | 'not-supported'>;
  /** The commands of a device write take the write's own timeout, ms. */
  setChargingProfile(profile: LimitProfile, timeoutMs?: number): Promise<CommandStatus>;
  /** The limit the charger will apply at `atMs` (its composite schedule), in `unit`; `undefined`: no limit. */
  compositeLimit(
    connectorId: number,
    unit: RateUnit,
    atMs: number,
    timeoutMs?: number,
  ): Promise<{ readonly status: 'accepted'; readonly limit: number | undefined } | { readonly status: 'rejected' | 'not-supported' }>;
  /** `profile`: the session's own limit (purpose `transaction`, without a transaction id: the session has none yet). */
  remoteStart(
    connectorId: number,
    idTag: string,
    profile: LimitProfile | undefined,
    timeoutMs?: number,
  ): Promise<'accepted' | 'rejected'>;
  remoteStop(transactionId: number, timeoutMs?: number): Promise<'accepted' | 'rejected'>;
  /** Ask the charge point to send its connector status now. */
  triggerStatus(connectorId: number): Promise<CommandStatus>;
}

/** The configuration keys the central system reads at connect (names of the OCPP version at hand). */
export interface ConfigurationKeys {
  readonly rateUnit: string;
  readonly meterInterval: string;
  readonly sampledData: string;
}

/** One OCPP version: its WebSocket subprotocol, how it binds a connection, and its configuration key names. */
export interface ProtocolAdapter {
  /** The WebSocket subprotocol, e.g. `ocpp1.6`. */
  readonly subprotocol: string;
  readonly configurationKeys: ConfigurationKeys;
  /** Parses the rate-unit configuration value into the units the charger accepts (preferred first). */
  rateUnits(value: string | undefined): readonly RateUnit[];
  /** Registers handlers for every charge point → central system message and returns the commands. */
  bind(
    connection: RpcConnection,
    handler: StationHandler,
    opts: { readonly callTimeoutMs: number; readonly now: () => number },
  ): StationCommands;
}
