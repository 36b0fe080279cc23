import { decodeProfile, type BlockWords } from '../decode-profile';
import type { ModbusProfile } from '../profile-schema';
import { planProfileReads } from '../read-planner';
import { getProfile } from '../registry';

const profile = getProfile('siemens.pac2200') as ModbusProfile;
const holding = (start: number, words: number[]): BlockWords => ({ table: 'holding', start, words });

// Golden words typed by hand: float32 and float64 (Wh) big-endian, as the reference states.
describe('siemens.pac2200 golden registers', () => {
  it('decodes total power −500.25 W from 0xC3FA 0x2000 at 65', () => {
    expect(decodeProfile(profile, [holding(65, [0xc3fa, 0x2000])]).measurements.powerW).toBe(-500.25);
  });

  it('decodes float64 energy counters in Wh (801 import, 809 export)', () => {
    const reading = decodeProfile(profile, [
      holding(801, [0x40fe, 0x2408, 0x0000, 0x0000]),
      holding(809, [0x408f, 0x4000, 0x0000, 0x0000]),
    ]);
    expect(reading.measurements).toEqual({ importEnergyWh: 123_456.5, exportEnergyWh: 1_000 });
  });

  it('reads frequency at 55 (not 46)', () => {
    expect(decodeProfile(profile, [holding(55, [0x4248, 0x0000])]).measurements.frequencyHz).toBe(50);
  });

  it('reads 1..70 in one request and the energy counters in another', () => {
    expect(planProfileReads(profile).map((b) => [b.start, b.count])).toEqual([
      [1, 70],
      [801, 12],
    ]);
  });
});
