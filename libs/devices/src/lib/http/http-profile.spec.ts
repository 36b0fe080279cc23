import { HttpProfileSchema, type HttpProfileInput } from './http-profile';
import { checkHttpReadBack, dueReads, encodeHttpWrite, httpAuthHeaders, httpUrl } from './http-requests';
import { decodeJsonFields } from './json-fields';

/** A small valid profile (a made-up battery with a JSON API) to vary in the tests. */
function profile(overrides: Partial<HttpProfileInput> = {}): HttpProfileInput {
  return {
    id: 'acme.battery',
    vendor: 'Acme',
    model: 'Battery',
    source: 'test',
    protocol: 'http',
    kind: 'battery',
    http: { basePath: '/api', auth: { scheme: 'header', header: 'Authorization', prefix: 'Bearer ' } },
    reads: [
      {
        name: 'status',
        path: '/status',
        fields: [
          { key: 'powerW', path: '$.p' },
          { key: 'socPct', path: '$.soc' },
          { key: 'setpointW', path: '$.target' },
        ],
      },
      {
        name: 'info',
        path: '/info',
        pollIntervalMs: 60_000,
        fields: [{ key: 'serialNumber', path: '$.sn', type: 'string' }],
      },
    ],
    writes: [
      {
        setpoint: 'battery-power',
        method: 'PUT',
        path: '/setpoint',
        body: { mode: 'manual', target: { watts: '{{value}}' } },
        range: { min: -5_000, max: 5_000 },
        safeValue: 0,
        readBack: { read: 'status', key: 'setpointW', tolerance: 1 },
      },
    ],
    ...overrides,
  };
}

describe('HttpProfileSchema', () => {
  it('accepts a valid profile with defaults applied', () => {
    const parsed = HttpProfileSchema.parse(profile());
    expect(parsed.reads[0]?.method).toBe('GET');
    expect(parsed.writes[0]).toMatchObject({ scale: 1, integer: true, clampToRange: false });
  });

  const problem = (input: HttpProfileInput): string => {
    const result = HttpProfileSchema.safeParse(input);
    return result.success ? '' : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join(' | ');
  };
  const base = profile();
  const write = base.writes?.[0];
  if (write === undefined) throw new Error('fixture');

  it.each([
    [
      'a duplicate read name',
      { reads: [...base.reads, { name: 'status', path: '/x', fields: [{ key: 'powerW', path: '$.p' }] }] },
      'duplicate read',
    ],
    ['no placeholder', { writes: [{ ...write, body: { target: 5 } }] }, 'exactly once'],
    ['two placeholders', { writes: [{ ...write, body: ['{{value}}', '{{value}}'] }] }, 'exactly once'],
    [
      'an unknown read-back read',
      { writes: [{ ...write, readBack: { read: 'nope', key: 'setpointW' } }] },
      "unknown read 'nope'",
    ],
    [
      'a read-back key the read lacks',
      { writes: [{ ...write, readBack: { read: 'info', key: 'setpointW' } }] },
      "is not a field of read 'info'",
    ],
    ['a safe value outside the range', { writes: [{ ...write, safeValue: 9_000 }] }, 'safeValue must lie in range'],
    ['two writes for one set-point', { writes: [write, write] }, "two writes for 'battery-power'"],
    [
      'a path with ..',
      { reads: [{ name: 'x', path: '/a/../b', fields: [{ key: 'powerW', path: '$.p' }] }] },
      'must not contain ..',
    ],
    [
      'a full URL as path',
      { reads: [{ name: 'x', path: 'http://evil/x', fields: [{ key: 'powerW', path: '$.p' }] }] },
      'path must look like',
    ],
    ['a bad base path', { http: { basePath: 'api/' } }, 'basePath must be empty'],
    ['no reads', { reads: [] }, 'reads'],
  ] as const)('refuses %s', (_what, overrides, message) => {
    expect(problem(profile(overrides as Partial<HttpProfileInput>))).toContain(message);
  });
});

