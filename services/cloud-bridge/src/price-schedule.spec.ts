import {
  fetchWindow,
  localMidnightMs,
  nextPriceFetch,
  publicationMs,
  wantedWindow,
  zonedTimeMs,
} from './price-schedule';

const SETTINGS = { publication: { hour: 13, minute: 15 }, retryMinMs: 60_000, retryMaxMs: 1_800_000 };
const at = (iso: string) => Date.parse(iso);

describe('market time (Europe/Berlin, CET/CEST)', () => {
  it.each([
    ['winter (CET, UTC+1)', [2026, 1, 15, 13, 15], '2026-01-15T12:15:00.000Z'],
    ['summer (CEST, UTC+2)', [2026, 7, 15, 13, 15], '2026-07-15T11:15:00.000Z'],
    ['the last Sunday of March after the switch', [2026, 3, 29, 13, 15], '2026-03-29T11:15:00.000Z'],
    ['the last Sunday of October after the switch', [2026, 10, 25, 13, 15], '2026-10-25T12:15:00.000Z'],
  ] as const)('%s', (_name, [y, m, d, h, min], iso) => {
    expect(new Date(zonedTimeMs(y, m, d, h, min, 'Europe/Berlin')).toISOString()).toBe(iso);
  });

  it('days are 23 and 25 hours long on the DST switches', () => {
    const march = at('2026-03-29T10:00:00Z');
    expect(localMidnightMs(march, 'Europe/Berlin', 1) - localMidnightMs(march, 'Europe/Berlin')).toBe(23 * 3_600_000);
    const october = at('2026-10-25T10:00:00Z');
    expect(localMidnightMs(october, 'Europe/Berlin', 1) - localMidnightMs(october, 'Europe/Berlin')).toBe(
      25 * 3_600_000,
    );
  });

  it('local midnight of an instant just after midnight in Berlin (still the day before in UTC)', () => {
    expect(new Date(localMidnightMs(at('2026-01-14T23:30:00Z'), 'Europe/Berlin')).toISOString()).toBe(
      '2026-01-14T23:00:00.000Z',
    );
  });
});

describe('the price schedule', () => {
  const morning = at('2026-01-15T08:00:00Z'); // 09:00 CET
  const afternoon = at('2026-01-15T14:00:00Z'); // 15:00 CET
  const endOfToday = at('2026-01-15T23:00:00Z');
  const endOfTomorrow = at('2026-01-16T23:00:00Z');

  it('wants today before the publication and today plus tomorrow after it', () => {
    expect(wantedWindow(morning, SETTINGS)).toEqual({ startMs: at('2026-01-14T23:00:00Z'), endMs: endOfToday });
    expect(wantedWindow(afternoon, SETTINGS)).toEqual({ startMs: at('2026-01-14T23:00:00Z'), endMs: endOfTomorrow });
    expect(fetchWindow(morning)).toEqual({ startMs: at('2026-01-14T23:00:00Z'), endMs: endOfTomorrow });
  });

  it.each([
    [
      'covered in the morning → at today’s publication',
      morning,
      endOfToday,
      0,
      at('2026-01-15T12:15:00Z'),
      'publication',
    ],
    [
      'covered up to tomorrow in the afternoon → at tomorrow’s publication',
      afternoon,
      endOfTomorrow,
      0,
      at('2026-01-16T12:15:00Z'),
      'publication',
    ],
    ['tomorrow missing in the afternoon → retry after a minute', afternoon, endOfToday, 1, afternoon + 60_000, 'retry'],
    ['the third miss → four minutes', afternoon, endOfToday, 3, afternoon + 240_000, 'retry'],
    ['many misses → at most 30 minutes', afternoon, endOfToday, 40, afternoon + 1_800_000, 'retry'],
    ['nothing at all in the morning → retry', morning, undefined, 1, morning + 60_000, 'retry'],
  ] as const)('%s', (_name, nowMs, coverage, failures, atMs, reason) => {
    expect(nextPriceFetch(nowMs, coverage, failures, SETTINGS)).toEqual({ atMs, reason });
  });

  it('publication is 13:15 Berlin time on the day asked for', () => {
    expect(new Date(publicationMs(afternoon, SETTINGS, 1)).toISOString()).toBe('2026-01-16T12:15:00.000Z');
  });
});
