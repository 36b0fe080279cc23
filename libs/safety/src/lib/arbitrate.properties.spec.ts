import fc from 'fast-check';
import { arbitrationInputArb } from '../testing/arbitraries';
import { ensure } from '../testing/ensure';
import { ensureNarrowing, ensureWithinLimits, valueOf } from '../testing/oracle';
import { PROPERTY_RUNS } from '../testing/property-runs';
import { arbitrate, type ArbitrationResult } from './arbitrate';

function sameResult(a: ArbitrationResult, b: ArbitrationResult): boolean {
  return (
    a.outcome === b.outcome &&
    a.setpoint.kind === b.setpoint.kind &&
    Object.is(valueOf(a.setpoint), valueOf(b.setpoint)) &&
    a.violations.length === b.violations.length &&
    a.violations.every((v, i) => {
      const w = b.violations[i];
      return (
        w !== undefined && v.code === w.code && v.limit === w.limit && v.value === w.value && v.detail === w.detail
      );
    })
  );
}

describe('arbitrate properties', () => {
  it(`(a) never outputs anything outside a limit (${PROPERTY_RUNS.withinLimits} runs)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb(), (input) => {
        ensureWithinLimits(input, arbitrate(input));
      }),
      { numRuns: PROPERTY_RUNS.withinLimits },
    );
  });

  it(`(b, c) only narrows, and the same input always gives the same output (${PROPERTY_RUNS.narrowingAndDeterminism} runs)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb(), (input) => {
        const first = arbitrate(input);
        ensureNarrowing(input, first);
        const again = arbitrate(input);
        ensure(
          sameResult(first, again),
          () => `not deterministic: ${JSON.stringify(first)} vs ${JSON.stringify(again)}`,
        );
      }),
      { numRuns: PROPERTY_RUNS.narrowingAndDeterminism },
    );
  });
});
