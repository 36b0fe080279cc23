import fc from 'fast-check';
import { wholeStepsTowardZero } from './index';

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
