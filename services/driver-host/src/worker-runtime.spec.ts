import { z } from 'zod';
import { checkDefinition, parseOptions } from './worker-runtime';
import { describeIssues, formatPath } from './protocol';

const valid = {
  name: 'acme',
  version: '1.0.0',
  setpoints: ['battery-power'],
  assetOptions: z.object({ host: z.string() }),
  start: async () => ({ close: async () => undefined }),
};

describe('checkDefinition', () => {
  it('accepts a complete definition', () => {
    expect(checkDefinition(valid)).toMatchObject({ problems: [], definition: valid });
  });

  it.each([
    [undefined, 'module: exports no driver definition'],
    [{ ...valid, name: 'Acme Driver' }, 'module.name: must be lowercase letters, digits and dashes'],
    [{ ...valid, version: '' }, 'module.version: must be a non-empty string'],
    [{ ...valid, setpoints: 'battery-power' }, 'module.setpoints: must be an array'],
    [{ ...valid, setpoints: ['safe'] }, 'module.setpoints: unknown set-point kinds ["safe"]'],
    [{ ...valid, assetOptions: {} }, 'module.assetOptions: must be a zod schema'],
    [{ ...valid, hostOptions: 5 }, 'module.hostOptions: must be a zod schema when given'],
    [{ ...valid, start: 'go' }, 'module.start: must be a function'],
  ])('refuses %j', (candidate, expected) => {
    const { definition, problems } = checkDefinition(candidate);
    expect(definition).toBeUndefined();
    expect(problems.map((p) => `${p.path}: ${p.message}`).join('\n')).toContain(expected);
  });
});

describe('parseOptions', () => {
  it("returns the driver schema's output (defaults applied)", () => {
    expect(parseOptions(z.object({ port: z.number().default(7090) }), {}, 'connection.options')).toEqual({
      ok: true,
      data: { port: 7090 },
    });
  });

  it('names each refused member with its path', () => {
    const result = parseOptions(
      z.strictObject({ host: z.ipv4(), ports: z.array(z.number()) }),
      { host: 'x', ports: [1, 'b'], extra: 1 },
      'connection.options',
    );
    expect(result.ok).toBe(false);
    const paths = result.ok ? [] : result.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['connection.options.host', 'connection.options.ports[1]', 'connection.options']),
    );
  });

  it('turns a schema that throws or answers nonsense into a problem', () => {
    const throwing = {
      safeParse: () => {
        throw new Error('boom');
      },
    };
    expect(parseOptions(throwing, {}, 'options')).toEqual({
      ok: false,
      problems: [{ path: 'options', message: "the driver's schema threw: boom" }],
    });
    expect(parseOptions({ safeParse: () => 42 } as never, {}, 'options')).toEqual({
      ok: false,
      problems: [{ path: 'options', message: 'rejected by the driver' }],
    });
  });
});

describe('formatPath and describeIssues', () => {
  it('writes paths the way the site file reads', () => {
    expect(formatPath('assets[3]', ['connection', 'options', 'hosts', 2])).toBe(
      'assets[3].connection.options.hosts[2]',
    );
    expect(formatPath('', ['values', 'powerW'])).toBe('values.powerW');
  });

  it('lists at most five issues', () => {
    const issues = Array.from({ length: 7 }, (_v, i) => ({ path: ['values', `k${i}`], message: 'bad' }));
    expect(describeIssues(issues)).toBe(
      'values.k0: bad; values.k1: bad; values.k2: bad; values.k3: bad; values.k4: bad (+2 more)',
    );
  });
});
