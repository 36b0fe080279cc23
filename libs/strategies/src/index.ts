export type { Clock, MetricValues, Strategy, StrategyMetrics, StrategyResult, StrategyRole, StrategySetpoints } from './lib/strategy';
export { finiteValues, toDecisionMetrics } from './lib/strategy';
export type { BatteryState, EvChargerState, EvSession, Forecast, GridLimits, PricePoint, PvInverterState, SiteState } from './lib/site-state';
export {
  DEFAULT_EXPORT_LIMIT_OPTIONS,
  limitExport,
  type CurtailStep,
  type ExportLimitMemory,
  type ExportLimitMetrics,
  type ExportLimitOptions,
  type ExportLimitReason,
  type ExportLimitResult,
} from './lib/export-limit';
export {
  DEFAULT_DEMAND_OPTIONS,
  estimateDemand,
  recordBatterySetpoints,
  type DemandEstimate,
  type DemandMemory,
  type DemandOptions,
  type DemandSource,
} from './lib/demand';
export { STRATEGY_REASONS, type StrategyReason } from './lib/reasons';
export {
  strategies,
  strategyByName,
  parseStrategyConfig,
  parseStrategySelection,
  parseSiteStrategies,
  type ConfigOf,
  type ConfigParseResult,
  type MemoryOf,
  type StrategyConfigs,
  type StrategyMemories,
  type StrategyRegistry,
  type StrategySelectionInput,
} from './lib/registry';
export {
  combine,
  LAYER_ORDER,
  type CombineInput,
  type CombineStage,
  type CombinedDecision,
  type CombinedDecisionEntry,
} from './lib/combine';
export {
  AutomationOptionsSchema,
  INITIAL_AUTOMATION_MEMORY,
  RuleOptionsSchema,
  applyRuleLimits,
  evaluateRules,
  rulesDecisionMetrics,
  toControlIntent,
  unknownRuleOptionIds,
  type AutomationMemory,
  type AutomationOptions,
  type RuleEvaluation,
  type RuleIntent,
  type RuleLimit,
  type RuleOptions,
  type RuleStatus,
  type RuleUnknownReason,
  type RulesOutcome,
} from './lib/automation';
export {
  DEFAULT_MAX_READING_AGE_MS,
  allocateBatteryPower,
  batteryWindow,
  dischargeFloorSocPct,
  gridBoundsForBatteriesW,
  isBatteryStale,
  isChargerStale,
  isGridStale,
  netDemandW,
  type BatteryWindow,
} from './lib/battery';
export { isInDailyWindow, isKnownTimezone, localMonthKey, toLocalTime, type LocalTime } from './lib/local-time';
export {
  currentPrice,
  hashPrices,
  knownHorizon,
  spotPriceAt,
  touPriceAt,
  touScheduleIssues,
  type PriceAt,
  type PriceSource,
  type TouScheduleStretch,
} from './lib/prices';
export { forecastPvSurplusWh } from './lib/forecast';

export { nullStrategy, NullConfigSchema, type NullConfig, type NullMemory } from './lib/strategies/null';
export { chargeStrategy, ChargeConfigSchema, type ChargeConfig, type ChargeMemory } from './lib/strategies/charge';
export { dischargeStrategy, DischargeConfigSchema, type DischargeConfig, type DischargeMemory } from './lib/strategies/discharge';
export {
  netZeroStrategy,
  NetZeroConfigSchema,
  OscillationGuardConfigSchema,
  type NetZeroConfig,
  type NetZeroMemory,
} from './lib/strategies/net-zero';
export {
  peakShavingStrategy,
  peakTargetW,
  forecastTargetW,
  PeakShavingConfigSchema,
  type PeakShavingConfig,
  type PeakShavingMemory,
} from './lib/strategies/peak-shaving';
export {
  timeOfUseStrategy,
  classifyTouPrice,
  TimeOfUseConfigSchema,
  type TimeOfUseConfig,
  type TimeOfUseMemory,
  type TouPeriodClass,
} from './lib/strategies/time-of-use';
export {
  selfConsumptionStrategy,
  SelfConsumptionConfigSchema,
  type SelfConsumptionConfig,
  type SelfConsumptionMemory,
} from './lib/strategies/self-consumption';
export {
  gridServicesStrategy,
  frequencyResponseW,
  DemandResponseEventSchema,
  FrequencyResponseConfigSchema,
  GridServicesConfigSchema,
  type DemandResponseEvent,
  type GridServicesConfig,
  type GridServicesMemory,
} from './lib/strategies/grid-services';
export { arbitrageStrategy, ArbitrageConfigSchema, type ArbitrageConfig, type ArbitrageMemory } from './lib/strategies/arbitrage';
export {
  choosePower,
  energyLevels,
  lowestFeasibleCapW,
  slotCostEur,
  solvePlan,
  type EnergyLevels,
  type PlanBattery,
  type PlanRules,
  type PlanSlot,
  type PowerChoice,
} from './lib/planner';
export { INITIAL_METER_MEMORY, METER_BLOCK_MS, observeMeter, type MeterMemory, type MeterReading } from './lib/meter';
export { meterPrices, peakChargeEurPerKw, type MeterPrices } from './lib/tariff-prices';
export {
  backupPowerStrategy,
  backupReserveSocPct,
  BackupPowerConfigSchema,
  type BackupPowerConfig,
  type BackupPowerMemory,
} from './lib/strategies/backup-power';
export {
  evChargingStrategy,
  EvChargingConfigSchema,
  EvModeSchema,
  type EvChargerMemory,
  type EvChargingConfig,
  type EvChargingMemory,
  type EvMode,
} from './lib/strategies/ev-charging';
export {
  SiteHistorySchema,
  meterFromHistory,
  meterFromPastReadings,
  mergeSiteMeters,
  recordSiteHistory,
  seedSiteMeter,
  siteHistoryOf,
  type PastSiteReading,
  type SiteHistory,
} from './lib/site-history';
