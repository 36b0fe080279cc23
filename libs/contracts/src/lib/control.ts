import { z } from 'zod';
import {
  AssetIdSchema,
  DurationMsSchema,
  EpochMsSchema,
  FiniteSchema,
  IdSchema,
  IntentSourceSchema,
  ServiceNameSchema,
} from './common';
import { ConnectionSchema, DriverModuleSchema } from './site-config';

/** Battery (or hybrid inverter battery port) active power, W: + = discharge, − = charge. */
export const BatteryPowerSetpointSchema = z.strictObject({ kind: z.literal('battery-power'), powerW: FiniteSchema });
/** EV charger current limit per phase, A; 0 pauses charging. */
export const EvCurrentSetpointSchema = z.strictObject({
  kind: z.literal('ev-current'),
  currentA: FiniteSchema.nonnegative(),
  phases: z.union([z.literal(1), z.literal(3)]).optional(),
  /**
   * Also start or stop the charging session, once per intent (OCPP RemoteStart/StopTransaction): `start` begins a
   * session at this limit when none runs; `stop` ends the running one (send it with 0 A). The limit is clamped as
   * always; `session` never changes what the arbiter allows.
   */
  session: z.enum(['start', 'stop']).optional(),
});
/** PV inverter export limit, W ≥ 0 (curtailment). */
export const PvLimitSetpointSchema = z.strictObject({ kind: z.literal('pv-limit'), maxPowerW: FiniteSchema.nonnegative() });
/** Hand control back to the device's own safe default (battery 0 W, charger paused, PV unlimited). */
export const SafeSetpointSchema = z.strictObject({ kind: z.literal('safe') });

/** What we ask an asset to do. */
export const SetpointSchema = z.discriminatedUnion('kind', [
  BatteryPowerSetpointSchema,
  EvCurrentSetpointSchema,
  PvLimitSetpointSchema,
  SafeSetpointSchema,
]);
export type Setpoint = z.infer<typeof SetpointSchema>;
export type SetpointKind = Setpoint['kind'];

/**
 * A set-point value in a device's whole steps (register counts, mA, a BACnet integer), rounded **toward zero** so
 * that a write never goes past the value the arbiter allowed: a smaller battery power, charging current or PV
 * limit is always the safer one. Rounding to the nearest step could exceed a limit by half a step (4 975 W in
 * 1 % steps of 5 kW is 100 % = 5 000 W). A value within 1e-9 (relative 1e-12) of a whole step is that step, so a decimal
 * scaling's float error (230.1 / 0.1 = 2300.9999999999995) does not cost a step.
 */
export function wholeStepsTowardZero(exact: number): number {
  const nearest = Math.round(exact);
  const whole = Math.abs(exact - nearest) <= Math.max(1e-9, 1e-12 * Math.abs(nearest)) ? nearest : Math.trunc(exact);
  return whole === 0 ? 0 : whole;
}

/**
 * A set-point value in a device's whole steps, inside `bounds` (the interval the arbiter's rules allow, in the same
 * units as `exact`: map them as the value is mapped): the step toward zero when it lies inside — never past the value
 * asked, and what the arbiter counted for the other assets' headroom — else the step away from zero when that one
 * lies inside (a lower bound: a discharge that holds the import under the fuse needs the step above), else toward
 * zero (an interval narrower than a step; also without bounds: `wholeStepsTowardZero`).
 */
export function wholeStepWithin(exact: number, bounds: ValueBounds | undefined): number {
  const towardZero = wholeStepsTowardZero(exact);
  if (bounds === undefined || towardZero === exact) return towardZero;
  if (withinBounds(towardZero, bounds)) return towardZero;
  const awayFromZero = towardZero + (exact < 0 ? -1 : 1);
  return withinBounds(awayFromZero, bounds) ? awayFromZero : towardZero;
}

/** Whether `value` lies in `bounds`, with a millionth of a unit of slack: bounds carried through a scaling are not exact. */
export function withinBounds(value: number, bounds: ValueBounds): boolean {
  const slack = (edge: number) => Math.max(1e-6, 1e-12 * Math.abs(edge));
  return (
    (bounds.min === undefined || value >= bounds.min - slack(bounds.min)) &&
    (bounds.max === undefined || value <= bounds.max + slack(bounds.max))
  );
}

/**
 * Bounds through a monotonic map (increasing or decreasing: a scaling, a sign flip, a unit change): the mapped ends,
 * in order; an absent end stays absent on the side it maps to.
 */
