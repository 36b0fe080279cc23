import { localTimeMs } from '../testing';
import { isInDailyWindow, localMonthKey, nextLocalTimeMs, toLocalTime, type LocalTime } from './local-time';

const at = (weekday: number, hhmm: string): LocalTime => {
  const [h = 0, m = 0] = hhmm.split(':').map(Number);
  return { year: 2025, month: 1, day: 1, weekday, minuteOfDay: h * 60 + m };
};

describe('toLocalTime', () => {
  it('applies winter and summer time in Europe/Paris', () => {
    expect(toLocalTime(Date.UTC(2025, 0, 15, 12, 0), 'Europe/Paris')).toMatchObject({ month: 1, day: 15, minuteOfDay: 13 * 60, weekday: 3 });
    expect(toLocalTime(Date.UTC(2025, 6, 15, 12, 0), 'Europe/Paris')).toMatchObject({ month: 7, minuteOfDay: 14 * 60 });
  });

  it('returns undefined for an unknown time zone instead of guessing UTC', () => {
    expect(toLocalTime(0, 'Mars/Olympus_Mons')).toBeUndefined();
    expect(localMonthKey(0, 'Mars/Olympus_Mons')).toBeUndefined();
  });

  it('puts the month boundary at local midnight', () => {
    const lastMinuteOfJanuaryUtc = Date.UTC(2025, 0, 31, 22, 59);
    expect(localMonthKey(lastMinuteOfJanuaryUtc, 'Europe/Paris')).toBe('2025-01');
    expect(localMonthKey(Date.UTC(2025, 0, 31, 23, 0), 'Europe/Paris')).toBe('2025-02');
    expect(localMonthKey(Date.UTC(2025, 0, 31, 23, 0), 'UTC')).toBe('2025-01');
  });

  it('round-trips localTimeMs across a DST change', () => {
    const ms = localTimeMs('2025-03-30T04:00', 'Europe/Paris');
    expect(ms).toBe(Date.UTC(2025, 2, 30, 2, 0));
  });
});

describe('isInDailyWindow', () => {
  it.each([
    { name: 'inside a day window', local: at(1, '10:00'), from: '08:00', to: '12:00', expected: true },
    { name: 'end is exclusive', local: at(1, '12:00'), from: '08:00', to: '12:00', expected: false },
    { name: 'overnight, evening part', local: at(5, '23:00'), from: '22:00', to: '06:00', days: [5], expected: true },
    { name: 'overnight, morning part belongs to the start day', local: at(6, '05:59'), from: '22:00', to: '06:00', days: [5], expected: true },
    { name: 'overnight, morning of a day the window did not start on', local: at(5, '05:00'), from: '22:00', to: '06:00', days: [5], expected: false },
    { name: 'from = to is the whole day', local: at(0, '03:00'), from: '00:00', to: '00:00', expected: true },
    { name: 'wrong weekday', local: at(2, '10:00'), from: '08:00', to: '12:00', days: [1], expected: false },
  ])('$name', ({ local, from, to, days, expected }) => {
    expect(isInDailyWindow(local, from, to, days)).toBe(expected);
  });
});

describe('nextLocalTimeMs', () => {
  const utc = (iso: string) => Date.parse(iso);

  it('is the next such wall-clock time on a listed day, across a month end', () => {
    expect(nextLocalTimeMs(utc('2024-05-31T20:00:00Z'), 'Europe/Paris', '07:30')).toBe(utc('2024-06-01T05:30:00Z'));
    // Friday 31 May → Monday 3 June with weekdays only.
    expect(nextLocalTimeMs(utc('2024-05-31T20:00:00Z'), 'Europe/Paris', '07:30', [1, 2, 3, 4, 5])).toBe(utc('2024-06-03T05:30:00Z'));
    expect(nextLocalTimeMs(0, 'Nowhere/Land', '07:30')).toBeUndefined();
  });

  it('in a doubled hour the first; in a skipped hour that much later, on the same day, east and west of UTC', () => {
    // Paris, 27 Oct 2024: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
    expect(nextLocalTimeMs(utc('2024-10-26T20:00:00Z'), 'Europe/Paris', '02:30')).toBe(utc('2024-10-27T00:30:00Z'));
    // Paris, 31 Mar 2024: no 02:30; 03:30 CEST.
    expect(nextLocalTimeMs(utc('2024-03-30T20:00:00Z'), 'Europe/Paris', '02:30')).toBe(utc('2024-03-31T01:30:00Z'));
    // New York, 10 Mar 2024: no 02:30; 03:30 EDT (before: 01:30 EST, an hour early).
    expect(nextLocalTimeMs(utc('2024-03-09T20:00:00Z'), 'America/New_York', '02:30')).toBe(utc('2024-03-10T07:30:00Z'));
    // Santiago, Sunday 8 Sep 2024: midnight jumps to 01:00; 00:30 on Sundays only is 01:30 −03 that Sunday (before:
    // 23:30 on the Saturday, a day not listed).
    const santiago = nextLocalTimeMs(utc('2024-09-07T16:00:00Z'), 'America/Santiago', '00:30', [0]);
    expect(santiago).toBe(utc('2024-09-08T04:30:00Z'));
    expect(toLocalTime(santiago!, 'America/Santiago')).toMatchObject({ day: 8, weekday: 0, minuteOfDay: 90 });
  });
});
