import fc from 'fast-check';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  allProfiles,
  decodePoint,
  DeviceProfileSchema,
  encodeSetpoint,
  getModbusProfile,
  getProfile,
  overlappingPoints,
  planProfileReads,
  PROFILE_INPUTS,
  registerCount,
  REQUIRED_CONTROLS,
  REQUIRED_KEYS,
  touchesRefusedRange,
  type ModbusProfile,
  type WriteStep,
} from './index';

const modbusProfiles = allProfiles.filter((p): p is ModbusProfile => p.protocol === 'modbus');
const repoRoot = join(__dirname, '..', '..', '..');

/** Unit a key's suffix implies (engineering unit after scaling). */
function unitOfKey(key: string): string | undefined {
  const suffixes: [RegExp, string][] = [
    [/Wh$/, 'Wh'],
    [/Va$/, 'VA'],
    [/Var$/, 'var'],
    [/W$/, 'W'],
    [/Pct$/, '%'],
    [/Hz$/, 'Hz'],
    [/V$/, 'V'],
    [/A$/, 'A'],
    [/C$/, '°C'],
  ];
  return suffixes.find(([re]) => re.test(key))?.[1];
}

describe('the profile registry', () => {
  it('parses every profile with the schema', () => {
    for (const input of PROFILE_INPUTS) expect(DeviceProfileSchema.safeParse(input).success).toBe(true);
  });

  it('has unique ids, each found by getProfile', () => {
    const ids = allProfiles.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const profile of allProfiles) expect(getProfile(profile.id)).toBe(profile);
    expect(getProfile('acme.unknown')).toBeUndefined();
  });

  it('narrows to register profiles with getModbusProfile', () => {
    expect(getModbusProfile('eastron.sdm630')?.modbus.defaultUnitId).toBe(1);
    expect(getModbusProfile('autel.maxicharger-ac')).toBeUndefined();
    expect(getModbusProfile('sunspec.generic')).toBeUndefined();
  });

  it('contains the expected devices', () => {
    expect(allProfiles.map((p) => p.id).sort()).toEqual(
      [
        'abb.b23-b24',
        'autel.maxicharger-ac',
        'cnte.ess-cabinet',
        'eastron.sdm630',
        'growatt.pv-tl-x',
        'growatt.sph',
        'growatt.tl-xh',
        'peblar.home',
        'siemens.pac2200',
        'sunspec.generic',
        'peblar.rest',
        'homewizard.p1',
        'shelly.pro-3em',
        'shelly.plus-1pm',
        'tasmota.energy',
      ].sort(),
    );
  });

  it.each(allProfiles.map((p) => [p.id, p] as const))('%s names a source file that exists', (_id, profile) => {
    const path = /^(libs\/devices\/\S+\.md)/.exec(profile.source)?.[1];
    expect(path).toBeDefined();
    expect(existsSync(join(repoRoot, path ?? ''))).toBe(true);
  });
});

