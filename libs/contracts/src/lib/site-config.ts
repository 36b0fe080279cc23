import { z } from 'zod';
import { AssetIdSchema, DurationMsSchema } from './common';

const HostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:_-]+$/, 'host must be a hostname, IPv4 or IPv6 address');
const PortSchema = z.number().int().min(1).max(65535);
const UnitIdSchema = z.number().int().min(0).max(247);
const PowerWSchema = z.number().finite().nonnegative();
const PctSchema = z.number().finite().min(0).max(100);
const TemperatureCSchema = z.number().finite().min(-60).max(120);

/** Name of a protocol plugin (driver) in the site's `drivers` list. */
export const DriverNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'driver name must be lowercase letters, digits and dashes');

/**
 * A protocol plugin the driver-host service loads: an npm package name (resolved from the host's node_modules) or a
 * local path (absolute, or relative to the site file's directory). `options` are the driver's host-wide options,
 * validated by the driver's own zod schema.
 */
export const DriverModuleSchema = z.strictObject({
  name: DriverNameSchema,
  module: z
    .string()
    .min(1)
    .max(500)
    .regex(/^(@[a-z0-9-~][a-z0-9-._~]*\/[a-z0-9-~][a-z0-9-._~]*|[a-z0-9-~][a-z0-9-._~]*|\.{0,2}\/[^\0]*)$/, 'module must be an npm package name or a path starting with /, ./ or ../'),
  enabled: z.boolean().default(true),
  options: z.record(z.string(), z.unknown()).default({}),
});
export type DriverModule = z.infer<typeof DriverModuleSchema>;

/** How the gateway reaches an asset. */
export const ConnectionSchema = z.discriminatedUnion('protocol', [
  z.strictObject({
    protocol: z.literal('modbus-tcp'),
    host: HostSchema,
    port: PortSchema.default(502),
    unitId: UnitIdSchema,
  }),
  z.strictObject({
    /** RTU frames over a TCP socket (transparent RS485 gateways). */
    protocol: z.literal('modbus-rtu-tcp'),
    host: HostSchema,
    port: PortSchema,
    unitId: UnitIdSchema,
  }),
  z.strictObject({
    protocol: z.literal('modbus-rtu'),
    device: z.string().min(1).max(200),
    baudRate: z.number().int().positive().default(9600),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
    unitId: UnitIdSchema,
  }),
  z.strictObject({
    protocol: z.literal('http'),
    /** Scheme, host, port (maybe a path); no `user:password@` (fetch refuses it, and it would reach the logs). */
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine((url) => !/^[a-z]+:\/\/[^/?#]*@/i.test(url), {
        message: 'baseUrl must not contain user:password@; put the secret into the variable tokenEnv names',
      }),
    /** Name of the environment variable holding the token; the token itself never sits in assets.json. */
    tokenEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
  }),
  z.strictObject({
    protocol: z.literal('mqtt'),
    /** Topic prefix of the device; the profile maps sub-topics and JSON paths. */
    topicPrefix: z.string().min(1).max(200),
    /** The broker the device publishes to; absent = the driver's default broker (http-devices: MQTT_URL). */
    brokerUrl: z
      .string()
      .max(300)
      .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'brokerUrl must start with mqtt://, mqtts://, ws:// or wss://')
      .optional(),
    /** MQTT protocol version spoken with this broker (every asset on one broker must agree); absent = the driver's default. */
    mqttVersion: z.enum(['3.1.1', '5.0']).optional(),
    /** Names of the environment variables holding the broker credentials; the secrets never sit in assets.json. */
    usernameEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
    passwordEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
  }),
  z.strictObject({
    protocol: z.literal('ocpp'),
    /** The identity the charge point uses when it connects to our central system. */
    chargePointId: z.string().min(1).max(48),
    connectorId: z.number().int().min(1).default(1),
    /** Name of the environment variable holding the charge point's password (OCPP security profiles 1 and 2). */
    passwordEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
  }),
  z.strictObject({ protocol: z.literal('simulated') }),
  z.strictObject({
    /** Driven by a protocol plugin run by the driver-host service (libs/driver-sdk). */
    protocol: z.literal('plugin'),
    /** Name of the driver in the site's `drivers` list. */
    driver: DriverNameSchema,
    /** The driver's own per-asset options, validated by the driver's zod schema when the host loads it. */
    options: z.record(z.string(), z.unknown()).default({}),
  }),
]);
export type Connection = z.infer<typeof ConnectionSchema>;

