// The JSON the server pushes to the browser (SSE `snapshot` events, GET /api/state) and the history series.
// Type-only: the UI (ui/src) imports these types too, so this file has no runtime code and no Node imports.
import type {
  ArbiterDecision,
  AssetKind,
  AssetReading,
  EmergencyStop,
  Quality,
  Setpoint,
  Violation,
} from '@voltimax/contracts';

export type { ArbiterDecision, AssetKind, EmergencyStop, Quality, Setpoint, Violation };

/** EV charger connector state. */
export type ChargerState = NonNullable<AssetReading['chargerState']>;

/** Where a number on the power-flow page came from: the reading of one asset (its measurement time). */
export interface FlowSource {
  readonly assetId: string;
  /** `atMs` of the reading the value was taken from. */
  readonly atMs: number;
}

/** One battery on the power-flow page. W: + = discharge, − = charge. */
export interface BatteryFlow {
  readonly assetId: string;
  readonly name: string;
  readonly powerW: number | null;
  readonly socPct: number | null;
  readonly atMs: number | null;
  readonly isStale: boolean;
}

/** One EV charger on the power-flow page. W ≥ 0. */
export interface ChargerFlow {
  readonly assetId: string;
  readonly name: string;
  readonly powerW: number | null;
  readonly currentLimitA: number | null;
  readonly state: ChargerState | null;
  readonly atMs: number | null;
  readonly isStale: boolean;
}

/**
 * The site's power flows from the latest good, fresh readings (DESIGN signs: grid + = import, battery + = discharge,
 * PV/load/EV ≥ 0; grid = load + ev − pv − battery). `null` = no usable reading.
 */
export interface PowerFlow {
  readonly gridW: number | null;
  readonly pvW: number | null;
  readonly batteryW: number | null;
  readonly loadW: number | null;
  readonly evW: number | null;
  /** Capacity-weighted SoC of the batteries, %. */
  readonly socPct: number | null;
  /** `measured` by a load meter or a hybrid inverter; `derived` from the balance. */
  readonly loadSource: 'measured' | 'derived' | null;
  /** The readings each number is made of. */
  readonly sources: {
    readonly grid: readonly FlowSource[];
    readonly pv: readonly FlowSource[];
    readonly battery: readonly FlowSource[];
    readonly load: readonly FlowSource[];
    readonly ev: readonly FlowSource[];
    readonly soc: readonly FlowSource[];
  };
  readonly batteries: readonly BatteryFlow[];
  readonly chargers: readonly ChargerFlow[];
}

/** A strategy's latest DecisionMetrics, and whether it is still deciding. */
export interface StrategyView {
  readonly strategy: string;
  /** Decisions arrived within the last few ticks. */
  readonly isActive: boolean;
  /** In the configuration's `strategy.active` list. */
  readonly isConfigured: boolean;
  /** The feed-in limit (`EXPORT_LIMIT_DECISION`): it runs on every site with curtailable PV, no strategy one selects. */
  readonly isFeedInLimit: boolean;
  readonly atMs: number | null;
  readonly reason: string | null;
  readonly inputs: Readonly<Record<string, number>>;
  readonly outputs: Readonly<Record<string, number>>;
  readonly terms: Readonly<Record<string, number>>;
}

export type AlarmSeverity = 'critical' | 'warning' | 'info';

/** Something a person should look at. `id` is stable while the condition lasts. */
export interface Alarm {
  readonly id: string;
  readonly severity: AlarmSeverity;
  /** Kebab-case: `estop`, `device-stale`, `device-missing`, `device-error`, `breaker-open`, `write-failed`, … */
  readonly code: string;
  readonly text: string;
  readonly assetId?: string;
  readonly service?: string;
  /** When the condition began, if known. */
  readonly sinceMs?: number;
}

