import { formatIssues } from '@voltimax/contracts';
import { BacnetAssetOptionsSchema, BacnetHostOptionsSchema, macBytes } from './options';

/** The problems the host would report for these options, as `path: message` lines. */
function problems(input: unknown): string[] {
  const result = BacnetAssetOptionsSchema.safeParse(input);
  if (result.success) return [];
  return formatIssues(result.error.issues).map((p) => `${p.path}: ${p.message}`);
}

describe('BacnetAssetOptionsSchema', () => {
  it('accepts a full battery mapping and fills the defaults', () => {
    const parsed = BacnetAssetOptionsSchema.parse({
      address: '192.168.1.20',
      deviceInstance: 1201,
      points: {
        powerW: { object: 'analog-input:3', scale: 1000, sign: -1 },
        socPct: 'av:1',
        temperatureC: 'analog-input:7',
      },
      setpoints: { 'battery-power': { object: 'analog-value:10', scale: 0.001 } },
      cov: { lifetimeS: 120 },
    });
    expect(parsed.points['powerW']).toEqual({ object: { type: 0, instance: 3 }, scale: 1000, offset: 0, sign: -1 });
    expect(parsed.points['socPct']).toEqual({ object: { type: 2, instance: 1 }, scale: 1, offset: 0, sign: 1 });
    expect(parsed.setpoints['battery-power']).toMatchObject({
      priority: 8,
      safe: 'relinquish',
      tolerance: 0,
      scale: 0.001,
    });
    expect(parsed.cov).toEqual({ enabled: true, lifetimeS: 120, confirmed: false });
    expect(parsed.maxObjectsPerRequest).toBe(16);
  });

  it('accepts a device known only by its instance, and a routed device', () => {
    expect(problems({ deviceInstance: 5, points: { powerW: 'ai:1' } })).toEqual([]);
    expect(
      problems({ address: '10.0.0.9:47809', network: { number: 5, mac: 12 }, points: { powerW: 'ai:1' } }),
    ).toEqual([]);
    expect(macBytes('c0:a8:01:14:ba:c0')).toEqual([0xc0, 0xa8, 0x01, 0x14, 0xba, 0xc0]);
    expect(macBytes(12)).toEqual([12]);
  });

  it.each([
    {
      name: 'no address and no instance',
      input: { points: { powerW: 'ai:1' } },
      expected: '$.address: give the device address, its deviceInstance, or both',
    },
    {
      name: 'a host name',
      input: { address: 'bms.local', points: { powerW: 'ai:1' } },
      expected: '$.address: must be an IPv4 address with an optional port, like 192.168.1.20 or 192.168.1.20:47809',
    },
    {
      name: 'an octet above 255',
      input: { address: '10.0.0.300', points: { powerW: 'ai:1' } },
      expected: '$.address: must be an IPv4 address',
    },
    {
      name: 'port 0',
      input: { address: '10.0.0.3:0', points: { powerW: 'ai:1' } },
      expected: '$.address: must be an IPv4 address',
    },
    {
      name: 'an instance out of range',
      input: { deviceInstance: 4194303, points: { powerW: 'ai:1' } },
      expected: '$.deviceInstance: deviceInstance must be 0..4194302',
    },
    {
      name: 'an unknown measurement',
      input: { address: '10.0.0.3', points: { powerKW: 'ai:1' } },
      expected: "$.points.powerKW: 'powerKW' is not a measurement (known: powerW,",
    },
    {
      name: 'a typo in the object type',
      input: { address: '10.0.0.3', points: { powerW: 'analog-inptu:1' } },
      expected: "$.points.powerW.object: unknown object type 'analog-inptu' (known: analog-input,",
    },
    {
      name: 'no instance in the reference',
      input: { address: '10.0.0.3', points: { powerW: 'analog-input' } },
      expected: "$.points.powerW.object: 'analog-input' is not an object reference like 'analog-input:3'",
    },
    {
      name: 'an object instance too large',
      input: { address: '10.0.0.3', points: { powerW: 'ai:4194303' } },
      expected: '$.points.powerW.object: object instance 4194303 is above 4194302',
    },
    {
      name: 'scale 0',
      input: { address: '10.0.0.3', points: { powerW: { object: 'ai:1', scale: 0 } } },
      expected: '$.points.powerW.scale: scale must not be 0',
    },
    {
      name: 'sign 2',
      input: { address: '10.0.0.3', points: { powerW: { object: 'ai:1', sign: 2 } } },
      expected: '$.points.powerW.sign: sign must be 1 or -1',
    },
    {
      name: 'an unknown key in a point',
      input: { address: '10.0.0.3', points: { powerW: { object: 'ai:1', factor: 2 } } },
      expected: '$.points.powerW: Unrecognized key: "factor"',
    },
    {
      name: 'a set-point on an input',
      input: { address: '10.0.0.3', setpoints: { 'battery-power': 'analog-input:3' } },
      expected:
        '$.setpoints["battery-power"].object: a set-point is written to an analog-output, analog-value, integer-value, positive-integer-value or large-analog-value, not analog-input:3',
    },
    {
      name: 'priority 6',
      input: { address: '10.0.0.3', setpoints: { 'battery-power': { object: 'av:1', priority: 6 } } },
      expected: 'priority 6 is reserved for minimum on/off time',
    },
    {
      name: 'priority 17',
      input: { address: '10.0.0.3', setpoints: { 'battery-power': { object: 'av:1', priority: 17 } } },
      expected: 'priority must be 1..16',
    },
    {
      name: 'a bad safe action',
      input: { address: '10.0.0.3', setpoints: { 'battery-power': { object: 'av:1', safe: 'zero' } } },
      expected: "safe must be 'relinquish' or { value: <number in our unit> }",
    },
    {
      name: 'an unknown set-point kind',
      input: { address: '10.0.0.3', setpoints: { 'grid-power': 'av:1' } },
      expected: '$.setpoints: Unrecognized key: "grid-power"',
    },
    {
      name: 'nothing mapped',
      input: { address: '10.0.0.3' },
      expected: '$.points: map at least one point or one set-point',
    },
    {
      name: 'a COV point that is not mapped',
      input: { address: '10.0.0.3', points: { powerW: 'ai:1' }, cov: { points: ['socPct'] } },
      expected: "$.cov.points[0]: cov point 'socPct' is not in points",
    },
    {
      name: 'a network without MAC',
      input: { address: '10.0.0.3', network: { number: 5 }, points: { powerW: 'ai:1' } },
      expected: '$.network.mac:',
    },
    {
      name: 'a network number 65535',
      input: { address: '10.0.0.3', network: { number: 65535, mac: 1 }, points: { powerW: 'ai:1' } },
      expected: '$.network.number: network number must be 1..65534',
    },
    {
      name: 'a MAC that is not hex',
      input: { address: '10.0.0.3', network: { number: 5, mac: 'zz' }, points: { powerW: 'ai:1' } },
      expected: 'mac must be',
    },
    {
      name: 'an unknown top-level key',
      input: { address: '10.0.0.3', points: { powerW: 'ai:1' }, host: 'x' },
      expected: '$: Unrecognized key: "host"',
    },
  ])('rejects $name with a clear message', ({ input, expected }) => {
    const found = problems(input);
    expect(found.some((p) => p.startsWith(expected) || p.includes(expected))).toBe(true);
  });

  it('rejects things that are not options at all', () => {
    expect(problems('192.168.1.20')).not.toEqual([]);
    expect(problems(null)).not.toEqual([]);
    expect(problems([])).not.toEqual([]);
  });
});

