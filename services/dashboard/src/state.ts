import {
  EXPORT_LIMIT_DECISION,
  type ArbiterDecision,
  type AssetReading,
  type ConfigurationUpdated,
  type DecisionMetrics,
  type EmergencyStop,
  type Heartbeat,
  type SiteConfig,
} from '@voltimax/contracts';
import { assetsOfReadings, assetsOfSite, isUsable, powerFlow, staleAfterMs, type FlowAsset } from './power-flow';
import type {
  ActionRecord,
  Alarm,
  AlarmSeverity,
  ControllableAsset,
  DashboardSnapshot,
  DeviceView,
  EstopView,
  ServiceView,
  StrategyView,
} from './view';

/** The site configuration the dashboard knows, and where it came from. */
export interface SiteEntry {
  readonly site: SiteConfig;
  /** `file` (SITE_FILE) or `kv` (KV `config`). */
  readonly source: 'file' | 'kv';
  readonly loadedAtMs: number;
}

interface Received<T> {
  readonly value: T;
  /** Epoch ms on the dashboard's clock. */
  readonly receivedAtMs: number;
}

/** Everything the dashboard remembers from the bus. Immutable: `reduce` returns a new state. */
export interface DashboardState {
  readonly startedAtMs: number;
  readonly isBusConnected: boolean;
  readonly site: SiteEntry | undefined;
  /** Latest reading per asset (a late, older reading never replaces a newer one). */
  readonly readings: ReadonlyMap<string, AssetReading>;
  /** Latest DecisionMetrics per strategy. */
  readonly metrics: ReadonlyMap<string, Received<DecisionMetrics>>;
  /** Recent arbiter decisions, oldest first, at most `limits.decisions`. */
  readonly decisions: readonly ArbiterDecision[];
  /**
   * Latest decision per asset that says what the asset is doing (a `superseded` one only says an intent lost to
   * another), and latest decision that reported a failed write.
   */
  readonly lastDecision: ReadonlyMap<string, Received<ArbiterDecision>>;
  readonly lastWriteFailure: ReadonlyMap<string, Received<ArbiterDecision>>;
  /** service → instanceId → latest heartbeat. */
  readonly heartbeats: ReadonlyMap<string, ReadonlyMap<string, Received<Heartbeat>>>;
  readonly lastEstop: Received<EmergencyStop> | undefined;
  readonly lastConfigUpdate: ConfigurationUpdated | undefined;
  /** This dashboard's own actions, oldest first. */
  readonly actions: readonly ActionRecord[];
}

/** What changes the state. `atMs` is when the dashboard received it (its own clock). */
export type DashboardEvent =
  | { readonly type: 'reading'; readonly reading: AssetReading; readonly atMs: number }
  | { readonly type: 'arbiter-decision'; readonly decision: ArbiterDecision; readonly atMs: number }
  | { readonly type: 'strategy-decision'; readonly metrics: DecisionMetrics; readonly atMs: number }
  | { readonly type: 'heartbeat'; readonly heartbeat: Heartbeat; readonly atMs: number }
  | { readonly type: 'estop'; readonly message: EmergencyStop; readonly atMs: number }
  | { readonly type: 'config-updated'; readonly update: ConfigurationUpdated; readonly atMs: number }
  | { readonly type: 'site'; readonly entry: SiteEntry }
  | { readonly type: 'bus'; readonly isConnected: boolean; readonly atMs: number }
  | { readonly type: 'action'; readonly action: ActionRecord };

/** Bounds of the remembered lists. */
export interface StateLimits {
  readonly decisions: number;
  readonly actions: number;
}

export const DEFAULT_LIMITS: StateLimits = { decisions: 200, actions: 50 };

