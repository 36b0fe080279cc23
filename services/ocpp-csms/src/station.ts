import type { DeviceWrite, WriteResult } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { ChargePointPlan, ChargerAsset } from './chargers';
import type { Health } from './counters';
import type { TransactionIds } from './ids';
import {
  type BootInfo,
  type ChargerState,
  type ConnectorStatus,
  type IdTagStatus,
  type LimitProfile,
  type MeterReport,
  type MeterSample,
  type MeterValues,
  type ProtocolAdapter,
  type RateUnit,
  type StationCommands,
  type StationHandler,
  type TransactionStart,
  type TransactionStop,
} from './protocol/adapter';
import { roundLimitDown } from './protocol/adapter';
import { rpcErrorCode, type RpcConnection } from './protocol/rpc';

/** Tuning of every station, from the environment. */
export interface StationSettings {
  readonly heartbeatIntervalS: number;
  /** MeterValueSampleInterval to set at connect, s; 0 = leave it. */
  readonly meterIntervalS: number;
  readonly callTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly stackLevel: number;
  readonly setupDelayMs: number;
  readonly remoteIdTag: string;
  /** For converting amps to watts for chargers that take limits in W. */
  readonly nominalVoltageV: number;
}

export interface StationDeps {
  readonly plan: ChargePointPlan;
  readonly settings: StationSettings;
  readonly log: Logger;
  readonly health: Health;
  /** Epoch ms. */
  readonly now: () => number;
  readonly transactionIds: TransactionIds;
  readonly authorize: (idTag: string) => IdTagStatus;
  /** The state of these assets changed: publish their readings now. */
  readonly onChange: (assetIds: readonly string[]) => void;
  /** The station connected or disconnected. */
  readonly onConnectionChange: () => void;
}

/** A charging session on a connector. */
export interface Transaction {
  readonly id: number;
  readonly idTag?: string;
  readonly startedAtMs?: number;
  readonly meterStartWh?: number;
  /** Reported by the charger (MeterValues of a session we never saw start), not started through us. */
  readonly adopted: boolean;
}

/** The limit last written to a connector (kept for sessions that start later and for re-connects). */
export interface ConnectorLimit {
  readonly currentA: number;
  readonly phases: 1 | 3;
  /** When the device-side fallback to 0 A begins; undefined for the safe setpoint (0 A until replaced). */
  readonly expiresAtMs: number | undefined;
  /** True once the charger accepted it. */
  readonly confirmed: boolean;
}

/** Why the last message about a connector could not be used. */
export interface ConnectorIssue {
  /** `protocol`: refused with a CALLERROR (nothing taken); `implausible`: taken without some values. */
  readonly kind: 'protocol' | 'implausible';
  readonly text: string;
  readonly atMs: number;
  /** For `implausible`: the values of that sample that were usable. */
  readonly values?: MeterValues;
}

export interface ConnectorState {
  readonly asset: ChargerAsset;
  status?: ConnectorStatus;
  transaction?: Transaction;
  meter?: { readonly atMs: number; readonly values: MeterValues };
  issue?: ConnectorIssue;
  limit?: ConnectorLimit;
  /** The intent (or command) whose session start/stop was carried out last: each is done once. */
  sessionKey?: string;
}

interface Connection {
  readonly rpc: RpcConnection;
  readonly adapter: ProtocolAdapter;
  readonly commands: StationCommands;
  readonly connectedAtMs: number;
  setupTimer: NodeJS.Timeout | undefined;
}

/** Messages about a connector's state: a refused one makes its reading an error until a valid one arrives. */
const TELEMETRY_ACTIONS = new Set(['MeterValues', 'StatusNotification', 'StartTransaction', 'StopTransaction']);

/** How far before now a charging schedule starts (clock skew between us and the charger), ms. */
export const SCHEDULE_BACKDATE_MS = 60_000;

/**
 * Our charging profile id for a connector and purpose (1.6 `chargingProfileId`): `1000 + 10 × connector`, +1 for a
 * TxProfile. One per connector and purpose, so a new profile replaces ours and nobody else's; and a TxProfile (also the
 * one RemoteStartTransaction carries) never takes the TxDefaultProfile's id: a SetChargingProfile with an installed
 * id replaces that profile whatever its purpose, and the connector would lose its default (the fallback to 0 A).
 */