/** Battery limits set by the installer; they can only tighten the catalogue limits of the battery model. */
export const BatteryLimitsSchema = z
  .strictObject({
    capacityWh: z.number().finite().positive(),
    maxChargePowerW: PowerWSchema,
    maxDischargePowerW: PowerWSchema,
    /**
     * The device's own battery power rating (nameplate), W: the 100 % of a device that takes its battery power in
     * percent (Growatt's charge rate). Not a limit: maxChargePowerW / maxDischargePowerW are. A device taking a
     * percentage needs it (`voltimax config validate` says so): a % of the site's limit would overshoot it.
     */
    ratedPowerW: PowerWSchema.optional(),
    /**
     * Grid phases the battery's inverter feeds; default all phases of the grid connection. A single-phase battery on
     * a three-phase site puts its whole current on one phase (the arbiter's phase-current limit assumes the worst).
     */
    phases: z.union([z.literal(1), z.literal(3)]).optional(),
    maxChargeCurrentA: PowerWSchema.optional(),
    maxDischargeCurrentA: PowerWSchema.optional(),
    minSocPct: PctSchema.default(10),
    maxSocPct: PctSchema.default(95),
    /** Energy held back for backup; discharge stops at max(minSocPct, reserveSocPct) unless the grid is down. */
    reserveSocPct: PctSchema.default(0),
    chargeTemperatureC: z.tuple([TemperatureCSchema, TemperatureCSchema]).optional(),
    dischargeTemperatureC: z.tuple([TemperatureCSchema, TemperatureCSchema]).optional(),
    /** Largest setpoint change per second, W/s. */
    maxRampWPerS: PowerWSchema.optional(),
    /**
     * From the strategy engine's set-point to its effect in the battery's power reading (write path and the device's
     * own response), ms; absent: 3 s. The engine's demand estimate takes a reading this long after a set-point (plus
     * the ramp time) as showing what the battery does about it.
     */
    responseMs: DurationMsSchema.min(100).max(120_000).optional(),
  })
  .refine((l) => l.minSocPct < l.maxSocPct, { message: 'minSocPct must be below maxSocPct', path: ['minSocPct'] })
  .refine((l) => l.reserveSocPct <= l.maxSocPct, { message: 'reserveSocPct must not exceed maxSocPct', path: ['reserveSocPct'] });

export const EvChargerLimitsSchema = z
  .strictObject({
    minCurrentA: z.number().finite().min(0).max(80).default(6),
    maxCurrentA: z.number().finite().positive().max(80),
    phases: z.union([z.literal(1), z.literal(3)]).default(3),
  })
  .refine((l) => l.minCurrentA <= l.maxCurrentA, { message: 'minCurrentA must not exceed maxCurrentA', path: ['minCurrentA'] });

export const PvLimitsSchema = z.strictObject({ ratedPowerW: PowerWSchema });

const AssetBase = {
  id: AssetIdSchema,
  name: z.string().min(1).max(100),
  connection: ConnectionSchema,
  /** Device profile id (`vendor.model`, see libs/devices). */
  profile: z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'profile must be a profile id like "eastron.sdm630"'),
  pollIntervalMs: DurationMsSchema.min(100).max(3_600_000).default(1000),
  enabled: z.boolean().default(true),
};

/** One asset of the site. */
export const AssetConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...AssetBase, kind: z.literal('battery'), battery: BatteryLimitsSchema }),
  z.strictObject({
    ...AssetBase,
    kind: z.literal('hybrid-inverter'),
    battery: BatteryLimitsSchema.optional(),
    pv: PvLimitsSchema.optional(),
  }),
  z.strictObject({ ...AssetBase, kind: z.literal('pv-inverter'), pv: PvLimitsSchema }),
  z.strictObject({ ...AssetBase, kind: z.literal('grid-meter') }),
  z.strictObject({ ...AssetBase, kind: z.literal('meter'), measures: z.enum(['load', 'pv', 'ev', 'other']).default('other') }),
  z.strictObject({ ...AssetBase, kind: z.literal('ev-charger'), evCharger: EvChargerLimitsSchema }),
  z.strictObject({ ...AssetBase, kind: z.literal('load') }),
]);
export type AssetConfig = z.infer<typeof AssetConfigSchema>;

/** Grid connection: import/export limits for the whole site (battery and EV chargers together). */
export const GridConnectionSchema = z.strictObject({
  maxImportW: PowerWSchema,
  maxExportW: PowerWSchema,
  phases: z.union([z.literal(1), z.literal(3)]).default(3),
  /** Main fuse per phase, A. */
  maxPhaseCurrentA: PowerWSchema.optional(),
  nominalVoltageV: z.number().finite().min(100).max(480).default(230),
});

