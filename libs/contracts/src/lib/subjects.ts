import {
  ArbiterDecisionSchema,
  ConfigurationUpdatedSchema,
  ControlIntentSchema,
  DecisionMetricsSchema,
  DeviceWriteSchema,
  DiscoveryFoundSchema,
  DiscoveryRequestSchema,
  EmergencyStopSchema,
  GatewayPingReplySchema,
  GatewayPingRequestSchema,
  HeartbeatSchema,
  RefreshConfigurationReplySchema,
  RefreshConfigurationRequestSchema,
  WriteResultSchema,
  type ControlIntent,
} from './control';
import type { IntentSource } from './common';
import { GatewayConfigApplyReplySchema, GatewayConfigApplyRequestSchema } from './gateway-config';
import { StrategyHistoryImportReplySchema, StrategyHistoryImportRequestSchema } from './strategy-history';
import { ChargerListReplySchema, ChargerListRequestSchema } from './chargers';
import { AssetReadingSchema } from './readings';
import { defineRequest, defineSubject } from './subject';

/**
 * The subject catalog (DESIGN § Subjects). Each entry names its publisher(s); the NATS server config
 * (docker/nats/nats.conf) enforces the same split.
 */
export const subjects = {
  /** Publisher: the driver that owns the asset (modbus-poller, http-devices, ocpp-csms, simulator in tests). */
  telemetry: defineSubject('telemetry.{assetId}', AssetReadingSchema),
  /**
   * `{source}` is the intent's `IntentSource` and must equal the payload's `source`: the server grants each source
   * to its publishers (nats.conf), and the arbiter rejects a payload that claims another (`source-mismatch`).
   * Publishers: strategy-engine (optimization, scheduled, safety), cloud-bridge and cli (manual). Subscriber:
   * safety-arbiter (`control.intent.*.*`). Request/reply → ArbiterDecision.
   */
  intent: defineRequest('control.intent.{source}.{assetId}', ControlIntentSchema, ArbiterDecisionSchema),
  /** Publisher: safety-arbiter ONLY. Request/reply → WriteResult from the owning driver. */
  deviceWrite: defineRequest('device.{assetId}.write', DeviceWriteSchema, WriteResultSchema),
  /** Publisher: safety-arbiter. Captured by stream AUDIT. */
  arbiterDecision: defineSubject('arbiter.decision.{assetId}', ArbiterDecisionSchema),
  /** Publisher: strategy-engine. */
  strategyDecision: defineSubject('strategy.decision.{strategy}', DecisionMetricsSchema),
  /** Publishers: cloud-bridge, cli. */
  estop: defineSubject('safety.estop', EmergencyStopSchema),
  /** Publisher: each service, for itself. */
  health: defineSubject('health.{service}', HeartbeatSchema),
  /** Publisher: cloud-bridge (and the cli when it edits the configuration). */
  configUpdated: defineSubject('config.updated', ConfigurationUpdatedSchema),
  /** Replier: cloud-bridge. Requester: the cli (the cloud's Ping is answered inside cloud-bridge). */
  gatewayPing: defineRequest('gateway.ping', GatewayPingRequestSchema, GatewayPingReplySchema),
  /** Replier: cloud-bridge. */
  gatewayRefreshConfig: defineRequest(
    'gateway.config.refresh',
    RefreshConfigurationRequestSchema,
    RefreshConfigurationReplySchema,
  ),
  /**
   * Replier: cloud-bridge (the single writer of KV `config` and assets.json). Requester: cli (`voltimax strategy set`).
   * A whole SiteConfig, validated, persisted and announced on `config.updated` with source `cli`.
   */
  gatewayConfigApply: defineRequest(
    'gateway.config.apply',
    GatewayConfigApplyRequestSchema,
    GatewayConfigApplyReplySchema,
  ),
  /**
   * Replier: strategy-engine (the only reader and writer of KV `strategy-history`). Requester: cli (`voltimax strategy
   * import-history`): past readings to commission the planners with.
   */
  gatewayStrategyHistoryImport: defineRequest(
    'gateway.strategy.history.import',
    StrategyHistoryImportRequestSchema,
    StrategyHistoryImportReplySchema,
  ),
  /** Replier: ocpp-csms (the EV chargers it knows: connection, status, power, session). Requester: cli. */
  gatewayChargers: defineRequest('gateway.chargers', ChargerListRequestSchema, ChargerListReplySchema),
  /** Publisher: cli. Answered by `voltimax discover --serve` (libs/discovery `startDiscoveryResponder`). */
  discoveryRequest: defineSubject('discovery.request', DiscoveryRequestSchema),
  /** Publisher: cli (`voltimax discover --publish`, or `--serve` answering a request; libs/discovery). */
  discoveryFound: defineSubject('discovery.found', DiscoveryFoundSchema),
} as const;

