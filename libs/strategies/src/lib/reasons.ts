/**
 * Every reason code a strategy reports (kebab-case). Grouped by who uses them; the README explains each group.
 */
export const STRATEGY_REASONS = [
  // shared
  'idle',
  'no-battery',
  'stale-data',
  'invalid-timezone',
  'invalid-config',
  'battery-full',
  'battery-empty',
  'power-limit',
  'grid-import-limit',
  'grid-export-limit',
  'no-export',
  'below-power-step',
  // charge / discharge
  'charging',
  'discharging',
  'discharge-target-reached',
  // net-zero
  'net-zero',
  'deadband',
  'rate-limited',
  'oscillation-detected',
  // peak-shaving
  'below-threshold',
  'shaving-peak',
  'peak-exceeded',
  'recharging',
  'peak-ok',
  'charge-capped-by-peak',
  // time-of-use
  'cheap-charging',
  'charge-target-reached',
  'expensive-discharging',
  'neutral-idle',
  'neutral-self-consumption',
  'flat-tariff',
  'no-tou-schedule',
  'no-tou-period',
  'storing-surplus',
  'tou-plan-charging',
  'tou-plan-discharging',
  'tou-plan-idle',
  // self-consumption
  'self-consumption',
  'min-hold',
  'hold-limited',
  // grid-services
  'demand-response',
  'frequency-response',
  'frequency-deadband',
  'no-frequency',
  'implausible-frequency',
  // arbitrage
  'arbitrage-charging',
  'arbitrage-discharging',
  'arbitrage-idle',
  'no-prices',
  'no-prices-tou-fallback',
  // backup-power
  'above-reserve',
  'holding-reserve',
  'restoring-reserve',
  // ev-charging
  'no-charger',
  'not-connected',
  'fast',
  'solar',
  'solar-waiting',
  'solar-insufficient',
  'solar-stopping',
  'min-plus-solar',
  'scheduled-solar',
  'scheduled-waiting',
  'scheduled-deadline',
  'departure-unreachable',
  'ev-not-drawing',
  'departure-passed',
  'energy-target-reached',
  'no-departure-fallback-solar',
  'grid-limit-pause',
  'ev-battery-ok',
  'battery-guard',
] as const;

/** A kebab-case reason code (see STRATEGY_REASONS). */
export type StrategyReason = (typeof STRATEGY_REASONS)[number];