export function profileIdOf(connectorId: number, purpose: LimitProfile['purpose']): number {
  return 1000 + connectorId * 10 + (purpose === 'transaction' ? 1 : 0);
}

/**
 * Connector states in which no session can run (no EV, out of service). Not `faulted`: OCPP 1.6 lets a connector go
 * Charging → Faulted → Charging within one transaction, which only StopTransaction ends; ending it here sent the limits
 * after a cleared fault as a TxDefaultProfile, under the transaction's TxProfile that still governs.
 */
const NO_SESSION: ReadonlySet<ChargerState> = new Set<ChargerState>(['available', 'unavailable']);

/** Meter values only a running session has: they end with it (the register, voltages and the like stay). */
const SESSION_VALUES = ['powerL1W', 'powerL2W', 'powerL3W', 'currentL1A', 'currentL2A', 'currentL3A', 'currentOfferedA'] as const;

/** Ends the connector's session: no transaction, 0 W, and none of the session's currents or its offered current. */
function endSession(connector: ConnectorState): void {
  connector.transaction = undefined;
  const meter = connector.meter;
  if (meter === undefined) return;
  const values: MeterValues = { ...meter.values, powerW: 0 };
  for (const key of SESSION_VALUES) delete values[key];
  connector.meter = { atMs: meter.atMs, values };
}

const short = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A timeout of a call to the charge point (ocpp-rpc rejects with its TimeoutError). */
function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || /timed? ?out/i.test(err.message));
}

/**
 * One configured charge point and its connectors: the state the central system keeps across connections (sessions,
 * last limit, meter values), the version-neutral handling of its messages, set-up after connect and boot, and device
 * writes. All calls to the charge point (set-up, writes) run one after the other.
 */
