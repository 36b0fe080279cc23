import type { z } from 'zod';
import type {
  ArbiterDecision,
  ConfigurationUpdated,
  ControlIntent,
  DecisionMetrics,
  DeviceWrite,
  DiscoveryFound,
  DiscoveryRequest,
  EmergencyStop,
  GatewayPingReply,
  GatewayPingRequest,
  Heartbeat,
  RefreshConfigurationReply,
  RefreshConfigurationRequest,
  WriteResult,
} from './control';
import type { ChargerListReply, ChargerListRequest } from './chargers';
import type { CloudCommandEnvelope, TelemetryFrame } from './cloud';
import type { cloudMessages } from './cloud';
import type { GatewayConfigApplyReply, GatewayConfigApplyRequestSchema } from './gateway-config';
import type { PriceSeries } from './prices';
import type { StrategyHistoryImportReply, StrategyHistoryImportRequest } from './strategy-history';
import type { SiteConfigInput } from './site-config';
import type { AssetReading } from './readings';
import type { Subjects } from './subjects';

const AT = 1_767_225_600_000; // 2026-01-01T00:00:00Z

export const exampleReadings = {
  battery: {
    v: 1,
    assetId: 'bat-1',
    kind: 'battery',
    atMs: AT,
    sequence: 42,
    quality: 'good',
    values: { powerW: -2500, socPct: 63.5, temperatureC: 24.1, batteryVoltageV: 51.2, batteryCurrentA: -48.8, setpointW: -2500 },
  },
  gridMeter: {
    v: 1,
    assetId: 'grid-1',
    kind: 'grid-meter',
    atMs: AT,
    sequence: 7,
    quality: 'good',
    values: { powerW: 1200, powerL1W: 400, powerL2W: 500, powerL3W: 300, frequencyHz: 50.01, importEnergyWh: 1_234_567 },
  },
  evCharger: {
    v: 1,
    assetId: 'ev-1',
    kind: 'ev-charger',
    atMs: AT,
    sequence: 3,
    quality: 'good',
    values: { powerW: 7200, currentLimitA: 10, phases: 3, sessionEnergyWh: 5300 },
    chargerState: 'charging',
  },
  stale: { v: 1, assetId: 'inv-1', kind: 'hybrid-inverter', atMs: AT, sequence: 9, quality: 'error', values: {}, error: 'timeout after 5000 ms' },
} as const satisfies Record<string, AssetReading>;

export const exampleIntent = {
  v: 1,
  id: 'int-0001',
  source: 'optimization',
  assetId: 'bat-1',
  setpoint: { kind: 'battery-power', powerW: -2500 },
  issuedAtMs: AT,
  ttlMs: 30_000,
  reason: 'self-consumption',
  issuedBy: 'strategy-engine',
} as const satisfies ControlIntent;

export const exampleDeviceWrite = {
  v: 1,
  commandId: 'cmd-0001',
  intentId: 'int-0001',
  assetId: 'bat-1',
  setpoint: { kind: 'battery-power', powerW: -2500 },
  issuedAtMs: AT,
  expiresAtMs: AT + 30_000,
} as const satisfies DeviceWrite;

export const exampleWriteResult = {
  v: 1,
  commandId: 'cmd-0001',
  assetId: 'bat-1',
  status: 'applied',
  readBack: -2500,
  atMs: AT + 40,
} as const satisfies WriteResult;

export const exampleArbiterDecision = {
  v: 1,
  assetId: 'bat-1',
  intentId: 'int-0002',
  source: 'manual',
  outcome: 'clamped',
  requested: { kind: 'battery-power', powerW: 8000 },
  applied: { kind: 'battery-power', powerW: 5000 },
  violations: [{ code: 'max-discharge-power', limit: 5000, value: 8000, unit: 'W' }],
  commandId: 'cmd-0002',
  atMs: AT,
} as const satisfies ArbiterDecision;

export const exampleDecisionMetrics = {
  v: 1,
  strategy: 'net-zero',
  atMs: AT,
  inputs: { gridPowerW: 850, socPct: 55 },
  outputs: { batteryPowerW: 800 },
  terms: { p: 600, i: 180, d: 20 },
  reason: 'pid',
} as const satisfies DecisionMetrics;

