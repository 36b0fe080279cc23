import { formatIssues, PriceSeriesSchema, type PriceSeries } from '@voltimax/contracts';
import { getJson, HttpSourceError, joinUrl, type FetchLike } from './http-json';
import { trimToWindow } from './prices';

/**
 * The Voltimax Platform API as the bridge uses it (a REST API; every request carries `Authorization: Bearer <token>`
 * when PLATFORM_API_TOKEN is set):
 *
 * - `GET <base>/gateways/<gatewayId>/configuration` → 200 with the gateway's assets.json (a SiteConfig) and an
 *   `ETag`; sent with `If-None-Match: <etag>` once one is known, so an unchanged configuration costs a 304.
 * - `GET <base>/prices/<zone>?startMs=<ms>&endMs=<ms>` → 200 with a PriceSeries (`{ v: 1, zone, publishedAtMs?,
 *   series: [{ startMs, endMs, eurPerMwh }] }`, contracts' PriceSeriesSchema) for the price zone; the points are
 *   trimmed to the window asked for (like every source's, `trimToWindow`).
 *
 * (`POST <base>/gateways/<gatewayId>/telemetry` is the telemetry-publisher's HTTP fallback.)
 */
export interface PlatformApi {
  fetchConfiguration(etag: string | undefined): Promise<ConfigurationFetch>;
  fetchPrices(zone: string, startMs: number, endMs: number): Promise<PriceSeries>;
}

export type ConfigurationFetch =
  | { readonly kind: 'not-modified' }
  | { readonly kind: 'document'; readonly raw: unknown; readonly etag: string | undefined };

export interface PlatformApiOptions {
  readonly baseUrl: string;
  readonly gatewayId: string;
  readonly token?: string;
  readonly timeoutMs: number;
  readonly fetch?: FetchLike;
}

export function platformApi(opts: PlatformApiOptions): PlatformApi {
  const fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
  const auth: Record<string, string> = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  return {
    async fetchConfiguration(etag) {
      const url = joinUrl(opts.baseUrl, `gateways/${encodeURIComponent(opts.gatewayId)}/configuration`);
      const answer = await getJson(
        fetchFn,
        'platform API configuration',
        url,
        { ...auth, ...(etag === undefined ? {} : { 'if-none-match': etag }) },
        opts.timeoutMs,
      );
      if (answer.notModified) return { kind: 'not-modified' };
      return { kind: 'document', raw: answer.body, etag: answer.etag };
    },
    async fetchPrices(zone, startMs, endMs) {
      const url = joinUrl(opts.baseUrl, `prices/${encodeURIComponent(zone)}`, {
        startMs: String(startMs),
        endMs: String(endMs),
      });
      const answer = await getJson(fetchFn, 'platform API prices', url, auth, opts.timeoutMs);
      if (answer.notModified) throw new HttpSourceError('platform API prices: unexpected 304', 'invalid-body', 304);
      const parsed = PriceSeriesSchema.safeParse(answer.body);
      if (!parsed.success) {
        const problems = formatIssues(parsed.error.issues)
          .slice(0, 3)
          .map((p) => `${p.path}: ${p.message}`);
        throw new HttpSourceError(
          `platform API prices: invalid PriceSeries (${problems.join('; ')})`,
          'invalid-body',
          answer.status,
        );
      }
      if (parsed.data.zone !== zone)
        throw new HttpSourceError(
          `platform API prices: asked for zone ${zone}, got ${parsed.data.zone}`,
          'invalid-body',
          answer.status,
        );
      return trimToWindow(parsed.data, startMs, endMs);
    },
  };
}