describe('BacnetHostOptionsSchema', () => {
  it('defaults to all interfaces on 47808 with a 3 s APDU timeout', () => {
    expect(BacnetHostOptionsSchema.parse({})).toEqual({
      interface: '0.0.0.0',
      port: 47808,
      broadcastAddress: '255.255.255.255',
      apduTimeoutMs: 3000,
      apduRetries: 1,
      maxConcurrentRequests: 16,
    });
  });

  it.each([
    [{ interface: 'eth0' }, 'interface must be an IPv4 address'],
    [{ interface: '10.0.0.1:47808' }, 'interface must be an IPv4 address'],
    [{ port: 70000 }, '$.port'],
    [{ apduTimeoutMs: 10 }, '$.apduTimeoutMs'],
    [{ broadcastAddress: 'everyone' }, '$.broadcastAddress: must be an IPv4 address'],
    [{ timeout: 5 }, 'Unrecognized key: "timeout"'],
  ])('rejects %j', (input, expected) => {
    const result = BacnetHostOptionsSchema.safeParse(input);
    expect(result.success).toBe(false);
    if (!result.success)
      expect(
        formatIssues(result.error.issues)
          .map((p) => `${p.path}: ${p.message}`)
          .join('\n'),
      ).toContain(expected);
  });
});
