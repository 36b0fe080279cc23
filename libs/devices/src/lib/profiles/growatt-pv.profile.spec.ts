import { decodeProfile, type BlockWords } from '../decode-profile';
import { encodeSetpoint } from '../encode-setpoint';
import type { ModbusProfile } from '../profile-schema';
import { getProfile } from '../registry';

const profile = getProfile('growatt.pv-tl-x') as ModbusProfile;
const input = (start: number, words: number[]): BlockWords => ({ table: 'input', start, words });

// Golden words typed by hand from the Growatt protocol scalings (0.1 W, 0.1 V, 0.01 Hz, 0.1 kWh, 0.1 °C).
describe('growatt.pv-tl-x golden registers', () => {
  it('decodes AC power 10 000.0 W from 0x0001 0x86A0 at input 35 and PV power at input 1', () => {
    const reading = decodeProfile(profile, [input(1, [0x0001, 0x9a28]), input(35, [0x0001, 0x86a0])]);
    expect(reading.measurements.powerW).toBe(10_000);
    expect(reading.values.pvPowerW).toBe(10_500);
  });

  it('decodes frequency, L1 voltage/current, AC energy (0.1 kWh → Wh) and temperature', () => {
    const reading = decodeProfile(profile, [
      input(37, [0x1389, 0x08fd, 0x00c8]),
      input(55, [0x0000, 0x3039]),
      input(93, [0xff9c]),
    ]);
    expect(reading.measurements).toEqual({
      frequencyHz: 50.01,
      voltageL1V: 230.1,
      currentL1A: 20,
      exportEnergyWh: 1_234_500,
      temperatureC: -10,
    });
  });

  it('reports a negative standby AC power as implausible (PV ≥ 0), never clamps it', () => {
    const reading = decodeProfile(profile, [input(35, [0xffff, 0xffe2])]);
    expect(reading.measurements.powerW).toBeUndefined();
    expect(reading.issues).toContainEqual({
      key: 'powerW',
      outcome: { kind: 'implausible', value: -3, reason: 'below-min', limit: 0 },
    });
  });
});

describe('growatt.pv-tl-x export limit', () => {
  it('writes 60 % (0x003C) to holding 3 for 6 kW of a 10 kW inverter', () => {
    expect(encodeSetpoint(profile, { kind: 'pv-limit', maxPowerW: 6_000 }, { ratedPowerW: 10_000 })).toMatchObject({
      kind: 'writes',
      writes: [{ table: 'holding', address: 3, words: [0x003c] }],
      value: 60,
      exact: false,
    });
  });

  it('clamps a limit above rated power to 100 % and says so', () => {
    expect(encodeSetpoint(profile, { kind: 'pv-limit', maxPowerW: 12_000 }, { ratedPowerW: 10_000 })).toMatchObject({
      kind: 'writes',
      writes: [{ address: 3, words: [0x0064] }],
      clamped: { requested: 120, applied: 100 },
    });
  });

  it('needs the rated power', () => {
    expect(encodeSetpoint(profile, { kind: 'pv-limit', maxPowerW: 6_000 })).toMatchObject({
      kind: 'rejected',
      reason: 'missing-rated-power',
    });
  });

  it('lifts the limit for the safe set-point', () => {
    expect(encodeSetpoint(profile, { kind: 'safe' })).toMatchObject({
      kind: 'writes',
      writes: [{ address: 3, words: [0x0064] }],
    });
  });
});
