import { loadHighs } from './optimum';
import { toLpText } from './lp-format';

describe('toLpText', () => {
  it('writes objective, constraints, bounds and binaries in CPLEX LP format', () => {
    const text = toLpText({
      objective: [
        { coef: 2, name: 'x' },
        { coef: -0.5, name: 'y' },
      ],
      constraints: [
        {
          name: 'c1',
          terms: [
            { coef: 1, name: 'x' },
            { coef: 1, name: 'y' },
          ],
          sense: '>=',
          rhs: 1.5,
        },
      ],
      bounds: [{ name: 'x', upper: 4 }, { name: 'y', lower: -1, upper: 2 }, { name: 'z' }],
      binaries: ['z'],
    });
    expect(text).toBe(
      [
        'Minimize',
        ' obj: 2 x - 0.5 y',
        'Subject To',
        ' c1: 1 x + 1 y >= 1.5',
        'Bounds',
        ' 0 <= x <= 4',
        ' -1 <= y <= 2',
        ' z >= 0',
        'Binaries',
        ' z',
        'End',
        '',
      ].join('\n'),
    );
  });

  it('refuses non-finite coefficients', () => {
    expect(() =>
      toLpText({ objective: [{ coef: Number.NaN, name: 'x' }], constraints: [], bounds: [], binaries: [] }),
    ).toThrow(RangeError);
  });

  it('produces text HiGHS solves, with long expressions wrapped over lines', async () => {
    const highs = await loadHighs();
    const names = Array.from({ length: 50 }, (_, i) => `v_${i}`);
    const text = toLpText({
      objective: names.map((name, i) => ({ coef: i + 1, name })),
      constraints: [{ name: 'sum', terms: names.map((name) => ({ coef: 1, name })), sense: '=', rhs: 3 }],
      bounds: names.map((name) => ({ name, upper: 1 })),
      binaries: [],
    });
    expect(text.split('\n').every((line) => line.length < 255)).toBe(true);
    const result = highs.solve(text, { output_flag: false });
    // Cheapest three variables at 1: 1 + 2 + 3.
    expect(result.Status).toBe('Optimal');
    expect(result.ObjectiveValue).toBeCloseTo(6, 9);
  });
});
