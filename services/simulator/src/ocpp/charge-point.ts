// A simulated OCPP 1.6-J charge point: an ocpp-rpc client (strict schema validation) with one or more connectors,
// each with an optional car. It boots, sends heartbeats and status notifications, starts a session when a car plugs
// in, sends MeterValues every MeterValueSampleInterval, and draws what its charging profiles allow (limit × phases ×
// voltage, capped by the car and the hardware, paused below 6 A). It obeys RemoteStart/StopTransaction,
// Set/ClearChargingProfile, GetCompositeSchedule, Get/ChangeConfiguration and TriggerMessage, and re-connects.
import { RPCClient } from 'ocpp-rpc';
import { pino, type Logger } from 'pino';
import { compositeLimitA, installProfile, type ChargingProfile, type InstalledProfile } from './profiles';

/** A car at a connector. */
export interface SimulatedCar {
  /** Largest current its on-board charger takes per phase, A. */
  readonly maxCurrentA: number;
  readonly phases: 1 | 3;
  readonly capacityWh: number;
  /** State of charge when it plugs in, %. */
  readonly socPct: number;
  /** It stops drawing power here (SuspendedEV), % (default 100). */
  readonly targetSocPct?: number;
}

export interface ConnectorOptions {
  readonly connectorId: number;
  /** The site asset this connector is (for the site model's EV-load hook). */
  readonly assetId: string;
  /** A car plugged in from the start. */
  readonly car?: SimulatedCar;
  /** The connector's energy register at start, Wh. */
  readonly energyWh?: number;
}

export interface ChargePointOptions {
  /** The central system's URL without the identity, e.g. `ws://127.0.0.1:8887/ocpp`. */
  readonly endpoint: string;
  readonly identity: string;
  /** Basic-auth password (security profiles 1 and 2). */
  readonly password?: string;
  /** Options of the WebSocket (e.g. `{ ca }` for wss). */
  readonly wsOptions?: Readonly<Record<string, unknown>>;
  readonly connectors: readonly ConnectorOptions[];
  /** Phases the charger is wired to (default 3). */
  readonly phases?: 1 | 3;
  /** Hardware limit per phase, A (default 32). */
  readonly maxCurrentA?: number;
  /** Below this offered current the car pauses (IEC 61851), A (default 6). */
  readonly minCurrentA?: number;
  /** Phase-to-neutral voltage, V (default 230). */
  readonly voltageV?: number;
  /** ChargingScheduleAllowedChargingRateUnit (default `Current`). */
  readonly rateUnits?: string;
  /** MeterValueSampleInterval until the central system changes it, s (default 60). */
  readonly meterIntervalS?: number;
  readonly vendor?: string;
  readonly model?: string;
  /** The id tag it starts local sessions with (default `SIM-<identity>`, cut to 20 characters). */
  readonly idTag?: string;
  /** Largest pause between re-connect attempts, ms (default 10 000). */
  readonly reconnectMaxDelayMs?: number;
  /** Epoch ms (default Date.now). */
  readonly now?: () => number;
  readonly log?: Logger;
}

/** What the site model takes: the charging power of one connector at a time, W ≥ 0. */
export interface OcppEvLoad {
  readonly assetId: string;
  powerW(nowMs: number): number;
}

interface Transaction {
  readonly id: number;
  readonly startedAtMs: number;
  readonly meterStartWh: number;
}

interface Connector {
  readonly id: number;
  readonly assetId: string;
  car: { readonly spec: SimulatedCar; socPct: number } | undefined;
  transaction: Transaction | undefined;
  /** A session being started (StartTransaction in flight). */
  starting: boolean;
  /** The session ended with the car still plugged in. */
  finished: boolean;
  energyWh: number;
  lastAdvanceMs: number;
  status: string;
  /** A TxProfile that came with RemoteStartTransaction, installed once the session has its id. */
  pendingProfile: ChargingProfile | undefined;
}

