import { ApplicationTag } from '@bacnet-js/client';
import fc from 'fast-check';
import {
  binaryRaw,
  describeBacnetError,
  flagProblems,
  rawNumber,
  sameDeviceValue,
  statusFlagsOf,
  toDeviceValue,
  toOurValue,
  type ValueMapping,
} from './mapping';
import { pointValue } from './points';
import { encodeForObject, setpointRaw } from './setpoints';
import type { SetpointOptions } from './options';

const finite = (max: number) => fc.double({ min: -max, max, noNaN: true, noDefaultInfinity: true });
const mappingArb: fc.Arbitrary<ValueMapping> = fc.record({
  scale: fc.oneof(
    fc.constantFrom(1, 10, 1000, 0.001, 0.1, -1),
    fc.double({ min: 1e-3, max: 1e3, noNaN: true }).map((v) => (v === 0 ? 1 : v)),
  ),
  offset: finite(1e4),
  sign: fc.constantFrom<1 | -1>(1, -1),
});

describe('value mapping (fast-check)', () => {
  it('toDeviceValue undoes toOurValue', () => {
    fc.assert(
      fc.property(finite(1e7), mappingArb, (raw, mapping) => {
        const back = toDeviceValue(toOurValue(raw, mapping), mapping);
        const slack = 1e-9 * Math.max(1, Math.abs(raw), Math.abs(mapping.offset / mapping.scale));
        expect(Math.abs(back - raw)).toBeLessThanOrEqual(slack);
      }),
    );
  });

  it('sign -1 mirrors sign 1 (a device counting charge as positive becomes our discharge-positive)', () => {
    fc.assert(
      fc.property(finite(1e7), mappingArb, (raw, mapping) => {
        expect(toOurValue(raw, { ...mapping, sign: -1 })).toBe(-toOurValue(raw, { ...mapping, sign: 1 }) + 0);
      }),
    );
  });

  it('keeps the order of values for a positive scale and sign 1', () => {
    fc.assert(
      fc.property(finite(1e6), finite(1e6), mappingArb, (a, b, mapping) => {
        fc.pre(a < b && mapping.scale > 0);
        const m = { ...mapping, sign: 1 as const };
        expect(toOurValue(a, m)).toBeLessThanOrEqual(toOurValue(b, m));
      }),
    );
  });

  it('a value read back as float32 counts as the value written', () => {
    fc.assert(
      fc.property(finite(1e30), (written) => {
        expect(sameDeviceValue(written, Math.fround(written))).toBe(true);
      }),
    );
  });

  it('a value off by more than a thousandth does not count as written', () => {
    fc.assert(
      fc.property(finite(1e9), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (written, factor) => {
        const readBack = written + factor * Math.max(1, Math.abs(written));
        expect(sameDeviceValue(written, readBack)).toBe(false);
      }),
    );
  });

  it('a tolerance (device units) widens the match', () => {
    expect(sameDeviceValue(1000, 1004)).toBe(false);
    expect(sameDeviceValue(1000, 1004, 5)).toBe(true);
  });

  it('binary present-values are 0 or 1 and nothing else', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), (raw) => {
        expect(binaryRaw(raw).ok).toBe(raw === 0 || raw === 1);
      }),
    );
  });

  it('a point without trouble flags is its scaled present-value (a DOUBLE, as read)', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), mappingArb, (raw, mapping) => {
        const point = { key: 'powerW' as const, object: { type: 0, instance: 1 }, mapping };
        const flags = [{ type: ApplicationTag.BIT_STRING, value: { bitsUsed: 4, value: [0b0101] } }];
        const value = pointValue(point, [{ type: ApplicationTag.DOUBLE, value: raw }], flags);
        expect(value).toEqual({ ok: true, value: toOurValue(raw, mapping) });
      }),
    );
  });

  it('a REAL keeps its float32 digits: within half a unit of the 7th significant digit of what was sent', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (sent) => {
        const parsed = rawNumber([{ type: ApplicationTag.REAL, value: sent }]);
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(Math.abs(parsed.raw - sent)).toBeLessThanOrEqual(5e-7 * Math.abs(sent));
      }),
    );
  });

  it('encodes integer set-points rounded and refuses what does not fit', () => {
    fc.assert(
      fc.property(finite(1e12), (raw) => {
        const encoded = encodeForObject(48 /* positive-integer-value */, raw);
        const rounded = Math.round(raw);
        expect(encoded.ok).toBe(rounded >= 0 && rounded <= 4_294_967_295);
        if (encoded.ok) expect(encoded.value.value).toBe(rounded);
      }),
    );
  });
});

