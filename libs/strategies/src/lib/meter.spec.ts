import { localTimeMs } from '../testing';
import {
  HISTORY_DAYS,
  INITIAL_METER_MEMORY,
  type MeterMemory,
  PROFILE_BLOCKS,
  alternativeWeight,
  blockCapW,
  historyNetW,
  notePredictions,
  observeMeter,
  profileHighNetW,
  profileNetW,
  profilePrevNetW,
} from './meter';

const MIN = 60_000;
const Q = 15 * MIN;
const DAY = 86_400_000;
const TZ = 'Europe/Paris';

/** Feeds readings { atMs, netW, batteryW } through the meter. */
function feed(readings: readonly { atMs: number; netW: number; batteryW?: number }[], maxGapMs = Q, start: MeterMemory = INITIAL_METER_MEMORY): MeterMemory {
  let m = start;
  for (const r of readings) m = observeMeter(m, { nowMs: r.atMs, netW: r.netW, batteryW: r.batteryW ?? 0, timezone: TZ }, maxGapMs);
  return m;
}

describe('observeMeter', () => {
  const t0 = localTimeMs('2025-03-10T10:00', TZ);

  it('integrates 15-min readings: each holds for its quarter hour, minus what the battery did meanwhile', () => {
    // 10:00 demand 3 kW; at 10:15 the battery reports 1 kW discharge over that quarter hour → import 2 kW.
    const m = feed([
      { atMs: t0, netW: 3_000 },
      { atMs: t0 + Q, netW: 500, batteryW: 1_000 },
    ]);
    expect(m.monthPeakW).toBe(2_000);
    expect(m.monthKey).toBe('2025-03');
  });

  it('averages readings inside a quarter hour (a one-minute spike does not make a peak)', () => {
    const readings = Array.from({ length: 16 }, (_, i) => ({ atMs: t0 + i * MIN, netW: i === 3 ? 9_000 : 1_000 }));
    // (14 × 1 kW + 9 kW) / 15 min = 1.533 kW
    expect(feed(readings).monthPeakW).toBeCloseTo((14 * 1_000 + 9_000) / 15, 6);
  });

  it('counts only the first maxGapMs of a longer gap', () => {
    // 3 kW at 10:00, next reading at 11:00 with a 5-min limit: only 10:00–10:05 is known; its mean is 3 kW.
    const m = feed([
      { atMs: t0, netW: 3_000 },
      { atMs: t0 + 60 * MIN, netW: 0 },
    ], 5 * MIN);
    expect(m.monthPeakW).toBe(3_000);
  });

  it('starts a new month (site time) with no peak', () => {
    const end = localTimeMs('2025-03-31T23:45', TZ);
    const m = feed([
      { atMs: end, netW: 4_000 },
      { atMs: end + Q, netW: 100 },
    ]);
    expect(m.monthKey).toBe('2025-04');
    expect(m.monthPeakW).toBe(0);
    const next = feed([{ atMs: end + 2 * Q, netW: 0 }], Q, m);
    expect(next.monthPeakW).toBe(100);
  });

  it('learns the net demand per quarter hour of the day, the previous day behind it, and a slowly forgetting high mark', () => {
    const day1 = feed([
      { atMs: t0, netW: 800 },
      { atMs: t0 + Q, netW: 0 },
    ]);
    expect(profileNetW(day1, t0 + DAY, t0 + DAY + Q, t0 + DAY, 2 * DAY)).toBe(800);
    expect(profilePrevNetW(day1, t0 + DAY, t0 + DAY + Q, t0 + DAY, 3 * DAY)).toBeUndefined();
    const day2 = feed([
      { atMs: t0 + DAY, netW: 300 },
      { atMs: t0 + DAY + Q, netW: 0 },
    ], Q, day1);
    expect(profileNetW(day2, t0 + 2 * DAY, t0 + 2 * DAY + Q, t0 + 2 * DAY, 2 * DAY)).toBe(300);
    expect(profilePrevNetW(day2, t0 + 2 * DAY, t0 + 2 * DAY + Q, t0 + 2 * DAY, 3 * DAY)).toBe(800);
    // High mark: 800, then a 300 day pulls it down by a fifth of the gap: 800 − 0.2 × 500 = 700.
    expect(profileHighNetW(day2, t0 + 2 * DAY, t0 + 2 * DAY + Q, t0 + 2 * DAY, 2 * DAY, 0)).toBe(700);
    // Entries too old are not used.
    expect(profileNetW(day2, t0 + 5 * DAY, t0 + 5 * DAY + Q, t0 + 5 * DAY, 2 * DAY)).toBeUndefined();
    expect(day2.profileW).toHaveLength(PROFILE_BLOCKS);
  });

  it('scores the predictions noted for a block when it completes and weighs them by inverse error', () => {
    let m = INITIAL_METER_MEMORY;
    for (let k = 0; k < 2 * 96; k++) {
      const at = t0 + k * Q;
      // As a strategy does it: the reading first (it completes the previous block), then this block's predictions.
      m = observeMeter(m, { nowMs: at, netW: 1_000, batteryW: 0, timezone: TZ }, Q);
      m = notePredictions(m, at, 1_000, 1_000 + (k % 2 === 0 ? 400 : -400));
    }
    // The forecast was exact, the alternative 400 W off: all weight on the forecast.
    expect(m.errorSamples).toBeGreaterThanOrEqual(96);
    expect(m.forecastMse).toBe(0);
    expect(m.altMse).toBeCloseTo(160_000, -1);
    expect(alternativeWeight(m, 0.5)).toBe(0);
    expect(alternativeWeight(INITIAL_METER_MEMORY, 0.5)).toBe(0.5);
  });
});

