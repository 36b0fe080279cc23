import { localTimeMs } from '../testing';
import { isInDailyWindow, localMonthKey, toLocalTime, type LocalTime } from './local-time';

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