export function mapBounds(bounds: ValueBounds, map: (value: number) => number): ValueBounds {
  const lo = map(bounds.min ?? Number.NEGATIVE_INFINITY);
  const hi = map(bounds.max ?? Number.POSITIVE_INFINITY);
  const [min, max] = lo <= hi ? [lo, hi] : [hi, lo];
  return { ...(Number.isFinite(min) ? { min } : {}), ...(Number.isFinite(max) ? { max } : {}) };
}

/** `control.intent.<source>.<assetId>`: a wish for one asset; the arbiter decides what is written. */
export const ControlIntentSchema = z.strictObject({
  v: z.literal(1),
  id: IdSchema,
  source: IntentSourceSchema,
  assetId: AssetIdSchema,
  setpoint: SetpointSchema,
  issuedAtMs: EpochMsSchema,
  /** The intent expires at issuedAtMs + ttlMs; then the next-priority intent (or the safe default) applies. */
  ttlMs: DurationMsSchema.max(24 * 3600_000),
  /** Human-readable reason (strategy name, operator note). */
  reason: z.string().min(1).max(500),
  /** Who issued it (service, operator id). */
  issuedBy: z.string().min(1).max(128).optional(),
});
export type ControlIntent = z.infer<typeof ControlIntentSchema>;

/** An interval of allowed values; an absent end is unbounded. */
export const ValueBoundsSchema = z.strictObject({ min: FiniteSchema.optional(), max: FiniteSchema.optional() });
export type ValueBounds = z.infer<typeof ValueBoundsSchema>;

/** `device.<assetId>.write` (request): the clamped setpoint the driver must apply. Arbiter only. */
export const DeviceWriteSchema = z.strictObject({
  v: z.literal(1),
  commandId: IdSchema,
  /** The intent this write executes; absent for safe-default writes the arbiter makes on its own. */
  intentId: IdSchema.optional(),
  assetId: AssetIdSchema,
  setpoint: SetpointSchema,
  issuedAtMs: EpochMsSchema,
  /** The driver falls back to the device's safe default if no newer write arrives by then. */
  expiresAtMs: EpochMsSchema,
  /**
   * The interval the arbiter's safety rules allow for this set-point's value (its unit and sign; an end absent is
   * unbounded). A device that takes the value only in steps writes a step inside it (`wholeStepWithin`).
   */
  bounds: ValueBoundsSchema.optional(),
});
export type DeviceWrite = z.infer<typeof DeviceWriteSchema>;

/** The driver's reply to a DeviceWrite: did the device really take the value (read back)? */
export const WriteResultSchema = z.strictObject({
  v: z.literal(1),
  commandId: IdSchema,
  assetId: AssetIdSchema,
  /** applied: written and read back equal; unchanged: already in the register; the rest are failures. */
  status: z.enum(['applied', 'unchanged', 'mismatch', 'rejected', 'failed', 'timeout']),
  /** The value the device reports after the write, in the setpoint's unit. */
  readBack: FiniteSchema.optional(),
  atMs: EpochMsSchema,
  error: z.string().max(500).optional(),
});
export type WriteResult = z.infer<typeof WriteResultSchema>;

/** One rule that narrowed or refused an intent. */
export const ViolationSchema = z.strictObject({
  /** Kebab-case rule code, e.g. 'soc-window', 'grid-import-limit', 'stale-telemetry'. */
  code: z.string().regex(/^[a-z0-9-]+$/),
  /** The limit that applied, in `unit`. */
  limit: FiniteSchema.optional(),
  /** The value before the rule, in `unit`. */
  value: FiniteSchema.optional(),
  unit: z.string().max(16).optional(),
  detail: z.string().max(500).optional(),
});
export type Violation = z.infer<typeof ViolationSchema>;

/** `arbiter.decision.<assetId>`: the audit record of every intent and every safe write. */
export const ArbiterDecisionSchema = z.strictObject({
  v: z.literal(1),
  assetId: AssetIdSchema,
  intentId: IdSchema.optional(),
  source: IntentSourceSchema.optional(),
  outcome: z.enum(['applied', 'clamped', 'rejected', 'superseded', 'safe']),
  requested: SetpointSchema.optional(),
  applied: SetpointSchema.optional(),
  violations: z.array(ViolationSchema),
  commandId: IdSchema.optional(),
  atMs: EpochMsSchema,
  reason: z.string().max(500).optional(),
});
export type ArbiterDecision = z.infer<typeof ArbiterDecisionSchema>;

