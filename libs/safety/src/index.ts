export {
  SAFE_SETPOINT,
  VIOLATION_CODES,
  type SafetyViolation,
  type ViolationCode,
  type ViolationUnit,
} from './lib/codes';
export {
  assetSafetyLimits,
  CatalogueLimitsSchema,
  effectiveLimits,
  evChargerSafetyLimits,
  type AssetSafetyLimits,
  type BatterySafetyLimits,
  type CatalogueLimits,
  type EvChargerSafetyLimits,
  type PvSafetyLimits,
  type SiteBatteryLimits,
  type SiteEvChargerLimits,
  type SitePvLimits,
  type TemperatureWindow,
} from './lib/limits';
export { applyEstop, ESTOP_RELEASED, type EstopState } from './lib/estop';
export {
  addIntent,
  compareIntents,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  EMPTY_INTENT_TABLE,
  expireIntents,
  isIntentExpired,
  selectIntent,
  supersedeIntents,
  type AssetIntentSelection,
  type IntentRejectionReason,
  type IntentSelection,
  type IntentSelectionOptions,
  type IntentTable,
  type IntentTableUpdate,
  type RejectedIntent,
} from './lib/intents';
export {
  addGridDelta,
  gridBandFromReading,
  sumGridDeltas,
  unionGridDeltas,
  ZERO_GRID_DELTA,
  type GridBand,
  type GridDelta,
  type GridLimits,
  type PhaseBand,
} from './lib/grid';
export {
  ArbiterOptionsSchema,
  DEFAULT_ARBITER_OPTIONS,
  type AppliedSetpoint,
  type ArbiterOptions,
  type ArbitrationInput,
  type DriverHealth,
  type GridInput,
  type RuleContext,
} from './lib/context';
export {
  DEFAULT_STALE_AFTER_POLL_INTERVALS,
  DEFAULT_STALENESS,
  slowPollProblem,
  staleAfterMs,
  type StalenessSettings,
} from './lib/staleness';
export {
  isDriverLost,
  RULE_ORDER,
  RULES,
  type Bound,
  type RuleName,
  type RuleVerdict,
  type SafetyRule,
} from './lib/rules';
export {
  arbitrate,
  arbitrateSite,
  arbitrateWith,
  pendingGridDelta,
  setpointValue,
  type ArbitrationOutcome,
  type ArbitrationResult,
  type AssetArbitrationRequest,
  type AssetArbitrationResult,
  type SiteArbitrationInput,
} from './lib/arbitrate';