export const exampleEstop = { v: 1, action: 'engage', by: 'operator:alice', reason: 'smoke alarm in battery room', atMs: AT } as const satisfies EmergencyStop;

export const exampleHeartbeat = {
  v: 1,
  service: 'modbus-poller',
  instanceId: 'modbus-poller-1',
  status: 'ok',
  atMs: AT,
  startedAtMs: AT - 60_000,
  version: '0.1.0',
  intervalMs: 5000,
  assets: ['bat-1', 'grid-1'],
  counters: { invalidMessages: 0, pollErrors: 2 },
} as const satisfies Heartbeat;

const HASH = 'a'.repeat(64);
export const exampleConfigUpdated = { v: 1, hash: HASH, atMs: AT, requiresRestart: false, source: 'cloud' } as const satisfies ConfigurationUpdated;
export const examplePingRequest = { v: 1, sentAtMs: AT } as const satisfies GatewayPingRequest;
export const examplePingReply = {
  v: 1,
  gatewayId: 'gw-lorraine-01',
  version: '0.1.0',
  uptimeMs: 3_600_000,
  atMs: AT,
  services: [{ service: 'safety-arbiter', status: 'ok', lastSeenAtMs: AT - 1000, instances: 1 }],
} as const satisfies GatewayPingReply;
export const exampleRefreshRequest = { v: 1, reason: 'operator request', sentAtMs: AT } as const satisfies RefreshConfigurationRequest;
export const exampleRefreshReply = { v: 1, changed: true, hash: HASH, atMs: AT } as const satisfies RefreshConfigurationReply;
export const exampleDiscoveryRequest = { v: 1, methods: ['mdns', 'mqtt'], sentAtMs: AT } as const satisfies DiscoveryRequest;
/** A Modbus scan request: CIDR, ports, unit ids and probe timeout; the results carry its requestId. */
export const exampleDiscoveryRequestModbus = {
  v: 1,
  methods: ['modbus'],
  cidr: '192.168.1.0/24',
  ports: [502, 1502],
  unitIds: [1, 2, 3, 126, 247],
  timeoutMs: 1000,
  requestId: 'req-1',
  sentAtMs: AT,
} as const satisfies DiscoveryRequest;
export const exampleDiscoveryFound = {
  v: 1,
  key: 'serial:SDM630-12345',
  method: 'modbus',
  kind: 'grid-meter',
  profileId: 'eastron.sdm630',
  manufacturer: 'Eastron',
  model: 'SDM630',
  serial: '12345',
  address: '127.0.0.1:502/2',
  confidence: 0.9,
  evidence: ['input register 0x0034 total power plausible', 'serial number register answered'],
  connection: { protocol: 'modbus-tcp', host: '127.0.0.1', port: 502, unitId: 2 },
  atMs: AT,
} as const satisfies DiscoveryFound;
/** A Home Assistant MQTT discovery result: the sensors' state topics, JSON paths and scales to our units. */
export const exampleDiscoveryFoundMqtt = {
  v: 1,
  key: 'mac:c8:f0:9e:12:34:56',
  method: 'mqtt',
  kind: 'meter',
  manufacturer: 'Shelly',
  model: 'Shelly Pro 3EM',
  address: 'mqtt://127.0.0.1:1883 shellypro3em-c8f09e123456',
  confidence: 0.7,
  evidence: ['homeassistant/sensor/shellypro3em-c8f09e123456-power/config: device_class power, W'],
  connection: { protocol: 'mqtt', topicPrefix: 'shellypro3em-c8f09e123456', brokerUrl: 'mqtt://127.0.0.1:1883' },
  mac: 'c8:f0:9e:12:34:56',
  sensors: [
    { key: 'powerW', stateTopic: 'shellypro3em-c8f09e123456/status/em:0', jsonPath: 'total_act_power', unit: 'W', scale: 1 },
    { key: 'importEnergyWh', stateTopic: 'shellypro3em-c8f09e123456/status/emdata:0', jsonPath: 'total_act', unit: 'kWh', scale: 1000 },
  ],
  requestId: 'req-1',
  atMs: AT,
} as const satisfies DiscoveryFound;

