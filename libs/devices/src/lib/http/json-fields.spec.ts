import {
  decodeJsonField,
  decodeJsonFields,
  describeJsonIssues,
  JsonFieldSchema,
  parseJsonDocument,
  type JsonFieldInput,
} from './json-fields';

const field = (input: JsonFieldInput) => JsonFieldSchema.parse(input);

describe('JsonFieldSchema', () => {
  it.each([
    [{ key: 'powerW', path: '$.p', type: 'enum' }, 'enum fields need a map'],
    [{ key: 'powerW', path: '$.p', map: { a: 1 } }, 'map is only for enum fields'],
    [{ key: 'relayOn', path: '$.p', type: 'boolean', scale: 2 }, 'only number fields can be scaled'],
    [{ key: 'powerW', path: '$.p', type: 'string' }, "'powerW' is a measurement"],
    [{ key: 'powerW', path: '$.p', min: 5, max: 1 }, 'min must not exceed max'],
    [{ key: 'powerW', path: '$.p', scale: 0 }, 'scale must not be 0'],
    [{ key: 'watts', path: '$.p' }, 'unknown point key'],
    [{ key: 'powerW', path: 'p' }, 'invalid JSON path'],
  ])('refuses %j', (input, message) => {
    const result = JsonFieldSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message).join(' ')).toContain(message);
  });
});

describe('decodeJsonField', () => {
  it('scales numbers into the unit of the key (mA → A, kWh → Wh) and inverts signs', () => {
    expect(decodeJsonField(field({ key: 'currentL1A', path: '$.c', scale: 0.001 }), { c: 15_960 })).toEqual({
      kind: 'value',
      value: 15.96,
    });
    expect(decodeJsonField(field({ key: 'importEnergyWh', path: '$.e', scale: 1000 }), { e: 152.371 })).toEqual({
      kind: 'value',
      value: 152_371,
    });
    expect(decodeJsonField(field({ key: 'powerW', path: '$.p', invert: true }), { p: 951.2 })).toEqual({
      kind: 'value',
      value: -951.2,
    });
    expect(decodeJsonField(field({ key: 'powerW', path: '$.p', invert: true }), { p: 0 })).toEqual({
      kind: 'value',
      value: 0,
    });
    expect(
      Object.is(
        (decodeJsonField(field({ key: 'powerW', path: '$.p', invert: true }), { p: 0 }) as { value: number }).value,
        -0,
      ),
    ).toBe(false);
  });

  it('maps booleans to 1/0, enums through their map, and keeps strings', () => {
    expect(decodeJsonField(field({ key: 'relayOn', path: '$.output', type: 'boolean' }), { output: true })).toEqual({
      kind: 'value',
      value: 1,
    });
    expect(decodeJsonField(field({ key: 'relayOn', path: '$.output', type: 'boolean' }), { output: false })).toEqual({
      kind: 'value',
      value: 0,
    });
    const cp = field({ key: 'cpState', path: '$.s', type: 'enum', map: { 'State C': 0x43 } });
    expect(decodeJsonField(cp, { s: 'State C' })).toEqual({ kind: 'value', value: 0x43 });
    expect(decodeJsonField(cp, { s: 'State X' })).toEqual({ kind: 'unmapped', value: 'State X' });
    expect(decodeJsonField(field({ key: 'firmwareVersion', path: '$.f', type: 'string' }), { f: '1.6.1+1' })).toEqual({
      kind: 'value',
      value: '1.6.1+1',
    });
  });

  it('reports the wrong JSON type with what it found, never coercing', () => {
    const power = field({ key: 'powerW', path: '$.p' });
    expect(decodeJsonField(power, { p: '231' })).toEqual({
      kind: 'wrong-type',
      at: '$.p',
      expected: 'number',
      found: 'string',
    });
    expect(decodeJsonField(power, { p: true })).toEqual({
      kind: 'wrong-type',
      at: '$.p',
      expected: 'number',
      found: 'boolean',
    });
    expect(decodeJsonField(power, { p: [1] })).toEqual({
      kind: 'wrong-type',
      at: '$.p',
      expected: 'number',
      found: 'array',
    });
    expect(decodeJsonField(power, { p: null })).toEqual({
      kind: 'wrong-type',
      at: '$.p',
      expected: 'number',
      found: 'null',
    });
    expect(decodeJsonField(field({ key: 'relayOn', path: '$.o', type: 'boolean' }), { o: 1 })).toEqual({
      kind: 'wrong-type',
      at: '$.o',
      expected: 'boolean',
      found: 'number',
    });
    expect(decodeJsonField(field({ key: 'powerW', path: '$.E.P' }), { E: 'x' })).toEqual({
      kind: 'wrong-type',
      at: '$.E.P',
      expected: 'object or array',
      found: 'string',
    });
  });

  it('treats missing and null as absent only for optional fields', () => {
    const required = field({ key: 'voltageL2V', path: '$.v' });
    const optional = field({ key: 'voltageL2V', path: '$.v', optional: true });
    expect(decodeJsonField(required, {})).toEqual({ kind: 'missing', at: '$.v' });
    expect(decodeJsonField(optional, {})).toEqual({ kind: 'absent' });
    expect(decodeJsonField(optional, { v: null })).toEqual({ kind: 'absent' });
    // A wrong type is still an error for an optional field: the device sent something, just not a number.
    expect(decodeJsonField(optional, { v: 'n/a' })).toEqual({
      kind: 'wrong-type',
      at: '$.v',
      expected: 'number',
      found: 'string',
    });
  });

  it('checks plausibility (the profile range and the contracts range), never clamps', () => {
    const power = field({ key: 'powerW', path: '$.p', min: 0, max: 50_000 });
    expect(decodeJsonField(power, { p: 60_000 })).toEqual({
      kind: 'implausible',
      value: 60_000,
      reason: 'above-max',
      limit: 50_000,
    });
    expect(decodeJsonField(power, { p: -1 })).toEqual({
      kind: 'implausible',
      value: -1,
      reason: 'below-min',
      limit: 0,
    });
    expect(decodeJsonField(field({ key: 'socPct', path: '$.s' }), { s: 101 })).toEqual({
      kind: 'implausible',
      value: 101,
      reason: 'contract-range',
    });
    expect(decodeJsonField(field({ key: 'phases', path: '$.n' }), { n: 4 })).toMatchObject({ kind: 'implausible' });
  });
});