export type Subjects = typeof subjects;

/** The `subjects.intent` parameters of an intent: its own source and asset, so subject and payload agree. */
export function intentParams(intent: Pick<ControlIntent, 'source' | 'assetId'>): {
  readonly source: IntentSource;
  readonly assetId: string;
} {
  return { source: intent.source, assetId: intent.assetId };
}

/**
 * The reply inbox prefix of a NATS user: `_INBOX_<user>` (nats.js `inboxPrefix`). docker/nats/nats.conf lets each user
 * subscribe only its own prefix and publish only into the prefixes of those whose requests it answers, instead of
 * `allow_responses`: with that, any user that receives a message it published itself (a heartbeat on `health.*`) may
 * "answer" it on any subject it chose as the reply, a device write included. Without a user (a server without users):
 * undefined, the library's `_INBOX`.
 */
export function inboxPrefixFor(user: string | undefined): string | undefined {
  return user === undefined || user === '' ? undefined : `_INBOX_${user}`;
}

/** JetStream streams and KV buckets (DESIGN § Data at rest). */
export const streams = {
  telemetry: { name: 'TELEMETRY', subjects: [subjects.telemetry.wildcard] },
  audit: { name: 'AUDIT', subjects: [subjects.arbiterDecision.wildcard] },
  /** Every `safety.estop` message, so a restarted safety-arbiter restores the latch (engages sent while it was down too). */
  estop: { name: 'ESTOP', subjects: [subjects.estop.pattern] },
} as const;

/**
 * Stream ESTOP as it is created: kept forever (no age limit, an engage may stay latched for months), the last 1,000
 * messages; a message over 4 KiB (a valid EmergencyStop is under 3 KiB) is not kept, so the byte limit (8 MiB) never
 * binds before the count. The arbiter replays them all at start; when older ones were dropped it starts engaged.
 */
export const estopStreamLimits = {
  maxAgeMs: 0,
  maxMsgs: 1_000,
  maxBytes: 8 * 1024 * 1024,
  maxMsgSize: 4 * 1024,
} as const;

const HOUR_MS = 3_600_000;

/**
 * Retention of the two streams: bounds and defaults of `TELEMETRY_MAX_AGE_MS` / `TELEMETRY_MAX_BYTES` (read by the
 * telemetry-publisher and the provisioner, `voltimax bus init`) and `AUDIT_MAX_AGE_MS` / `AUDIT_MAX_BYTES` (the
 * safety-arbiter and the provisioner). At least 72 h of each is kept.
 */
export const streamRetention = {
  telemetry: {
    minAgeMs: 72 * HOUR_MS,
    maxAgeMs: 365 * 24 * HOUR_MS,
    defaultAgeMs: 7 * 24 * HOUR_MS,
    minBytes: 64 * 1024,
    defaultBytes: 2 * 1024 ** 3,
  },
  audit: {
    minAgeMs: 72 * HOUR_MS,
    maxAgeMs: 365 * 24 * HOUR_MS,
    defaultAgeMs: 7 * 24 * HOUR_MS,
    minBytes: 1 << 20,
    defaultBytes: 512 << 20,
  },
} as const;

/**
 * KV buckets: `config` and `prices` (cloud-bridge writes, services read); `strategy-history` (the strategy engine's
 * site meter history — the month's peak, learned profiles, the last seven days — kept across restarts; only the
 * engine reads or writes its values). The provisioner (`voltimax bus init`) creates all three.
 */
export const kvBuckets = { config: 'config', prices: 'prices', strategyHistory: 'strategy-history' } as const;

/**
 * KV `strategy-history` as it is created: the latest value per gateway only, at most 4 MiB (a value is about
 * 10 kB). The strategy-engine may not create streams (docker/nats/nats.conf), so it reads and writes values only.
 */
export const strategyHistoryBucket = {
  name: kvBuckets.strategyHistory,
  history: 1,
  maxBytes: 4 * 1024 * 1024,
} as const;

/** KV `config` (the last five revisions of each key, for a look back) and `prices` (the latest only). */
export const configBucket = { name: kvBuckets.config, history: 5 } as const;
export const pricesBucket = { name: kvBuckets.prices, history: 1 } as const;