export const StrategyNameSchema = z.enum([
  'null',
  'charge',
  'discharge',
  'net-zero',
  'peak-shaving',
  'time-of-use',
  'self-consumption',
  'grid-services',
  'arbitrage',
  'backup-power',
  'ev-charging',
]);
export type StrategyName = z.infer<typeof StrategyNameSchema>;

/** Which strategies run and their configuration (each strategy validates its own block, in libs/strategies). */
export const StrategySelectionSchema = z.strictObject({
  /** Enabled strategies, highest precedence first (the combination rule is documented in libs/strategies). */
  active: z.array(StrategyNameSchema).min(1),
  /** Cycle time of the strategy engine: its fallback cadence (planners, stale data, intent refresh), ms. */
  tickMs: DurationMsSchema.min(200).max(900_000).default(1000),
  /**
   * Smallest gap between two ticks triggered by fresh readings (a strategy that reacts to the grid meter ticks when a
   * reading arrives, not at the next cadence tick), ms; at most `tickMs`; absent = {@link DEFAULT_MIN_TICK_MS}. Keep
   * it well below the grid meter's poll interval: a reading that comes sooner than this after the last one waits, and
   * with a gap equal to the poll interval the readings' jitter turns into a lasting lag.
   */
  minTickMs: DurationMsSchema.min(10).max(900_000).optional(),
  config: z.partialRecord(StrategyNameSchema, z.record(z.string(), z.unknown())).default({}),
}).refine((s) => s.minTickMs === undefined || s.minTickMs <= s.tickMs, {
  path: ['minTickMs'],
  message: 'minTickMs must not exceed tickMs',
});

/** `strategy.minTickMs` when the site configuration leaves it out, ms. */
export const DEFAULT_MIN_TICK_MS = 50;

/** A wall-clock time of day, 'HH:MM' (00:00–23:59). */
export const TimeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'time must be HH:MM (24 h, 00:00–23:59; midnight is 00:00)');

/** One automation rule: when a condition holds, do an action. */
export const AutomationRuleSchema = z.strictObject({
  /** At most 64 characters, as an asset id (it names the rule in intents' reasons and decision metrics). */
  id: z.string().regex(/^[a-z0-9-]+$/).max(64),
  enabled: z.boolean().default(true),
  /** Source stamped on the rule's intents: 'safety' outranks manual commands at the arbiter, 'scheduled' does not. */
  source: z.enum(['scheduled', 'safety']).default('scheduled'),
  /** The condition must hold continuously this long before the rule fires, ms. */
  forMs: z.number().int().min(0).max(24 * 3_600_000).default(0),
  /**
   * Lifetime of the intents the rule emits, ms (re-emitted every tick while the rule fires). Default: the strategy
   * engine's intent lifetime (3 ticks), so a rule that stops holding stops acting within three ticks; at least two
   * ticks when set (a shorter one would leave the asset without the rule between ticks).
   */
  ttlMs: DurationMsSchema.max(24 * 3_600_000).optional(),
  when: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('time'), from: TimeOfDaySchema, to: TimeOfDaySchema, days: z.array(z.number().int().min(0).max(6)).optional() }),
    z.strictObject({ type: z.literal('soc-below'), assetId: AssetIdSchema, socPct: PctSchema }),
    z.strictObject({ type: z.literal('soc-above'), assetId: AssetIdSchema, socPct: PctSchema }),
    z.strictObject({ type: z.literal('price-below'), eurPerMwh: z.number().finite() }),
    z.strictObject({ type: z.literal('price-above'), eurPerMwh: z.number().finite() }),
    z.strictObject({ type: z.literal('grid-import-above'), powerW: PowerWSchema }),
  ]),
  then: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('activate-strategy'), strategy: StrategyNameSchema }),
    z.strictObject({ type: z.literal('set-battery-power'), assetId: AssetIdSchema, powerW: z.number().finite() }),
    z.strictObject({ type: z.literal('set-ev-current'), assetId: AssetIdSchema, currentA: z.number().finite().nonnegative() }),
    /**
     * Caps, not set-points: the strategies' (and other rules') set-points for the asset are clamped while the rule
     * holds — `maxDischargeW: 0` stops discharge and still lets the battery charge. W, ≥ 0 (battery + = discharge).
     */
    z
      .strictObject({
        type: z.literal('limit-battery-power'),
        assetId: AssetIdSchema,
        maxDischargeW: PowerWSchema.optional(),
        maxChargeW: PowerWSchema.optional(),
      })
      .refine((l) => l.maxDischargeW !== undefined || l.maxChargeW !== undefined, {
        message: 'give maxDischargeW, maxChargeW or both',
      }),
    /** A cap on the charger's current, A per phase; under the charger's minimum the car pauses. */
    z.strictObject({ type: z.literal('limit-ev-current'), assetId: AssetIdSchema, maxCurrentA: z.number().finite().nonnegative() }),
  ]),
});
export type AutomationRule = z.infer<typeof AutomationRuleSchema>;