describe('decodeJsonFields', () => {
  const fields = [
    field({ key: 'powerW', path: '$.ENERGY.Power' }),
    field({ key: 'voltageL1V', path: '$.ENERGY.Voltage', optional: true }),
    field({ key: 'importEnergyWh', path: '$.ENERGY.Total', scale: 1000 }),
    field({ key: 'currentL1A', path: '$.ENERGY.Current' }),
    field({ key: 'firmwareVersion', path: '$.fw', type: 'string', optional: true }),
  ];

  it('keeps the good values and lists each bad one', () => {
    const reading = decodeJsonFields(fields, { ENERGY: { Power: 231, Total: '152.371', Voltage: null }, fw: '13.4.0' });
    expect(reading.measurements).toEqual({ powerW: 231 });
    expect(reading.values).toEqual({ powerW: 231, firmwareVersion: '13.4.0' });
    expect(reading.issues).toEqual([
      {
        key: 'importEnergyWh',
        path: '$.ENERGY.Total',
        outcome: { kind: 'wrong-type', at: '$.ENERGY.Total', expected: 'number', found: 'string' },
      },
      { key: 'currentL1A', path: '$.ENERGY.Current', outcome: { kind: 'missing', at: '$.ENERGY.Current' } },
    ]);
    expect(describeJsonIssues(reading.issues)).toBe(
      'malformed: $.ENERGY.Total is string, expected number; $.ENERGY.Current missing',
    );
  });

  it('gives nothing usable for a document of the wrong shape, with reasons', () => {
    const reading = decodeJsonFields(fields, [1, 2, 3]);
    expect(reading.values).toEqual({});
    // Optional fields too: an array where an object must be is a fault, not "not available".
    expect(reading.issues.map((i) => i.outcome.kind)).toEqual(Array(5).fill('wrong-type'));
  });

  it('describes implausible values apart from malformed ones, within 500 characters', () => {
    const many = Array.from({ length: 40 }, (_, i) => field({ key: 'powerW', path: `$.power_number_${i}_in_watts` }));
    const text = describeJsonIssues(decodeJsonFields(many, {}).issues) ?? '';
    expect(text.length).toBe(500);
    expect(text.endsWith('...')).toBe(true);
    const mixed = decodeJsonFields(
      [field({ key: 'powerW', path: '$.p', max: 10 }), field({ key: 'frequencyHz', path: '$.f' })],
      {
        p: 11,
      },
    );
    expect(describeJsonIssues(mixed.issues)).toBe(
      'malformed: $.f missing | implausible: powerW=11 above-max (limit 10)',
    );
    expect(describeJsonIssues([])).toBeUndefined();
  });
});

describe('parseJsonDocument', () => {
  it('parses JSON and says why other text is not', () => {
    expect(parseJsonDocument('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonDocument('  ')).toEqual({ ok: false, error: 'empty body' });
    expect(parseJsonDocument('<html>502 Bad Gateway</html>')).toEqual({
      ok: false,
      error: expect.stringMatching(/^not JSON: /),
    });
    expect(parseJsonDocument('{"a":1')).toEqual({ ok: false, error: expect.stringMatching(/^not JSON: /) });
  });
});