/** One asset on the device page. */
export interface DeviceView {
  readonly assetId: string;
  readonly name: string;
  readonly kind: AssetKind;
  readonly isEnabled: boolean;
  /** `missing` = never heard from. */
  readonly health: 'ok' | 'stale' | 'error' | 'missing';
  readonly quality: Quality | null;
  readonly lastReadingAtMs: number | null;
  readonly error: string | null;
  readonly powerW: number | null;
  readonly socPct: number | null;
  /** The service whose heartbeat lists the asset, and its status. */
  readonly driver: { readonly service: string; readonly status: string } | null;
  /** 0 closed, 1 half-open, 2 open, 3 isolated (modbus-poller's `breaker.<id>` counter). */
  readonly breaker: number | null;
  readonly lastDecision: { readonly outcome: ArbiterDecision['outcome']; readonly atMs: number } | null;
}

/** One service from its heartbeats. */
export interface ServiceView {
  readonly service: string;
  readonly status: 'starting' | 'ok' | 'degraded' | 'error' | 'stopping' | 'lost';
  readonly detail: string | null;
  readonly instances: number;
  readonly lastSeenAtMs: number;
  readonly version: string;
}

/** The emergency stop as the dashboard sees it. */
export interface EstopView {
  /** `engaged` = the safety-arbiter reports it; `pending` = an engage was published, no confirmation yet. */
  readonly state: 'released' | 'pending' | 'engaged';
  /** The last `safety.estop` message seen (from anyone). */
  readonly last: EmergencyStop | null;
  /** Assets whose latest decision is the safe setpoint because of the e-stop. */
  readonly safeAssets: readonly string[];
  readonly isConfirmedByArbiter: boolean;
}

/** A manual action taken from this dashboard and what came of it. */
export interface ActionRecord {
  readonly id: string;
  readonly kind: 'intent' | 'estop';
  readonly atMs: number;
  readonly by: string;
  readonly summary: string;
  readonly status: 'sent' | 'decided' | 'failed';
  /** For intents: the arbiter's answer. */
  readonly decision?: ArbiterDecision;
  readonly error?: string;
}

/** What the manual setpoint form may offer for an asset. */
export interface ControllableAsset {
  readonly assetId: string;
  readonly name: string;
  readonly kind: AssetKind;
  readonly setpoints: readonly Setpoint['kind'][];
}

/** Everything one page render needs; pushed once per update interval. */
export interface DashboardSnapshot {
  readonly v: 1;
  readonly atMs: number;
  readonly site: { readonly gatewayId: string; readonly siteName: string | null; readonly source: string } | null;
  readonly isBusConnected: boolean;
  readonly flow: PowerFlow;
  readonly strategies: readonly StrategyView[];
  readonly configuredStrategies: readonly string[];
  /** Newest first. */
  readonly decisions: readonly ArbiterDecision[];
  readonly alarms: readonly Alarm[];
  readonly devices: readonly DeviceView[];
  readonly services: readonly ServiceView[];
  readonly estop: EstopView;
  /** Newest first. */
  readonly actions: readonly ActionRecord[];
  readonly controllable: readonly ControllableAsset[];
}

/** One bucket of the 24 h chart: means over the bucket, W and %; null when nothing usable was measured. */
export interface HistoryPoint {
  readonly atMs: number;
  readonly gridW: number | null;
  readonly pvW: number | null;
  readonly batteryW: number | null;
  readonly loadW: number | null;
  readonly evW: number | null;
  readonly socPct: number | null;
}

/** GET /api/history: buckets with data, oldest first. */
export interface HistorySeries {
  readonly fromMs: number;
  readonly toMs: number;
  readonly bucketMs: number;
  readonly points: readonly HistoryPoint[];
  /** Readings the buckets were built from: sampled from stream TELEMETRY, and received live. */
  readonly samples: { readonly stream: number; readonly live: number };
  /** Why stream TELEMETRY could not be read, when it could not. */
  readonly streamProblem: string | null;
}
