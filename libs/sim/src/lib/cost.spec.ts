import { type CostStep, computeCost, demandBlocks } from './cost';
import { localMonthKey, toLocalTime, utcOffsetMs } from './local-time';
import { type SimTariffInput, SimTariffSchema, stepPrices } from './tariff';

const HOUR_MS = 3_600_000;
const QUARTER_MS = 900_000;
const PARIS = 'Europe/Paris';
const tariff = (input: Partial<SimTariffInput>) => SimTariffSchema.parse({ kind: 'dynamic', ...input });

describe('local time', () => {
  it.each([
    { iso: '2024-03-31T00:59:00Z', offsetH: 1, hhmm: 1 * 60 + 59 },
    { iso: '2024-03-31T01:00:00Z', offsetH: 2, hhmm: 3 * 60 },
    { iso: '2024-10-27T00:59:00Z', offsetH: 2, hhmm: 2 * 60 + 59 },
    { iso: '2024-10-27T01:00:00Z', offsetH: 1, hhmm: 2 * 60 },
  ])('maps $iso to the Paris wall clock around DST', ({ iso, offsetH, hhmm }) => {
    const local = toLocalTime(Date.parse(iso), PARIS);
    expect(local.offsetMs).toBe(offsetH * HOUR_MS);
    expect(local.minuteOfDay).toBe(hhmm);
  });

  it('gives weekday and month in local time', () => {
    // 2024-04-30T22:30Z is Wednesday 1 May 00:30 in Paris.
    expect(toLocalTime(Date.parse('2024-04-30T22:30:00Z'), PARIS)).toMatchObject({ month: 5, day: 1, weekday: 3 });
    expect(localMonthKey(Date.parse('2024-04-30T21:59:00Z'), PARIS)).toBe('2024-04');
    expect(utcOffsetMs(0, 'UTC')).toBe(0);
  });

  it('rejects an unknown zone', () => {
    expect(() => toLocalTime(0, 'Mars/Olympus')).toThrow(RangeError);
  });
});

describe('stepPrices', () => {
  it('adds energy tax and grid fee to the spot price, then VAT: (80 + 100 + 50) × 1.21 = 278.3', () => {
    const t = tariff({ energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21 });
    expect(stepPrices(0, HOUR_MS, 80, t, PARIS)).toEqual({
      energyEurPerMwh: 80,
      importEurPerMwh: 278.3,
      exportEurPerMwh: 0,
    });
  });

  it.each([
    { name: 'fixed', feedIn: { rule: 'fixed', eurPerMwh: 70 }, expected: 70 },
    { name: 'spot × 0.9 − 10', feedIn: { rule: 'spot', factor: 0.9, offsetEurPerMwh: -10 }, expected: -100 },
    { name: 'spot (defaults factor 1, offset 0)', feedIn: { rule: 'spot' }, expected: -100 },
    { name: 'none', feedIn: { rule: 'none' }, expected: 0 },
  ] as const)('pays feed-in by rule $name at a spot price of −100', ({ feedIn, expected }) => {
    expect(stepPrices(0, HOUR_MS, -100, tariff({ feedIn }), PARIS).exportEurPerMwh).toBeCloseTo(expected, 12);
  });

  it('applies VAT to a negative spot price too: −100 × 1.2 = −120', () => {
    expect(stepPrices(0, HOUR_MS, -100, tariff({ vatPct: 20 }), PARIS).importEurPerMwh).toBeCloseTo(-120, 12);
  });

  it('uses the fixed price for kind fixed', () => {
    const t = tariff({ kind: 'fixed', fixedEurPerMwh: 300, vatPct: 10 });
    expect(stepPrices(0, HOUR_MS, 999, t, PARIS)).toMatchObject({ energyEurPerMwh: 300, importEurPerMwh: 330 });
  });
});

