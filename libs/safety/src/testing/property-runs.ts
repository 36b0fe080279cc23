/**
 * Generated cases per property, in one place so the suite total is visible and tested
 * (`property-runs.spec.ts`: at least 1 000 000 per run). Each case is a fresh (limits, state, request, time)
 * input from fast-check.
 */
export const PROPERTY_RUNS = {
  // arbitrate.properties.spec.ts
  withinLimits: 400_000,
  narrowingAndDeterminism: 250_000,
  // safety.properties.spec.ts
  safeOnFault: 150_000,
  eachRuleAlone: 40_000,
  orderIndependent: 30_000,
  effectiveLimits: 100_000,
  siteGrid: 20_000,
  partWayToZero: 20_000,
  evLimitHold: 20_000,
  auditSchema: 20_000,
  clonedInput: 20_000,
  // intents.spec.ts
  intentSelection: 40_000,
  intentTable: 20_000,
} as const;

export const TOTAL_PROPERTY_RUNS = Object.values(PROPERTY_RUNS).reduce((sum, runs) => sum + runs, 0);