/** The kind of asset each rule condition or action with an `assetId` reads or sets. */
const RULE_ASSET_NEEDS: Readonly<Record<string, 'battery' | 'ev-charger' | undefined>> = {
  'soc-below': 'battery',
  'soc-above': 'battery',
  'set-battery-power': 'battery',
  'limit-battery-power': 'battery',
  'set-ev-current': 'ev-charger',
  'limit-ev-current': 'ev-charger',
};

/** A time-of-use period: price applies from `from` until `to` (local time) on the given weekdays (0 = Sunday). */
export const TouPeriodSchema = z.strictObject({
  from: TimeOfDaySchema,
  to: TimeOfDaySchema,
  days: z.array(z.number().int().min(0).max(6)).min(1).default([0, 1, 2, 3, 4, 5, 6]),
  eurPerMwh: z.number().finite(),
});

/** What energy costs and pays at this site. Prices in EUR/MWh. */
export const TariffSchema = z.strictObject({
  kind: z.enum(['dynamic', 'time-of-use', 'fixed']),
  /** Fixed price (kind 'fixed'), or fallback when no dynamic price is known. */
  fixedEurPerMwh: z.number().finite().optional(),
  touPeriods: z.array(TouPeriodSchema).optional(),
  energyTaxEurPerMwh: z.number().finite().default(0),
  gridFeeEurPerMwh: z.number().finite().default(0),
  vatPct: PctSchema.default(0),
  feedIn: z
    .discriminatedUnion('rule', [
      z.strictObject({ rule: z.literal('fixed'), eurPerMwh: z.number().finite() }),
      z.strictObject({ rule: z.literal('spot'), factor: z.number().finite().default(1), offsetEurPerMwh: z.number().finite().default(0) }),
      z.strictObject({ rule: z.literal('none') }),
    ])
    .default({ rule: 'none' }),
  peakDemandEurPerKw: z.number().finite().nonnegative().default(0),
  /** Price zone for day-ahead prices, e.g. 'FR', 'DE-LU'. */
  priceZone: z.string().max(16).optional(),
});
export type Tariff = z.infer<typeof TariffSchema>;