describe.each(modbusProfiles.map((p) => [p.id, p] as const))('modbus profile %s', (_id, profile) => {
  it('has no overlapping registers', () => expect(overlappingPoints(profile)).toEqual([]));

  it('provides the keys its kind requires (points or derived)', () => {
    const keys = [...profile.points.map((p) => p.key), ...profile.derived.map((d) => d.key)];
    expect(keys).toEqual(expect.arrayContaining([...REQUIRED_KEYS[profile.kind]]));
  });

  it('can execute the set-points its kind requires', () => {
    expect(profile.controls.map((c) => c.setpoint)).toEqual(
      expect.arrayContaining([...REQUIRED_CONTROLS[profile.kind]]),
    );
  });

  it('gives every writable point a range', () => {
    for (const point of profile.points.filter((p) => p.access === 'rw')) {
      expect([point.key, point.min !== undefined && point.max !== undefined]).toEqual([point.key, true]);
    }
  });

  it('fits every point into maxRegistersPerRead and outside refused ranges', () => {
    for (const point of profile.points) {
      expect(registerCount(point)).toBeLessThanOrEqual(profile.modbus.maxRegistersPerRead);
      expect(touchesRefusedRange(profile.modbus.refusedRanges, point.table, point.address, registerCount(point))).toBe(
        false,
      );
    }
  });

  it('states units that agree with the key suffix', () => {
    for (const point of profile.points.filter((p) => p.unit !== undefined)) {
      expect([point.key, point.unit]).toEqual([point.key, unitOfKey(point.key)]);
    }
  });

  it.each(['poll', 'connect'] as const)('plans %s reads that cover each point once within the limits', (phase) => {
    const blocks = planProfileReads(profile, phase);
    const wanted = profile.points.filter((p) => phase === 'connect' || p.readOn === 'poll');
    for (const point of wanted) {
      const holders = blocks.filter(
        (b) =>
          b.table === point.table &&
          b.start <= point.address &&
          point.address + registerCount(point) <= b.start + b.count,
      );
      expect([point.key, holders.length]).toEqual([point.key, 1]);
    }
    for (const block of blocks) {
      expect(block.count).toBeLessThanOrEqual(profile.modbus.maxRegistersPerRead);
      expect(touchesRefusedRange(profile.modbus.refusedRanges, block.table, block.start, block.count)).toBe(false);
    }
  });

  it('encodes the safe set-point when it has controls', () => {
    if (profile.controls.length === 0) return;
    const outcome = encodeSetpoint(profile, { kind: 'safe' }, { scaleFactors: { WSet_SF: 0 } });
    expect(outcome.kind).toBe('writes');
  });

  it('never writes a set-point past the value asked: its register reads back no further from zero, within a step', () => {
    const valued = profile.controls.filter((c) =>
      [...(c.steps ?? []), ...Object.values(c.bySign ?? {}).flat()].some((s: WriteStep) => s.value === 'setpoint'),
    );
    if (valued.length === 0) return;
    const scaleNames = [...new Set(profile.points.flatMap((p) => (p.scaleFrom === undefined ? [] : [p.scaleFrom])))];
    fc.assert(
      fc.property(
        fc.constantFrom(...valued),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1_000, max: 30_000 }),
        fc.array(fc.integer({ min: -2, max: 1 }), { minLength: scaleNames.length, maxLength: scaleNames.length }),
        (control, share, ratedPowerW, exponents) => {
          const scaleFactors = Object.fromEntries(scaleNames.map((name, i) => [name, exponents[i] ?? 0]));
          // a field value inside the control's range (for percent scalings, its range in W of this rating)
          const toField = control.scaling === 'value' ? 1 : ratedPowerW / 100;
          const min = control.scaling === 'abs-percent-of-rated' ? -control.range.max : control.range.min;
          const field = (min + share * (control.range.max - min)) * toField;
          const setpoint =
            control.setpoint === 'battery-power'
              ? { kind: control.setpoint, powerW: field }
              : control.setpoint === 'ev-current'
                ? { kind: control.setpoint, currentA: Math.abs(field) }
                : { kind: control.setpoint, maxPowerW: Math.abs(field) };
          const outcome = encodeSetpoint(profile, setpoint, { ratedPowerW, scaleFactors });
          if (outcome.kind !== 'writes' || outcome.value === undefined) return;
          const asked = outcome.value;
          const write = outcome.writes.find((w) => w.value === asked && profile.points.some((p) => p.key === w.key));
          const point = profile.points.find((p) => p.key === write?.key);
          if (write === undefined || point === undefined || point.type === 'f32' || point.type === 'f64') return;
          const exponent = point.scaleFrom === undefined ? 0 : (scaleFactors[point.scaleFrom] ?? 0);
          const stepSize = Math.abs(point.scale) * 10 ** exponent;
          const readBack = decodePoint(point, write.words, exponent) as number;
          expect(Math.abs(readBack)).toBeLessThanOrEqual(Math.abs(asked) + 1e-9 * Math.max(1, Math.abs(asked)));
          expect(Math.abs(asked) - Math.abs(readBack)).toBeLessThan(stepSize * (1 + 1e-9));
          if (readBack !== 0) expect(Math.sign(readBack)).toBe(Math.sign(asked));
        },
      ),
    );
  });
});
