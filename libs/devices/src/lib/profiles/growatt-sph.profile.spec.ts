import { decodeProfile, type BlockWords } from '../decode-profile';
import { encodeSetpoint } from '../encode-setpoint';
import type { ModbusProfile } from '../profile-schema';
import { getProfile } from '../registry';

const profile = getProfile('growatt.sph') as ModbusProfile;
const input = (start: number, words: number[]): BlockWords => ({ table: 'input', start, words });
const writesOf = (outcome: ReturnType<typeof encodeSetpoint>) =>
  outcome.kind === 'writes' ? outcome.writes.map((w) => [w.address, ...w.words]) : outcome;

// Golden words typed by hand from the storage block facts (input 1000–1124, 0.1 W, SoC 1 %).
describe('growatt.sph golden registers', () => {
  it('turns discharge 1000.0 W (1009 = 0x2710) and charge 0 W into powerW +1000 (battery sign)', () => {
    const reading = decodeProfile(profile, [input(1009, [0x0000, 0x2710, 0x0000, 0x0000, 0x0000, 0x0055])]);
    expect(reading.measurements).toMatchObject({ powerW: 1_000, socPct: 85 });
  });

  it('turns charge 2000.0 W (1011 = 0x4E20) into powerW −2000', () => {
    expect(decodeProfile(profile, [input(1009, [0x0000, 0x0000, 0x0000, 0x4e20])]).measurements.powerW).toBe(-2_000);
  });

  it('derives grid power, import positive, from import 1021 and export 1029', () => {
    const reading = decodeProfile(profile, [input(1021, [0x0000, 0x0bb8]), input(1029, [0x0000, 0x0000])]);
    expect(reading.values.gridPowerW).toBe(300);
  });

  it('reads battery temperature 25.0 °C (1040 = 0x00FA) and battery energies in Wh', () => {
    const reading = decodeProfile(profile, [
      input(1040, [0x00fa]),
      input(1054, [0x0000, 0x3039, 0x0000, 0x0001, 0x0000, 0x0064]),
    ]);
    expect(reading.measurements).toEqual({ temperatureC: 25, exportEnergyWh: 1_234_500, importEnergyWh: 10_000 });
  });

  it('leaves powerW out (reported) when one of its registers is missing', () => {
    const reading = decodeProfile(profile, [input(1009, [0x0000, 0x2710])]);
    expect(reading.measurements.powerW).toBeUndefined();
    expect(reading.issues).toContainEqual({ key: 'powerW', outcome: { kind: 'missing', reason: 'term-missing' } });
  });

  it('reports an SoC above 100 % as implausible', () => {
    expect(decodeProfile(profile, [input(1014, [0x0065])]).issues).toContainEqual({
      key: 'socPct',
      outcome: { kind: 'implausible', value: 101, reason: 'above-max', limit: 100 },
    });
  });
});

describe('growatt.sph battery control (evcc recipe)', () => {
  it('force-charges at 50 % for −2500 W of a 5 kW battery: slot 00:00–23:59, rate, AC charge, slot enable', () => {
    const outcome = encodeSetpoint(profile, { kind: 'battery-power', powerW: -2_500 }, { ratedPowerW: 5_000 });
    expect(writesOf(outcome)).toEqual([
      [1100, 0x0000],
      [1101, 0x173b],
      [1090, 0x0032],
      [1092, 0x0001],
      [1102, 0x0001],
    ]);
    expect(outcome).toMatchObject({ exact: false, value: 50 });
  });

  it('holds for 0 W (and within the 50 W idle band)', () => {
    const expected = [
      [1100, 0x0000],
      [1101, 0x173b],
      [1092, 0x0000],
      [1102, 0x0001],
    ];
    expect(writesOf(encodeSetpoint(profile, { kind: 'battery-power', powerW: 0 }, { ratedPowerW: 5_000 }))).toEqual(
      expected,
    );
    expect(writesOf(encodeSetpoint(profile, { kind: 'battery-power', powerW: -40 }, { ratedPowerW: 5_000 }))).toEqual(
      expected,
    );
  });

  it('returns to normal load-first operation for a discharge set-point (not exact)', () => {
    const outcome = encodeSetpoint(profile, { kind: 'battery-power', powerW: 3_000 }, { ratedPowerW: 5_000 });
    expect(writesOf(outcome)).toEqual([
      [1102, 0x0000],
      [1092, 0x0000],
    ]);
    expect(outcome).toMatchObject({ exact: false });
    expect(outcome).not.toHaveProperty('value');
  });

  it('writes normal mode and an unlimited export for the safe set-point', () => {
    expect(writesOf(encodeSetpoint(profile, { kind: 'safe' }))).toEqual([
      [1102, 0x0000],
      [1092, 0x0000],
      [3, 0x0064],
    ]);
  });
});