/** A fresh state. */
export function initialState(startedAtMs: number, site?: SiteEntry): DashboardState {
  return {
    startedAtMs,
    isBusConnected: false,
    site,
    readings: new Map(),
    metrics: new Map(),
    decisions: [],
    lastDecision: new Map(),
    lastWriteFailure: new Map(),
    heartbeats: new Map(),
    lastEstop: undefined,
    lastConfigUpdate: undefined,
    actions: [],
  };
}

function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): Map<K, V> {
  const next = new Map(map);
  next.set(key, value);
  return next;
}

/** The state after one event (pure). */
export function reduce(
  state: DashboardState,
  event: DashboardEvent,
  limits: StateLimits = DEFAULT_LIMITS,
): DashboardState {
  switch (event.type) {
    case 'reading': {
      const current = state.readings.get(event.reading.assetId);
      if (current !== undefined && current.atMs > event.reading.atMs) return state;
      return { ...state, readings: withEntry(state.readings, event.reading.assetId, event.reading) };
    }
    case 'arbiter-decision': {
      const { decision } = event;
      const received = { value: decision, receivedAtMs: event.atMs };
      const failed = decision.violations.some((v) => v.code === 'write-failed');
      return {
        ...state,
        decisions: [...state.decisions, decision].slice(-limits.decisions),
        lastDecision:
          decision.outcome === 'superseded'
            ? state.lastDecision
            : withEntry(state.lastDecision, decision.assetId, received),
        lastWriteFailure: failed
          ? withEntry(state.lastWriteFailure, decision.assetId, received)
          : state.lastWriteFailure,
      };
    }
    case 'strategy-decision': {
      const current = state.metrics.get(event.metrics.strategy);
      if (current !== undefined && current.value.atMs > event.metrics.atMs) return state;
      return {
        ...state,
        metrics: withEntry(state.metrics, event.metrics.strategy, { value: event.metrics, receivedAtMs: event.atMs }),
      };
    }
    case 'heartbeat': {
      const { heartbeat } = event;
      const instances = state.heartbeats.get(heartbeat.service) ?? new Map<string, Received<Heartbeat>>();
      return {
        ...state,
        heartbeats: withEntry(
          state.heartbeats,
          heartbeat.service,
          withEntry(instances, heartbeat.instanceId, { value: heartbeat, receivedAtMs: event.atMs }),
        ),
      };
    }
    case 'estop':
      if (state.lastEstop !== undefined && state.lastEstop.value.atMs > event.message.atMs) return state;
      return { ...state, lastEstop: { value: event.message, receivedAtMs: event.atMs } };
    case 'config-updated':
      return { ...state, lastConfigUpdate: event.update };
    case 'site':
      return { ...state, site: event.entry };
    case 'bus':
      return { ...state, isBusConnected: event.isConnected };
    case 'action': {
      const others = state.actions.filter((a) => a.id !== event.action.id);
      return { ...state, actions: [...others, event.action].slice(-limits.actions) };
    }
  }
}

/** Thresholds of the view. */
export interface ViewOptions {
  /** A reading is stale after max(this, 3 poll intervals), ms. */
  readonly minStaleMs: number;
  /** A service is lost after this many heartbeat intervals of silence. */
  readonly missedHeartbeats: number;
  /** A strategy is active while its decisions are younger than max(this, 3 engine ticks), ms. */
  readonly minStrategyFreshMs: number;
  /** Telemetry backlog alarm: this many readings waiting, or the oldest this old (ms). */
  readonly backlogAlarmMessages: number;
  readonly backlogAlarmAgeMs: number;
  /** How many decisions and actions the snapshot carries. */
  readonly decisionsShown: number;
  readonly actionsShown: number;
  /** Services whose loss is critical (the arbiter and the drivers). */
  readonly criticalServices: ReadonlySet<string>;
}

