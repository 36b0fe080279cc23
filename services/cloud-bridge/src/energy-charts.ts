import { formatIssues, type PriceSeries } from '@voltimax/contracts';
import { z } from 'zod';
import { getJson, HttpSourceError, joinUrl, type FetchLike } from './http-json';
import { trimToWindow } from './prices';

/**
 * The day-ahead price endpoint of Energy-Charts (Fraunhofer ISE, https://api.energy-charts.info, open, no account):
 * `GET <base>/price?bzn=<bidding zone>&start=<unix s>&end=<unix s>` answers
 * `{ license_info, unix_seconds: number[], price: (number | null)[], unit: "EUR / MWh", deprecated }` — one price per
 * market time unit (hourly, quarter-hourly since the EPEX 15-minute day-ahead), each starting at its unix second.
 * Bidding zones use the same names as the tariff's `priceZone` (`DE-LU`, `FR`, `AT`, `NL`, …).
 */
export const EnergyChartsPriceSchema = z
  .object({
    unix_seconds: z.array(z.number().int().nonnegative()).max(20_000),
    price: z.array(z.number().finite().nullable()).max(20_000),
    unit: z.string().max(32),
    license_info: z.string().optional(),
    deprecated: z.boolean().optional(),
  })
  .refine((body) => body.unix_seconds.length === body.price.length, {
    message: 'unix_seconds and price differ in length',
    path: ['price'],
  });
export type EnergyChartsPrice = z.infer<typeof EnergyChartsPriceSchema>;

/** Longest market time unit we accept between two points; a longer gap is a hole, not one long price. */
const MAX_STEP_S = 3_600;

/**
 * Energy-Charts' answer as a PriceSeries: each point lasts until the next one starts (at most an hour; the last one
 * as long as the one before it, or an hour). Missing prices (`null`) are left out. The unit must be EUR/MWh.
 */
export function energyChartsToSeries(body: EnergyChartsPrice, zone: string, fetchedAtMs: number): PriceSeries {
  if (!/^EUR\s*\/\s*MWh$/i.test(body.unit.trim())) {
    throw new HttpSourceError(`energy-charts: unexpected unit '${body.unit}' (expected EUR / MWh)`, 'invalid-body');
  }
  const order = body.unix_seconds.map((s, i) => ({ s, price: body.price[i] ?? null })).sort((a, b) => a.s - b.s);
  const series: PriceSeries['series'] = [];
  let lastStepS = MAX_STEP_S;
  order.forEach((point, i) => {
    const next = order[i + 1];
    const gap = next === undefined ? undefined : next.s - point.s;
    const stepS = gap !== undefined && gap > 0 && gap <= MAX_STEP_S ? gap : lastStepS;
    if (gap !== undefined && gap > 0 && gap <= MAX_STEP_S) lastStepS = gap;
    if (point.price === null || stepS <= 0) return;
    series.push({ startMs: point.s * 1000, endMs: (point.s + stepS) * 1000, eurPerMwh: point.price });
  });
  return { v: 1, zone, publishedAtMs: fetchedAtMs, series };
}

export interface EnergyChartsOptions {
  /** Default https://api.energy-charts.info. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly fetch?: FetchLike;
  readonly now: () => number;
  /** Largest response body read, bytes (default DEFAULT_MAX_BODY_BYTES, 8 MiB). */
  readonly maxBodyBytes?: number;
}

/** Fetches day-ahead prices for [startMs, endMs) of `zone` from Energy-Charts. */
export async function fetchEnergyCharts(
  opts: EnergyChartsOptions,
  zone: string,
  startMs: number,
  endMs: number,
): Promise<PriceSeries> {
  const fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
  const url = joinUrl(opts.baseUrl, 'price', {
    bzn: zone,
    start: String(Math.floor(startMs / 1000)),
    end: String(Math.floor(endMs / 1000)),
  });
  const answer = await getJson(fetchFn, 'energy-charts prices', url, {}, opts.timeoutMs, opts.maxBodyBytes);
  if (answer.notModified) throw new HttpSourceError('energy-charts prices: unexpected 304', 'invalid-body', 304);
  const parsed = EnergyChartsPriceSchema.safeParse(answer.body);
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues)
      .slice(0, 3)
      .map((p) => `${p.path}: ${p.message}`);
    throw new HttpSourceError(
      `energy-charts prices: unexpected body (${problems.join('; ')})`,
      'invalid-body',
      answer.status,
    );
  }
  return trimToWindow(energyChartsToSeries(parsed.data, zone, opts.now()), startMs, endMs);
}