/** Cloud link settings. Secrets are referenced by environment variable name, never stored here. */
export const CloudSettingsSchema = z.discriminatedUnion('transport', [
  z.strictObject({ transport: z.literal('none') }),
  z.strictObject({
    transport: z.literal('servicebus'),
    connectionStringEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
    commandQueue: z.string().min(1).default('gateway-commands'),
    replyQueue: z.string().min(1).default('cloud-replies'),
    telemetryTopic: z.string().min(1).default('telemetry'),
    platformApiUrl: z.url({ protocol: /^https?$/ }).optional(),
    configPollMs: DurationMsSchema.min(10_000).default(300_000),
  }),
  z.strictObject({
    transport: z.literal('mqtt'),
    brokerUrl: z.string().regex(/^(mqtts?|wss?):\/\//, 'brokerUrl must start with mqtt://, mqtts://, ws:// or wss://'),
    usernameEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
    passwordEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional(),
    topicPrefix: z.string().min(1).default('voltimax'),
    platformApiUrl: z.url({ protocol: /^https?$/ }).optional(),
    configPollMs: DurationMsSchema.min(10_000).default(300_000),
  }),
]);
export type CloudSettings = z.infer<typeof CloudSettingsSchema>;

/**
 * True when the runtime's time zone database knows `tz`. A name that only looks like one ('Mars/Base') passed the
 * pattern, and every local-time rule then went quiet: the month's peak never reset, ToU periods never matched.
 */
function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** `assets.json`: the whole site configuration, the durable copy of KV `config`. */
export const SiteConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    v: z.literal(1),
    gatewayId: AssetIdSchema,
    siteName: z.string().min(1).max(100),
    /** IANA time zone of the site, e.g. 'Europe/Paris'. */
    timezone: z
      .string()
      .regex(/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/, 'timezone must be an IANA name like Europe/Paris')
      .refine(isKnownTimeZone, { error: (issue) => `unknown time zone '${String(issue.input)}': an IANA name like Europe/Paris` }),
    grid: GridConnectionSchema,
    assets: z.array(AssetConfigSchema),
    strategy: StrategySelectionSchema,
    rules: z.array(AutomationRuleSchema).default([]),
    tariff: TariffSchema,
    cloud: CloudSettingsSchema.default({ transport: 'none' }),
    /** Protocol plugins loaded by the driver-host service (assets with connection `plugin` name one). */
    drivers: z.array(DriverModuleSchema).default([]),
  })
  .superRefine((site, ctx) => {
    const seen = new Map<string, number>();
    site.assets.forEach((asset, index) => {
      const first = seen.get(asset.id);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['assets', index, 'id'], message: `duplicate asset id '${asset.id}' (also at assets[${first}])` });
      } else {
        seen.set(asset.id, index);
      }
    });
    const drivers = new Map<string, number>();
    site.drivers.forEach((driver, index) => {
      const first = drivers.get(driver.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['drivers', index, 'name'], message: `duplicate driver '${driver.name}' (also at drivers[${first}])` });
      } else {
        drivers.set(driver.name, index);
      }
    });
    site.assets.forEach((asset, index) => {
      if (asset.connection.protocol === 'plugin' && !drivers.has(asset.connection.driver)) {
        ctx.addIssue({
          code: 'custom',
          path: ['assets', index, 'connection', 'driver'],
          message: `driver '${asset.connection.driver}' is not in the site's drivers list`,
        });
      }
    });
    const byId = new Map(site.assets.map((a) => [a.id, a]));
    const ruleIds = new Set<string>();
    site.rules.forEach((rule, index) => {
      if (ruleIds.has(rule.id)) {
        ctx.addIssue({ code: 'custom', path: ['rules', index, 'id'], message: `duplicate rule id '${rule.id}'` });
      }
      ruleIds.add(rule.id);
      for (const [part, value] of [['when', rule.when], ['then', rule.then]] as const) {
        if (!('assetId' in value)) continue;
        const asset = byId.get(value.assetId);
        if (asset === undefined) {
          ctx.addIssue({ code: 'custom', path: ['rules', index, part, 'assetId'], message: `unknown asset '${value.assetId}'` });
          continue;
        }
        // What the condition reads or the action sets must be something the asset has.
        const needs = RULE_ASSET_NEEDS[value.type];
        const hasBattery = asset.kind === 'battery' || (asset.kind === 'hybrid-inverter' && asset.battery !== undefined);
        const fits = needs === 'battery' ? hasBattery : asset.kind === 'ev-charger';
        if (needs !== undefined && !fits) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, part, 'assetId'],
            message: `'${value.type}' needs ${needs === 'battery' ? 'a battery (or a hybrid inverter with a battery block)' : 'an ev-charger'}; '${value.assetId}' is a ${asset.kind}${asset.kind === 'hybrid-inverter' ? ' without a battery block' : ''}`,
          });
          continue;
        }
        // A set-point beyond what the asset's own limits allow is a typo (50 000 W on a 5 kW battery), not an intent:
        // before, it was published as it was and only the arbiter clamped it.
        const battery = asset.kind === 'battery' || asset.kind === 'hybrid-inverter' ? asset.battery : undefined;
        if (value.type === 'set-battery-power' && battery !== undefined) {
          const maxW = value.powerW >= 0 ? battery.maxDischargePowerW : battery.maxChargePowerW;
          if (Math.abs(value.powerW) > maxW) {
            ctx.addIssue({
              code: 'custom',
              path: ['rules', index, part, 'powerW'],
              message: `${value.powerW} W is beyond '${value.assetId}' (max ${value.powerW >= 0 ? 'discharge' : 'charge'} ${maxW} W)`,
            });
          }
        }
        if (value.type === 'set-ev-current' && asset.kind === 'ev-charger') {
          const { minCurrentA, maxCurrentA } = asset.evCharger;
          if (value.currentA > maxCurrentA || (value.currentA > 0 && value.currentA < minCurrentA)) {
            ctx.addIssue({
              code: 'custom',
              path: ['rules', index, part, 'currentA'],
              message: `${value.currentA} A is outside '${value.assetId}' (0 to pause, else ${minCurrentA}–${maxCurrentA} A)`,
            });
          }
        }
      }
      if (rule.ttlMs !== undefined && rule.ttlMs < 2 * site.strategy.tickMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'ttlMs'],
          message: `ttlMs ${rule.ttlMs} is shorter than two ticks (strategy.tickMs ${site.strategy.tickMs}): the rule would lapse between ticks`,
        });
      }
    });
  });
export type SiteConfig = z.infer<typeof SiteConfigSchema>;
export type SiteConfigInput = z.input<typeof SiteConfigSchema>;
