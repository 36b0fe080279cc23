import { buildPriceSeries, buildTariff, localTimeMs } from '../testing';
import { toLocalTime } from './local-time';
import { localClock, meterPrices, peakChargeEurPerKw, sortedPrices, spotBook, touEnergyAt } from './tariff-prices';

const HOUR = 3_600_000;
const TAXES = { energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21 };

describe('meterPrices (the tariff as billed)', () => {
  it('dynamic: (spot + tax + fee) × (1 + VAT) in, spot out', () => {
    const tariff = buildTariff({ kind: 'dynamic', ...TAXES, feedIn: { rule: 'spot' } });
    expect(meterPrices(tariff, 80, undefined)).toEqual({ importEurPerMwh: (80 + 150) * 1.21, exportEurPerMwh: 80 });
    // A negative spot price: import still pays taxes; feeding in costs money.
    expect(meterPrices(tariff, -120, undefined)).toEqual({ importEurPerMwh: 30 * 1.21, exportEurPerMwh: -120 });
  });

  it('dynamic without a spot price: the fixed fallback, else unknown', () => {
    expect(meterPrices(buildTariff({ kind: 'dynamic', fixedEurPerMwh: 200 }), undefined, undefined)).toEqual({ importEurPerMwh: 200, exportEurPerMwh: 0 });
    expect(meterPrices(buildTariff({ kind: 'dynamic' }), undefined, undefined)).toBeUndefined();
  });

  it('time-of-use and fixed, with the feed-in rules', () => {
    const tou = buildTariff({ kind: 'time-of-use', touPeriods: [{ from: '00:00', to: '00:00', eurPerMwh: 60 }], feedIn: { rule: 'fixed', eurPerMwh: 70 } });
    expect(meterPrices(tou, 999, 60)).toEqual({ importEurPerMwh: 60, exportEurPerMwh: 70 });
    const fixed = buildTariff({ kind: 'fixed', fixedEurPerMwh: 250, feedIn: { rule: 'spot', factor: 0.9, offsetEurPerMwh: -10 } });
    expect(meterPrices(fixed, 100, undefined)).toEqual({ importEurPerMwh: 250, exportEurPerMwh: 80 });
  });

  it('without a tariff the site trades at the spot price', () => {
    expect(meterPrices(undefined, 42, undefined)).toEqual({ importEurPerMwh: 42, exportEurPerMwh: 42 });
    expect(meterPrices(undefined, undefined, undefined)).toBeUndefined();
  });

  it('peak charge includes VAT', () => {
    expect(peakChargeEurPerKw(buildTariff({ kind: 'fixed', fixedEurPerMwh: 1, vatPct: 21, peakDemandEurPerKw: 4 }))).toBeCloseTo(4.84, 12);
    expect(peakChargeEurPerKw(undefined)).toBe(0);
  });
});

describe('localClock', () => {
  it('agrees with Intl across the spring DST switch (minute of day, weekday, month)', () => {
    const from = localTimeMs('2025-03-29T12:00', 'Europe/Paris');
    const clock = localClock(from, from + 48 * HOUR, 'Europe/Paris');
    expect(clock).toBeDefined();
    for (let at = from; at < from + 48 * HOUR; at += 15 * 60_000) {
      const local = toLocalTime(at, 'Europe/Paris');
      expect(clock?.minuteOfDay(at)).toBeCloseTo(local?.minuteOfDay ?? -1, 6);
      expect(clock?.weekday(at)).toBe(local?.weekday);
    }
    expect(clock?.monthKey(localTimeMs('2025-03-31T23:45', 'Europe/Paris'))).toBe('2025-03');
    expect(clock?.monthKey(localTimeMs('2025-03-31T12:00', 'Europe/Paris') + 12 * HOUR)).toBe('2025-04');
  });

  it('is undefined for an unknown zone, and ToU prices follow local time', () => {
    expect(localClock(0, HOUR, 'Mars/Olympus')).toBeUndefined();
    const tariff = buildTariff({ kind: 'time-of-use', touPeriods: [{ from: '22:00', to: '06:00', eurPerMwh: 60 }, { from: '06:00', to: '22:00', eurPerMwh: 140 }] });
    const at = localTimeMs('2025-07-14T23:30', 'Europe/Paris');
    const clock = localClock(at, at + HOUR, 'Europe/Paris');
    if (!clock) throw new Error('clock');
    expect(touEnergyAt(tariff, clock, at)).toBe(60);
    expect(touEnergyAt(tariff, clock, localTimeMs('2025-07-15T06:00', 'Europe/Paris'))).toBe(140);
  });
});

describe('spotBook', () => {
  it('averages known prices over an interval, estimates unknown ones by the same interval a day earlier', () => {
    const prices = buildPriceSeries(0, HOUR, Array.from({ length: 24 }, (_, h) => h * 10));
    const book = spotBook(prices);
    expect(book.meanOver(HOUR / 2, HOUR + HOUR / 2)).toBeCloseTo(5, 9);
    expect(book.meanOver(23 * HOUR, 25 * HOUR)).toBeUndefined();
    expect(book.estimateOver(26 * HOUR, 27 * HOUR, 2)).toEqual({ eurPerMwh: 20, isKnown: false });
    expect(book.estimateOver(2 * HOUR, 3 * HOUR, 2)).toEqual({ eurPerMwh: 20, isKnown: true });
    expect(book.estimateOver(80 * HOUR, 81 * HOUR, 2)).toBeUndefined();
    expect(book.knownUntil(3 * HOUR)).toBe(24 * HOUR);
  });

  it('sorts and cleans unsorted or invalid input, and keeps a clean array as it is', () => {
    const clean = buildPriceSeries(0, HOUR, [1, 2, 3]);
    expect(sortedPrices(clean)).toBe(clean);
    const messy = [clean[2], { startMs: 5, endMs: 5, eurPerMwh: 9 }, clean[0], { startMs: 0, endMs: HOUR, eurPerMwh: Number.NaN }, clean[1]].filter((p) => p !== undefined);
    expect(sortedPrices(messy).map((p) => p.eurPerMwh)).toEqual([1, 2, 3]);
  });
});