export const DEFAULT_VIEW_OPTIONS: ViewOptions = {
  minStaleMs: 10_000,
  missedHeartbeats: 3,
  minStrategyFreshMs: 5_000,
  backlogAlarmMessages: 1_000,
  backlogAlarmAgeMs: 15 * 60_000,
  decisionsShown: 40,
  actionsShown: 10,
  criticalServices: new Set(['safety-arbiter', 'modbus-poller', 'http-devices', 'ocpp-csms', 'driver-host']),
};

/** Startup grace before "never heard from" becomes an alarm, ms. */
const MISSING_GRACE_MS = 15_000;
/** Strategies that stopped deciding are listed this long, ms. */
const STRATEGY_KEPT_MS = 10 * 60_000;
/** Lost instances of a service stop counting after this long, ms. */
const INSTANCE_KEPT_MS = 60 * 60_000;

const ESTOP_DETAIL = /emergency stop engaged/i;
const CLOUD_OFFLINE_DETAIL = /\b(offline|disconnected|unreachable)\b/i;
/** Heartbeat counters of the telemetry-publisher (first names: what it publishes; the others: older spellings). */
const BACKLOG_COUNTERS = ['backlogReadings', 'backlog', 'backlogMessages', 'pending', 'pendingMessages'] as const;
const BACKLOG_AGE_COUNTERS = ['backlogOldestAgeMs', 'backlogAgeMs', 'oldestPendingAgeMs'] as const;
/** Heartbeat counters of the cloud-bridge: 1/0, and when the link went offline (0 = it is not). */
const ONLINE_COUNTERS = ['cloudOnline', 'linkOnline', 'online', 'connected'] as const;
const OFFLINE_SINCE_COUNTER = 'cloudOfflineSinceMs';

function firstCounter(
  counters: Readonly<Record<string, number>> | undefined,
  names: readonly string[],
): number | undefined {
  if (counters === undefined) return undefined;
  for (const name of names) {
    const value = counters[name];
    if (value !== undefined) return value;
  }
  return undefined;
}

interface ServiceStatus {
  readonly view: ServiceView;
  /** The newest heartbeat of a live instance (or the newest at all when every instance is lost). */
  readonly latest: Received<Heartbeat>;
  readonly isLost: boolean;
}

const STATUS_RANK: Readonly<Record<ServiceView['status'], number>> = {
  ok: 0,
  starting: 1,
  stopping: 2,
  degraded: 3,
  error: 4,
  lost: 5,
};

function serviceStatuses(state: DashboardState, nowMs: number, opts: ViewOptions): Map<string, ServiceStatus> {
  const out = new Map<string, ServiceStatus>();
  for (const [service, instances] of state.heartbeats) {
    const all = [...instances.values()].filter((h) => nowMs - h.receivedAtMs <= INSTANCE_KEPT_MS);
    if (all.length === 0) continue;
    const isLive = (h: Received<Heartbeat>) =>
      nowMs - h.receivedAtMs <= opts.missedHeartbeats * h.value.intervalMs && h.value.status !== 'stopping';
    const live = all.filter(isLive);
    const newest = (list: readonly Received<Heartbeat>[]) =>
      list.reduce((a, b) => (b.receivedAtMs > a.receivedAtMs ? b : a));
    const latest = newest(live.length > 0 ? live : all);
    const worst = live.reduce<ServiceView['status']>(
      (status, h) => (STATUS_RANK[h.value.status] > STATUS_RANK[status] ? h.value.status : status),
      'ok',
    );
    const isLost = live.length === 0;
    const status: ServiceView['status'] = isLost ? (latest.value.status === 'stopping' ? 'stopping' : 'lost') : worst;
    out.set(service, {
      latest,
      isLost,
      view: {
        service,
        status,
        detail: latest.value.detail ?? null,
        instances: live.length,
        lastSeenAtMs: latest.receivedAtMs,
        version: latest.value.version,
      },
    });
  }
  return out;
}

