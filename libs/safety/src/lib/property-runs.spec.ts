import { PROPERTY_RUNS, TOTAL_PROPERTY_RUNS } from '../testing/property-runs';

describe('property budget', () => {
  it('generates at least 1 000 000 cases per run across all properties', () => {
    expect(TOTAL_PROPERTY_RUNS).toBeGreaterThanOrEqual(1_000_000);
    expect(Object.values(PROPERTY_RUNS).every((runs) => runs > 0)).toBe(true);
  });
});
