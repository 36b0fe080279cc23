import { JsonPathSchema, lookupJsonPath, parseJsonPath, readJsonPath } from './json-path';

describe('parseJsonPath', () => {
  it.each([
    ['$', []],
    ['$.PowerTotal', [{ kind: 'member', name: 'PowerTotal' }]],
    [
      '$.ENERGY.Power',
      [
        { kind: 'member', name: 'ENERGY' },
        { kind: 'member', name: 'Power' },
      ],
    ],
    ['$.em:0', [{ kind: 'member', name: 'em:0' }]],
    ['$.active_power_l1_w', [{ kind: 'member', name: 'active_power_l1_w' }]],
    [
      '$.aenergy.by_minute[2]',
      [
        { kind: 'member', name: 'aenergy' },
        { kind: 'member', name: 'by_minute' },
        { kind: 'index', index: 2 },
      ],
    ],
    ["$['a b.c']", [{ kind: 'member', name: 'a b.c' }]],
    ["$['it\\'s']", [{ kind: 'member', name: "it's" }]],
    [
      '$[0][10]',
      [
        { kind: 'index', index: 0 },
        { kind: 'index', index: 10 },
      ],
    ],
  ])('parses %s', (text, segments) => {
    expect(parseJsonPath(text)).toEqual({ ok: true, path: { text, segments } });
  });

  it.each([
    ['', "must start with '$'"],
    ['PowerTotal', "must start with '$'"],
    ['$.', "expected a member name after '.' at 1"],
    ['$..a', "expected a member name after '.' at 1"],
    ['$.a.*', "expected a member name after '.' at 3"],
    ['$[-1]', "unexpected '[' at 1"],
    ['$[01]', "unexpected '[' at 1"],
    ["$['open", "unterminated ['…'] at 1"],
    ["$['a\\x']", 'bad escape at 4'],
    ['$.a[?(@.b)]', "unexpected '[' at 3"],
    ['$.1abc', "expected a member name after '.' at 1"],
  ])('refuses %j (%s)', (text, error) => {
    expect(parseJsonPath(text)).toEqual({ ok: false, error: expect.stringContaining(error) });
  });

  it('refuses absurdly long paths', () => {
    expect(parseJsonPath(`$${'.a'.repeat(200)}`)).toEqual({ ok: false, error: expect.stringContaining('longer than') });
    expect(parseJsonPath(`$${'.a'.repeat(40)}`)).toEqual({ ok: false, error: expect.stringContaining('more than 32') });
  });

  it('is the schema check too', () => {
    expect(JsonPathSchema.safeParse('$.ok').success).toBe(true);
    const bad = JsonPathSchema.safeParse('$.*');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toContain("invalid JSON path '$.*'");
  });
});

describe('lookupJsonPath', () => {
  const document = {
    ENERGY: { Power: 231, Total: 152.371 },
    list: [10, 20, { deep: null }],
    'em:0': { a: 1 },
    zero: 0,
  };
  const at = (text: string) => readJsonPath(document, text);

  it('finds members, elements and null', () => {
    expect(at('$.ENERGY.Power')).toEqual({ kind: 'found', value: 231 });
    expect(at('$.list[1]')).toEqual({ kind: 'found', value: 20 });
    expect(at('$.list[2].deep')).toEqual({ kind: 'found', value: null });
    expect(at('$.em:0.a')).toEqual({ kind: 'found', value: 1 });
    expect(at('$.zero')).toEqual({ kind: 'found', value: 0 });
    expect(at('$')).toEqual({ kind: 'found', value: document });
  });

  it('names the first missing step', () => {
    expect(at('$.ENERGY.Voltage')).toEqual({ kind: 'missing', at: '$.ENERGY.Voltage' });
    expect(at('$.nothing.Power')).toEqual({ kind: 'missing', at: '$.nothing' });
    expect(at('$.list[3]')).toEqual({ kind: 'missing', at: '$.list[3]' });
  });

  it('says when a step needs a container and finds something else', () => {
    expect(at('$.ENERGY.Power.x')).toEqual({ kind: 'not-container', at: '$.ENERGY.Power.x', found: 'number' });
    expect(at('$.ENERGY[0]')).toEqual({ kind: 'not-container', at: '$.ENERGY[0]', found: 'object' });
    expect(at('$.list.length')).toEqual({ kind: 'not-container', at: '$.list.length', found: 'array' });
    expect(at('$.list[2].deep.x')).toEqual({ kind: 'not-container', at: '$.list[2].deep.x', found: 'null' });
    expect(readJsonPath('text', '$.a')).toEqual({ kind: 'not-container', at: '$.a', found: 'string' });
  });

  it('never follows the prototype chain', () => {
    expect(at('$.constructor')).toEqual({ kind: 'missing', at: '$.constructor' });
    expect(at('$.ENERGY.toString')).toEqual({ kind: 'missing', at: '$.ENERGY.toString' });
    expect(at("$['__proto__']")).toEqual({ kind: 'missing', at: '$.__proto__' });
  });

  it('reports a bad path instead of throwing', () => {
    expect(readJsonPath(document, '$.*')).toEqual({ kind: 'invalid-path', error: expect.any(String) });
    const parsed = parseJsonPath('$.list[0]');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(lookupJsonPath(document, parsed.path)).toEqual({ kind: 'found', value: 10 });
  });
});