export class Station {
  readonly identity: string;
  readonly connectors: ReadonlyMap<number, ConnectorState>;
  boot: { readonly info: BootInfo; readonly atMs: number } | undefined;
  /** Units the charger takes limits in, preferred first; `A` until read from its configuration. */
  rateUnits: readonly RateUnit[] = ['A'];
  lastSeenAtMs: number | undefined;
  disconnectedAtMs: number | undefined;
  /** The last protocol problem of this charge point (for the charger list). */
  lastProblem: { readonly text: string; readonly atMs: number } | undefined;
  private connection: Connection | undefined;
  private compositeSupported = true;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly deps: StationDeps) {
    this.identity = deps.plan.identity;
    this.log = deps.log.child({ chargePointId: deps.plan.identity });
    this.connectors = new Map([...deps.plan.connectors].map(([id, asset]) => [id, { asset }]));
  }

  get connected(): boolean {
    return this.connection !== undefined;
  }

  /** The negotiated subprotocol of the current connection. */
  get protocol(): string | undefined {
    return this.connection?.rpc.protocol;
  }

  get assetIds(): string[] {
    return [...this.connectors.values()].map((c) => c.asset.assetId);
  }

  /** A new WebSocket of this charge point (replacing an older one, which is closed). */
  attach(rpc: RpcConnection, adapter: ProtocolAdapter): void {
    const previous = this.connection;
    if (previous !== undefined) {
      this.deps.health.incrementCounter('replacedConnections');
      this.log.warn({ remoteAddress: rpc.remoteAddress }, 'charge point connected again; closing the older connection');
      this.dropConnection(previous);
      void previous.rpc.close(4001, 'replaced by a newer connection').catch(() => undefined);
    }
    const nowMs = this.deps.now();
    const commands = adapter.bind(rpc, this.handlerFor(rpc), {
      callTimeoutMs: this.deps.settings.callTimeoutMs,
      now: this.deps.now,
    });
    const connection: Connection = { rpc, adapter, commands, connectedAtMs: nowMs, setupTimer: undefined };
    this.connection = connection;
    this.lastSeenAtMs = nowMs;
    this.disconnectedAtMs = undefined;
    rpc.onMessage(() => {
      this.lastSeenAtMs = this.deps.now();
    });
    rpc.onOwnReplyInvalid((method, message) => this.log.error({ method, message }, 'our reply failed the OCPP schema'));
    rpc.onClose((code, reason) => {
      if (this.connection !== connection) return;
      this.deps.health.incrementCounter('disconnections');
      this.log.warn({ code, reason }, 'charge point disconnected');
      this.dropConnection(connection);
    });
    this.deps.health.incrementCounter('connections');
    this.log.info({ protocol: rpc.protocol, remoteAddress: rpc.remoteAddress }, 'charge point connected');
    // Give the charge point the chance to boot first; a re-connect without a boot is set up after the delay.
    connection.setupTimer = setTimeout(() => this.scheduleSetup(connection), this.deps.settings.setupDelayMs);
    this.deps.onConnectionChange();
    this.deps.onChange(this.assetIds);
  }

  private dropConnection(connection: Connection): void {
    if (connection.setupTimer !== undefined) clearTimeout(connection.setupTimer);
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.disconnectedAtMs = this.deps.now();
    this.deps.onConnectionChange();
    this.deps.onChange(this.assetIds);
  }

  /** Closes the connection (shutdown). */
  async close(): Promise<void> {
    this.stopped = true;
    const connection = this.connection;
    if (connection === undefined) return;
    if (connection.setupTimer !== undefined) clearTimeout(connection.setupTimer);
    this.connection = undefined;
    await connection.rpc.close(1001, 'central system shutting down').catch(() => undefined);
  }

  /** Runs calls to the charge point one after the other. */
  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private scheduleSetup(connection: Connection): void {
    connection.setupTimer = undefined;
    if (this.connection !== connection || this.stopped) return;
    void this.enqueue(() => this.setup(connection));
  }

  // ---- messages from the charge point ------------------------------------------------------------------------

  private handlerFor(rpc: RpcConnection): StationHandler {
    const isCurrent = () => this.connection?.rpc === rpc;
    return {
      boot: (info) => {
        this.boot = { info, atMs: this.deps.now() };
        this.deps.health.incrementCounter('bootsAccepted');
        this.log.info({ ...info }, 'charge point booted');
        this.checkIdentity(info);
        const connection = this.connection;
        if (isCurrent()) this.endSessionsAtBoot();
        if (isCurrent() && connection !== undefined) {
          // Set up right after the answer has gone out (a rebooted charger may have lost its configuration).
          if (connection.setupTimer !== undefined) clearTimeout(connection.setupTimer);
          connection.setupTimer = setTimeout(() => this.scheduleSetup(connection), 0);
        }
        return { status: 'accepted', intervalS: this.deps.settings.heartbeatIntervalS };
      },
      heartbeat: () => undefined,
      authorize: (idTag) => this.deps.authorize(idTag),
      status: (status) => this.onStatus(status),
      startTransaction: (start) => this.onStart(start),
      stopTransaction: (stop) => this.onStop(stop),
      meterValues: (report) => this.onMeterValues(report),
      violation: (violation) => this.onViolation(violation),
    };
  }

  /**
   * A boot is a reboot, and a reboot ends the charger's transactions: limits then go out as the default profile, not
   * as the TxProfile of a transaction it no longer has. A late StopTransaction of one (from the charger's offline
   * queue) is accepted like any stop of a session we do not know; MeterValues of one (a charger that booted without
   * ending it) adopt it again.
   */
  private endSessionsAtBoot(): void {
    for (const connector of this.connectors.values()) {
      const transaction = connector.transaction;
      if (transaction === undefined) continue;
      this.log.info(
        { assetId: connector.asset.assetId, transactionId: transaction.id },
        'charge point booted while a session was running; session ended',
      );
      endSession(connector);
      this.changed(connector);
    }
  }

  private checkIdentity(info: BootInfo): void {
    for (const connector of this.connectors.values()) {
      const profile = connector.asset.profile;
      const expected = profile.ok ? profile.profile.ocpp.bootNotification : undefined;
      if (expected === undefined) continue;
      if (expected.vendor !== info.vendor || expected.model !== info.model) {
        this.log.warn(
          { assetId: connector.asset.assetId, expected, reported: { vendor: info.vendor, model: info.model } },
          'charge point reports another vendor or model than its profile',
        );
      }
    }
  }

  private connectorOf(connectorId: number, what: string): ConnectorState | undefined {
    const connector = this.connectors.get(connectorId);
    if (connector === undefined && connectorId !== 0) {
      this.log.debug({ connectorId, what }, 'message about a connector that is not in assets.json; ignored');
    }
    return connector;
  }

  private changed(connector: ConnectorState): void {
    this.deps.onChange([connector.asset.assetId]);
  }

  private onStatus(status: ConnectorStatus): void {
    const connector = this.connectorOf(status.connectorId, 'StatusNotification');
    if (connector === undefined) return;
    connector.status = status;
    connector.issue = undefined;
    if (NO_SESSION.has(status.state) && connector.transaction !== undefined) {
      // No EV, so no session: the StopTransaction was lost (or comes later and finds nothing).
      this.log.warn(
        { assetId: connector.asset.assetId, transactionId: connector.transaction.id, status: status.raw },
        'connector reports no EV while a session was running; session ended',
      );
      endSession(connector);
    }
    this.changed(connector);
  }

  private onStart(start: TransactionStart): { transactionId: number; idTagStatus: IdTagStatus } {
    const idTagStatus = start.idTag === this.deps.settings.remoteIdTag ? 'accepted' : this.deps.authorize(start.idTag);
    const transactionId = this.deps.transactionIds.next();
    const connector = this.connectorOf(start.connectorId, 'StartTransaction');
    this.deps.health.incrementCounter('transactionsStarted');
    this.log.info({ connectorId: start.connectorId, transactionId, idTagStatus }, 'charging session started');
    if (connector === undefined) return { transactionId, idTagStatus };
    connector.transaction = {
      id: transactionId,
      idTag: start.idTag,
      startedAtMs: start.atMs,
      meterStartWh: start.meterStartWh,
      adopted: false,
    };
    connector.issue = undefined;
    connector.meter = { atMs: start.atMs, values: { importEnergyWh: start.meterStartWh } };
    this.changed(connector);
    // The session gets the current limit as its own profile once the answer (with the id) has gone out.
    const connection = this.connection;
    if (connection !== undefined && connector.limit !== undefined) {
      setTimeout(() => {
        if (this.connection !== connection) return;
        void this.enqueue(() => this.limitSession(connection, connector, transactionId));
      }, 0);
    }
    return { transactionId, idTagStatus };
  }

  private onStop(stop: TransactionStop): { idTagStatus?: IdTagStatus } {
    this.deps.health.incrementCounter('transactionsStopped');
    const connector = [...this.connectors.values()].find((c) => c.transaction?.id === stop.transactionId);
    this.deps.transactionIds.seen(stop.transactionId);
    if (connector === undefined) {
      this.deps.health.incrementCounter('unknownTransactions');
      this.log.info({ transactionId: stop.transactionId, reason: stop.reason }, 'stop of a session we did not know; accepted');
    } else {
      this.log.info(
        { assetId: connector.asset.assetId, transactionId: stop.transactionId, reason: stop.reason, meterStopWh: stop.meterStopWh },
        'charging session stopped',
      );
      this.takeSamples(connector, stop.samples);
      endSession(connector);
      connector.meter = {
        atMs: Math.max(stop.atMs, connector.meter?.atMs ?? 0),
        values: { ...connector.meter?.values, importEnergyWh: stop.meterStopWh, powerW: 0 },
      };
      connector.issue = undefined;
      this.changed(connector);
    }
    // The idTag of a stop (who ended the session) is answered as Authorize would answer it.
    return stop.idTag === undefined ? {} : { idTagStatus: this.deps.authorize(stop.idTag) };
  }

  private onMeterValues(report: MeterReport): void {
    this.deps.health.incrementCounter('meterValues');
    const connector = this.connectorOf(report.connectorId, 'MeterValues');
    if (connector === undefined) return;
    const reported = report.transactionId;
    if (reported !== undefined && connector.transaction?.id !== reported) {
      // A session we did not see start: we restarted, or its StartTransaction went elsewhere. Continue with its id.
      this.deps.health.incrementCounter('unknownTransactions');
      this.log.info(
        { assetId: connector.asset.assetId, transactionId: reported, previous: connector.transaction?.id },
        'meter values of a session we did not know; continuing with its transaction id',
      );
      connector.transaction = { id: reported, adopted: true };
      this.deps.transactionIds.seen(reported);
    }
    this.takeSamples(connector, report.samples);
    this.changed(connector);
  }

  /** Newer samples replace the connector's meter values; older ones (sent late after an outage) are history. */
  private takeSamples(connector: ConnectorState, samples: readonly MeterSample[]): void {
    for (const sample of samples) {
      if (connector.meter !== undefined && sample.atMs < connector.meter.atMs) continue;
      const carried = connector.meter?.values.importEnergyWh;
      connector.meter = {
        atMs: sample.atMs,
        values: { ...(carried === undefined ? {} : { importEnergyWh: carried }), ...sample.values },
      };
      if (sample.issues.length > 0) {
        this.deps.health.incrementCounter('implausibleValues', sample.issues.length);
        const text = short(`implausible: ${sample.issues.join('; ')}`);
        if (connector.issue?.text !== text) this.log.warn({ assetId: connector.asset.assetId, issues: sample.issues }, 'implausible meter values dropped');
        connector.issue = { kind: 'implausible', text, atMs: sample.atMs, values: sample.values };
      } else {
        connector.issue = undefined;
      }
    }
  }

  private onViolation(violation: { method?: string; code: string; message: string; connectorId?: number }): void {
    const nowMs = this.deps.now();
    const what = violation.method ?? 'message';
    const text = short(`${what} refused: ${violation.code}: ${violation.message}`);
    this.lastProblem = { text, atMs: nowMs };
    this.deps.health.incrementCounter(violation.method === undefined ? 'badFrames' : 'protocolErrors');
    this.log.warn({ method: violation.method, code: violation.code, message: short(violation.message, 300) }, 'charge point message refused');
    if (violation.method === undefined || !TELEMETRY_ACTIONS.has(violation.method)) return;
    const targets =
      violation.connectorId !== undefined && this.connectors.has(violation.connectorId)
        ? [this.connectors.get(violation.connectorId) as ConnectorState]
        : [...this.connectors.values()];
    for (const connector of targets) {
      connector.issue = { kind: 'protocol', text, atMs: nowMs };
      this.changed(connector);
    }
  }

  // ---- set-up ------------------------------------------------------------------------------------------------

  /** Reads the charging rate unit, sets the meter interval and measurands, asks for unknown statuses, re-applies limits. */
  private async setup(connection: Connection): Promise<void> {
    if (this.connection !== connection) return;
    const { commands } = connection;
    const { settings, plan } = this.deps;
    const failed = (step: string, err: unknown) => {
      this.deps.health.incrementCounter('setupFailures');
      this.log.warn({ step, err: messageOf(err) }, 'charge point set-up step failed');
    };
    const keys = connection.adapter.configurationKeys;
    let config: ReadonlyMap<string, { value?: string }> = new Map();
    try {
      config = await commands.readConfiguration([keys.rateUnit, keys.meterInterval, keys.sampledData]);
      const reported = config.get(keys.rateUnit)?.value;
      const units = connection.adapter.rateUnits(reported);
      this.rateUnits = units.length > 0 ? units : ['A'];
      this.log.info(
        { rateUnits: this.rateUnits, reported: reported ?? null },
        units.length > 0 ? 'charging rate unit read' : 'charging rate unit not reported; using A',
      );
    } catch (err) {
      failed('GetConfiguration', err);
    }
    const change = async (key: string, value: string) => {
      if (config.get(key)?.value === value) return;
      try {
        const outcome = await commands.changeConfiguration(key, value);
        this.deps.health.incrementCounter('configurationChanges');
        if (outcome === 'accepted' || outcome === 'reboot-required') this.log.info({ key, value, outcome }, 'configuration changed');
        else this.log.warn({ key, value, outcome }, 'configuration change refused');
      } catch (err) {
        failed(`ChangeConfiguration ${key}`, err);
      }
    };
    if (settings.meterIntervalS > 0) await change(keys.meterInterval, String(settings.meterIntervalS));
    if (plan.measurands.length > 0) await change(keys.sampledData, plan.measurands.join(','));
    for (const connector of this.connectors.values()) {
      if (this.connection !== connection) return;
      if (connector.status === undefined) {
        try {
          await commands.triggerStatus(connector.asset.connectorId);
        } catch (err) {
          failed('TriggerMessage StatusNotification', err);
        }
      }
      const limit = connector.limit;
      if (limit !== undefined && (limit.expiresAtMs === undefined || limit.expiresAtMs > this.deps.now())) {
        const outcome = await this.install(connection, connector, limit.currentA, limit.phases, limit.expiresAtMs);
        if (outcome.status !== 'applied') failed('re-apply limit', outcome.error);
      }
    }
  }

  // ---- limits and device writes ------------------------------------------------------------------------------

  private profileFor(
    connector: ConnectorState,
    currentA: number,
    phases: 1 | 3,
    expiresAtMs: number | undefined,
    purpose: LimitProfile['purpose'],
    transactionId?: number,
  ): LimitProfile {
    const { settings } = this.deps;
    const nowMs = this.deps.now();
    const unit = this.rateUnits[0] ?? 'A';
    const connectorId = connector.asset.connectorId;
    return {
      purpose,
      connectorId,
      ...(transactionId === undefined ? {} : { transactionId }),
      unit,
      limit: unit === 'A' ? currentA : currentA * phases * settings.nominalVoltageV,
      numberPhases: phases,
      // The schedule starts a minute in the past: a charger whose clock lags ours still has it in force at once
      // (a schedule that has not started yet gives no limit at all). The fallback period moves by the same minute.
      ...(expiresAtMs === undefined
        ? {}
        : { fallbackAfterS: SCHEDULE_BACKDATE_MS / 1000 + Math.max(1, (expiresAtMs - nowMs) / 1000) }),
      startAtMs: nowMs - SCHEDULE_BACKDATE_MS,
      stackLevel: settings.stackLevel,
      profileId: profileIdOf(connectorId, purpose),
    };
  }

  /** Installs a limit (as the running session's profile, or the default for the next ones) and reads it back. */
  private async install(
    connection: Connection,
    connector: ConnectorState,
    currentA: number,
    phases: 1 | 3,
    expiresAtMs: number | undefined,
    forceDefault = false,
  ): Promise<{ status: WriteResult['status']; readBack?: number; error?: string }> {
    const { commands } = connection;
    const timeoutMs = this.deps.settings.writeTimeoutMs;
    const transactionId = forceDefault ? undefined : connector.transaction?.id;
    const purpose = transactionId === undefined ? 'default' : 'transaction';
    const profile = this.profileFor(connector, currentA, phases, expiresAtMs, purpose, transactionId);
    try {
      const status = await commands.setChargingProfile(profile, timeoutMs);
      if (status !== 'accepted') return { status: 'rejected', error: `SetChargingProfile ${status}` };
      connector.limit = { currentA, phases, expiresAtMs, confirmed: true };
      const sent = roundLimitDown(profile.limit);
      const toAmps = (limit: number) => (profile.unit === 'A' ? limit : limit / (phases * this.deps.settings.nominalVoltageV));
      if (!this.compositeSupported) return { status: 'applied', readBack: toAmps(sent) };
      const composite = await commands.compositeLimit(connector.asset.connectorId, profile.unit, this.deps.now(), timeoutMs);
      if (composite.status !== 'accepted') {
        if (composite.status === 'not-supported') {
          this.compositeSupported = false;
          this.log.info('charge point has no GetCompositeSchedule; read-back is the profile it accepted');
          return { status: 'applied', readBack: toAmps(sent) };
        }
        return { status: 'applied', readBack: toAmps(sent), error: 'GetCompositeSchedule rejected; read-back is the accepted profile' };
      }
      if (composite.limit === undefined) {
        return { status: 'mismatch', error: `composite schedule has no limit after SetChargingProfile ${sent} ${profile.unit}` };
      }
      const readBack = toAmps(composite.limit);
      if (Math.abs(composite.limit - sent) > (profile.unit === 'A' ? 0.05 : 1)) {
        return { status: 'mismatch', readBack, error: `set ${sent} ${profile.unit}, composite schedule says ${composite.limit} ${profile.unit}` };
      }
      return { status: 'applied', readBack };
    } catch (err) {
      return { status: isTimeout(err) ? 'timeout' : 'failed', error: short(this.describe(err)) };
    }
  }

  private describe(err: unknown): string {
    const code = rpcErrorCode(err);
    return code === undefined ? messageOf(err) : `CALLERROR ${code}: ${messageOf(err)}`;
  }

  /** A session just started: give it the connector's current limit as its own profile. */
  private async limitSession(connection: Connection, connector: ConnectorState, transactionId: number): Promise<void> {
    const limit = connector.limit;
    if (limit === undefined || connector.transaction?.id !== transactionId) return;
    if (limit.expiresAtMs !== undefined && limit.expiresAtMs <= this.deps.now()) return;
    const outcome = await this.install(connection, connector, limit.currentA, limit.phases, limit.expiresAtMs);
    if (outcome.status === 'applied') this.log.debug({ transactionId, currentA: limit.currentA }, 'session limited');
    else this.log.warn({ transactionId, status: outcome.status, error: outcome.error }, 'session limit not applied');
  }

  /** Executes a device write on one connector (queued behind other calls to this charge point). */
  write(connectorId: number, write: DeviceWrite): Promise<WriteResult> {
    return this.enqueue(() => this.applyWrite(connectorId, write));
  }

  private async applyWrite(connectorId: number, write: DeviceWrite): Promise<WriteResult> {
    const connector = this.connectors.get(connectorId);
    const answer = (status: WriteResult['status'], fields: { readBack?: number; error?: string } = {}): WriteResult => ({
      v: 1,
      commandId: write.commandId,
      assetId: write.assetId,
      status,
      ...(fields.readBack === undefined ? {} : { readBack: Math.round(fields.readBack * 1000) / 1000 }),
      atMs: this.deps.now(),
      ...(fields.error === undefined ? {} : { error: short(fields.error) }),
    });
    if (connector === undefined) return answer('rejected', { error: `no connector ${connectorId}` });
    const { asset } = connector;
    if (!asset.profile.ok) return answer('rejected', { error: asset.profile.reason });
    const setpoint = write.setpoint;
    if (setpoint.kind !== 'ev-current' && setpoint.kind !== 'safe') {
      return answer('rejected', { error: `unsupported-setpoint: a charger takes ev-current, not ${setpoint.kind}` });
    }
    if (write.expiresAtMs <= this.deps.now()) return answer('rejected', { error: 'expired before it could be applied' });
    const connection = this.connection;
    if (connection === undefined) {
      return answer('failed', { error: `charge point '${this.identity}' is not connected` });
    }
    const currentA = setpoint.kind === 'safe' ? 0 : setpoint.currentA;
    const phases = setpoint.kind === 'ev-current' && setpoint.phases !== undefined ? setpoint.phases : asset.phases;
    const expiresAtMs = setpoint.kind === 'safe' ? undefined : write.expiresAtMs;
    // Remembered before the call, so a session that starts meanwhile (or a re-connect) gets this limit.
    connector.limit = { currentA, phases, expiresAtMs, confirmed: false };
    const session = setpoint.kind === 'ev-current' ? setpoint.session : undefined;
    const sessionKey = write.intentId ?? write.commandId;
    const timeoutMs = this.deps.settings.writeTimeoutMs;
    const notes: string[] = [];
    let stopping = false;
    try {
      if (session === 'stop' && connector.sessionKey !== sessionKey) {
        const transaction = connector.transaction;
        if (transaction === undefined) {
          notes.push('no session to stop');
        } else {
          const outcome = await connection.commands.remoteStop(transaction.id, timeoutMs);
          if (outcome !== 'accepted') return answer('rejected', { error: `RemoteStopTransaction ${transaction.id} rejected` });
          this.deps.health.incrementCounter('remoteStops');
          this.log.info({ assetId: asset.assetId, transactionId: transaction.id }, 'session stop requested');
          stopping = true;
        }
        connector.sessionKey = sessionKey;
      }
      const installed = await this.install(connection, connector, currentA, phases, expiresAtMs, stopping);
      if (installed.status !== 'applied') return answer(installed.status, installed);
      if (session === 'start' && connector.sessionKey !== sessionKey) {
        if (connector.transaction !== undefined) {
          notes.push(`session ${connector.transaction.id} already running`);
        } else {
          // The session's TxProfile (no transaction id yet), with the TxProfile id: the default profile stays.
          const profile = this.profileFor(connector, currentA, phases, expiresAtMs, 'transaction');
          const outcome = await connection.commands.remoteStart(
            asset.connectorId,
            this.deps.settings.remoteIdTag,
            profile,
            timeoutMs,
          );
          if (outcome !== 'accepted') return answer('rejected', { error: 'RemoteStartTransaction rejected (is an EV plugged in?)' });
          this.deps.health.incrementCounter('remoteStarts');
          this.log.info({ assetId: asset.assetId, currentA }, 'session start requested');
          notes.push('session start requested');
        }
        connector.sessionKey = sessionKey;
      }
      if (stopping) notes.push('session stop requested');
      const error = [installed.error, ...notes].filter((n): n is string => n !== undefined).join('; ');
      return answer('applied', { ...(installed.readBack === undefined ? {} : { readBack: installed.readBack }), ...(error === '' ? {} : { error }) });
    } catch (err) {
      return answer(isTimeout(err) ? 'timeout' : 'failed', { error: this.describe(err) });
    }
  }
}
