import { buildPriceSeries, buildSiteState, buildTariff, localTimeMs } from '../testing';
import { currentPrice, hashPrices, knownHorizon, spotPriceAt } from './prices';

const HOUR = 3_600_000;

describe('prices', () => {
  it('finds the spot price covering an instant (start inclusive, end exclusive)', () => {
    const prices = buildPriceSeries(0, HOUR, [10, 20]);
    expect(spotPriceAt(prices, 0)).toBe(10);
    expect(spotPriceAt(prices, HOUR)).toBe(20);
    expect(spotPriceAt(prices, 2 * HOUR)).toBeUndefined();
  });

  it('builds the known horizon from now and stops at the first gap', () => {
    const prices = [...buildPriceSeries(0, HOUR, [10, 20, 30]), ...buildPriceSeries(5 * HOUR, HOUR, [40])];
    expect(knownHorizon(prices, HOUR + 1).map((p) => p.eurPerMwh)).toEqual([20, 30]);
    expect(knownHorizon(prices, 4 * HOUR)).toEqual([]);
  });

  it('ignores invalid points (NaN price, empty interval)', () => {
    const prices = [{ startMs: 0, endMs: HOUR, eurPerMwh: Number.NaN }, { startMs: HOUR, endMs: HOUR, eurPerMwh: 5 }];
    expect(knownHorizon(prices, 0)).toEqual([]);
  });

  it('falls back from spot to the ToU tariff to the fixed price', () => {
    const tariff = buildTariff({
      kind: 'time-of-use',
      fixedEurPerMwh: 150,
      touPeriods: [{ from: '07:00', to: '23:00', eurPerMwh: 250 }],
    });
    const day = localTimeMs('2025-01-15T12:00', 'Europe/Paris');
    const night = localTimeMs('2025-01-15T03:00', 'Europe/Paris');
    const withSpot = buildSiteState({ tariff, prices: buildPriceSeries(day, HOUR, [42]) });
    expect(currentPrice(withSpot, day)).toEqual({ eurPerMwh: 42, source: 'spot' });
    expect(currentPrice(buildSiteState({ tariff }), day)).toEqual({ eurPerMwh: 250, source: 'tariff-tou' });
    expect(currentPrice(buildSiteState({ tariff }), night)).toEqual({ eurPerMwh: 150, source: 'tariff-fixed' });
    expect(currentPrice(buildSiteState(), night)).toBeUndefined();
  });

  it('hashes prices deterministically and notices a changed price', () => {
    const a = buildPriceSeries(0, HOUR, [10, 20]);
    expect(hashPrices(a)).toBe(hashPrices(buildPriceSeries(0, HOUR, [10, 20])));
    expect(hashPrices(a)).not.toBe(hashPrices(buildPriceSeries(0, HOUR, [10, 21])));
  });
});
