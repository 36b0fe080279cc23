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

  it('writes the safe steps with the shortest keep-alive for `safe`', () => {
    expect(encodeSetpoint(battery(), { kind: 'safe' })).toMatchObject({
      kind: 'writes',
      setpoint: 'safe',
      writes: [{ key: 'setpointW', words: [0x0000] }],
      keepAliveMs: 5_000,
    });
  });
});