function knownAssets(state: DashboardState): FlowAsset[] {
  if (state.site === undefined) return assetsOfReadings(state.readings);
  const configured = assetsOfSite(state.site.site);
  const ids = new Set(configured.map((a) => a.id));
  const extra = assetsOfReadings(state.readings).filter((a) => !ids.has(a.id));
  return [...configured, ...extra.map((a) => ({ ...a, name: `${a.id} (not in the configuration)` }))];
}

function estopView(state: DashboardState, services: ReadonlyMap<string, ServiceStatus>): EstopView {
  const last = state.lastEstop?.value ?? null;
  const releasedAtMs = last?.action === 'release' ? last.atMs : 0;
  const safeAssets = [...state.lastDecision.values()]
    .map((d) => d.value)
    .filter(
      (d) => d.atMs >= releasedAtMs && d.outcome === 'safe' && d.violations.some((v) => v.code === 'emergency-stop'),
    )
    .map((d) => d.assetId)
    .sort();
  const arbiter = services.get('safety-arbiter');
  const arbiterSays = arbiter !== undefined && !arbiter.isLost && ESTOP_DETAIL.test(arbiter.latest.value.detail ?? '');
  const isConfirmedByArbiter = arbiterSays || safeAssets.length > 0;
  const state_: EstopView['state'] = isConfirmedByArbiter
    ? 'engaged'
    : last?.action === 'engage'
      ? 'pending'
      : 'released';
  return { state: state_, last, safeAssets, isConfirmedByArbiter };
}

function deviceHealth(
  reading: AssetReading | undefined,
  asset: FlowAsset,
  nowMs: number,
  opts: ViewOptions,
): DeviceView['health'] {
  if (reading === undefined) return 'missing';
  if (reading.quality === 'error') return 'error';
  return isUsable(reading, asset, { nowMs, minStaleMs: opts.minStaleMs }) ? 'ok' : 'stale';
}

function breakerOf(services: ReadonlyMap<string, ServiceStatus>, assetId: string): number | null {
  let worst: number | null = null;
  for (const s of services.values()) {
    if (s.isLost) continue;
    const value = s.latest.value.counters?.[`breaker.${assetId}`];
    if (value !== undefined && (worst === null || value > worst)) worst = value;
  }
  return worst;
}

function driverOf(services: ReadonlyMap<string, ServiceStatus>, assetId: string): DeviceView['driver'] {
  for (const s of services.values()) {
    if (s.latest.value.assets?.includes(assetId)) return { service: s.view.service, status: s.view.status };
  }
  return null;
}

const BREAKER_NAMES = ['closed', 'half-open', 'open', 'isolated'] as const;

function formatAgeMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function alarmsOf(
  state: DashboardState,
  nowMs: number,
  opts: ViewOptions,
  assets: readonly FlowAsset[],
  services: ReadonlyMap<string, ServiceStatus>,
  estop: EstopView,
): Alarm[] {
  const alarms: Alarm[] = [];
  const add = (alarm: Alarm) => alarms.push(alarm);
  const pastGrace = nowMs - state.startedAtMs > MISSING_GRACE_MS;

  if (!state.isBusConnected) {
    add({
      id: 'bus',
      severity: 'critical',
      code: 'bus-disconnected',
      text: 'Not connected to the gateway bus (NATS): the values shown are frozen',
    });
  }
  if (estop.state !== 'released') {
    const by = estop.last ? ` by ${estop.last.by}: ${estop.last.reason}` : '';
    add({
      id: 'estop',
      severity: 'critical',
      code: 'estop',
      text:
        estop.state === 'engaged'
          ? `Emergency stop engaged${by}; every controllable asset is held at its safe setpoint`
          : `Emergency stop requested${by}, not yet confirmed by the safety-arbiter`,
      ...(estop.last ? { sinceMs: estop.last.atMs } : {}),
    });
  }
  if (!services.has('safety-arbiter') && pastGrace) {
    add({
      id: 'service:safety-arbiter',
      severity: 'critical',
      code: 'service-missing',
      service: 'safety-arbiter',
      text: 'No heartbeat from the safety-arbiter: nothing is written to the devices',
    });
  }

  for (const asset of assets) {
    if (!asset.isEnabled) continue;
    const reading = state.readings.get(asset.id);
    const health = deviceHealth(reading, asset, nowMs, opts);
    if (
      health === 'missing' &&
      nowMs - state.startedAtMs > Math.max(MISSING_GRACE_MS, staleAfterMs(asset, opts.minStaleMs))
    ) {
      add({
        id: `device:${asset.id}`,
        severity: 'warning',
        code: 'device-missing',
        assetId: asset.id,
        text: `${asset.name}: no telemetry received`,
      });
    } else if (health === 'error' && reading !== undefined) {
      add({
        id: `device:${asset.id}`,
        severity: 'warning',
        code: 'device-error',
        assetId: asset.id,
        sinceMs: reading.atMs,
        text: `${asset.name}: device not answering${reading.error ? ` (${reading.error})` : ''}`,
      });
    } else if (health === 'stale' && reading !== undefined) {
      add({
        id: `device:${asset.id}`,
        severity: 'warning',
        code: 'device-stale',
        assetId: asset.id,
        sinceMs: reading.atMs,
        text: `${asset.name}: telemetry stale (last ${reading.quality === 'good' ? 'reading' : `${reading.quality} reading`} ${formatAgeMs(nowMs - reading.atMs)} ago)`,
      });
    }
    const breaker = breakerOf(services, asset.id);
    if (breaker !== null && breaker >= 2) {
      add({
        id: `breaker:${asset.id}`,
        severity: 'warning',
        code: 'breaker-open',
        assetId: asset.id,
        text: `${asset.name}: the driver's circuit breaker is ${BREAKER_NAMES[breaker] ?? 'open'} (requests paused after repeated failures)`,
      });
    }
  }

  const arbiter = services.get('safety-arbiter');
  for (const [assetId, failure] of state.lastWriteFailure) {
    const heartbeatAfter = arbiter !== undefined && arbiter.latest.receivedAtMs >= failure.receivedAtMs;
    const stillFailing = heartbeatAfter
      ? (arbiter.latest.value.detail ?? '').includes(`write to ${assetId} failed`)
      : true;
    if (!stillFailing) continue;
    const violation = failure.value.violations.find((v) => v.code === 'write-failed');
    add({
      id: `write:${assetId}`,
      severity: 'critical',
      code: 'write-failed',
      assetId,
      sinceMs: failure.value.atMs,
      text: `${assetId}: the device did not take the arbiter's write${violation?.detail ? ` (${violation.detail})` : ''}`,
    });
  }

  const cloud = services.get('cloud-bridge');
  if (cloud !== undefined && !cloud.isLost) {
    const hb = cloud.latest.value;
    const online = firstCounter(hb.counters, ONLINE_COUNTERS);
    const offlineSinceMs = hb.counters?.[OFFLINE_SINCE_COUNTER];
    // Not online while it first connects is not "offline": with the offline-since counter, only a real outage counts.
    const isOffline =
      (offlineSinceMs ?? 0) > 0 ||
      (offlineSinceMs === undefined && online === 0) ||
      CLOUD_OFFLINE_DETAIL.test(hb.detail ?? '');
    if (isOffline) {
      add({
        id: 'cloud',
        severity: 'warning',
        code: 'cloud-offline',
        service: 'cloud-bridge',
        text: `Cloud link offline${hb.detail ? `: ${hb.detail}` : ''}; the gateway keeps running locally`,
        ...(offlineSinceMs !== undefined && offlineSinceMs > 0 ? { sinceMs: offlineSinceMs } : {}),
      });
    }
  } else if (
    cloud === undefined &&
    state.site !== undefined &&
    state.site.site.cloud.transport !== 'none' &&
    pastGrace
  ) {
    add({
      id: 'cloud',
      severity: 'warning',
      code: 'cloud-unknown',
      service: 'cloud-bridge',
      text: 'Cloud link state unknown: no heartbeat from the cloud-bridge',
    });
  }

  const publisher = services.get('telemetry-publisher');
  if (publisher !== undefined && !publisher.isLost) {
    const counters = publisher.latest.value.counters;
    const backlog = firstCounter(counters, BACKLOG_COUNTERS);
    const ageMs = firstCounter(counters, BACKLOG_AGE_COUNTERS);
    const lost = counters?.['readingsLost'] ?? 0;
    if (lost > 0) {
      add({
        id: 'telemetry-lost',
        severity: 'warning',
        code: 'telemetry-lost',
        service: 'telemetry-publisher',
        text: `${lost} readings were dropped by the stream limits before they reached the cloud`,
      });
    }
    if ((backlog ?? 0) >= opts.backlogAlarmMessages || (ageMs ?? 0) >= opts.backlogAlarmAgeMs) {
      const parts = [
        backlog === undefined ? undefined : `${backlog} readings waiting for the cloud`,
        ageMs === undefined ? undefined : `oldest ${formatAgeMs(ageMs)}`,
      ].filter((p): p is string => p !== undefined);
      add({
        id: 'backlog',
        severity: 'warning',
        code: 'telemetry-backlog',
        service: 'telemetry-publisher',
        text: `Telemetry backlog: ${parts.join(', ')}`,
      });
    }
  }

  for (const s of services.values()) {
    const severity: AlarmSeverity = opts.criticalServices.has(s.view.service) ? 'critical' : 'warning';
    if (s.view.status === 'lost') {
      add({
        id: `service:${s.view.service}`,
        severity,
        code: 'service-lost',
        service: s.view.service,
        sinceMs: s.latest.receivedAtMs,
        text: `${s.view.service}: no heartbeat for ${formatAgeMs(nowMs - s.latest.receivedAtMs)}`,
      });
    } else if (s.view.status === 'error') {
      add({
        id: `service:${s.view.service}`,
        severity,
        code: 'service-error',
        service: s.view.service,
        text: `${s.view.service} reports an error${s.view.detail ? `: ${s.view.detail}` : ''}`,
      });
    } else if (s.view.status === 'degraded') {
      // The arbiter's e-stop and write failures are alarms of their own already.
      const rest = (s.view.detail ?? '')
        .split('; ')
        .filter((part) => part !== '' && !ESTOP_DETAIL.test(part) && !/^write to .+ failed/.test(part));
      if (s.view.service !== 'safety-arbiter' || rest.length > 0) {
        add({
          id: `service:${s.view.service}`,
          severity: 'warning',
          code: 'service-degraded',
          service: s.view.service,
          text: `${s.view.service} is degraded${rest.length > 0 ? `: ${rest.join('; ')}` : ''}`,
        });
      }
    }
  }

  const rank: Readonly<Record<AlarmSeverity, number>> = { critical: 0, warning: 1, info: 2 };
  return alarms.sort((a, b) => rank[a.severity] - rank[b.severity] || a.id.localeCompare(b.id));
}

