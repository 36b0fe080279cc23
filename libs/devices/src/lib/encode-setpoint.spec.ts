import { encodeSetpoint } from './encode-setpoint';
import { ModbusProfileSchema, type ModbusProfile } from './profile-schema';

const battery = (overrides: Record<string, unknown> = {}): ModbusProfile =>
  ModbusProfileSchema.parse({
    id: 'acme.battery',
    vendor: 'Acme',
    model: 'Battery (test)',
    source: 'test',
    protocol: 'modbus',
    kind: 'battery',
    modbus: { defaultUnitId: 1, transports: ['tcp'] },
    points: [
      { key: 'powerW', table: 'input', address: 0, type: 's16' },
      { key: 'socPct', table: 'input', address: 1, type: 'u16' },
      { key: 'setpointEnable', table: 'holding', address: 100, type: 'u16', access: 'rw', min: 0, max: 1 },
      {
        key: 'setpointW',
        table: 'holding',
        address: 101,
        type: 's16',
        scale: 10,
        invert: true,
        access: 'rw',
        min: -20_000,
        max: 20_000,
      },
    ],
    controls: [
      {
        setpoint: 'battery-power',
        range: { min: -10_000, max: 10_000 },
        steps: [
          { key: 'setpointEnable', value: 1 },
          { key: 'setpointW', value: 'setpoint' },
        ],
        safeSteps: [{ key: 'setpointW', value: 0 }],
        keepAliveMs: 5_000,
        ...overrides,
      },
    ],
  });

describe('encodeSetpoint', () => {
  it('writes enable first, then the value in the device sign (invert) and scale (10 W steps)', () => {
    expect(encodeSetpoint(battery(), { kind: 'battery-power', powerW: 2_500 })).toEqual({
      kind: 'writes',
      setpoint: 'battery-power',
      writes: [
        { key: 'setpointEnable', table: 'holding', address: 100, words: [0x0001], value: 1 },
        { key: 'setpointW', table: 'holding', address: 101, words: [0xff06], value: 2_500 },
      ],
      value: 2_500,
      exact: true,
      keepAliveMs: 5_000,
    });
  });

  it('rejects a value outside the control range by default, never clamping silently', () => {
    expect(encodeSetpoint(battery(), { kind: 'battery-power', powerW: -12_000 })).toMatchObject({
      kind: 'rejected',
      reason: 'out-of-range',
    });
  });

  it('clamps when the profile says so, and reports it', () => {
    expect(encodeSetpoint(battery({ clampToRange: true }), { kind: 'battery-power', powerW: -12_000 })).toMatchObject({
      kind: 'writes',
      clamped: { requested: -12_000, applied: -10_000 },
      writes: [{ address: 100 }, { address: 101, words: [0x03e8] }],
    });
  });

  it('rejects set-point kinds the profile has no control for', () => {
    expect(encodeSetpoint(battery(), { kind: 'ev-current', currentA: 10 })).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });

  it('takes the 10 W step toward zero, or the one inside the arbiter\'s bounds when only that one fits', () => {
    const words = (powerW: number, bounds?: { min?: number; max?: number }) => {
      const outcome = encodeSetpoint(battery(), { kind: 'battery-power', powerW }, bounds === undefined ? {} : { bounds });
      return outcome.kind === 'writes' ? outcome.writes[1]?.words : undefined;
    };
    // inverted: +2 505 W discharge is −250.5 raw
    expect(words(2_505)).toEqual([0xff06]); // −250 → 2 500 W
    expect(words(2_505, { min: 2_502, max: 5_000 })).toEqual([0xff05]); // −251 → 2 510 W: at least 2 502 W
    expect(words(2_505, { max: 2_508 })).toEqual([0xff06]); // 2 510 W would pass the limit
    expect(words(-2_505, { max: -2_502 })).toEqual([0x00fb]); // a charge of at least 2 502 W: 251 → −2 510 W
    // never past the control's own range: with the range at 9 995 W, 10 000 W is not a step to take
    const narrow = encodeSetpoint(battery({ range: { min: -9_995, max: 9_995 } }), { kind: 'battery-power', powerW: 9_993 }, { bounds: { min: 9_992 } });
    expect(narrow.kind === 'writes' ? narrow.writes[1]?.words : undefined).toEqual([0xfc19]); // −999 → 9 990 W
  });

  it('maps the bounds through a percent-of-rating scaling on the value\'s side of zero', () => {
    const percent = ModbusProfileSchema.parse({
      ...battery(),
      controls: [
        {
          setpoint: 'battery-power',
          scaling: 'abs-percent-of-rated',
          range: { min: 0, max: 100 },
          bySign: {
            negative: [{ key: 'setpointEnable', value: 'setpoint' }],
            zero: [{ key: 'setpointEnable', value: 0 }],
            positive: [{ key: 'setpointEnable', value: 0 }],
          },
          safeSteps: [{ key: 'setpointEnable', value: 0 }],
        },
      ],
      points: [
        { key: 'powerW', table: 'input', address: 0, type: 's16' },
        { key: 'socPct', table: 'input', address: 1, type: 'u16' },
        { key: 'setpointEnable', table: 'holding', address: 100, type: 'u16', access: 'rw', min: 0, max: 100 },
      ],
    });
    const pct = (powerW: number, bounds?: { min?: number; max?: number }) => {
      const outcome = encodeSetpoint(percent, { kind: 'battery-power', powerW }, { ratedPowerW: 5_000, ...(bounds === undefined ? {} : { bounds }) });
      return outcome.kind === 'writes' ? outcome.writes[0]?.words[0] : undefined;
    };
    expect(pct(-2_470)).toBe(49); // 49.4 % → 49 %
    expect(pct(-2_470, { max: -2_460 })).toBe(50); // a charge of at least 2 460 W (49.2 %): 50 %
    expect(pct(-2_470, { min: -2_475, max: -2_460 })).toBe(49); // 50 % = 2 500 W would pass 2 475 W: none fits
  });

  it('writes the safe steps with the shortest keep-alive for `safe`', () => {
    expect(encodeSetpoint(battery(), { kind: 'safe' })).toMatchObject({
      kind: 'writes',
      setpoint: 'safe',
      writes: [{ key: 'setpointW', words: [0x0000] }],
      keepAliveMs: 5_000,
    });
  });
});