describe('setpointRaw', () => {
  const INTEGER_VALUE = 45;
  const mapping = (m: ValueMapping, type: number): SetpointOptions =>
    ({ ...m, object: { type, instance: 1 }, priority: 8, safe: 'relinquish', tolerance: 0 }) as SetpointOptions;

  it('takes an integer object to the whole device value nearer zero in our units, whatever sign and offset', () => {
    fc.assert(
      fc.property(finite(1e5), mappingArb, fc.constantFrom(INTEGER_VALUE, 48), (value, m, type) => {
        const raw = setpointRaw(mapping(m, type), value);
        expect(Number.isInteger(raw)).toBe(true);
        const exact = toDeviceValue(value, m);
        expect(Math.abs(raw - exact)).toBeLessThan(1 + Math.max(1e-9, 1e-12 * Math.abs(exact)));
        // a value within float noise of a whole device value is that value
        if (Math.abs(raw - exact) <= Math.max(1e-9, 1e-12 * Math.abs(raw))) return;
        // else the other whole neighbour of `exact` is never nearer zero than the one taken (within rounding noise)
        const other = raw >= exact ? Math.floor(exact) : Math.ceil(exact);
        const slack = 1e-9 * Math.max(1, Math.abs(value), Math.abs(m.offset), Math.abs(m.scale));
        expect(Math.abs(toOurValue(raw, m))).toBeLessThanOrEqual(Math.abs(toOurValue(other, m)) + slack);
      }),
    );
  });

  it('never goes past the value asked when zero maps to zero (no offset)', () => {
    fc.assert(
      fc.property(finite(1e5), mappingArb, (value, m) => {
        const exactZero = { ...m, offset: 0 };
        const ours = toOurValue(setpointRaw(mapping(exactZero, INTEGER_VALUE), value), exactZero);
        expect(Math.abs(ours)).toBeLessThanOrEqual(Math.abs(value) * (1 + 1e-9) + 1e-9);
      }),
    );
  });

  it('takes the step away from zero when the bounds exclude the one toward zero and include it', () => {
    const tenth = (sign: 1 | -1) => mapping({ scale: 10, offset: 0, sign }, INTEGER_VALUE);
    expect(setpointRaw(tenth(1), 4_975, { min: 4_972 })).toBe(498);
    expect(setpointRaw(tenth(1), 4_975, { min: 4_960, max: 5_000 })).toBe(497); // toward zero is inside
    expect(setpointRaw(tenth(1), 4_975, { min: 4_972, max: 4_979 })).toBe(497); // neither: toward zero
    // a charge of at least 4 972 W (our units; the device counts charge positive)
    expect(setpointRaw(tenth(-1), -4_975, { max: -4_972 })).toBe(498);
    expect(setpointRaw(tenth(-1), -4_975)).toBe(497);
  });

  it('lands inside bounds that hold the value whenever a neighbouring device value does', () => {
    fc.assert(
      fc.property(finite(1e5), mappingArb, fc.double({ min: 0, max: 50, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true }), (value, m, below, above) => {
        const bounds = { min: value - below, max: value + above };
        const sp = mapping(m, INTEGER_VALUE);
        const raw = setpointRaw(sp, value, bounds);
        const plain = setpointRaw(sp, value);
        const exact = toDeviceValue(value, m);
        const neighbours = [Math.floor(exact), Math.ceil(exact)];
        // a neighbour within rounding noise of an edge is on either side of it: not judged
        const noise = 1e-5 * Math.max(1, Math.abs(value), Math.abs(m.offset), Math.abs(m.scale));
        const edges = [bounds.min, bounds.max];
        if (neighbours.some((r) => edges.some((edge) => Math.abs(toOurValue(r, m) - edge) < noise))) return;
        const inside = (r: number) => {
          const ours = toOurValue(r, m);
          return ours >= bounds.min && ours <= bounds.max;
        };
        if (inside(plain)) expect(raw).toBe(plain);
        else if (neighbours.some(inside)) expect(inside(raw)).toBe(true);
        else expect(raw).toBe(plain);
      }),
    );
  });

  it('leaves analog objects exact', () => {
    expect(setpointRaw(mapping({ scale: 10, offset: 0, sign: 1 }, 2 /* analog-value */), 4_975)).toBe(497.5);
    expect(setpointRaw(mapping({ scale: 10, offset: 0, sign: 1 }, INTEGER_VALUE), 4_975)).toBe(497);
    expect(setpointRaw(mapping({ scale: 10, offset: 0, sign: -1 }, INTEGER_VALUE), 4_975)).toBe(-497);
  });
});