function strategiesOf(state: DashboardState, nowMs: number, opts: ViewOptions): StrategyView[] {
  const configured = state.site?.site.strategy.active ?? [];
  const tickMs = state.site?.site.strategy.tickMs ?? 1_000;
  const freshMs = Math.max(opts.minStrategyFreshMs, 3 * tickMs);
  const names = [
    ...configured,
    ...[...state.metrics.keys()].filter((n) => !(configured as readonly string[]).includes(n)).sort(),
  ];
  return names.flatMap((strategy): StrategyView[] => {
    const seen = state.metrics.get(strategy);
    const isConfigured = (configured as readonly string[]).includes(strategy);
    const isFeedInLimit = strategy === EXPORT_LIMIT_DECISION;
    if (seen === undefined) {
      return [
        {
          strategy,
          isActive: false,
          isConfigured,
          isFeedInLimit,
          atMs: null,
          reason: null,
          inputs: {},
          outputs: {},
          terms: {},
        },
      ];
    }
    const ageMs = nowMs - seen.receivedAtMs;
    if (!isConfigured && ageMs > STRATEGY_KEPT_MS) return [];
    const m = seen.value;
    return [
      {
        strategy,
        isActive: ageMs <= freshMs,
        isConfigured,
        isFeedInLimit,
        atMs: m.atMs,
        reason: m.reason,
        inputs: m.inputs,
        outputs: m.outputs,
        terms: m.terms,
      },
    ];
  });
}

