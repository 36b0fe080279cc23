// A scripted OCPP 1.6-J charge point for the central system's tests: a real ocpp-rpc client on a real WebSocket,
// strict schema validation on its side too. It answers the central system's calls plausibly (profiles are kept and
// served back by GetCompositeSchedule) unless a test overrides an answer. The simulator's charge points
// (services/simulator/src/ocpp) are the full model; services never import each other, so this is a separate fake.
import { RPCClient } from 'ocpp-rpc';

export interface ReceivedCall {
  readonly method: string;
  readonly params: Record<string, unknown>;
}

export interface TestChargePointOptions {
  /** e.g. `ws://127.0.0.1:1234` (the identity is appended). */
  readonly endpoint: string;
  readonly identity: string;
  readonly password?: string;
  /** TLS options for wss (e.g. `{ ca }`). */
  readonly wsOpts?: Record<string, unknown>;
  /** ChargingScheduleAllowedChargingRateUnit, default `Current`. */
  readonly rateUnit?: string;
  readonly reconnect?: boolean;
  readonly protocols?: readonly string[];
}

type Answer = (params: Record<string, unknown>) => unknown;

interface ClientFacade {
  connect(): Promise<unknown>;
  close(options?: { code?: number; reason?: string; force?: boolean }): Promise<unknown>;
  call(method: string, params?: unknown, options?: { callTimeoutMs?: number }): Promise<unknown>;
  handle(method: string, handler: (args: { params: Record<string, unknown> }) => unknown): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  readonly state: number;
}

const iso = (ms: number = Date.now()): string => new Date(ms).toISOString();

export class TestChargePoint {
  readonly received: ReceivedCall[] = [];
  /** Charging profiles the central system installed, by purpose (last one wins). */
  readonly profiles = new Map<string, Record<string, unknown>>();
  readonly config = new Map<string, string>();
  readonly events: string[] = [];
  private readonly client: ClientFacade;
  private readonly overrides = new Map<string, Answer>();

