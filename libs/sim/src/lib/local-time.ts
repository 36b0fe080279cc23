const MINUTE_MS = 60_000;
const DAY_MIN = 1_440;
/** Every UTC-offset change of every IANA zone falls on a UTC quarter hour, so the offset is constant inside one. */
const OFFSET_BUCKET_MS = 15 * MINUTE_MS;
const MAX_CACHED_BUCKETS = 200_000;

/** Wall-clock fields of an instant in a site's time zone. */
export interface LocalTime {
  /** Local calendar year. */
  readonly year: number;
  /** Local month, 1–12. */
  readonly month: number;
  /** Local day of month, 1–31. */
  readonly day: number;
  /** Local weekday, 0 = Sunday … 6 = Saturday (as in `TouPeriodSchema.days`). */
  readonly weekday: number;
  /** Minutes since local midnight, 0 ≤ value < 1440 (fractional when the instant is not on a whole minute). */
  readonly minuteOfDay: number;
  /** UTC offset in ms (local = UTC + offset), e.g. 7 200 000 for CEST. */
  readonly offsetMs: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, Map<number, number>>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  const known = formatters.get(timezone);
  if (known) return known;
  // Throws a RangeError for an unknown zone: a configuration error, surfaced at first use.
  const created = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  formatters.set(timezone, created);
  return created;
}

function computeOffsetMs(atMs: number, timezone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timezone).formatToParts(atMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const localAsUtcMs = Date.UTC(
    fields['year'] ?? 1970,
    (fields['month'] ?? 1) - 1,
    fields['day'] ?? 1,
    fields['hour'] ?? 0,
    fields['minute'] ?? 0,
    fields['second'] ?? 0,
  );
  return localAsUtcMs - Math.floor(atMs / 1000) * 1000;
}

/** Throws a RangeError when `timezone` is not an IANA zone known to the runtime. */
export function assertTimezone(timezone: string): void {
  formatterFor(timezone);
}

/** UTC offset (ms, local = UTC + offset) of `timezone` at the instant `atMs` (epoch ms). */
export function utcOffsetMs(atMs: number, timezone: string): number {
  let zoneCache = offsetCache.get(timezone);
  if (!zoneCache) {
    zoneCache = new Map();
    offsetCache.set(timezone, zoneCache);
  }
  const bucket = Math.floor(atMs / OFFSET_BUCKET_MS);
  const cached = zoneCache.get(bucket);
  if (cached !== undefined) return cached;
  const offsetMs = computeOffsetMs(bucket * OFFSET_BUCKET_MS, timezone);
  if (zoneCache.size >= MAX_CACHED_BUCKETS) zoneCache.clear();
  zoneCache.set(bucket, offsetMs);
  return offsetMs;
}

/** Local wall-clock fields of `atMs` (epoch ms) in the IANA zone `timezone` (e.g. 'Europe/Paris'). */
export function toLocalTime(atMs: number, timezone: string): LocalTime {
  const offsetMs = utcOffsetMs(atMs, timezone);
  const local = new Date(atMs + offsetMs);
  const localMinutes = (atMs + offsetMs) / MINUTE_MS;
  const minuteOfDay = localMinutes - Math.floor(localMinutes / DAY_MIN) * DAY_MIN;
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    weekday: local.getUTCDay(),
    minuteOfDay,
    offsetMs,
  };
}

/** Local calendar month of `atMs` as 'YYYY-MM' (the billing period of the peak-demand charge). */
export function localMonthKey(atMs: number, timezone: string): string {
  const { year, month } = toLocalTime(atMs, timezone);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}