/** A small, complete assets.json: a battery and a grid meter, self-consumption, a dynamic tariff. */
export const exampleSiteConfig = {
  v: 1,
  gatewayId: 'gw-lorraine-01',
  siteName: 'Example site',
  timezone: 'Europe/Paris',
  grid: { maxImportW: 17_000, maxExportW: 9_000, phases: 3, nominalVoltageV: 230 },
  assets: [
    {
      id: 'bat-1',
      name: 'Battery',
      kind: 'battery',
      profile: 'cnte.ess-cabinet',
      connection: { protocol: 'modbus-tcp', host: '192.168.1.20', port: 502, unitId: 1 },
      pollIntervalMs: 1000,
      battery: { capacityWh: 10_240, maxChargePowerW: 5000, maxDischargePowerW: 5000, minSocPct: 10, maxSocPct: 95 },
    },
    {
      id: 'grid-1',
      name: 'Grid meter',
      kind: 'grid-meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'modbus-tcp', host: '192.168.1.21', port: 502, unitId: 2 },
      pollIntervalMs: 1000,
    },
  ],
  strategy: { active: ['self-consumption'], tickMs: 1000, config: {} },
  rules: [],
  tariff: { kind: 'dynamic', fixedEurPerMwh: 250, priceZone: 'FR' },
  cloud: { transport: 'none' },
} as const satisfies SiteConfigInput;

export const exampleConfigApplyRequest = {
  v: 1,
  config: exampleSiteConfig,
  baseHash: HASH,
  reason: 'strategy set self-consumption',
  requestedBy: 'cli:alice',
  sentAtMs: AT,
} as const satisfies z.input<typeof GatewayConfigApplyRequestSchema>;

export const exampleConfigApplyReplies = [
  { v: 1, outcome: 'applied', hash: 'b'.repeat(64), requiresRestart: false, changedSections: ['strategy'], problems: [], atMs: AT },
  {
    v: 1,
    outcome: 'rejected',
    hash: HASH,
    problems: [{ path: '$.strategy.config["net-zero"].deadbandW', message: 'Too small: expected number to be >=0' }],
    atMs: AT,
  },
] as const satisfies readonly GatewayConfigApplyReply[];

export const exampleChargerListRequest = { v: 1, sentAtMs: AT } as const satisfies ChargerListRequest;

/** `gateway.strategy.history.import`: two quarter hours of a utility export (the second with a battery shaving). */
export const exampleHistoryImportRequest = {
  v: 1,
  readings: [
    { atMs: AT - 1_800_000, netW: 3_900 },
    { atMs: AT - 900_000, netW: 3_900, gridW: 2_640 },
  ],
  requestedBy: 'cli:installer',
  sentAtMs: AT,
} as const satisfies StrategyHistoryImportRequest;

export const exampleHistoryImportReplies = [
  { v: 1, outcome: 'imported', days: 1, monthPeakW: 3_900, monthKey: '2025-12', saved: true, atMs: AT },
  { v: 1, outcome: 'refused', reason: 'the engine already holds 3 days of its own readings; set replace to overwrite them', days: 3, monthPeakW: 2_100, saved: false, atMs: AT },
] as const satisfies readonly StrategyHistoryImportReply[];

export const exampleChargerListReply = {
  v: 1,
  atMs: AT,
  chargers: [
    {
      assetId: 'ev-1',
      chargePointId: 'AUTEL-0042',
      connectorId: 1,
      connected: true,
      protocol: 'ocpp1.6',
      state: 'charging',
      ocppStatus: 'Charging',
      powerW: 7200,
      currentLimitA: 10,
      session: { transactionId: 52_341_877, startedAtMs: AT - 3_600_000, energyWh: 5300, adopted: false },
      rateUnit: 'A',
      lastSeenAtMs: AT - 4000,
      vendor: 'Autel',
      model: 'MaxiChargerAC',
    },
    { assetId: 'ev-2', chargePointId: 'garage-2', connectorId: 1, connected: false, error: 'not connected' },
  ],
  unknown: [{ chargePointId: 'CP-STRANGER', lastSeenAtMs: AT - 60_000, remoteAddress: '192.168.1.77', reason: 'unknown identity', attempts: 3 }],
} as const satisfies ChargerListReply;