interface ClientFacade {
  connect(): Promise<unknown>;
  close(options?: { code?: number; reason?: string; force?: boolean }): Promise<unknown>;
  call(method: string, params?: unknown): Promise<unknown>;
  handle(method: string, handler: (args: { params: Record<string, unknown> }) => unknown): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

const SUPPORTED_MEASURANDS = new Set([
  'Energy.Active.Import.Register',
  'Power.Active.Import',
  'Current.Import',
  'Current.Offered',
  'Voltage',
  'SoC',
]);
const READONLY_KEYS = new Set(['ChargingScheduleAllowedChargingRateUnit', 'NumberOfConnectors', 'ChargeProfileMaxStackLevel', 'ChargingScheduleMaxPeriods']);

const iso = (ms: number): string => new Date(ms).toISOString();
const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** One simulated charge point. */
export class SimulatedChargePoint {
  readonly identity: string;
  /** One EV load per connector, for the site model. */
  readonly loads: readonly OcppEvLoad[];
  private readonly client: ClientFacade;
  private readonly connectors = new Map<number, Connector>();
  private readonly config = new Map<string, string>();
  private profiles: InstalledProfile[] = [];
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly phases: 1 | 3;
  private readonly maxCurrentA: number;
  private readonly minCurrentA: number;
  private readonly voltageV: number;
  private readonly idTag: string;
  private accepted = false;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private meterTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private bootTimer: NodeJS.Timeout | undefined;
  /** Counts of what happened, for tests and the bench. */
  readonly stats = { opens: 0, disconnects: 0, callErrors: 0, meterValues: 0, boots: 0 };

  constructor(private readonly options: ChargePointOptions) {
    this.identity = options.identity;
    this.now = options.now ?? Date.now;
    this.log = (options.log ?? pino({ level: 'silent' })).child({ chargePointId: options.identity });
    this.phases = options.phases ?? 3;
    this.maxCurrentA = options.maxCurrentA ?? 32;
    this.minCurrentA = options.minCurrentA ?? 6;
    this.voltageV = options.voltageV ?? 230;
    this.idTag = (options.idTag ?? `SIM-${options.identity}`).slice(0, 20);
    const startMs = this.now();
    for (const c of options.connectors) {
      this.connectors.set(c.connectorId, {
        id: c.connectorId,
        assetId: c.assetId,
        car: c.car === undefined ? undefined : { spec: c.car, socPct: c.car.socPct },
        transaction: undefined,
        starting: false,
        finished: false,
        energyWh: c.energyWh ?? 0,
        lastAdvanceMs: startMs,
        status: 'Available',
        pendingProfile: undefined,
      });
    }
    this.loads = [...this.connectors.values()].map((c) => ({ assetId: c.assetId, powerW: (nowMs: number) => this.powerAt(c, nowMs) }));
    this.config.set('ChargingScheduleAllowedChargingRateUnit', options.rateUnits ?? 'Current');
    this.config.set('MeterValueSampleInterval', String(options.meterIntervalS ?? 60));
    this.config.set('MeterValuesSampledData', 'Energy.Active.Import.Register,Power.Active.Import');
    this.config.set('HeartbeatInterval', '300');
    this.config.set('NumberOfConnectors', String(this.connectors.size));
    this.config.set('ChargeProfileMaxStackLevel', '10');
    this.config.set('ChargingScheduleMaxPeriods', '24');
    this.config.set('AuthorizeRemoteTxRequests', 'false');

    const Client = RPCClient as unknown as new (opts: Record<string, unknown>) => ClientFacade;
    this.client = new Client({
      endpoint: options.endpoint,
      identity: options.identity,
      protocols: ['ocpp1.6'],
      strictMode: true,
      reconnect: true,
      callTimeoutMs: 30_000,
      backoff: { initialDelay: 200, maxDelay: options.reconnectMaxDelayMs ?? 10_000, factor: 2, randomisationFactor: 0.25 },
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.wsOptions === undefined ? {} : { wsOpts: { ...options.wsOptions } }),
    });
    this.client.on('open', () => {
      this.stats.opens += 1;
      if (this.stats.opens > 1) this.log.info('re-connected');
    });
    this.client.on('disconnect', () => {
      this.stats.disconnects += 1;
      this.log.warn('connection lost; re-connecting');
    });
    this.client.on('socketError', (err) => this.log.debug({ err: String(err) }, 'socket error'));
    this.registerHandlers();
  }