describe('time-of-use in Europe/Paris', () => {
  const tou = tariff({
    kind: 'time-of-use',
    touPeriods: [
      { from: '07:00', to: '23:00', eurPerMwh: 250 },
      { from: '23:00', to: '07:00', eurPerMwh: 150 },
    ],
  });
  const peakHoursUtc = (dayIso: string, hours: number): number[] => {
    const start = Date.parse(dayIso);
    return Array.from({ length: hours }, (_, h) => h).filter(
      (h) => stepPrices(start + h * HOUR_MS, HOUR_MS, 0, tou, PARIS).energyEurPerMwh === 250,
    );
  };

  it('shifts the 07:00–23:00 peak one hour earlier in UTC across the spring change (31 March 2024)', () => {
    // Saturday 30 March (CET, UTC+1): 07:00 local = 06:00Z … 23:00 local = 22:00Z.
    expect(peakHoursUtc('2024-03-30T00:00:00Z', 24)).toEqual([
      6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    ]);
    // Sunday 31 March (CEST from 01:00Z): 07:00 local = 05:00Z … 23:00 local = 21:00Z.
    expect(peakHoursUtc('2024-03-31T00:00:00Z', 24)).toEqual([
      5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    ]);
  });

  it('bills 16 peak and 9 off-peak hours on the 25-hour local day of the autumn change (27 October 2024)', () => {
    // Local day 27 October runs from 26 Oct 22:00Z (CEST) to 27 Oct 23:00Z (CET): 25 hours.
    const peak = peakHoursUtc('2024-10-26T22:00:00Z', 25);
    expect(peak).toHaveLength(16);
    expect(peak[0]).toBe(8); // 06:00Z = 07:00 CET
  });

  it('averages over a step that crosses a period boundary (06:45–07:15 local → (150 + 250) / 2)', () => {
    expect(stepPrices(Date.parse('2024-03-30T05:45:00Z'), 1_800_000, 0, tou, PARIS).energyEurPerMwh).toBe(200);
  });

  it('splits a step at the DST jump (00:30–01:30Z on 31 March = 01:30–02:00 CET + 03:00–03:30 CEST)', () => {
    const night = tariff({
      kind: 'time-of-use',
      fixedEurPerMwh: 100,
      touPeriods: [{ from: '02:30', to: '03:30', eurPerMwh: 500 }],
    });
    // 30 min at the fallback 100 and 30 min inside 02:30–03:30 local at 500.
    expect(stepPrices(Date.parse('2024-03-31T00:30:00Z'), HOUR_MS, 0, night, PARIS).energyEurPerMwh).toBe(300);
  });

  it('respects weekdays, and an overnight period belongs to the day it starts on', () => {
    const weekend = tariff({
      kind: 'time-of-use',
      fixedEurPerMwh: 200,
      touPeriods: [{ from: '22:00', to: '06:00', days: [6], eurPerMwh: 50 }],
    });
    const price = (iso: string): number => stepPrices(Date.parse(iso), QUARTER_MS, 0, weekend, PARIS).energyEurPerMwh;
    expect(price('2024-03-30T21:00:00Z')).toBe(50); // Saturday 22:00 CET
    expect(price('2024-03-31T03:00:00Z')).toBe(50); // Sunday 05:00 CEST, still Saturday's night
    expect(price('2024-03-31T04:00:00Z')).toBe(200); // Sunday 06:00 CEST
    expect(price('2024-03-29T21:00:00Z')).toBe(200); // Friday 22:00 CET
  });

  it('rejects a ToU tariff that leaves hours uncovered without a fallback', () => {
    const result = SimTariffSchema.safeParse({
      kind: 'time-of-use',
      touPeriods: [{ from: '07:00', to: '23:00', eurPerMwh: 1 }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/no period covers weekday 0 00:00/);
    expect(SimTariffSchema.safeParse({ kind: 'fixed' }).success).toBe(false);
  });
});

describe('computeCost', () => {
  it('bills energy, tax, fee, VAT, feed-in and wear (hand-computed)', () => {
    const t = tariff({
      energyTaxEurPerMwh: 100,
      gridFeeEurPerMwh: 50,
      vatPct: 21,
      feedIn: { rule: 'spot', factor: 0.9, offsetEurPerMwh: -10 },
      batteryWearEurPerMwh: 30,
    });
    const steps: CostStep[] = [
      { atMs: 0, gridPowerW: 2_000, batteryPowerW: -1_000, spotEurPerMwh: 80 },
      { atMs: HOUR_MS, gridPowerW: -3_000, batteryPowerW: 3_000, spotEurPerMwh: 60 },
    ];
    const cost = computeCost(steps, HOUR_MS, t, PARIS);
    // Import 2 kWh: energy 80 × 0.002 = 0.16, tax 0.2, fee 0.1, VAT 21 % of 0.46 = 0.0966.
    // Export 3 kWh at 0.9 × 60 − 10 = 44 EUR/MWh = 0.132. Wear 4 kWh × 30 EUR/MWh = 0.12.
    expect(cost.energyEur).toBeCloseTo(0.16, 12);
    expect(cost.energyTaxEur).toBeCloseTo(0.2, 12);
    expect(cost.gridFeeEur).toBeCloseTo(0.1, 12);
    expect(cost.vatEur).toBeCloseTo(0.0966, 12);
    expect(cost.feedInEur).toBeCloseTo(0.132, 12);
    expect(cost.wearEur).toBeCloseTo(0.12, 12);
    expect(cost.totalEur).toBeCloseTo(0.16 + 0.2 + 0.1 + 0.0966 - 0.132 + 0.12, 12);
    expect(cost).toMatchObject({ importWh: 2_000, exportWh: 3_000, batteryThroughputWh: 4_000, peakDemandEur: 0 });
  });

  it('charges each local month for its highest quarter-hour import, with VAT', () => {
    const t = tariff({ peakDemandEurPerKw: 10, vatPct: 20 });
    const at = (iso: string, gridPowerW: number): CostStep => ({
      atMs: Date.parse(iso),
      gridPowerW,
      batteryPowerW: 0,
      spotEurPerMwh: 0,
    });
    const steps = [
      at('2024-04-30T21:30:00Z', 4_000), // 23:30 local, April
      at('2024-04-30T21:45:00Z', 2_000),
      at('2024-04-30T22:00:00Z', 3_000), // 00:00 local 1 May
      at('2024-04-30T22:15:00Z', -5_000),
    ];
    const cost = computeCost(steps, QUARTER_MS, t, PARIS);
    expect(cost.monthlyPeaks).toEqual([
      { month: '2024-04', peakImportW: 4_000, chargeEur: 40 },
      { month: '2024-05', peakImportW: 3_000, chargeEur: 30 },
    ]);
    expect(cost.peakDemandEur).toBe(70);
    expect(cost.vatEur).toBeCloseTo(14, 12);
    expect(cost.totalEur).toBeCloseTo(84, 12);
  });

  it('takes the 15-min mean for shorter steps: 5-min imports 3, 6, 0 kW peak at 3 kW', () => {
    const t = tariff({ peakDemandEurPerKw: 1 });
    const steps = [3_000, 6_000, 0].map((gridPowerW, k) => ({
      atMs: k * 300_000,
      gridPowerW,
      batteryPowerW: 0,
      spotEurPerMwh: 0,
    }));
    expect(computeCost(steps, 300_000, t, 'UTC').monthlyPeaks).toEqual([
      { month: '1970-01', peakImportW: 3_000, chargeEur: 3 },
    ]);
  });

  it('builds one metering block per step of 15 min or more, and averages shorter steps', () => {
    expect(demandBlocks(0, 1_800_000, 3, 'UTC').map((b) => b.terms)).toEqual([
      [{ index: 0, weight: 1 }],
      [{ index: 1, weight: 1 }],
      [{ index: 2, weight: 1 }],
    ]);
    expect(demandBlocks(0, 300_000, 3, 'UTC')[0]?.terms.map((x) => x.index)).toEqual([0, 1, 2]);
  });
});
