import fc from 'fast-check';
import {
  DecisionMetricsSchema,
  EXPORT_LIMIT_DECISION,
  StrategyNameSchema,
  subjects,
  wholeStepsTowardZero,
  wholeStepWithin,
} from './index';
import { exampleDecisionMetrics } from './testing';

describe('wholeStepsTowardZero (a set-point in a device whole steps)', () => {
  it.each([
    [4_975 / 50, 99], // 4 975 W in 1 % steps of 5 kW: 99 %, not the 100 % = 5 000 W that rounding gives
    [-99.5, -99],
    [0.9, 0],
    [-0.4, 0],
    [230.1 / 0.1, 2_301], // a decimal scaling's float error (2300.9999999999995) is not a lost step
    [-16.0004 * 1_000, -16_000],
    [7, 7],
  ])('%d → %d', (exact, expected) => {
    expect(wholeStepsTowardZero(exact)).toBe(expected);
  });

  it('is a whole number no further from zero than the value, less than a step away, of the same sign; never −0', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e9, max: 1e9, noNaN: true }), (exact) => {
        const whole = wholeStepsTowardZero(exact);
        expect(Number.isInteger(whole)).toBe(true);
        expect(Object.is(whole, -0)).toBe(false);
        expect(Math.abs(whole)).toBeLessThanOrEqual(Math.abs(exact) + Math.max(1e-9, 1e-12 * Math.abs(exact)));
        expect(Math.abs(exact) - Math.abs(whole)).toBeLessThan(1);
        if (whole !== 0) expect(Math.sign(whole)).toBe(Math.sign(exact));
      }),
    );
  });
});

describe("wholeStepWithin (a whole step inside the arbiter's interval)", () => {
  it.each([
    [29.6, { min: 29.5 }, 30], // a discharge that holds the import under the fuse: the step above
    [29.6, { max: 29.7 }, 29], // a limit above the value: toward zero
    [29.6, undefined, 29],
    [29.6, { min: 29.7, max: 29.9 }, 29], // no step inside (narrower than a step): toward zero
    [-10.4, { min: -11, max: -10 }, -10], // toward zero while it is inside
    [-10.6, { min: -11, max: -10 }, -10],
    [-10.6, { min: -11, max: -10.5 }, -11], // a charge of at least 10.5: the step away from zero
    [-10.6, { min: -10.9 }, -10],
    [30, { min: 31 }, 30], // exact stays exact
  ])('%d within %j → %d', (exact, bounds, expected) => {
    expect(wholeStepWithin(exact, bounds)).toBe(expected);
  });

  it('is one of the two steps around the value: toward zero when inside, else the other one when inside', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        (exact, below, above) => {
          const bounds = { min: exact - below, max: exact + above };
          const step = wholeStepWithin(exact, bounds);
          const towardZero = wholeStepsTowardZero(exact);
          expect(Number.isInteger(step)).toBe(true);
          expect(Math.abs(step - exact)).toBeLessThan(1 + 1e-6);
          const inside = (s: number) => s >= bounds.min - 1e-7 && s <= bounds.max + 1e-7;
          if (inside(towardZero)) expect(step).toBe(towardZero);
          else if (step !== towardZero) expect(inside(step) || Math.abs(step) > Math.abs(exact)).toBe(true);
          if (step !== towardZero) {
            expect(Math.sign(step)).toBe(Math.sign(exact));
            expect(step).toBeGreaterThanOrEqual(bounds.min - 1e-6);
            expect(step).toBeLessThanOrEqual(bounds.max + 1e-6);
          }
        },
      ),
    );
  });
});

describe('EXPORT_LIMIT_DECISION (the feed-in limit on strategy.decision.<strategy>)', () => {
  it('is a valid subject token and DecisionMetrics strategy, and reserved: no strategy may take the name', () => {
    expect(subjects.strategyDecision.format({ strategy: EXPORT_LIMIT_DECISION })).toBe(
      'strategy.decision.export-limit',
    );
    expect(
      DecisionMetricsSchema.safeParse({ ...exampleDecisionMetrics, strategy: EXPORT_LIMIT_DECISION }).success,
    ).toBe(true);
    expect(StrategyNameSchema.safeParse(EXPORT_LIMIT_DECISION).success).toBe(false);
  });
});
