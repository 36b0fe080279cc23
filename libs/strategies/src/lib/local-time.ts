/** Wall-clock fields of an instant in a site's time zone. */
export interface LocalTime {
  readonly year: number;
  /** 1–12. */
  readonly month: number;
  /** 1–31. */
  readonly day: number;
  /** 0 = Sunday … 6 = Saturday (as in `TouPeriodSchema.days`). */
  readonly weekday: number;
  /** Minutes since local midnight, 0 ≤ value < 1440 (fractional between whole minutes). */
  readonly minuteOfDay: number;
}

const MINUTE_MS = 60_000;
const DAY_MIN = 1_440;
const formatters = new Map<string, Intl.DateTimeFormat | undefined>();

function formatterFor(timezone: string): Intl.DateTimeFormat | undefined {
  if (formatters.has(timezone)) return formatters.get(timezone);
  let created: Intl.DateTimeFormat | undefined;
  try {
    created = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    // An unknown zone is a configuration problem: callers report 'invalid-timezone' instead of guessing UTC.
    created = undefined;
  }
  formatters.set(timezone, created);
  return created;
}

/** True when the runtime knows the IANA zone. */
export function isKnownTimezone(timezone: string): boolean {
  return formatterFor(timezone) !== undefined;
}

/** Local wall-clock fields of `atMs` (epoch ms) in `timezone`; undefined for an unknown zone or a non-finite instant. */
export function toLocalTime(atMs: number, timezone: string): LocalTime | undefined {
  const formatter = formatterFor(timezone);
  if (!formatter || !Number.isFinite(atMs)) return undefined;
  const fields: Record<string, number> = {};
  for (const part of formatter.formatToParts(atMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const year = fields['year'] ?? 1970;
  const month = fields['month'] ?? 1;
  const day = fields['day'] ?? 1;
  const seconds = (fields['hour'] ?? 0) * 3600 + (fields['minute'] ?? 0) * 60 + (fields['second'] ?? 0);
  const subSecondMs = atMs - Math.floor(atMs / 1000) * 1000;
  const minuteOfDay = Math.min(DAY_MIN - 1e-9, (seconds * 1000 + subSecondMs) / MINUTE_MS);
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return { year, month, day, weekday, minuteOfDay };
}

/** 'YYYY-MM' of `atMs` in `timezone` (the billing month of a peak-demand charge); undefined for an unknown zone. */
export function localMonthKey(atMs: number, timezone: string): string | undefined {
  const local = toLocalTime(atMs, timezone);
  if (!local) return undefined;
  return `${String(local.year).padStart(4, '0')}-${String(local.month).padStart(2, '0')}`;
}

/** 'HH:MM' → minutes since midnight. The contracts schema has already checked the format. */
export function parseTimeOfDay(hhmm: string): number {
  const [h = '0', m = '0'] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/**
 * True when local time `local` lies in the daily window [from, to) on one of `days` (0 = Sunday).
 * A window with to ≤ from runs over midnight (22:00–06:00); its after-midnight part belongs to the day it
 * started on. from = to means the whole day. Without `days`, every day.
 */
export function isInDailyWindow(local: LocalTime, from: string, to: string, days?: readonly number[]): boolean {
  const fromMin = parseTimeOfDay(from);
  const toMin = parseTimeOfDay(to);
  const onDay = (weekday: number): boolean => !days || days.includes(weekday);
  const minute = local.minuteOfDay;
  if (fromMin === toMin) return onDay(local.weekday);
  if (fromMin < toMin) return minute >= fromMin && minute < toMin && onDay(local.weekday);
  if (minute >= fromMin) return onDay(local.weekday);
  if (minute < toMin) return onDay((local.weekday + 6) % 7);
  return false;
}

/** `atMs`'s local wall-clock time read as UTC minus `atMs`: the zone's offset then, ms. */
function offsetAt(atMs: number, timezone: string): number | undefined {
  const local = toLocalTime(atMs, timezone);
  return local && Date.UTC(local.year, local.month - 1, local.day) + Math.round(local.minuteOfDay * MINUTE_MS) - atMs;
}

/**
 * The instant (epoch ms) of local date y-m-d (d may run past the month's end) at `minute` past midnight in `timezone`:
 * in a doubled hour the first one; in a skipped hour (a clock change forward) the instant built with the offset
 * before the change, which reads as that much later (02:30 → 03:30 in Paris or New York, 00:30 → 01:30 in Santiago).
 */
function localInstantMs(
  year: number,
  month: number,
  day: number,
  minute: number,
  timezone: string,
): number | undefined {
  const wall = Date.UTC(year, month - 1, day) + minute * MINUTE_MS;
  // The offsets half a day either side: the ones before and after any clock change near that time.
  const before = offsetAt(wall - 12 * 3_600_000, timezone);
  const after = offsetAt(wall + 12 * 3_600_000, timezone);
  if (before === undefined || after === undefined) return undefined;
  const matches = [wall - before, wall - after].filter((atMs) => offsetAt(atMs, timezone) === wall - atMs);
  return matches.length > 0 ? Math.min(...matches) : wall - before;
}

/**
 * The first instant after `afterMs` at which the local time in `timezone` is `hhmm` on one of `days` (0 = Sunday; all
 * when absent): a recurring departure, say. On a clock change it is the same wall-clock time — the first of a doubled
 * hour; a time the spring change skips falls that much later, on the same local day. Undefined for an unknown zone.
 */
export function nextLocalTimeMs(
  afterMs: number,
  timezone: string,
  hhmm: string,
  days?: readonly number[],
): number | undefined {
  const today = toLocalTime(afterMs, timezone);
  if (!today) return undefined;
  const minute = parseTimeOfDay(hhmm);
  for (let k = 0; k <= 8; k += 1) {
    const weekday = (today.weekday + k) % 7;
    if (days && !days.includes(weekday)) continue;
    const atMs = localInstantMs(today.year, today.month, today.day + k, minute, timezone);
    if (atMs !== undefined && atMs > afterMs) return atMs;
  }
  return undefined;
}
