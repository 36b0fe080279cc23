import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSeriesCsv } from '@voltimax/sim';
import { frequencyAt, NOMINAL_FREQUENCY_HZ } from './frequency';
import { seriesProfile, syntheticProfile } from './profile';

const DATA = join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'fr_lorraine_household_202404_202405_30min.csv');
const paris = (local: string) => Date.parse(`${local}+02:00`);

describe('synthetic load/PV profile', () => {
  const profile = syntheticProfile({ timezone: 'Europe/Paris', pvPeakW: 4_000 });

  it('has no PV at night and close to the peak around 13:00 local time', () => {
    expect(profile.at(paris('2024-04-10T02:00:00')).pvW).toBe(0);
    expect(profile.at(paris('2024-04-10T13:00:00')).pvW).toBeCloseTo(4_000, -1);
  });

  it('has an evening load peak well above the night base load', () => {
    const night = profile.at(paris('2024-04-10T03:00:00')).loadW;
    const evening = profile.at(paris('2024-04-10T19:00:00')).loadW;
    expect(night).toBeGreaterThan(200);
    expect(night).toBeLessThan(400);
    expect(evening).toBeGreaterThan(1_500);
  });

  it('is deterministic', () => {
    const at = paris('2024-04-10T09:17:23');
    expect(profile.at(at)).toEqual(syntheticProfile({ timezone: 'Europe/Paris', pvPeakW: 4_000 }).at(at));
  });
});

describe('CSV load/PV profile', () => {
  const csv = [
    'timestamp,load_w,pv_w,price_eur_per_mwh',
    '2024-04-01T00:00:00Z,100,0,50',
    '2024-04-01T00:30:00Z,200,10,50',
    '2024-04-01T01:00:00Z,300,20,50',
  ].join('\n');
  const profile = seriesProfile(parseSeriesCsv(csv), 'test.csv');

  it('holds each interval mean over its interval and starts at the first row', () => {
    expect(profile.startAtMs).toBe(Date.parse('2024-04-01T00:00:00Z'));
    expect(profile.at(Date.parse('2024-04-01T00:29:59Z'))).toEqual({ loadW: 100, pvW: 0 });
    expect(profile.at(Date.parse('2024-04-01T00:30:00Z'))).toEqual({ loadW: 200, pvW: 10 });
  });

  it('repeats the data cyclically before and after it', () => {
    expect(profile.at(Date.parse('2024-04-01T01:30:00Z'))).toEqual({ loadW: 100, pvW: 0 });
    expect(profile.at(Date.parse('2024-03-31T23:59:00Z'))).toEqual({ loadW: 300, pvW: 20 });
  });

  (existsSync(DATA) ? it : it.skip)('reads the shared development data (2928 half hours)', () => {
    const real = seriesProfile(parseSeriesCsv(readFileSync(DATA, 'utf8')), DATA);
    expect(real.startAtMs).toBe(Date.parse('2024-03-31T22:00:00Z'));
    expect(real.at(Date.parse('2024-03-31T23:30:00Z'))).toEqual({ loadW: 3_932.7, pvW: 0 });
  });
});

describe('grid frequency signal', () => {
  it('wanders deterministically within ±0.03 Hz of 50 Hz', () => {
    const samples = Array.from({ length: 2_000 }, (_, i) => frequencyAt(i * 997));
    expect(Math.max(...samples.map((f) => Math.abs(f - NOMINAL_FREQUENCY_HZ)))).toBeLessThan(0.03);
    expect(new Set(samples.map((f) => f.toFixed(4))).size).toBeGreaterThan(100);
    expect(frequencyAt(123_456)).toBe(frequencyAt(123_456));
  });

  it('adds a step event for its duration only', () => {
    const step = { atMs: 60_000, durationMs: 30_000, deltaHz: -0.2 };
    expect(frequencyAt(59_999, step)).toBe(frequencyAt(59_999));
    expect(frequencyAt(60_000, step)).toBeCloseTo(frequencyAt(60_000) - 0.2, 12);
    expect(frequencyAt(89_999, step)).toBeCloseTo(frequencyAt(89_999) - 0.2, 12);
    expect(frequencyAt(90_000, step)).toBe(frequencyAt(90_000));
  });
});