const NumberRecordSchema = z.record(z.string().min(1).max(64), FiniteSchema);

/** `strategy.decision.<strategy>`: why a strategy decided what it did. */
export const DecisionMetricsSchema = z.strictObject({
  v: z.literal(1),
  strategy: z.string().min(1).max(64),
  atMs: EpochMsSchema,
  inputs: NumberRecordSchema,
  outputs: NumberRecordSchema,
  /** Internal terms (e.g. P, I, D of a PID). */
  terms: NumberRecordSchema,
  /** Kebab-case reason code. */
  reason: z.string().min(1).max(200),
});
export type DecisionMetrics = z.infer<typeof DecisionMetricsSchema>;

/**
 * The `strategy` of the feed-in limit's decisions (`strategy.decision.export-limit`): the strategy engine's PV
 * curtailment under the grid's `maxExportW`, which runs on every site with curtailable PV and is no strategy one
 * selects (viewers show it apart from the strategies).
 */
export const EXPORT_LIMIT_DECISION = 'export-limit';

/**
 * The `strategy` of the automation rules' decisions (`strategy.decision.automation-rules`), on sites with rules: each
 * rule's status (fired, pending, inactive, unknown with why, superseded, disabled) in the reason, the value its
 * condition compared in `inputs`, 1 for a firing rule in `outputs`.
 */
export const AUTOMATION_RULES_DECISION = 'automation-rules';

/** `safety.estop`: emergency stop engaged or released. Latched until released explicitly. */
export const EmergencyStopSchema = z.strictObject({
  v: z.literal(1),
  action: z.enum(['engage', 'release']),
  by: z.string().min(1).max(128),
  reason: z.string().min(1).max(500),
  atMs: EpochMsSchema,
});
export type EmergencyStop = z.infer<typeof EmergencyStopSchema>;