  // ---- physics --------------------------------------------------------------------------------------------------

  private carFull(c: Connector): boolean {
    return c.car !== undefined && c.car.socPct >= (c.car.spec.targetSocPct ?? 100);
  }

  /** The offered current (A per phase) and the phases in use at `atMs`. */
  private offer(c: Connector, atMs: number): { offeredA: number; phases: number } {
    const carPhases = c.car?.spec.phases ?? this.phases;
    const basePhases = Math.min(this.phases, carPhases);
    const composite = compositeLimitA({
      profiles: this.profiles,
      connectorId: c.id,
      transaction: c.transaction === undefined ? undefined : { id: c.transaction.id, startedAtMs: c.transaction.startedAtMs },
      atMs,
      phases: basePhases,
      voltageV: this.voltageV,
    });
    const phases = Math.min(basePhases, composite.numberPhases ?? basePhases);
    const offeredA = Math.min(this.maxCurrentA, composite.limitA ?? this.maxCurrentA);
    return { offeredA: Math.max(0, offeredA), phases };
  }

  /** What the connector draws at `atMs`, W: only during a session, with a car that is not full. */
  private powerAt(c: Connector, atMs: number): number {
    if (c.car === undefined || c.transaction === undefined || this.carFull(c)) return 0;
    const { offeredA, phases } = this.offer(c, atMs);
    if (offeredA < this.minCurrentA) return 0;
    return Math.min(offeredA, c.car.spec.maxCurrentA) * phases * this.voltageV;
  }

  /** Integrates energy and SoC up to `nowMs` at the power of the interval's start. */
  private advance(nowMs: number): void {
    for (const c of this.connectors.values()) {
      const dtMs = nowMs - c.lastAdvanceMs;
      if (dtMs <= 0) continue;
      const wh = (this.powerAt(c, c.lastAdvanceMs) * dtMs) / 3_600_000;
      c.energyWh += wh;
      if (c.car !== undefined) c.car.socPct = Math.min(100, c.car.socPct + (wh / c.car.spec.capacityWh) * 100);
      c.lastAdvanceMs = nowMs;
    }
  }

  private statusOf(c: Connector, nowMs: number): string {
    if (c.car === undefined) return 'Available';
    if (c.transaction === undefined) return c.finished ? 'Finishing' : 'Preparing';
    if (this.carFull(c)) return 'SuspendedEV';
    return this.powerAt(c, nowMs) > 0 ? 'Charging' : 'SuspendedEVSE';
  }

  /** Every second: energy, and a StatusNotification when a connector's status changed. */
  private tick(): void {
    const nowMs = this.now();
    this.advance(nowMs);
    if (!this.accepted) return;
    for (const c of this.connectors.values()) {
      const status = this.statusOf(c, nowMs);
      if (status !== c.status) {
        c.status = status;
        void this.sendStatus(c);
      }
    }
  }

  // ---- messages to the central system ---------------------------------------------------------------------------

