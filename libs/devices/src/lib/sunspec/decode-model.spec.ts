import { COMMON_MODEL_WORDS, INVERTER_103_WORDS } from '../../testing';
import { decodeModel, sunSpecNumber, type DecodedSunSpecModel } from './decode-model';
import { getSunSpecModel } from './models';

function decoded(id: number, words: readonly number[]): DecodedSunSpecModel {
  const definition = getSunSpecModel(id);
  if (definition === undefined) throw new Error(`model ${id} not shipped`);
  const result = decodeModel(definition, words);
  if (result.kind !== 'decoded') throw new Error(`model ${id}: ${result.kind}`);
  return result.model;
}

describe('decodeModel: common model 1', () => {
  const model = decoded(1, COMMON_MODEL_WORDS);

  it('decodes the identity strings', () => {
    expect(model.points['Mn']).toEqual({ kind: 'value', value: 'Acme' });
    expect(model.points['Md']).toEqual({ kind: 'value', value: 'PV-10' });
    expect(model.points['Vr']).toEqual({ kind: 'value', value: '1.2' });
    expect(model.points['SN']).toEqual({ kind: 'value', value: 'SN123' });
  });

  it('treats an all-zero string as absent, not as ""', () =>
    expect(model.points['Opt']).toEqual({ kind: 'not-implemented', because: 'sentinel' }));
  it('skips pad registers', () => expect(model.points['Pad']).toBeUndefined());
});

describe('decodeModel: inverter model 103 with scale factors', () => {
  const model = decoded(103, INVERTER_103_WORDS);

  it.each([
    ['A', 12.34],
    ['AphA', 4.11],
    ['PhVphA', 230.1],
    ['PhVphC', 229.9],
    ['W', 12_340],
    ['Hz', 50.01],
    ['WH', 1_234_560],
    ['TmpCab', 45],
  ])('%s = %d', (name, value) => expect(sunSpecNumber(model, name)).toBe(value));

  it.each(['AphC', 'VA', 'VAr', 'PF', 'DCA', 'DCV', 'DCW', 'TmpSnk', 'StVnd'])(
    '%s is not implemented (absent, not 0)',
    (name) => {
      expect(model.points[name]?.kind).toBe('not-implemented');
    },
  );

  it('names enum values with their symbol', () =>
    expect(model.points['St']).toEqual({ kind: 'value', value: 4, symbol: 'MPPT' }));

  it('keeps units from the definition', () =>
    expect(model.points['W']).toEqual({ kind: 'value', value: 12_340, units: 'W' }));

  it('refuses words of another model', () => {
    const definition = getSunSpecModel(101);
    expect(definition && decodeModel(definition, INVERTER_103_WORDS)).toEqual({
      kind: 'wrong-model',
      expectedId: 101,
      actualId: 103,
    });
  });

  it('reports points beyond the words given as missing', () => {
    const short = decoded(103, INVERTER_103_WORDS.slice(0, 20));
    expect(sunSpecNumber(short, 'W')).toBe(12_340);
    expect(short.points['WH']).toEqual({ kind: 'missing', because: 'truncated' });
  });

  it('treats a value whose scale factor is 0x8000 as not implemented', () => {
    const words = [...INVERTER_103_WORDS];
    words[15] = 0x8000; // W_SF
    expect(decoded(103, words).points['W']).toEqual({ kind: 'not-implemented', because: 'scale-factor' });
  });
});

describe('decodeModel: repeating groups', () => {
  // Model 160 (MPPT): 8 fixed registers after ID/L, then a module group of 20 registers repeated to fill L.
  // prettier-ignore
  const mppt = [
    0x00a0, 0x0030, // ID 160, L 48 (8 + 2 × 20)
    0xfffe, 0xffff, 0x0000, 0x0000, // DCA_SF −2, DCV_SF −1, DCW_SF 0, DCWH_SF 0
    0x0000, 0x0000, 0x0002, 0x0000, // Evt, N 2, TmsPer
    0x0001, 0x5056, 0x3100, 0, 0, 0, 0, 0, 0, // module 1: ID, IDStr "PV1"
    0x0352, 0x0fa0, 0x0d48, 0x0000, 0x2710, 0x0000, 0x0000, 0x8000, 0x0004, 0x0000, 0x0000, // DCA 850, DCV 4000, DCW 3400, DCWH 10000, Tms, Tmp n/i, DCSt 4, DCEvt
    0x0002, 0x5056, 0x3200, 0, 0, 0, 0, 0, 0, // module 2: ID, IDStr "PV2"
    0xffff, 0x0f6e, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0019, 0x0003, 0x0000, 0x0000, // DCA n/i, DCV 3950, DCW 0, DCWH 0 (acc32 n/i), Tms, Tmp 25, DCSt 3
  ];

  it("repeats a count-0 group to fill the model, scaling with the top group's factors", () => {
    const modules = decoded(160, mppt).groups['module'] ?? [];
    expect(modules).toHaveLength(2);
    const [first, second] = modules;
    expect(
      first && [
        sunSpecNumber(first, 'DCA'),
        sunSpecNumber(first, 'DCV'),
        sunSpecNumber(first, 'DCW'),
        sunSpecNumber(first, 'DCWH'),
      ],
    ).toEqual([8.5, 400, 3_400, 10_000]);
    expect(first?.points['IDStr']).toEqual({ kind: 'value', value: 'PV1' });
    expect(first?.points['Tmp']?.kind).toBe('not-implemented');
    expect(second?.points['DCA']?.kind).toBe('not-implemented');
    expect(second?.points['DCWH']?.kind).toBe('not-implemented');
    expect(second && sunSpecNumber(second, 'DCV')).toBe(395);
  });

  it('repeats a group as often as its count point says (803: NStr strings, SoC_SF from the bank)', () => {
    const words = new Array<number>(2 + 26 + 2 * 32).fill(0);
    words[0] = 803;
    words[1] = 26 + 2 * 32;
    words[2] = 2; // NStr
    words[26] = 0xffff; // SoC_SF −1 (offset 26 in the bank group)
    words[28 + 4] = 853; // string 1 StrSoC (offset 4 in the string group)
    words[28 + 32 + 4] = 0xffff; // string 2 StrSoC not implemented
    const strings = decoded(803, words).groups['string'] ?? [];
    expect(strings).toHaveLength(2);
    expect(strings[0] && sunSpecNumber(strings[0], 'StrSoC')).toBe(85.3);
    expect(strings[1]?.points['StrSoC']?.kind).toBe('not-implemented');
  });
});