describe('HTTP requests', () => {
  const parsed = HttpProfileSchema.parse(profile());

  it('joins base URL, base path and path', () => {
    expect(httpUrl('http://192.0.2.7', parsed, '/status')).toBe('http://192.0.2.7/api/status');
    expect(httpUrl('http://192.0.2.7:8080/', parsed, '/status?x=1')).toBe('http://192.0.2.7:8080/api/status?x=1');
  });

  it('puts the token into the profile header, nothing without a token or scheme', () => {
    expect(httpAuthHeaders(parsed, 'abc')).toEqual({ Authorization: 'Bearer abc' });
    expect(httpAuthHeaders(parsed, undefined)).toEqual({});
    expect(httpAuthHeaders(HttpProfileSchema.parse(profile({ http: {} })), 'abc')).toEqual({});
  });

  it('reads slow endpoints only when their interval has passed', () => {
    expect(dueReads(parsed, {}, 1_000).map((r) => r.name)).toEqual(['status', 'info']);
    expect(dueReads(parsed, { status: 900, info: 1_000 }, 2_000).map((r) => r.name)).toEqual(['status']);
    expect(dueReads(parsed, { status: 900, info: 1_000 }, 61_000).map((r) => r.name)).toEqual(['status', 'info']);
  });

  it('fills the body template with the device value', () => {
    expect(encodeHttpWrite(parsed, { kind: 'battery-power', powerW: -2_500.4 })).toEqual({
      kind: 'requests',
      setpoint: 'battery-power',
      requests: [
        {
          write: parsed.writes[0],
          method: 'PUT',
          path: '/setpoint',
          body: { mode: 'manual', target: { watts: -2_500 } },
          value: -2_500,
          deviceValue: -2_500,
          alsoExpect: [],
        },
      ],
    });
  });

  it("takes the whole device value inside the arbiter's bounds when only the one away from zero fits", () => {
    const watts = (powerW: number, bounds?: { min?: number; max?: number }) => {
      const outcome = encodeHttpWrite(parsed, { kind: 'battery-power', powerW }, bounds);
      return outcome.kind === 'requests' ? outcome.requests[0]?.deviceValue : undefined;
    };
    expect(watts(-2_500.4)).toBe(-2_500);
    expect(watts(-2_500.4, { max: -2_500.2 })).toBe(-2_501); // a charge of at least 2 500.2 W
    expect(watts(-2_500.4, { min: -2_500.3 })).toBe(-2_500); // −2 501 W would pass a 2 500.3 W charge limit
  });

  it('rejects values outside the range, or clamps them and says so', () => {
    expect(encodeHttpWrite(parsed, { kind: 'battery-power', powerW: 6_000 })).toEqual({
      kind: 'rejected',
      setpoint: 'battery-power',
      reason: 'out-of-range',
      detail: '6000 W is outside [-5000, 5000] W',
    });
    const clamping = HttpProfileSchema.parse(profile({ writes: [{ ...write(), clampToRange: true }] }));
    const outcome = encodeHttpWrite(clamping, { kind: 'battery-power', powerW: 6_000 });
    expect(outcome).toMatchObject({
      kind: 'requests',
      requests: [{ value: 5_000, clamped: { requested: 6_000, applied: 5_000 } }],
    });
    expect(encodeHttpWrite(parsed, { kind: 'battery-power', powerW: Number.NaN })).toMatchObject({
      kind: 'rejected',
      reason: 'not-finite',
    });
  });

  it('refuses set-point kinds the profile cannot write, and sends safe values for `safe`', () => {
    expect(encodeHttpWrite(parsed, { kind: 'pv-limit', maxPowerW: 100 })).toEqual({
      kind: 'rejected',
      setpoint: 'pv-limit',
      reason: 'unsupported-setpoint',
      detail: "the profile has no write for 'pv-limit'",
    });
    expect(encodeHttpWrite(parsed, { kind: 'safe' })).toMatchObject({
      kind: 'requests',
      setpoint: 'safe',
      requests: [{ body: { mode: 'manual', target: { watts: 0 } }, value: 0 }],
    });
  });

  it('compares the read-back within the tolerance', () => {
    const plan = { write: parsed.writes[0] ?? (undefined as never), value: -2_500, alsoExpect: [] };
    const fields = parsed.reads[0]?.fields ?? [];
    expect(checkHttpReadBack(plan, decodeJsonFields(fields, { p: 0, soc: 50, target: -2_500.8 }))).toEqual({
      kind: 'equal',
      readBack: -2_500.8,
    });
    expect(checkHttpReadBack(plan, decodeJsonFields(fields, { p: 0, soc: 50, target: -2_000 }))).toEqual({
      kind: 'different',
      readBack: -2_000,
      differences: ['setpointW=-2000 (expected -2500)'],
    });
    expect(checkHttpReadBack(plan, decodeJsonFields(fields, { p: 0, soc: 50, target: 'x' }))).toEqual({
      kind: 'unreadable',
      detail: "read 'status' gave no 'setpointW' (wrong-type)",
    });
  });
});

function write() {
  const w = profile().writes?.[0];
  if (w === undefined) throw new Error('fixture');
  return w;
}
