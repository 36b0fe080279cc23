import {
  DeviceProfileSchema,
  ModbusProfileSchema,
  profileSetpoints,
  RegisterPointSchema,
  type DeviceProfileInput,
} from './profile-schema';
import { getProfile } from './registry';

const base = {
  id: 'acme.pm3',
  vendor: 'Acme',
  model: 'PM3',
  source: 'test',
  protocol: 'modbus',
  kind: 'meter',
  modbus: { defaultUnitId: 1, transports: ['tcp'] },
  points: [{ key: 'powerW', table: 'input', address: 16, type: 's32', scale: 0.1 }],
} satisfies DeviceProfileInput;

const messages = (input: unknown): string[] => {
  const result = DeviceProfileSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => i.message);
};

describe('DeviceProfileSchema', () => {
  it('accepts a minimal profile and applies defaults once', () => {
    const parsed = ModbusProfileSchema.parse(base);
    expect(parsed.points[0]).toMatchObject({
      wordOrder: 'hi-lo',
      access: 'r',
      invert: false,
      readOn: 'poll',
      notImplemented: [],
    });
    expect(parsed.modbus).toMatchObject({ maxRegistersPerRead: 100, maxGapRegisters: 8, refusedRanges: [], probe: [] });
  });

  it('rejects an id that is not vendor.model', () => expect(messages({ ...base, id: 'Acme PM3' })).toHaveLength(1));

  it('rejects a key that is neither a measurement nor a known extra/identity/control key', () => {
    expect(
      messages({ ...base, points: [{ key: 'activePowerW', table: 'input', address: 0, type: 'u16' }] })[0],
    ).toMatch(/unknown point key/);
  });

  it('rejects duplicate keys and overlapping registers', () => {
    const problems = messages({
      ...base,
      points: [
        { key: 'powerW', table: 'input', address: 16, type: 's32' },
        { key: 'powerW', table: 'input', address: 40, type: 's32' },
        { key: 'frequencyHz', table: 'input', address: 17, type: 'u16' },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/duplicate key/), expect.stringMatching(/share registers/)]),
    );
  });

  it('allows the same address in different tables', () => {
    expect(
      messages({
        ...base,
        points: [...base.points, { key: 'frequencyHz', table: 'holding', address: 16, type: 'u16' }],
      }),
    ).toEqual([]);
  });

  it('rejects a writable point without a range, and writable input registers', () => {
    expect(
      messages({ ...base, points: [{ key: 'setpointW', table: 'holding', address: 0, type: 's16', access: 'rw' }] })[0],
    ).toMatch(/need min and max/);
    expect(
      messages({
        ...base,
        points: [{ key: 'setpointW', table: 'input', address: 0, type: 's16', access: 'rw', min: 0, max: 1 }],
      })[0],
    ).toMatch(/read-only/);
  });

  it('rejects strings without length, and bool outside coil/discrete tables', () => {
    expect(
      RegisterPointSchema.safeParse({ key: 'serialNumber', table: 'input', address: 0, type: 'string' }).success,
    ).toBe(false);
    expect(RegisterPointSchema.safeParse({ key: 'statusCode', table: 'input', address: 0, type: 'bool' }).success).toBe(
      false,
    );
    expect(RegisterPointSchema.safeParse({ key: 'statusCode', table: 'coil', address: 0, type: 'bool' }).success).toBe(
      true,
    );
  });

  it('rejects an unknown scale factor and a point inside a refused range', () => {
    expect(messages({ ...base, points: [{ ...base.points[0], scaleFrom: 'W_SF' }] })[0]).toMatch(
      /unknown scale factor/,
    );
    expect(
      messages({ ...base, modbus: { ...base.modbus, refusedRanges: [{ table: 'input', start: 17, end: 20 }] } })[0],
    ).toMatch(/refused range/);
  });

  it('rejects a point larger than maxRegistersPerRead', () => {
    expect(
      messages({
        ...base,
        modbus: { ...base.modbus, maxRegistersPerRead: 8 },
        points: [{ key: 'serialNumber', table: 'input', address: 0, type: 'string', length: 10 }],
      })[0],
    ).toMatch(/more than maxRegistersPerRead/);
  });

  it('rejects controls whose steps do not reference writable points or exceed their range', () => {
    const writable = {
      key: 'setpointW',
      table: 'holding',
      address: 100,
      type: 's32',
      access: 'rw',
      min: -5000,
      max: 5000,
    } as const;
    const control = {
      setpoint: 'battery-power',
      range: { min: -5000, max: 5000 },
      steps: [{ key: 'setpointW', value: 'setpoint' }],
      safeSteps: [{ key: 'setpointW', value: 0 }],
    } as const;
    expect(messages({ ...base, points: [...base.points, writable], controls: [control] })).toEqual([]);
    expect(
      messages({
        ...base,
        points: [...base.points, writable],
        controls: [{ ...control, steps: [{ key: 'powerW', value: 'setpoint' }] }],
      })[0],
    ).toMatch(/not a writable point/);
    expect(
      messages({
        ...base,
        points: [...base.points, writable],
        controls: [{ ...control, range: { min: -9000, max: 9000 } }],
      })[0],
    ).toMatch(/range exceeds/);
    expect(
      messages({
        ...base,
        points: [...base.points, writable],
        controls: [{ ...control, safeSteps: [{ key: 'setpointW', value: 'setpoint' }] }],
      })[0],
    ).toMatch(/safe steps write constants/);
  });

  it('rejects derived values over unknown terms', () => {
    expect(
      messages({ ...base, derived: [{ key: 'gridPowerW', terms: [{ key: 'gridImportPowerW', sign: 1 }] }] })[0],
    ).toMatch(/unknown term/);
  });
});

describe('profileSetpoints: what the gateway can execute with a profile', () => {
  const setpointsOf = (id: string) => {
    const profile = getProfile(id);
    if (profile === undefined) throw new Error(`no profile ${id}`);
    return [...profileSetpoints(profile)].sort();
  };

  it.each([
    ['growatt.sph', ['battery-power', 'pv-limit']], // register controls
    ['growatt.pv-tl-x', ['pv-limit']],
    ['eastron.sdm630', []], // a meter
    ['peblar.rest', ['ev-current']], // an HTTP profile's writes
    ['shelly.plus-1pm', ['ev-current']], // an MQTT profile's writes
    ['autel.maxicharger-ac', ['ev-current']], // OCPP: ocpp-csms sets the current
    ['sunspec.generic', []], // the poller refuses SunSpec writes
  ])('%s → %j', (id, expected) => {
    expect(setpointsOf(id)).toEqual(expected);
  });
});
