import {
  applyScale,
  checkPlausibility,
  checkPoint,
  decodePoint,
  decodeRaw,
  decodeScaleFactor,
  decodeString,
  encodePointValue,
  matchSentinel,
} from './codec';
import { RegisterPointSchema, type RegisterPointInput } from './profile-schema';

const point = (input: Partial<RegisterPointInput> & Pick<RegisterPointInput, 'type'>) =>
  RegisterPointSchema.parse({ key: 'powerW', table: 'input', address: 0, ...input });

describe('decodeRaw (hand-typed words)', () => {
  it.each([
    { type: 'u16', words: [0xfffe], expected: 65534 },
    { type: 's16', words: [0xfffe], expected: -2 },
    { type: 'u32', words: [0x0001, 0x86a0], expected: 100_000 },
    { type: 's32', words: [0xfffe, 0x1dc0], expected: -123_456 },
    { type: 'f32', words: [0x449a, 0x5000], expected: 1234.5 },
    { type: 'u64', words: [0x0000, 0x0000, 0x00bc, 0x614e], expected: 12_345_678 },
    { type: 's64', words: [0xffff, 0xffff, 0xffff, 0xfffe], expected: -2 },
    { type: 'f64', words: [0x408f, 0x4000, 0x0000, 0x0000], expected: 1000 },
    { type: 'bool', words: [0x0001], expected: 1 },
  ] as const)('$type $words → $expected', ({ type, words, expected }) => {
    expect(decodeRaw(type, words)).toBe(expected);
  });

  it('reverses the words of a lo-hi number', () => {
    expect(decodeRaw('u32', [0x86a0, 0x0001], 'lo-hi')).toBe(100_000);
    expect(decodeRaw('f32', [0x5000, 0x449a], 'lo-hi')).toBe(1234.5);
    expect(decodeRaw('u64', [0x614e, 0x00bc, 0x0000, 0x0000], 'lo-hi')).toBe(12_345_678);
  });

  it('decodes ASCII strings high byte first and drops trailing NULs and spaces', () => {
    expect(decodeString([0x5042, 0x2d31, 0x3233, 0x3400, 0x0000])).toBe('PB-1234');
    expect(decodeString([0x4142, 0x2020])).toBe('AB');
  });
});

describe('sentinels', () => {
  it.each([
    { type: 'u16', words: [0xffff], sentinel: 'all-ones' },
    { type: 'u32', words: [0xffff, 0xffff], sentinel: 'all-ones' },
    { type: 's16', words: [0x8000], sentinel: 'signed-min' },
    { type: 's32', words: [0x8000, 0x0000], sentinel: 'signed-min' },
    { type: 's32', words: [0x7fff, 0xffff], sentinel: 'signed-max' },
    { type: 'u32', words: [0x0000, 0x0000], sentinel: 'zero' },
    { type: 'f32', words: [0x7fc0, 0x0000], sentinel: 'nan' },
  ] as const)('$type $words matches $sentinel', ({ type, words, sentinel }) => {
    expect(matchSentinel(type, words, [sentinel])).toBe(sentinel);
  });

  it('does not match a real value', () => {
    expect(matchSentinel('s32', [0x7fff, 0xfffe], ['signed-max', 'signed-min', 'all-ones'])).toBeUndefined();
  });

  it('decodes a scale-factor register, 0x8000 meaning not implemented', () => {
    expect(decodeScaleFactor(0xfffe)).toBe(-2);
    expect(decodeScaleFactor(0x0003)).toBe(3);
    expect(decodeScaleFactor(0x8000)).toBe('not-implemented');
    expect(decodeScaleFactor(undefined)).toBeUndefined();
  });
});

describe('decodePoint', () => {
  it('applies scale so that decimal scalings give the nearest double', () => {
    expect(decodePoint(point({ type: 'u16', scale: 0.1 }), [2301])).toBe(230.1);
    expect(decodePoint(point({ type: 'u16', scale: 0.01 }), [5001])).toBe(50.01);
    expect(applyScale(3, 0.1)).toBe(0.3);
  });

  it('applies a scale-factor exponent after the scale', () => {
    expect(decodePoint(point({ type: 's16', scaleFrom: 'W_SF' }), [0xfc18], 1)).toBe(-10_000);
    expect(decodePoint(point({ type: 'u16', scaleFrom: 'SoC_SF' }), [853], -1)).toBe(85.3);
  });

  it('negates inverted points without producing -0', () => {
    const inverted = point({ type: 's16', invert: true });
    expect(decodePoint(inverted, [0x0064])).toBe(-100);
    expect(Object.is(decodePoint(inverted, [0]), 0)).toBe(true);
  });
});

