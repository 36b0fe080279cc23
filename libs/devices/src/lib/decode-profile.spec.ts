import { decodeProfile, wordsAt, type BlockWords } from './decode-profile';
import { ModbusProfileSchema } from './profile-schema';

const profile = ModbusProfileSchema.parse({
  id: 'acme.hybrid',
  vendor: 'Acme',
  model: 'Hybrid (test)',
  source: 'test',
  protocol: 'modbus',
  kind: 'battery',
  modbus: { defaultUnitId: 1, transports: ['tcp'] },
  scaleFactors: [{ name: 'W_SF', table: 'holding', address: 9 }],
  points: [
    { key: 'batteryDischargePowerW', table: 'input', address: 0, type: 'u16' },
    { key: 'batteryChargePowerW', table: 'input', address: 1, type: 'u16' },
    { key: 'socPct', table: 'input', address: 2, type: 'u16', min: 0, max: 100 },
    {
      key: 'setpointW',
      table: 'holding',
      address: 10,
      type: 's16',
      scaleFrom: 'W_SF',
      access: 'rw',
      min: -5000,
      max: 5000,
      invert: true,
    },
    { key: 'serialNumber', table: 'input', address: 20, type: 'string', length: 2, readOn: 'connect' },
  ],
  derived: [
    {
      key: 'powerW',
      terms: [
        { key: 'batteryDischargePowerW', sign: 1 },
        { key: 'batteryChargePowerW', sign: -1 },
      ],
    },
  ],
});

const block = (table: BlockWords['table'], start: number, words: number[]): BlockWords => ({ table, start, words });

describe('wordsAt', () => {
  const blocks = [block('input', 0, [1, 2, 3]), block('input', 2, [9, 4])];
  it('joins words across blocks, later blocks winning', () =>
    expect(wordsAt(blocks, 'input', 1, 3)).toEqual([2, 9, 4]));
  it('returns undefined when any word is missing', () => expect(wordsAt(blocks, 'input', 3, 2)).toBeUndefined());
  it('keeps tables apart', () => expect(wordsAt(blocks, 'holding', 0, 1)).toBeUndefined());
});

describe('decodeProfile', () => {
  it('decodes points, derived values and scale factors of a poll', () => {
    const reading = decodeProfile(profile, [block('input', 0, [0, 1500, 42]), block('holding', 9, [0x0001, 0x0096])]);
    expect(reading.measurements).toEqual({ socPct: 42, powerW: -1500, setpointW: -1500 });
    expect(reading.values).toMatchObject({ batteryChargePowerW: 1500, batteryDischargePowerW: 0 });
    expect(reading.scaleFactors).toEqual({ W_SF: 1 });
    expect(reading.issues).toEqual([]);
  });

  it('skips connect-only points that were not read, but reports missing poll points', () => {
    const reading = decodeProfile(profile, [block('input', 0, [0, 0])]);
    expect(reading.issues.map((i) => i.key).sort()).toEqual(['setpointW', 'socPct']);
  });

  it('reports a missing scale factor rather than decoding unscaled', () => {
    const reading = decodeProfile(profile, [block('holding', 10, [0x0096])]);
    expect(reading.issues).toContainEqual({
      key: 'setpointW',
      outcome: { kind: 'missing', reason: 'scale-factor-missing' },
    });
  });

  it('decodes connect-only points when they were read', () => {
    expect(decodeProfile(profile, [block('input', 20, [0x4142, 0x4300])]).values.serialNumber).toBe('ABC');
  });
});