/** One or more valid example payloads per subject of the catalog (STYLE §8.4). */
export const subjectExamples: { readonly [K in keyof Subjects]: readonly z.input<Subjects[K]['schema']>[] } = {
  telemetry: Object.values(exampleReadings),
  intent: [
    exampleIntent,
    { ...exampleIntent, id: 'int-0003', source: 'manual', setpoint: { kind: 'ev-current', currentA: 10, phases: 3 } },
    { ...exampleIntent, id: 'int-0004', source: 'manual', assetId: 'ev-1', setpoint: { kind: 'ev-current', currentA: 16, session: 'start' } },
  ],
  deviceWrite: [exampleDeviceWrite, { ...exampleDeviceWrite, commandId: 'cmd-safe', intentId: undefined, setpoint: { kind: 'safe' } }],
  arbiterDecision: [exampleArbiterDecision],
  strategyDecision: [exampleDecisionMetrics],
  estop: [exampleEstop, { ...exampleEstop, action: 'release', reason: 'inspected, all clear' }],
  health: [exampleHeartbeat],
  configUpdated: [exampleConfigUpdated],
  gatewayPing: [examplePingRequest],
  gatewayRefreshConfig: [exampleRefreshRequest],
  gatewayConfigApply: [exampleConfigApplyRequest],
  gatewayChargers: [exampleChargerListRequest],
  gatewayStrategyHistoryImport: [exampleHistoryImportRequest],
  discoveryRequest: [exampleDiscoveryRequest, exampleDiscoveryRequestModbus],
  discoveryFound: [exampleDiscoveryFound, exampleDiscoveryFoundMqtt],
};

/** Example replies for the request/reply subjects. */
export const replyExamples = {
  intent: [exampleArbiterDecision],
  deviceWrite: [exampleWriteResult],
  gatewayPing: [examplePingReply],
  gatewayRefreshConfig: [exampleRefreshReply],
  gatewayChargers: [exampleChargerListReply],
  gatewayConfigApply: exampleConfigApplyReplies,
  gatewayStrategyHistoryImport: exampleHistoryImportReplies,
} as const;

export const exampleTelemetryFrame = {
  v: 1,
  frameId: 'gw-lorraine-01:1-3',
  gatewayId: 'gw-lorraine-01',
  createdAtMs: AT,
  readings: [exampleReadings.battery, exampleReadings.gridMeter, exampleReadings.evCharger],
} as const satisfies TelemetryFrame;

/** Cloud command examples per message type: request payload and response payload. */
export const cloudExamples: {
  readonly [K in keyof typeof cloudMessages]: {
    readonly request: z.input<(typeof cloudMessages)[K]['request']>;
    readonly response: z.input<(typeof cloudMessages)[K]['response']>;
  };
} = {
  PingGateway: { request: { sentAtMs: AT }, response: { gatewayId: 'gw-lorraine-01', version: '0.1.0', uptimeMs: 1000, receivedAtMs: AT + 30, requestSentAtMs: AT, services: [] } },
  SetBatterySetpoint: {
    request: { assetId: 'bat-1', powerW: 3000, durationMs: 900_000, reason: 'grid operator request', operator: 'ops:bob' },
    response: { accepted: true, appliedPowerW: 3000, outcome: 'applied', violations: [] },
  },
  RefreshConfiguration: { request: { reason: 'config edited in portal' }, response: { changed: true, hash: HASH } },
};

export const exampleCloudEnvelope = {
  messageType: 'SetBatterySetpoint',
  correlationId: 'corr-42',
  gatewayId: 'gw-lorraine-01',
  sentAtMs: AT,
  payload: cloudExamples.SetBatterySetpoint.request,
} as const satisfies CloudCommandEnvelope;

export const examplePriceSeries = {
  v: 1,
  zone: 'FR',
  publishedAtMs: AT - 11 * 3600_000,
  series: [
    { startMs: AT, endMs: AT + 3600_000, eurPerMwh: 84.2 },
    { startMs: AT + 3600_000, endMs: AT + 7200_000, eurPerMwh: -3.5 },
  ],
} as const satisfies PriceSeries;