describe('checkPoint outcomes', () => {
  const soc = RegisterPointSchema.parse({
    key: 'socPct',
    table: 'input',
    address: 0,
    type: 'u16',
    min: 0,
    max: 100,
    notImplemented: ['all-ones'],
  });

  it('returns the value when plausible', () => expect(checkPoint(soc, [0x0055])).toEqual({ kind: 'value', value: 85 }));
  it('reports a value above max instead of clamping it', () =>
    expect(checkPoint(soc, [0x0065])).toEqual({ kind: 'implausible', value: 101, reason: 'above-max', limit: 100 }));
  it('reports the not-implemented sentinel as absent, not zero', () =>
    expect(checkPoint(soc, [0xffff])).toEqual({ kind: 'not-implemented', sentinel: 'all-ones' }));
  it('reports missing words', () => expect(checkPoint(soc, [])).toEqual({ kind: 'missing', reason: 'not-read' }));

  it('reports NaN without a declared sentinel as implausible, not as a value', () => {
    expect(checkPoint(point({ type: 'f32' }), [0x7fc0, 0x0000])).toEqual({
      kind: 'implausible',
      value: NaN,
      reason: 'not-finite',
    });
  });

  it('needs the scale factor of a scaleFrom point', () => {
    const scaled = point({ type: 's16', scaleFrom: 'W_SF' });
    expect(checkPoint(scaled, [100])).toEqual({ kind: 'missing', reason: 'scale-factor-missing' });
    expect(checkPoint(scaled, [100], 'not-implemented')).toEqual({ kind: 'not-implemented', sentinel: 'scale-factor' });
    expect(checkPoint(scaled, [100], 2)).toEqual({ kind: 'value', value: 10_000 });
  });

  it('applies the contracts range to measurement keys even without min/max', () => {
    expect(checkPlausibility('importEnergyWh', -5, {})).toEqual({
      kind: 'implausible',
      value: -5,
      reason: 'contract-range',
    });
    expect(checkPlausibility('phases', 4, {})).toEqual({ kind: 'implausible', value: 4, reason: 'contract-range' });
    expect(checkPlausibility('statusCode', 4, {})).toEqual({ kind: 'value', value: 4 });
  });
});

describe('encodePointValue', () => {
  it('writes mA for a value in A (hand-typed words)', () => {
    const limit = point({ type: 'u32', scale: 0.001, table: 'holding', access: 'rw', min: 0, max: 32 });
    expect(encodePointValue(limit, 16)).toEqual({ kind: 'words', words: [0x0000, 0x3e80], raw: 16_000 });
  });

  it('writes a negative s32 with a scale-factor exponent', () => {
    const setpoint = point({ type: 's32', scaleFrom: 'WSet_SF', table: 'holding' });
    expect(encodePointValue(setpoint, -50_000, 0)).toEqual({ kind: 'words', words: [0xffff, 0x3cb0], raw: -50_000 });
    expect(encodePointValue(setpoint, 50_000, 1)).toEqual({ kind: 'words', words: [0x0000, 0x1388], raw: 5_000 });
  });

  it('honours lo-hi word order and invert', () => {
    const reversed = point({ type: 's32', wordOrder: 'lo-hi', invert: true, table: 'holding' });
    expect(encodePointValue(reversed, 2)).toEqual({ kind: 'words', words: [0xfffe, 0xffff], raw: -2 });
  });

  it('refuses values the register type cannot hold', () => {
    expect(encodePointValue(point({ type: 'u16', table: 'holding' }), -1)).toMatchObject({
      kind: 'unrepresentable',
      reason: 'out-of-type-range',
    });
    expect(encodePointValue(point({ type: 's16', table: 'holding' }), 40_000)).toMatchObject({
      kind: 'unrepresentable',
    });
    expect(encodePointValue(point({ type: 'f32', table: 'holding' }), Infinity)).toMatchObject({
      kind: 'unrepresentable',
      reason: 'not-finite',
    });
  });
});
