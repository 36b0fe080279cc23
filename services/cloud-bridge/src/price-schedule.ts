/**
 * When to fetch day-ahead prices. The EPEX day-ahead auction closes at 12:00 CET and its results for the next day
 * are out by about 12:45–13:00 CET (Central European time, CET/CEST: the markets' clock, whatever the site's time
 * zone); providers have them shortly after. So: fetch at start; once the horizon is covered, next at the publication
 * time (default 13:15 Europe/Berlin); while the wanted horizon is not covered, retry with a doubling backoff.
 */
export const MARKET_TIMEZONE = 'Europe/Berlin';

export interface PriceScheduleSettings {
  /** Local time (MARKET_TIMEZONE) after which tomorrow's prices are expected. */
  readonly publication: { readonly hour: number; readonly minute: number };
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

interface LocalParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(ms: number, timeZone: string): LocalParts {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(ms)))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return {
    year: parts['year'] ?? 1970,
    month: parts['month'] ?? 1,
    day: parts['day'] ?? 1,
    hour: parts['hour'] ?? 0,
    minute: parts['minute'] ?? 0,
    second: parts['second'] ?? 0,
  };
}

/** Offset of `timeZone` from UTC at instant `ms`, ms (CET: +3 600 000). */
function offsetMs(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - (ms - (ms % 1000));
}

/** The instant of a local wall time in `timeZone` (a time skipped by a DST change resolves to the later offset). */
export function zonedTimeMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let guess = wall - offsetMs(wall, timeZone);
  guess = wall - offsetMs(guess, timeZone);
  return guess;
}

/** Local midnight `dayOffset` days after the local day of `ms`, in `timeZone`. */
export function localMidnightMs(ms: number, timeZone: string, dayOffset = 0): number {
  const p = localParts(ms, timeZone);
  const day = new Date(Date.UTC(p.year, p.month - 1, p.day + dayOffset));
  return zonedTimeMs(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), 0, 0, timeZone);
}

/** Today's publication instant (MARKET_TIMEZONE), `dayOffset` days later. */
export function publicationMs(nowMs: number, settings: PriceScheduleSettings, dayOffset = 0): number {
  const p = localParts(nowMs, MARKET_TIMEZONE);
  const day = new Date(Date.UTC(p.year, p.month - 1, p.day + dayOffset));
  return zonedTimeMs(
    day.getUTCFullYear(),
    day.getUTCMonth() + 1,
    day.getUTCDate(),
    settings.publication.hour,
    settings.publication.minute,
    MARKET_TIMEZONE,
  );
}

/** The prices the strategies should have now: [start of today, end of today) before publication, else up to the end of tomorrow. */
export function wantedWindow(
  nowMs: number,
  settings: PriceScheduleSettings,
): { readonly startMs: number; readonly endMs: number } {
  const published = nowMs >= publicationMs(nowMs, settings);
  return {
    startMs: localMidnightMs(nowMs, MARKET_TIMEZONE),
    endMs: localMidnightMs(nowMs, MARKET_TIMEZONE, published ? 2 : 1),
  };
}

/** The window a fetch asks for: from the start of today to the end of tomorrow (a provider may not have tomorrow yet). */
export function fetchWindow(nowMs: number): { readonly startMs: number; readonly endMs: number } {
  return { startMs: localMidnightMs(nowMs, MARKET_TIMEZONE), endMs: localMidnightMs(nowMs, MARKET_TIMEZONE, 2) };
}

/** The next fetch after an attempt: `covered` when the wanted window is covered up to its end. */
export function nextPriceFetch(
  nowMs: number,
  coverageEndMs: number | undefined,
  failedAttempts: number,
  settings: PriceScheduleSettings,
): { readonly atMs: number; readonly reason: 'publication' | 'retry' } {
  const wanted = wantedWindow(nowMs, settings);
  if (coverageEndMs !== undefined && coverageEndMs >= wanted.endMs) {
    const today = publicationMs(nowMs, settings);
    return { atMs: nowMs < today ? today : publicationMs(nowMs, settings, 1), reason: 'publication' };
  }
  const backoff = Math.min(
    settings.retryMaxMs,
    settings.retryMinMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 20),
  );
  return { atMs: nowMs + backoff, reason: 'retry' };
}
