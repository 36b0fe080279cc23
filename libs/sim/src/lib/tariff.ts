import { TariffSchema } from '@voltimax/contracts';
import { z } from 'zod';
import { utcOffsetMs } from './local-time';

const MINUTE_MS = 60_000;
const DAY_MIN = 1_440;
const WEEK_MIN = 7 * DAY_MIN;
const QUARTER_HOUR_MS = 15 * MINUTE_MS;

type TouPeriod = NonNullable<z.output<typeof TariffSchema>['touPeriods']>[number];

function minuteOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Whether a ToU period applies at `minuteOfDay` (local) on `weekday` (0 = Sunday); overnight periods wrap. */
function periodApplies(period: TouPeriod, weekday: number, minuteOfDay: number): boolean {
  const from = minuteOf(period.from);
  const to = minuteOf(period.to);
  if (from === to) return period.days.includes(weekday);
  if (from < to) return period.days.includes(weekday) && minuteOfDay >= from && minuteOfDay < to;
  // An overnight period belongs to the day it starts on.
  return (
    (period.days.includes(weekday) && minuteOfDay >= from) ||
    (period.days.includes((weekday + 6) % 7) && minuteOfDay < to)
  );
}

function touPriceAt(periods: readonly TouPeriod[], weekday: number, minuteOfDay: number): number | undefined {
  return periods.find((p) => periodApplies(p, weekday, minuteOfDay))?.eurPerMwh;
}

/**
 * The site tariff for simulation: contracts' TariffSchema plus the battery wear cost. Prices EUR/MWh.
 * VAT applies to what the site buys (energy, energy tax, grid fee, peak-demand charge), not to feed-in
 * compensation and not to the wear cost (an internal cost).
 */
export const SimTariffSchema = TariffSchema.extend({
  /** Battery wear, EUR per MWh of throughput (charged + discharged, AC side), ≥ 0; 20 = 0.02 EUR/kWh. */
  batteryWearEurPerMwh: z.number().finite().nonnegative().default(0),
}).superRefine((t, ctx) => {
  if (t.kind === 'fixed' && t.fixedEurPerMwh === undefined) {
    ctx.addIssue({ code: 'custom', path: ['fixedEurPerMwh'], message: "kind 'fixed' needs fixedEurPerMwh" });
  }
  if (t.kind === 'time-of-use') {
    const periods = t.touPeriods ?? [];
    if (periods.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['touPeriods'], message: "kind 'time-of-use' needs touPeriods" });
      return;
    }
    if (t.fixedEurPerMwh !== undefined) return;
    for (let m = 0; m < WEEK_MIN; m++) {
      const weekday = Math.floor(m / DAY_MIN);
      const minuteOfDay = m % DAY_MIN;
      if (touPriceAt(periods, weekday, minuteOfDay) === undefined) {
        const hhmm = `${String(Math.floor(minuteOfDay / 60)).padStart(2, '0')}:${String(minuteOfDay % 60).padStart(2, '0')}`;
        ctx.addIssue({
          code: 'custom',
          path: ['touPeriods'],
          message: `no period covers weekday ${weekday} ${hhmm}; add a period or fixedEurPerMwh as fallback`,
        });
        return;
      }
    }
  }
});
export type SimTariff = z.output<typeof SimTariffSchema>;
export type SimTariffInput = z.input<typeof SimTariffSchema>;

/** Prices of one step, EUR/MWh. */
export interface StepPrices {
  /** Energy component before taxes: the spot price, the ToU price (time-weighted over the step) or the fixed price. */
  readonly energyEurPerMwh: number;
  /** What one MWh imported costs, all components and VAT included. */
  readonly importEurPerMwh: number;
  /** What one MWh exported earns (negative = exporting costs money). */
  readonly exportEurPerMwh: number;
}

