import { decodeProfile, type BlockWords } from '../decode-profile';
import type { ModbusProfile } from '../profile-schema';
import { getProfile } from '../registry';

const profile = getProfile('eastron.sdm630') as ModbusProfile;
const input = (start: number, words: number[]): BlockWords => ({ table: 'input', start, words });

// Golden words typed by hand from the datasheet facts (IEEE-754 float32, high word first), not produced by our encoder.
describe('eastron.sdm630 golden registers', () => {
  it('decodes total power 1234.5 W (import) from 0x449A 0x5000 at 0x0034', () => {
    expect(decodeProfile(profile, [input(0x0034, [0x449a, 0x5000])]).measurements.powerW).toBe(1234.5);
  });

  it('keeps the meter sign: 0xC49A 0x5000 is −1234.5 W (export)', () => {
    expect(decodeProfile(profile, [input(0x0034, [0xc49a, 0x5000])]).measurements.powerW).toBe(-1234.5);
  });

  it('decodes voltages, currents, frequency and kWh energies (→ Wh) of a full poll', () => {
    const reading = decodeProfile(profile, [
      input(0x0000, [0x4366, 0x0000, 0x4365, 0x8000, 0x4366, 0x0000, 0x40a0, 0x0000, 0x40a0, 0x0000, 0x40a0, 0x0000]),
      input(0x0046, [0x4248, 0x0000, 0x4148, 0x0000, 0x3f80, 0x0000]),
    ]);
    expect(reading.measurements).toEqual({
      voltageL1V: 230,
      voltageL2V: 229.5,
      voltageL3V: 230,
      currentL1A: 5,
      currentL2A: 5,
      currentL3A: 5,
      frequencyHz: 50,
      importEnergyWh: 12_500,
      exportEnergyWh: 1_000,
    });
  });

  it('reports a NaN float as implausible instead of a value', () => {
    const reading = decodeProfile(profile, [input(0x0034, [0x7fc0, 0x0000])]);
    expect(reading.measurements.powerW).toBeUndefined();
    expect(reading.issues).toContainEqual({
      key: 'powerW',
      outcome: { kind: 'implausible', value: NaN, reason: 'not-finite' },
    });
  });

  it('reports a frequency outside 45..65 Hz as implausible (0x4316 0x0000 = 150 Hz)', () => {
    const reading = decodeProfile(profile, [input(0x0046, [0x4316, 0x0000])]);
    expect(reading.issues).toContainEqual({
      key: 'frequencyHz',
      outcome: { kind: 'implausible', value: 150, reason: 'above-max', limit: 65 },
    });
  });
});