function controllableOf(assets: readonly FlowAsset[]): ControllableAsset[] {
  return assets.flatMap((asset): ControllableAsset[] => {
    if (!asset.isEnabled) return [];
    const kinds: Exclude<ControllableAsset['setpoints'][number], 'safe'>[] = [];
    if (asset.kind === 'battery' || (asset.kind === 'hybrid-inverter' && asset.hasBattery)) kinds.push('battery-power');
    if (asset.kind === 'ev-charger') kinds.push('ev-current');
    if (asset.kind === 'pv-inverter' || (asset.kind === 'hybrid-inverter' && !asset.hasBattery)) kinds.push('pv-limit');
    // Only what its driver can execute (a SunSpec device's writes are all refused), when its profile says.
    const executable = asset.setpoints === undefined ? kinds : kinds.filter((k) => asset.setpoints?.includes(k));
    if (executable.length === 0) return [];
    return [{ assetId: asset.id, name: asset.name, kind: asset.kind, setpoints: [...executable, 'safe'] }];
  });
}

/** The snapshot pushed to the browser (pure): flows, strategies, decisions, alarms, devices, services, e-stop. */
export function snapshot(
  state: DashboardState,
  nowMs: number,
  opts: ViewOptions = DEFAULT_VIEW_OPTIONS,
): DashboardSnapshot {
  const assets = knownAssets(state);
  const services = serviceStatuses(state, nowMs, opts);
  const estop = estopView(state, services);
  const devices = assets.map((asset): DeviceView => {
    const reading = state.readings.get(asset.id);
    const decision = state.lastDecision.get(asset.id)?.value;
    return {
      assetId: asset.id,
      name: asset.name,
      kind: asset.kind,
      isEnabled: asset.isEnabled,
      health: deviceHealth(reading, asset, nowMs, opts),
      quality: reading?.quality ?? null,
      lastReadingAtMs: reading?.atMs ?? null,
      error: reading?.error ?? null,
      powerW: reading?.values.powerW ?? null,
      socPct: reading?.values.socPct ?? null,
      driver: driverOf(services, asset.id),
      breaker: breakerOf(services, asset.id),
      lastDecision: decision === undefined ? null : { outcome: decision.outcome, atMs: decision.atMs },
    };
  });
  return {
    v: 1,
    atMs: nowMs,
    site:
      state.site === undefined
        ? null
        : { gatewayId: state.site.site.gatewayId, siteName: state.site.site.siteName, source: state.site.source },
    isBusConnected: state.isBusConnected,
    flow: powerFlow(state.readings, assets, { nowMs, minStaleMs: opts.minStaleMs }),
    strategies: strategiesOf(state, nowMs, opts),
    configuredStrategies: [...(state.site?.site.strategy.active ?? [])],
    decisions: state.decisions.slice(-opts.decisionsShown).reverse(),
    alarms: alarmsOf(state, nowMs, opts, assets, services, estop),
    devices,
    services: [...services.values()].map((s) => s.view).sort((a, b) => a.service.localeCompare(b.service)),
    estop,
    actions: state.actions.slice(-opts.actionsShown).reverse(),
    controllable: controllableOf(assets),
  };
}