/** Local-time segments of [fromMs, toMs) with a constant UTC offset: [startMs, endMs, offsetMs]. */
function constantOffsetSegments(fromMs: number, toMs: number, timezone: string): [number, number, number][] {
  const segments: [number, number, number][] = [];
  let startMs = fromMs;
  let offsetMs = utcOffsetMs(fromMs, timezone);
  let cursorMs = (Math.floor(fromMs / QUARTER_HOUR_MS) + 1) * QUARTER_HOUR_MS;
  while (cursorMs < toMs) {
    const next = utcOffsetMs(cursorMs, timezone);
    if (next !== offsetMs) {
      segments.push([startMs, cursorMs, offsetMs]);
      startMs = cursorMs;
      offsetMs = next;
    }
    cursorMs += QUARTER_HOUR_MS;
  }
  segments.push([startMs, toMs, offsetMs]);
  return segments;
}

/** Time-weighted mean ToU energy price over [fromMs, toMs), EUR/MWh (fallback: fixedEurPerMwh). */
export function touEnergyPrice(fromMs: number, toMs: number, tariff: SimTariff, timezone: string): number {
  const periods = tariff.touPeriods ?? [];
  const breaks = [...new Set([...periods.flatMap((p) => [minuteOf(p.from), minuteOf(p.to)]), DAY_MIN])]
    .filter((m) => m > 0)
    .sort((a, b) => a - b);
  let weighted = 0;
  let totalMin = 0;
  for (const [startMs, endMs, offsetMs] of constantOffsetSegments(fromMs, toMs, timezone)) {
    let localMin = (startMs + offsetMs) / MINUTE_MS;
    const localEndMin = (endMs + offsetMs) / MINUTE_MS;
    while (localMin < localEndMin) {
      const dayIndex = Math.floor(localMin / DAY_MIN);
      const minuteOfDay = localMin - dayIndex * DAY_MIN;
      const nextBreak = breaks.find((b) => b > minuteOfDay) ?? DAY_MIN;
      const segEndMin = Math.min(localEndMin, dayIndex * DAY_MIN + nextBreak);
      // Day 0 of the epoch (1970-01-01) was a Thursday.
      const weekday = (((dayIndex + 4) % 7) + 7) % 7;
      const price = touPriceAt(periods, weekday, minuteOfDay) ?? tariff.fixedEurPerMwh ?? Number.NaN;
      weighted += price * (segEndMin - localMin);
      totalMin += segEndMin - localMin;
      localMin = segEndMin;
    }
  }
  return totalMin > 0 ? weighted / totalMin : Number.NaN;
}

/**
 * Prices of the step [atMs, atMs + dtMs) given the day-ahead spot price (EUR/MWh) of that step.
 * import = (energy + energy tax + grid fee) × (1 + VAT); export = fixed | factor × spot + offset | 0.
 */
export function stepPrices(
  atMs: number,
  dtMs: number,
  spotEurPerMwh: number,
  tariff: SimTariff,
  timezone: string,
): StepPrices {
  const energyEurPerMwh =
    tariff.kind === 'dynamic'
      ? Number.isFinite(spotEurPerMwh)
        ? spotEurPerMwh
        : (tariff.fixedEurPerMwh ?? Number.NaN)
      : tariff.kind === 'fixed'
        ? (tariff.fixedEurPerMwh ?? Number.NaN)
        : touEnergyPrice(atMs, atMs + dtMs, tariff, timezone);
  const importEurPerMwh =
    (energyEurPerMwh + tariff.energyTaxEurPerMwh + tariff.gridFeeEurPerMwh) * (1 + tariff.vatPct / 100);
  const feedIn = tariff.feedIn;
  const exportEurPerMwh =
    feedIn.rule === 'fixed'
      ? feedIn.eurPerMwh
      : feedIn.rule === 'spot'
        ? feedIn.factor * spotEurPerMwh + feedIn.offsetEurPerMwh
        : 0;
  return { energyEurPerMwh, importEurPerMwh, exportEurPerMwh };
}
