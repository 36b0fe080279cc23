export * from './lib/series';
export * from './lib/local-time';
export * from './lib/site';
export * from './lib/tariff';
export * from './lib/cost';
export * from './lib/replay';
export * from './lib/optimum';
export { type LpModel, type LpTerm, type LpConstraint, toLpText } from './lib/lp-format';