/** `health.<service>`: periodic heartbeat; a silent driver is a fault for the arbiter. */
export const HeartbeatSchema = z.strictObject({
  v: z.literal(1),
  service: ServiceNameSchema,
  instanceId: z.string().min(1).max(128),
  status: z.enum(['starting', 'ok', 'degraded', 'error', 'stopping']),
  atMs: EpochMsSchema,
  startedAtMs: EpochMsSchema,
  version: z.string().min(1).max(64),
  /** The next heartbeat is due within this interval; silence for 3 intervals means the service is lost. */
  intervalMs: DurationMsSchema,
  /** Assets this instance drives (drivers only). */
  assets: z.array(AssetIdSchema).optional(),
  /** Free-form counters for dashboards (drops, errors, backlog …). */
  counters: NumberRecordSchema.optional(),
  detail: z.string().max(500).optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** `config.updated`: the site configuration in KV `config` changed. */
export const ConfigurationUpdatedSchema = z.strictObject({
  v: z.literal(1),
  /** SHA-256 of the canonical configuration JSON, lower-case hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  atMs: EpochMsSchema,
  requiresRestart: z.boolean(),
  source: z.enum(['cloud', 'file', 'cli']),
  changedSections: z.array(z.string().max(64)).optional(),
});
export type ConfigurationUpdated = z.infer<typeof ConfigurationUpdatedSchema>;

/** `gateway.ping` (request). */
export const GatewayPingRequestSchema = z.strictObject({ v: z.literal(1), sentAtMs: EpochMsSchema });
export type GatewayPingRequest = z.infer<typeof GatewayPingRequestSchema>;

export const ServiceHealthSchema = z.strictObject({
  service: ServiceNameSchema,
  status: z.enum(['starting', 'ok', 'degraded', 'error', 'stopping', 'lost']),
  lastSeenAtMs: EpochMsSchema,
  instances: z.number().int().nonnegative(),
});
export type ServiceHealth = z.infer<typeof ServiceHealthSchema>;

/** `gateway.ping` (reply). */
export const GatewayPingReplySchema = z.strictObject({
  v: z.literal(1),
  gatewayId: AssetIdSchema,
  version: z.string().min(1).max(64),
  uptimeMs: z.number().int().nonnegative(),
  atMs: EpochMsSchema,
  services: z.array(ServiceHealthSchema),
});
export type GatewayPingReply = z.infer<typeof GatewayPingReplySchema>;

/** `gateway.config.refresh` (request): fetch the configuration from the cloud now. */
export const RefreshConfigurationRequestSchema = z.strictObject({
  v: z.literal(1),
  reason: z.string().min(1).max(200),
  sentAtMs: EpochMsSchema,
});
export type RefreshConfigurationRequest = z.infer<typeof RefreshConfigurationRequestSchema>;

/** `gateway.config.refresh` (reply). */
export const RefreshConfigurationReplySchema = z.strictObject({
  v: z.literal(1),
  changed: z.boolean(),
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  error: z.string().max(500).optional(),
  atMs: EpochMsSchema,
});
export type RefreshConfigurationReply = z.infer<typeof RefreshConfigurationReplySchema>;

/** `discovery.request`: start a discovery run. */
export const DiscoveryRequestSchema = z.strictObject({
  v: z.literal(1),
  methods: z.array(z.enum(['mdns', 'mqtt', 'modbus', 'bacnet'])).min(1),
  /** Modbus scan range (opt-in), CIDR. */
  cidr: z.string().max(64).optional(),
  ports: z.array(z.number().int().min(1).max(65535)).optional(),
  /** BACnet: unicast Who-Is to every host of this IPv4 address or CIDR range. */
  bacnetCidr: z.string().max(64).optional(),
  /** BACnet: one Who-Is to this broadcast address (`192.168.1.255`, optionally `:port`). */
  bacnetBroadcast: z.string().max(64).optional(),
  /** BACnet: UDP ports tried on each host of `bacnetCidr` (default 47808). */
  bacnetPorts: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
  /** Modbus unit ids to try on each port (default: the scanner's common ids). */
  unitIds: z.array(z.number().int().min(0).max(255)).min(1).max(32).optional(),
  /** MQTT broker for Home Assistant discovery (`mqtt://host:1883`); required with method `mqtt`. */
  mqttUrl: z.string().min(1).max(300).optional(),
  /** Per-request timeout of the Modbus probes and listen time of mDNS/MQTT, ms. */
  timeoutMs: z.number().int().min(50).max(60_000).optional(),
  /** Echoed in every `discovery.found` of this run, so the requester can tell its results apart. */
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  sentAtMs: EpochMsSchema,
});
export type DiscoveryRequest = z.infer<typeof DiscoveryRequestSchema>;

/** `discovery.found`: a device that could become an asset. */
export const DiscoveryFoundSchema = z.strictObject({
  v: z.literal(1),
  /** Stable key for de-duplication (serial, MAC or host:port:unit). */
  key: z.string().min(1).max(200),
  method: z.enum(['mdns', 'mqtt', 'modbus', 'bacnet']),
  kind: z.enum(['battery', 'pv-inverter', 'hybrid-inverter', 'grid-meter', 'meter', 'ev-charger', 'load']).optional(),
  profileId: z.string().max(64).optional(),
  manufacturer: z.string().max(128).optional(),
  model: z.string().max(128).optional(),
  serial: z.string().max(128).optional(),
  address: z.string().max(200),
  /** 0..1 */
  confidence: z.number().min(0).max(1),
  evidence: z.array(z.string().max(300)).max(50),
  /** How the gateway would reach it, as an assets.json connection (absent when no protocol we speak was found). */
  connection: ConnectionSchema.optional(),
  /** Protocol plugins the site's `drivers` list needs for that connection (`plugin` connections). */
  drivers: z.array(DriverModuleSchema.pick({ name: true, module: true })).max(8).optional(),
  /** MAC address, lower-case `aa:bb:cc:dd:ee:ff`, when the device announced it. */
  mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/).optional(),
  /** MQTT sensors of the device (Home Assistant discovery): what each state topic carries, in our units. */
  sensors: z
    .array(
      z.strictObject({
        key: z.string().regex(/^[a-zA-Z][a-zA-Z0-9]*$/).max(64),
        stateTopic: z.string().min(1).max(300),
        /** Dotted path into a JSON payload (`ENERGY.Power`); absent = the payload is the number. */
        jsonPath: z.string().min(1).max(200).optional(),
        /** The device's unit as announced (`kW`), and the factor to our unit (1000 for kW → W). */
        unit: z.string().max(16).optional(),
        scale: z.number().finite().optional(),
      }),
    )
    .max(50)
    .optional(),
  /** The `requestId` of the `discovery.request` this answers. */
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  atMs: EpochMsSchema,
});
export type DiscoveryFound = z.infer<typeof DiscoveryFoundSchema>;