  private async call(method: string, params: unknown): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.client.call(method, params)) as Record<string, unknown>;
    } catch (err) {
      this.stats.callErrors += 1;
      if (!this.stopped) this.log.warn({ method, err: err instanceof Error ? err.message : String(err) }, 'call failed');
      return undefined;
    }
  }

  private sendStatus(c: Connector): Promise<unknown> {
    return this.call('StatusNotification', { connectorId: c.id, errorCode: 'NoError', status: c.status, timestamp: iso(this.now()) });
  }

  private sampledValues(c: Connector, nowMs: number): Record<string, string>[] {
    const measurands = (this.config.get('MeterValuesSampledData') ?? '').split(',').map((m) => m.trim());
    const powerW = this.powerAt(c, nowMs);
    const { offeredA, phases } = this.offer(c, nowMs);
    const currentA = powerW / (phases * this.voltageV);
    const out: Record<string, string>[] = [];
    for (const measurand of measurands) {
      switch (measurand) {
        case 'Energy.Active.Import.Register':
          out.push({ measurand, unit: 'Wh', context: 'Sample.Periodic', value: String(round(c.energyWh)) });
          break;
        case 'Power.Active.Import':
          out.push({ measurand, unit: 'W', context: 'Sample.Periodic', value: String(round(powerW)) });
          break;
        case 'Current.Import':
          for (let p = 1; p <= 3; p += 1) {
            out.push({ measurand, unit: 'A', phase: `L${p}`, context: 'Sample.Periodic', value: String(p <= phases ? round(currentA, 2) : 0) });
          }
          break;
        case 'Current.Offered':
          out.push({ measurand, unit: 'A', context: 'Sample.Periodic', value: String(round(offeredA)) });
          break;
        case 'Voltage':
          out.push({ measurand, unit: 'V', phase: 'L1-N', context: 'Sample.Periodic', value: String(this.voltageV) });
          break;
        case 'SoC':
          if (c.car !== undefined) out.push({ measurand, unit: 'Percent', location: 'EV', context: 'Sample.Periodic', value: String(round(c.car.socPct)) });
          break;
      }
    }
    return out;
  }

  private async sendMeterValues(c: Connector): Promise<void> {
    const nowMs = this.now();
    this.advance(nowMs);
    this.stats.meterValues += 1;
    await this.call('MeterValues', {
      connectorId: c.id,
      ...(c.transaction === undefined ? {} : { transactionId: c.transaction.id }),
      meterValue: [{ timestamp: iso(nowMs), sampledValue: this.sampledValues(c, nowMs) }],
    });
  }

  private scheduleMeterValues(): void {
    if (this.meterTimer !== undefined) clearInterval(this.meterTimer);
    const intervalS = Number(this.config.get('MeterValueSampleInterval') ?? '0');
    if (!(intervalS > 0) || this.stopped) return;
    this.meterTimer = setInterval(() => {
      for (const c of this.connectors.values()) if (c.transaction !== undefined) void this.sendMeterValues(c);
    }, intervalS * 1000);
  }

  private scheduleHeartbeat(intervalS: number): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    if (!(intervalS > 0) || this.stopped) return;
    this.heartbeatTimer = setInterval(() => void this.call('Heartbeat', {}), intervalS * 1000);
  }

  private async boot(): Promise<void> {
    this.stats.boots += 1;
    const conf = await this.call('BootNotification', {
      chargePointVendor: this.options.vendor ?? 'Voltimax',
      chargePointModel: this.options.model ?? 'SimCharger',
      chargePointSerialNumber: `SIM-${this.identity}`.slice(0, 25),
      firmwareVersion: 'sim-1.0',
    });
    if (this.stopped) return;
    const status = conf?.['status'];
    const intervalS = typeof conf?.['interval'] === 'number' && conf['interval'] > 0 ? conf['interval'] : 60;
    if (status !== 'Accepted') {
      this.log.warn({ status: status ?? 'no answer', retryS: intervalS }, 'boot not accepted; retrying');
      this.bootTimer = setTimeout(() => void this.boot(), intervalS * 1000);
      return;
    }
    this.accepted = true;
    this.config.set('HeartbeatInterval', String(intervalS));
    this.scheduleHeartbeat(intervalS);
    this.scheduleMeterValues();
    await this.call('StatusNotification', { connectorId: 0, errorCode: 'NoError', status: 'Available', timestamp: iso(this.now()) });
    for (const c of this.connectors.values()) {
      c.status = this.statusOf(c, this.now());
      await this.sendStatus(c);
      if (c.car !== undefined && c.transaction === undefined) await this.startSession(c, this.idTag, true);
    }
  }

  /** Authorize (local sessions) and StartTransaction; the session's profile from a remote start is then installed. */
  private async startSession(c: Connector, idTag: string, authorize: boolean): Promise<void> {
    if (c.transaction !== undefined || c.starting) return;
    c.starting = true;
    try {
      if (authorize) {
        const auth = await this.call('Authorize', { idTag });
        const status = (auth?.['idTagInfo'] as Record<string, unknown> | undefined)?.['status'];
        if (status !== 'Accepted') {
          this.log.info({ connectorId: c.id, status }, 'id tag not accepted; no session');
          return;
        }
      }
      this.advance(this.now());
      const startedAtMs = this.now();
      const conf = await this.call('StartTransaction', {
        connectorId: c.id,
        idTag,
        meterStart: Math.round(c.energyWh),
        timestamp: iso(startedAtMs),
      });
      const transactionId = conf?.['transactionId'];
      const status = (conf?.['idTagInfo'] as Record<string, unknown> | undefined)?.['status'];
      if (typeof transactionId !== 'number' || c.car === undefined) return;
      c.transaction = { id: transactionId, startedAtMs, meterStartWh: Math.round(c.energyWh) };
      c.finished = false;
      if (c.pendingProfile !== undefined) {
        this.profiles = installProfile(this.profiles, {
          connectorId: c.id,
          profile: { ...c.pendingProfile, transactionId },
          installedAtMs: this.now(),
        });
        c.pendingProfile = undefined;
      }
      this.log.info({ connectorId: c.id, transactionId }, 'session started');
      if (status !== 'Accepted') {
        this.log.info({ connectorId: c.id, status }, 'session refused by the central system; stopping it');
        await this.stopSession(c, 'DeAuthorized');
        return;
      }
      this.tick();
      await this.sendMeterValues(c);
    } finally {
      c.starting = false;
    }
  }

  private async stopSession(c: Connector, reason: string): Promise<void> {
    const transaction = c.transaction;
    if (transaction === undefined) return;
    const nowMs = this.now();
    this.advance(nowMs);
    c.transaction = undefined;
    c.finished = c.car !== undefined;
    // TxProfiles end with their session.
    this.profiles = this.profiles.filter((p) => !(p.connectorId === c.id && p.profile.chargingProfilePurpose === 'TxProfile'));
    await this.call('StopTransaction', {
      transactionId: transaction.id,
      meterStop: Math.round(c.energyWh),
      timestamp: iso(nowMs),
      reason,
      idTag: this.idTag,
    });
    this.log.info({ connectorId: c.id, transactionId: transaction.id, reason }, 'session stopped');
    this.tick();
  }

  // ---- messages from the central system -------------------------------------------------------------------------

  private registerHandlers(): void {
    const handle = (method: string, fn: (params: Record<string, unknown>) => unknown) =>
      this.client.handle(method, ({ params }) => fn(params));
    const later = (fn: () => Promise<unknown>) => setTimeout(() => void fn(), 0);

    handle('GetConfiguration', (params) => {
      const keys = (params['key'] as string[] | undefined) ?? [...this.config.keys()];
      return {
        configurationKey: keys
          .filter((k) => this.config.has(k))
          .map((key) => ({ key, readonly: READONLY_KEYS.has(key), value: this.config.get(key) })),
        unknownKey: keys.filter((k) => !this.config.has(k)),
      };
    });
    handle('ChangeConfiguration', (params) => {
      const key = String(params['key']);
      const value = String(params['value']);
      if (!this.config.has(key)) return { status: 'NotSupported' };
      if (READONLY_KEYS.has(key)) return { status: 'Rejected' };
      if (key === 'MeterValueSampleInterval' || key === 'HeartbeatInterval') {
        const seconds = Number(value);
        if (!Number.isInteger(seconds) || seconds < 0) return { status: 'Rejected' };
        this.config.set(key, value);
        if (key === 'MeterValueSampleInterval') this.scheduleMeterValues();
        else this.scheduleHeartbeat(seconds);
        return { status: 'Accepted' };
      }
      if (key === 'MeterValuesSampledData') {
        const measurands = value.split(',').map((m) => m.trim());
        if (measurands.some((m) => !SUPPORTED_MEASURANDS.has(m))) return { status: 'Rejected' };
        this.config.set(key, measurands.join(','));
        return { status: 'Accepted' };
      }
      this.config.set(key, value);
      return { status: 'Accepted' };
    });
    handle('SetChargingProfile', (params) => {
      const connectorId = Number(params['connectorId']);
      const profile = params['csChargingProfiles'] as unknown as ChargingProfile;
      const units = (this.config.get('ChargingScheduleAllowedChargingRateUnit') ?? '').toLowerCase();
      const unitOk = profile.chargingSchedule.chargingRateUnit === 'A' ? units.includes('current') : units.includes('power');
      if (!unitOk) return { status: 'Rejected' };
      const purpose = profile.chargingProfilePurpose;
      if (purpose === 'ChargePointMaxProfile' && connectorId !== 0) return { status: 'Rejected' };
      if (connectorId !== 0 && !this.connectors.has(connectorId)) return { status: 'Rejected' };
      let installed = profile;
      if (purpose === 'TxProfile') {
        const transaction = this.connectors.get(connectorId)?.transaction;
        if (transaction === undefined) return { status: 'Rejected' };
        if (profile.transactionId !== undefined && profile.transactionId !== transaction.id) return { status: 'Rejected' };
        installed = { ...profile, transactionId: transaction.id };
      }
      this.advance(this.now());
      this.profiles = installProfile(this.profiles, { connectorId, profile: installed, installedAtMs: this.now() });
      later(async () => this.tick());
      return { status: 'Accepted' };
    });
    handle('ClearChargingProfile', (params) => {
      const before = this.profiles.length;
      this.profiles = this.profiles.filter(
        (p) =>
          !(
            (params['id'] === undefined || p.profile.chargingProfileId === params['id']) &&
            (params['connectorId'] === undefined || p.connectorId === params['connectorId']) &&
            (params['chargingProfilePurpose'] === undefined || p.profile.chargingProfilePurpose === params['chargingProfilePurpose']) &&
            (params['stackLevel'] === undefined || p.profile.stackLevel === params['stackLevel'])
          ),
      );
      return { status: this.profiles.length < before ? 'Accepted' : 'Unknown' };
    });
    handle('GetCompositeSchedule', (params) => {
      const connectorId = Number(params['connectorId']);
      const c = this.connectors.get(connectorId);
      if (c === undefined) return { status: 'Rejected' };
      const nowMs = this.now();
      const unit = (params['chargingRateUnit'] as 'A' | 'W' | undefined) ?? 'A';
      const durationS = Number(params['duration']);
      // The limit at each period boundary within the duration, merged where it does not change.
      const starts = new Set<number>([0]);
      for (const p of this.profiles) {
        const schedule = p.profile.chargingSchedule;
        const scheduleStart = Date.parse(schedule.startSchedule ?? '') || p.installedAtMs;
        for (const period of schedule.chargingSchedulePeriod) {
          const offsetS = Math.round((scheduleStart - nowMs) / 1000) + period.startPeriod;
          if (offsetS > 0 && offsetS < durationS) starts.add(offsetS);
        }
      }
      const periods: { startPeriod: number; limit: number; numberPhases?: number }[] = [];
      for (const startPeriod of [...starts].sort((a, b) => a - b)) {
        const { offeredA, phases } = this.offer(c, nowMs + startPeriod * 1000);
        const limit = round(unit === 'A' ? offeredA : offeredA * phases * this.voltageV);
        if (periods.at(-1)?.limit !== limit) periods.push({ startPeriod, limit, numberPhases: phases });
      }
      return {
        status: 'Accepted',
        connectorId,
        scheduleStart: iso(nowMs),
        chargingSchedule: { duration: durationS, startSchedule: iso(nowMs), chargingRateUnit: unit, chargingSchedulePeriod: periods },
      };
    });
    handle('RemoteStartTransaction', (params) => {
      const connectorId = typeof params['connectorId'] === 'number' ? params['connectorId'] : [...this.connectors.keys()][0];
      const c = connectorId === undefined ? undefined : this.connectors.get(connectorId);
      if (c === undefined || c.car === undefined || c.transaction !== undefined || c.starting) return { status: 'Rejected' };
      const profile = params['chargingProfile'] as ChargingProfile | undefined;
      if (profile !== undefined && profile.chargingProfilePurpose !== 'TxProfile') return { status: 'Rejected' };
      c.pendingProfile = profile;
      later(() => this.startSession(c, String(params['idTag']), false));
      return { status: 'Accepted' };
    });
    handle('RemoteStopTransaction', (params) => {
      const c = [...this.connectors.values()].find((x) => x.transaction?.id === params['transactionId']);
      if (c === undefined) return { status: 'Rejected' };
      later(() => this.stopSession(c, 'Remote'));
      return { status: 'Accepted' };
    });
    handle('TriggerMessage', (params) => {
      const requested = params['requestedMessage'];
      const connectorId = params['connectorId'] as number | undefined;
      const targets = [...this.connectors.values()].filter((c) => connectorId === undefined || c.id === connectorId);
      switch (requested) {
        case 'StatusNotification':
          later(async () => Promise.all(targets.map((c) => this.sendStatus(c))));
          return { status: 'Accepted' };
        case 'MeterValues':
          later(async () => Promise.all(targets.map((c) => this.sendMeterValues(c))));
          return { status: 'Accepted' };
        case 'Heartbeat':
          later(() => this.call('Heartbeat', {}));
          return { status: 'Accepted' };
        case 'BootNotification':
          later(() => this.boot());
          return { status: 'Accepted' };
        default:
          return { status: 'NotImplemented' };
      }
    });
  }

  // ---- control ----------------------------------------------------------------------------------------------

  /** Connects and boots; resolves once the first connection is open (the boot continues, retried if refused). */
  async start(): Promise<void> {
    await this.client.connect();
    this.tickTimer = setInterval(() => this.tick(), 1_000);
    void this.boot();
  }

  /** A car plugs into a connector: Preparing, then (after Authorize) a session. */
  async plugIn(connectorId: number, car: SimulatedCar): Promise<void> {
    const c = this.connectors.get(connectorId);
    if (c === undefined) throw new Error(`no connector ${connectorId}`);
    if (c.car !== undefined) return;
    this.advance(this.now());
    c.car = { spec: car, socPct: car.socPct };
    c.finished = false;
    this.tick();
    if (this.accepted) await this.startSession(c, this.idTag, true);
  }

  /** The car leaves: its session (if any) stops with EVDisconnected. */
  async unplug(connectorId: number): Promise<void> {
    const c = this.connectors.get(connectorId);
    if (c === undefined || c.car === undefined) return;
    if (c.transaction !== undefined) await this.stopSession(c, 'EVDisconnected');
    c.car = undefined;
    c.finished = false;
    this.tick();
  }

  /** A snapshot of one connector, for tests and logs. */
  connector(connectorId: number): {
    readonly status: string;
    readonly transactionId: number | undefined;
    readonly powerW: number;
    readonly offeredA: number;
    readonly energyWh: number;
    readonly socPct: number | undefined;
  } {
    const c = this.connectors.get(connectorId);
    if (c === undefined) throw new Error(`no connector ${connectorId}`);
    const nowMs = this.now();
    this.advance(nowMs);
    return {
      status: c.status,
      transactionId: c.transaction?.id,
      powerW: this.powerAt(c, nowMs),
      offeredA: this.offer(c, nowMs).offeredA,
      energyWh: c.energyWh,
      socPct: c.car?.socPct,
    };
  }

  /** The configuration as the central system sees it. */
  configuration(key: string): string | undefined {
    return this.config.get(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of [this.heartbeatTimer, this.meterTimer, this.tickTimer]) if (timer !== undefined) clearInterval(timer);
    if (this.bootTimer !== undefined) clearTimeout(this.bootTimer);
    await this.client.close({ code: 1000, reason: 'simulator stopping' }).catch(() => undefined);
  }
}
