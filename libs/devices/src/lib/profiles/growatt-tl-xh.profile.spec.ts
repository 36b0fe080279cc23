import { decodeProfile, type BlockWords } from '../decode-profile';
import { encodeSetpoint } from '../encode-setpoint';
import type { ModbusProfile } from '../profile-schema';
import { planProfileReads } from '../read-planner';
import { getProfile } from '../registry';

const profile = getProfile('growatt.tl-xh') as ModbusProfile;
const input = (start: number, words: number[]): BlockWords => ({ table: 'input', start, words });
const writesOf = (outcome: ReturnType<typeof encodeSetpoint>) =>
  outcome.kind === 'writes' ? outcome.writes.map((w) => [w.address, ...w.words]) : outcome;

// Golden words typed by hand from the TL-XH block facts (input 3000–3249).
describe('growatt.tl-xh golden registers', () => {
  it('decodes SoC 100 % (3171), discharge 500.0 W (3178 = 0x1388) and PV 5000.0 W (3001 = 0xC350)', () => {
    const reading = decodeProfile(profile, [
      input(3001, [0x0000, 0xc350]),
      input(3171, [0x0064]),
      input(3178, [0x0000, 0x1388, 0x0000, 0x0000]),
    ]);
    expect(reading.measurements).toMatchObject({ socPct: 100, powerW: 500 });
    expect(reading.values.pvPowerW).toBe(5_000);
  });

  it('polls in two blocks within the documented range', () => {
    expect(
      planProfileReads(profile)
        .filter((b) => b.table === 'input')
        .map((b) => [b.start, b.count]),
    ).toEqual([
      [3001, 74],
      [3127, 55],
    ]);
  });
});

describe('growatt.tl-xh battery control (evcc recipe)', () => {
  it('force-charges at 10 % with slot 1 = 0xA000173B (enabled, battery first, 00:00–23:59)', () => {
    expect(
      writesOf(encodeSetpoint(profile, { kind: 'battery-power', powerW: -1_000 }, { ratedPowerW: 10_000 })),
    ).toEqual([
      [3047, 0x000a],
      [3049, 0x0001],
      [3038, 0xa000, 0x173b],
    ]);
  });

  it('disables the slot (0x2000173B) for normal operation', () => {
    expect(
      writesOf(encodeSetpoint(profile, { kind: 'battery-power', powerW: 2_000 }, { ratedPowerW: 10_000 })),
    ).toEqual([
      [3049, 0x0000],
      [3038, 0x2000, 0x173b],
    ]);
  });
});