  constructor(opts: TestChargePointOptions) {
    this.config.set('ChargingScheduleAllowedChargingRateUnit', opts.rateUnit ?? 'Current');
    this.config.set('MeterValueSampleInterval', '60');
    this.config.set('MeterValuesSampledData', 'Energy.Active.Import.Register');
    const Client = RPCClient as unknown as new (options: Record<string, unknown>) => ClientFacade;
    this.client = new Client({
      endpoint: opts.endpoint,
      identity: opts.identity,
      protocols: [...(opts.protocols ?? ['ocpp1.6'])],
      strictMode: true,
      reconnect: opts.reconnect ?? false,
      callTimeoutMs: 5_000,
      backoff: { initialDelay: 100, maxDelay: 500, factor: 2, randomisationFactor: 0 },
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.wsOpts === undefined ? {} : { wsOpts: opts.wsOpts }),
    });
    this.client.on('open', () => this.events.push('open'));
    this.client.on('disconnect', () => this.events.push('disconnect'));
    this.client.on('close', () => this.events.push('close'));
    const handlers: Record<string, Answer> = {
      GetConfiguration: (params) => {
        const keys = (params['key'] as string[] | undefined) ?? [...this.config.keys()];
        return {
          configurationKey: keys
            .filter((k) => this.config.has(k))
            .map((key) => ({ key, readonly: key === 'ChargingScheduleAllowedChargingRateUnit', value: this.config.get(key) })),
          unknownKey: keys.filter((k) => !this.config.has(k)),
        };
      },
      ChangeConfiguration: (params) => {
        this.config.set(params['key'] as string, params['value'] as string);
        return { status: 'Accepted' };
      },
      SetChargingProfile: (params) => {
        const profile = params['csChargingProfiles'] as Record<string, unknown>;
        this.profiles.set(profile['chargingProfilePurpose'] as string, profile);
        return { status: 'Accepted' };
      },
      GetCompositeSchedule: (params) => {
        const profile = this.profiles.get('TxProfile') ?? this.profiles.get('TxDefaultProfile');
        if (profile === undefined) return { status: 'Rejected' };
        const schedule = profile['chargingSchedule'] as Record<string, unknown>;
        return {
          status: 'Accepted',
          connectorId: params['connectorId'],
          scheduleStart: schedule['startSchedule'],
          chargingSchedule: {
            chargingRateUnit: schedule['chargingRateUnit'],
            chargingSchedulePeriod: schedule['chargingSchedulePeriod'],
          },
        };
      },
      TriggerMessage: () => ({ status: 'Accepted' }),
      RemoteStartTransaction: () => ({ status: 'Accepted' }),
      RemoteStopTransaction: () => ({ status: 'Accepted' }),
    };
    for (const [method, fallback] of Object.entries(handlers)) {
      this.client.handle(method, ({ params }) => {
        this.received.push({ method, params });
        return (this.overrides.get(method) ?? fallback)(params);
      });
    }
  }

  /** Answer `method` with this from now on (throw for a CALLERROR; a never-settling promise for a timeout). */
  answer(method: string, fn: Answer): void {
    this.overrides.set(method, fn);
  }

  calls(method: string): ReceivedCall[] {
    return this.received.filter((c) => c.method === method);
  }

  connect(): Promise<unknown> {
    return this.client.connect();
  }

  close(force = false): Promise<unknown> {
    return this.client.close(force ? { force: true } : { code: 1000, reason: 'test done' });
  }

  call(method: string, params: unknown): Promise<unknown> {
    return this.client.call(method, params);
  }

  boot(vendor = 'Autel', model = 'MaxiChargerAC'): Promise<unknown> {
    return this.call('BootNotification', { chargePointVendor: vendor, chargePointModel: model, firmwareVersion: 'test-1.0' });
  }

  status(connectorId: number, status: string, errorCode = 'NoError'): Promise<unknown> {
    return this.call('StatusNotification', { connectorId, status, errorCode, timestamp: iso() });
  }

  async startTransaction(connectorId: number, meterStartWh: number, idTag = 'TAG-1'): Promise<{ transactionId: number; status: string }> {
    const conf = (await this.call('StartTransaction', { connectorId, idTag, meterStart: meterStartWh, timestamp: iso() })) as {
      transactionId: number;
      idTagInfo: { status: string };
    };
    return { transactionId: conf.transactionId, status: conf.idTagInfo.status };
  }

  stopTransaction(transactionId: number, meterStopWh: number, reason = 'Local'): Promise<unknown> {
    return this.call('StopTransaction', { transactionId, meterStop: meterStopWh, timestamp: iso(), reason });
  }

  /** MeterValues with total power (W), a register (Wh) and per-phase currents (A). */
  meterValues(
    connectorId: number,
    transactionId: number | undefined,
    sample: { powerW?: number; energyWh?: number; currentsA?: readonly number[]; socPct?: number; atMs?: number },
  ): Promise<unknown> {
    const sampledValue: Record<string, string>[] = [];
    if (sample.powerW !== undefined) sampledValue.push({ measurand: 'Power.Active.Import', unit: 'W', value: String(sample.powerW) });
    if (sample.energyWh !== undefined) sampledValue.push({ measurand: 'Energy.Active.Import.Register', unit: 'Wh', value: String(sample.energyWh) });
    (sample.currentsA ?? []).forEach((a, i) =>
      sampledValue.push({ measurand: 'Current.Import', unit: 'A', phase: `L${i + 1}`, value: String(a) }),
    );
    if (sample.socPct !== undefined) sampledValue.push({ measurand: 'SoC', unit: 'Percent', location: 'EV', value: String(sample.socPct) });
    return this.call('MeterValues', {
      connectorId,
      ...(transactionId === undefined ? {} : { transactionId }),
      meterValue: [{ timestamp: iso(sample.atMs), sampledValue }],
    });
  }
}
