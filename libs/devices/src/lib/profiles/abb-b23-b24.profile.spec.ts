import { decodeProfile, type BlockWords } from '../decode-profile';
import type { ModbusProfile } from '../profile-schema';
import { getProfile } from '../registry';

const profile = getProfile('abb.b23-b24') as ModbusProfile;
const holding = (start: number, words: number[]): BlockWords => ({ table: 'holding', start, words });

// Golden words typed by hand from the ABB B-series facts: big-endian integers with fixed divisors.
describe('abb.b23-b24 golden registers', () => {
  it('decodes −1234.56 W from int32 0xFFFE 0x1DC0 (÷100) at 0x5B14', () => {
    expect(decodeProfile(profile, [holding(0x5b14, [0xfffe, 0x1dc0])]).measurements.powerW).toBe(-1234.56);
  });

  it('decodes uint64 import energy 0x00BC614E (0.01 kWh) as 123 456 780 Wh', () => {
    expect(
      decodeProfile(profile, [holding(0x5000, [0x0000, 0x0000, 0x00bc, 0x614e])]).measurements.importEnergyWh,
    ).toBe(123_456_780);
  });

  it('decodes voltage (÷10), current (÷100), frequency (÷100) and power factor (÷1000)', () => {
    const reading = decodeProfile(profile, [
      holding(0x5b00, [0x0000, 0x08fd]),
      holding(0x5b0c, [0x0000, 0x03e8]),
      holding(0x5b2c, [0x1388]),
      holding(0x5b3a, [0xfc18]),
    ]);
    expect(reading.measurements).toEqual({ voltageL1V: 230.1, currentL1A: 10, frequencyHz: 50 });
    expect(reading.values.powerFactor).toBe(-1);
  });

  it('treats 0xFFFF… (unsigned) and 0x7FFF… (signed) as not available, never as numbers', () => {
    const reading = decodeProfile(profile, [holding(0x5b02, [0xffff, 0xffff]), holding(0x5b16, [0x7fff, 0xffff])]);
    expect(reading.measurements).toEqual({});
    expect(reading.issues).toEqual(
      expect.arrayContaining([
        { key: 'voltageL2V', outcome: { kind: 'not-implemented', sentinel: 'all-ones' } },
        { key: 'powerL1W', outcome: { kind: 'not-implemented', sentinel: 'signed-max' } },
      ]),
    );
  });
});