describe('blockCapW', () => {
  it('leaves the rest of the quarter hour what keeps its mean at the cap', () => {
    const t0 = localTimeMs('2025-03-10T10:00', TZ);
    // 5 min at 3 kW: the remaining 10 min may import (2 kW × 15 − 3 kW × 5) / 10 = 1.5 kW.
    const m = feed([
      { atMs: t0, netW: 3_000 },
      { atMs: t0 + 5 * MIN, netW: 3_000 },
    ]);
    expect(blockCapW(m, t0 + 5 * MIN, 2_000)).toBeCloseTo(1_500, 9);
    expect(blockCapW(m, t0 + Q, 2_000)).toBe(2_000);
  });
});

describe('memory hygiene', () => {
  it('never stores −0 (a JSON round trip must give the memory back unchanged)', () => {
    const t0 = localTimeMs('2025-03-10T10:00', TZ);
    // A block whose mean net demand rounds to −0.0 W, and predictions of −0.
    let m = observeMeter(INITIAL_METER_MEMORY, { nowMs: t0, netW: -0.04, batteryW: 0, timezone: TZ }, Q);
    m = observeMeter(m, { nowMs: t0 + Q, netW: -0, batteryW: 0, timezone: TZ }, Q);
    m = notePredictions(m, t0 + Q, -0, -0);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});

describe('the day history (historyW)', () => {
  const day0 = Math.floor(localTimeMs('2025-03-10T12:00', TZ) / DAY) * DAY;
  /** Quarter-hour readings from `fromMs` for `days` days; the net demand is the day number × 100 + the hour. */
  const days = (fromMs: number, count: number): MeterMemory =>
    feed(Array.from({ length: count * 96 + 1 }, (_, i) => {
      const atMs = fromMs + i * Q;
      return { atMs, netW: Math.floor((atMs - day0) / DAY) * 100 + Math.floor((atMs % DAY) / 3_600_000) };
    }));

  it('keeps every quarter hour of the last days and gives the same time k days back', () => {
    const m = days(day0, 3);
    const now = day0 + 3 * DAY;
    // 05:00–05:15 one, two and three days back: days 2, 1 and 0.
    expect(historyNetW(m, now + 5 * 3_600_000, now + 5 * 3_600_000 + Q, 1)).toBe(205);
    expect(historyNetW(m, now + 5 * 3_600_000, now + 5 * 3_600_000 + Q, 3)).toBe(5);
    // Over two quarter hours across an hour: the mean.
    expect(historyNetW(m, now + 5 * 3_600_000 + 3 * Q, now + 6 * 3_600_000 + Q, 2)).toBe(105.5);
    // Not measured (before the first reading): unknown.
    expect(historyNetW(m, now, now + Q, 4)).toBeUndefined();
  });

  it('forgets a day after a week: its row is cleared for the new day', () => {
    const m = days(day0, HISTORY_DAYS + 1);
    const now = day0 + (HISTORY_DAYS + 1) * DAY;
    expect(historyNetW(m, now, now + Q, HISTORY_DAYS)).toBe(100);
    expect(historyNetW(m, now, now + Q, HISTORY_DAYS + 1)).toBeUndefined();
    expect(m.historyDay.filter((d) => d >= 0)).toHaveLength(HISTORY_DAYS);
  });

  it('stays plain JSON', () => {
    const m = days(day0, 2);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});
