import Fastify from 'fastify';

/** One price of the double, as Energy-Charts lists it: start (unix seconds) and EUR/MWh (null: missing). */
export interface EnergyChartsPoint {
  readonly unixSeconds: number;
  readonly price: number | null;
}

/** A local stand-in for `GET https://api.energy-charts.info/price` (tests never reach the internet). */
export interface EnergyChartsDouble {
  readonly url: string;
  setPrices(zone: string, points: readonly EnergyChartsPoint[]): void;
  /** Answer every request with this status (undefined: normal). */
  failWith(status: number | undefined): void;
  /** Change the unit in answers (default 'EUR / MWh'). */
  setUnit(unit: string): void;
  readonly requests: {
    readonly bzn: string | undefined;
    readonly start: string | undefined;
    readonly end: string | undefined;
  }[];
  stop(): Promise<void>;
}

/** Hourly points of one day from `startSeconds`: `price(i)` for hour i. */
export function hourly(startSeconds: number, hours: number, price: (i: number) => number | null): EnergyChartsPoint[] {
  return Array.from({ length: hours }, (_, i) => ({ unixSeconds: startSeconds + i * 3600, price: price(i) }));
}

/**
 * The Energy-Charts price endpoint on 127.0.0.1: `/price?bzn=<zone>&start=<unix s>&end=<unix s>` → `{ license_info,
 * unix_seconds, price, unit, deprecated }` with the points of the zone whose start is in [start, end]; an unknown
 * zone answers 404 like the real API's error for a bad `bzn`.
 */
export async function startEnergyChartsDouble(): Promise<EnergyChartsDouble> {
  const app = Fastify({ forceCloseConnections: true });
  const zones = new Map<string, readonly EnergyChartsPoint[]>();
  const requests: EnergyChartsDouble['requests'] = [];
  let failStatus: number | undefined;
  let unit = 'EUR / MWh';

  app.get<{ Querystring: { bzn?: string; start?: string; end?: string } }>('/price', async (request, reply) => {
    const { bzn, start, end } = request.query;
    requests.push({ bzn, start, end });
    if (failStatus !== undefined) return reply.code(failStatus).send({ detail: `injected ${failStatus}` });
    const points = bzn === undefined ? undefined : zones.get(bzn);
    if (points === undefined) return reply.code(404).send({ detail: `no data for bzn ${bzn ?? ''}` });
    const from = start === undefined ? Number.NEGATIVE_INFINITY : Number(start);
    const to = end === undefined ? Number.POSITIVE_INFINITY : Number(end);
    const inRange = points.filter((p) => p.unixSeconds >= from && p.unixSeconds <= to);
    return reply.send({
      license_info: 'CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur | SMARD.de',
      unix_seconds: inRange.map((p) => p.unixSeconds),
      price: inRange.map((p) => p.price),
      unit,
      deprecated: false,
    });
  });

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    setPrices: (zone, points) => void zones.set(zone, points),
    failWith: (status) => {
      failStatus = status;
    },
    setUnit: (next) => {
      unit = next;
    },
    requests,
    stop: () => app.close(),
  };
}