describe('present-values', () => {
  it.each([
    { name: 'REAL', values: [{ type: ApplicationTag.REAL, value: 12.5 }], expected: { ok: true, raw: 12.5 } },
    // what the stack decodes from the float32 0x3F99999A (1.2): the float32's own digits, not 1.2000000476837158
    {
      name: 'REAL 1.2',
      values: [{ type: ApplicationTag.REAL, value: Math.fround(1.2) }],
      expected: { ok: true, raw: 1.2 },
    },
    { name: 'DOUBLE', values: [{ type: ApplicationTag.DOUBLE, value: 1.2 }], expected: { ok: true, raw: 1.2 } },
    {
      name: 'binary active (ENUMERATED 1)',
      values: [{ type: ApplicationTag.ENUMERATED, value: 1 }],
      expected: { ok: true, raw: 1 },
    },
    {
      name: 'multi-state (UNSIGNED 3)',
      values: [{ type: ApplicationTag.UNSIGNED_INTEGER, value: 3 }],
      expected: { ok: true, raw: 3 },
    },
    { name: 'BOOLEAN true', values: [{ type: ApplicationTag.BOOLEAN, value: true }], expected: { ok: true, raw: 1 } },
    { name: 'NULL', values: [{ type: ApplicationTag.NULL, value: null }], expected: { ok: false, reason: 'NULL' } },
    {
      name: 'a string',
      values: [{ type: ApplicationTag.CHARACTER_STRING, value: 'x' }],
      expected: { ok: false, reason: 'unsupported value type (application tag 7)' },
    },
    { name: 'nothing', values: [], expected: { ok: false, reason: 'no value' } },
    {
      name: 'an error',
      values: [{ type: ApplicationTag.ERROR, value: { errorClass: 1, errorCode: 31 } }],
      expected: { ok: false, reason: 'BACnet error class 1 (object) code 31 (unknown-object)' },
    },
  ])('$name', ({ values, expected }) => {
    expect(rawNumber(values)).toEqual(expected);
  });

  it('describes unknown error codes by number', () => {
    expect(describeBacnetError(9, 999)).toBe('BACnet error class 9 code 999');
  });
});

describe('status flags (the stack keeps bit n at 1 << n of byte 0)', () => {
  const flags = (byte: number) => [{ type: ApplicationTag.BIT_STRING, value: { bitsUsed: 4, value: [byte] } }];
  it.each([
    { byte: 0b0000, problems: [] },
    { byte: 0b0001, problems: [] }, // in-alarm: still a measurement
    { byte: 0b0010, problems: ['fault'] },
    { byte: 0b0100, problems: [] }, // overridden: a real value, set locally
    { byte: 0b1000, problems: ['out-of-service'] },
    { byte: 0b1010, problems: ['fault', 'out-of-service'] },
  ])('byte $byte → $problems', ({ byte, problems }) => {
    expect(flagProblems(statusFlagsOf(flags(byte)))).toEqual(problems);
  });

  it('no flags (object without status-flags) are no problem', () => {
    expect(statusFlagsOf(undefined)).toBeUndefined();
    expect(flagProblems(undefined)).toEqual([]);
  });

  it('a faulty point names the point, the object and the flag', () => {
    const point = {
      key: 'socPct' as const,
      object: { type: 2, instance: 1 },
      mapping: { scale: 1, offset: 0, sign: 1 as const },
    };
    expect(pointValue(point, [{ type: ApplicationTag.REAL, value: 50 }], flags(0b0010))).toEqual({
      ok: false,
      problem: 'socPct (analog-value:1): fault',
    });
  });
});
