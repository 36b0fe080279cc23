import fc from 'fast-check';
import { batteryPowerOf, buildBattery, buildForecast, buildPriceSeries, buildSiteState, buildTariff, localTimeMs, runScenario } from '../../testing';
import { INITIAL_METER_MEMORY, observeMeter } from '../meter';
import { dayScenarios } from '../plan-core';
import type { SiteState } from '../site-state';
import { arbitrageStrategy, ArbitrageConfigSchema, type ArbitrageConfig, type ArbitrageMemory } from './arbitrage';

const HOUR = 3_600_000;
const TZ = 'Europe/Paris';
const config = ArbitrageConfigSchema.parse({});
const fresh: ArbitrageMemory = arbitrageStrategy.initialMemory(config);
/** A household tariff: spot + 150 EUR/MWh taxes and fees, 21 % VAT, feed-in at spot, optional peak charge. */
const retail = (peakDemandEurPerKw = 0) =>
  buildTariff({ kind: 'dynamic', energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21, feedIn: { rule: 'spot' }, peakDemandEurPerKw });
const t0 = localTimeMs('2025-06-10T10:00', TZ);

/** Net demand forecast (W per hour) from t0. */
const forecast = (netW: readonly number[]) =>
  buildForecast(t0, HOUR, { loadW: netW.map((n) => Math.max(0, n)), pvW: netW.map((n) => Math.max(0, -n)) });

function state(overrides: Partial<SiteState> = {}): SiteState {
  return buildSiteState({ loadPowerW: 0, batteries: [buildBattery({ socPct: 10 })], limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 }, ...overrides });
}
const decide = (s: SiteState, nowMs = t0, cfg: ArbitrageConfig = config, memory = fresh) => arbitrageStrategy.decide(s, cfg, { nowMs }, memory);

describe('arbitrage: config', () => {
  it('rejects a bad key or value with a clear message', () => {
    const unknown = ArbitrageConfigSchema.safeParse({ replanSocDeviation: 3 });
    expect(unknown.success).toBe(false);
    expect(JSON.stringify(unknown.error?.issues)).toContain('replanSocDeviation');
    expect(ArbitrageConfigSchema.safeParse({ chargeEfficiency: 1.2 }).success).toBe(false);
  });
});

describe('arbitrage on a market site (no tariff: spot in and out, no load, no PV)', () => {
  const prices = buildPriceSeries(t0, HOUR, [50, 50, 300, 200]);

  it('charges in the cheap hours and discharges in the dear one', () => {
    const charging = decide(state({ prices }));
    expect(charging.metrics.reason).toBe('arbitrage-charging');
    expect(batteryPowerOf(charging)).toBeLessThan(-2_000);
    expect(batteryPowerOf(charging)).toBeGreaterThanOrEqual(-5_000);
    const discharging = decide(state({ prices, batteries: [buildBattery({ socPct: 90 })] }), t0 + 2 * HOUR);
    expect(discharging.metrics.reason).toBe('arbitrage-discharging');
    expect(batteryPowerOf(discharging)).toBe(5_000);
  });

  it('idles when the spread does not pay the losses and the wear', () => {
    const flat = buildPriceSeries(t0, HOUR, [100, 110, 100, 110]);
    const result = decide(state({ prices: flat, batteries: [buildBattery({ socPct: 50 })] }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('arbitrage-idle');
  });

  it('an empty battery does not discharge, a full one does not charge', () => {
    expect(batteryPowerOf(decide(state({ prices, batteries: [buildBattery({ socPct: 10 })] }), t0 + 2 * HOUR))).toBe(0);
    expect(batteryPowerOf(decide(state({ prices, batteries: [buildBattery({ socPct: 95 })] })))).toBe(0);
  });

  it('charges when negative prices pay for it, even with nowhere to sell', () => {
    // 8.5 kWh of room: both negative hours are needed to fill it, so it charges at −50 already.
    const negative = buildPriceSeries(t0, HOUR, [-50, -80]);
    expect(batteryPowerOf(decide(state({ prices: negative, batteries: [buildBattery({ socPct: 10 })] })))).toBeLessThan(0);
    // Half full, the −80 hour alone fills it: it waits for the better price.
    expect(batteryPowerOf(decide(state({ prices: negative, batteries: [buildBattery({ socPct: 50 })] })))).toBe(0);
  });

  it('without grid charging it does not buy, whatever the spread', () => {
    const cfg = ArbitrageConfigSchema.parse({ allowGridCharge: false });
    expect(batteryPowerOf(decide(state({ prices }), t0, cfg))).toBe(0);
  });

  it('does not lose money in closed loop on random prices (ideal battery follows the setpoints, property)', () => {
    const tickMs = 15 * 60_000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -100, max: 400 }), { minLength: 2, maxLength: 8 }), (hourly) => {
        const series = buildPriceSeries(t0, HOUR, hourly);
        let socPct = 50;
        let memory = fresh;
        let cashEur = 0;
        for (let t = t0; t < t0 + hourly.length * HOUR; t += tickMs) {
          const result = decide(state({ prices: series, batteries: [buildBattery({ socPct })] }), t, config, memory);
          memory = result.memory;
          const powerW = batteryPowerOf(result) ?? 0;
          const hours = tickMs / HOUR;
          const price = hourly[Math.floor((t - t0) / HOUR)] ?? 0;
          // Sold (+) or bought (−) at the spot price, wear on the throughput.
          cashEur += (powerW * hours * price) / 1e6 - (Math.abs(powerW) * hours * config.wearCostEurPerKwh) / 1000;
          const storedWh = powerW < 0 ? -powerW * hours * config.chargeEfficiency : (-powerW * hours) / config.dischargeEfficiency;
          socPct += (storedWh / 10_000) * 100;
        }
        // Energy left over is worth nothing here, so whatever it bought it must have sold at a profit.
        expect(cashEur).toBeGreaterThanOrEqual(-0.02);
      }),
      { numRuns: 40 },
    );
  });
});

describe('arbitrage on a household tariff (import with taxes and VAT, feed-in at spot)', () => {
  const spot = buildPriceSeries(t0, HOUR, [60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60]);

  it('stores PV surplus for the evening instead of exporting it at spot, and only the surplus', () => {
    // Now 2 kW surplus; the forecast: 2 h of surplus, then 1 kW demand for 6 h. Import costs 254 EUR/MWh, feed-in 60.
    const s = state({ prices: spot, tariff: retail(), loadPowerW: 500, pvPowerW: 2_500, forecast: forecast([-2_000, -2_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]) });
    const result = decide(s);
    expect(batteryPowerOf(result)).toBeCloseTo(-2_000, 0);
    expect(result.metrics.terms['importEurPerMwh']).toBeCloseTo((60 + 150) * 1.21, 6);
    expect(result.metrics.terms['exportEurPerMwh']).toBe(60);
  });

  it('does not buy from the grid at retail prices to sell at spot', () => {
    // Bought at (60 + 150) × 1.21 = 254 EUR/MWh, sold at 0.9025 × 200 = 180: a loss.
    const spread = buildPriceSeries(t0, HOUR, [60, 60, 200, 200]);
    const result = decide(state({ prices: spread, tariff: retail() }));
    expect(batteryPowerOf(result)).toBe(0);
  });

  it('covers the measured demand now even when the forecast said surplus (a wrong forecast costs nothing now)', () => {
    // The forecast promised 2 kW of surplus for two hours, then 1 kW of evening demand; in fact the site draws
    // 2 kW now. Import is dear: it covers the measured demand, no more (the evening still needs the rest).
    const s = state({
      prices: spot,
      tariff: retail(),
      loadPowerW: 2_000,
      pvPowerW: 0,
      batteries: [buildBattery({ socPct: 60 })],
      forecast: forecast([-2_000, -2_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]),
    });
    const result = decide(s);
    expect(batteryPowerOf(result)).toBeCloseTo(2_000, 0);
    expect(result.metrics.reason).toBe('arbitrage-discharging');
  });

  it('takes negative feed-in prices into account: stores the surplus when exporting would cost money', () => {
    // Spot −80 now (feeding in costs 80 EUR/MWh), 60 later; no demand later, so storing only avoids the export cost.
    const negative = buildPriceSeries(t0, HOUR, [-80, -80, 60, 60]);
    const s = state({ prices: negative, tariff: retail(), loadPowerW: 0, pvPowerW: 3_000, batteries: [buildBattery({ socPct: 10 })], forecast: forecast([-3_000, -3_000, 0, 0]) });
    expect(batteryPowerOf(decide(s))).toBeCloseTo(-3_000, 0);
  });

  it('holds the month’s peak: discharges the excess over the cap the peak charge makes worth holding', () => {
    // 4 EUR/kW peak charge; flat prices: only the peak pays. 6 kW now, then 1 kW for two days: it shaves the 6 kW hour.
    const s = state({ prices: spot, tariff: retail(4), loadPowerW: 6_000, batteries: [buildBattery({ socPct: 90 })], forecast: forecast([6_000, ...Array(47).fill(1_000)]) });
    const result = decide(s);
    expect(batteryPowerOf(result)).toBeGreaterThan(3_000);
    expect(result.metrics.terms['peakCapW']).toBeLessThan(6_000);
  });

  it('without export allowed, discharges only into the site demand', () => {
    const dear = buildPriceSeries(t0, HOUR, [400, 400]);
    const cfg = ArbitrageConfigSchema.parse({ allowExport: false });
    const result = decide(state({ prices: dear, loadPowerW: 1_200, batteries: [buildBattery({ socPct: 90 })] }), t0, cfg);
    expect(batteryPowerOf(result)).toBe(1_200);
  });
});

describe('arbitrage: missing, stale and changing inputs', () => {
  it('without any price idles and says why', () => {
    const result = decide(state({ prices: [] }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('no-prices');
    expect(decide(buildSiteState()).metrics.reason).toBe('no-prices');
  });

  it('ignores prices that ended before now', () => {
    const old = buildPriceSeries(t0 - 72 * HOUR, HOUR, [50, 300]);
    expect(decide(state({ prices: old })).metrics.reason).toBe('no-prices');
  });

  it('without spot prices plans on the tariff’s ToU schedule and says so', () => {
    const tariff = buildTariff({
      kind: 'dynamic',
      touPeriods: [
        { from: '00:00', to: '06:00', eurPerMwh: 50 },
        { from: '06:00', to: '00:00', eurPerMwh: 300 },
      ],
    });
    const nowMs = localTimeMs('2025-01-15T02:00', TZ);
    // The site draws 1 kW all day: energy stored at 50 saves import at 300.
    const demand = buildForecast(nowMs, HOUR, { loadW: Array(48).fill(1_000), pvW: Array(48).fill(0) });
    const result = decide(buildSiteState({ tariff, loadPowerW: 1_000, forecast: demand, batteries: [buildBattery({ socPct: 10 })] }), nowMs);
    expect(result.metrics.reason).toBe('no-prices-tou-fallback');
    expect(batteryPowerOf(result)).toBeLessThan(0);
  });

  it('holds 0 W on stale data (grid or battery)', () => {
    const prices = buildPriceSeries(t0, HOUR, [50, 300]);
    for (const s of [state({ prices, gridQuality: 'stale' }), state({ prices, batteries: [buildBattery({ ageMs: 60_000 })] })]) {
      const result = decide(s);
      expect(batteryPowerOf(result)).toBe(0);
      expect(result.metrics.reason).toBe('stale-data');
    }
  });

  it('keeps its plan between ticks, re-plans when prices change, and at least every replanIntervalMs', () => {
    const prices = buildPriceSeries(t0, HOUR, [50, 50, 300, 200, 100, 100]);
    const changed = buildPriceSeries(t0, HOUR, [50, 50, 300, 210, 100, 100]);
    const results = runScenario(arbitrageStrategy, config, fresh, [
      { atMs: t0, state: state({ prices }) },
      { atMs: t0 + 60_000, state: state({ prices, batteries: [buildBattery({ socPct: 11 })] }) },
      { atMs: t0 + 120_000, state: state({ prices: changed, batteries: [buildBattery({ socPct: 12 })] }) },
      { atMs: t0 + 120_000 + HOUR, state: state({ prices: changed, batteries: [buildBattery({ socPct: 40 })] }) },
    ]);
    expect(results.map((r) => r.metrics.terms['replanned'])).toEqual([1, 0, 1, 1]);
    expect(results.map((r) => r.metrics.terms['replanCause'])).toEqual([1, 0, 1, 3]);
  });

  it('without a forecast in the state plans on the net demand it measured the day before', () => {
    const prices = buildPriceSeries(t0 - 30 * HOUR, HOUR, Array(80).fill(100));
    const steps = Array.from({ length: 97 }, (_, k) => ({
      atMs: t0 - 24 * HOUR + k * 15 * 60_000,
      state: state({ prices, tariff: retail(), loadPowerW: 700, pvPowerW: 0, batteries: [buildBattery({ socPct: 50 })] }),
    }));
    const results = runScenario(arbitrageStrategy, config, fresh, steps);
    const last = results[results.length - 1];
    expect(last?.metrics.terms['learnedSlots']).toBeGreaterThan(90);
    expect(last?.metrics.terms['forecastSlots']).toBe(0);
    expect(results[0]?.metrics.terms['learnedSlots']).toBe(0);
  });

  it('keeps JSON memory and every metric finite', () => {
    const prices = buildPriceSeries(t0, HOUR, [50, 300]);
    const result = decide(state({ prices, tariff: retail(4), forecast: forecast([500, 800]) }));
    expect(JSON.parse(JSON.stringify(result.memory))).toEqual(result.memory);
    for (const v of Object.values(result.metrics.terms)) expect(Number.isFinite(v)).toBe(true);
  });
});

describe('arbitrage: the peak reserve (peakReserve)', () => {
  // 18:00 local; the month's peak so far 1 kW; 4 EUR/kW peak charge. The persistence forecast (yesterday) promises a
  // mild evening and night (500 W), the evening is dear. Three days ago the site drew 3 kW from 22:00 to 06:00.
  const evening = localTimeMs('2025-06-10T18:00', TZ);
  const prices = buildPriceSeries(evening, HOUR, [...Array(4).fill(200), ...Array(44).fill(100)]);
  const mild = buildForecast(evening, HOUR, { loadW: Array(48).fill(500), pvW: Array(48).fill(0) });
  const DAY = 24 * HOUR;
  const QUARTER = 15 * 60_000;
  /** A meter that has seen `days` full days before today (and today so far) with net demand `netAt(ms)`. */
  function meterWith(netAt: (atMs: number) => number, days: number): ArbitrageMemory['meter'] {
    const base = fresh.meter;
    const historyW = [...base.historyW];
    const historyDay = [...base.historyDay];
    const today = Math.floor(evening / DAY);
    for (let day = today - days; day <= today; day++) {
      const row = day % historyDay.length;
      historyDay[row] = day;
      for (let q = 0; q < 96; q++) historyW[row * 96 + q] = netAt(day * DAY + q * QUARTER);
    }
    // Forecast and the day before scored equally well: the plan hedges fully toward what the days have shown.
    return { ...base, historyW, historyDay, monthKey: '2025-06', monthPeakW: 1_000, errorSamples: 200, forecastMse: 1e5, altMse: 1e5 };
  }
  const localHour = (atMs: number): number => Number(new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', hourCycle: 'h23' }).format(atMs));
  const badNightThreeDaysAgo = (atMs: number): number => {
    const daysAgo = Math.floor((evening - atMs) / DAY);
    const h = localHour(atMs);
    return daysAgo === 3 && (h >= 22 || h < 6) ? 3_000 : 500;
  };
  const s = state({ prices, tariff: retail(4), loadPowerW: 500, batteries: [buildBattery({ socPct: 90 })], forecast: mild });
  const withMeter = (meter: ArbitrageMemory['meter'], cfg: ArbitrageConfig = config) => decide(s, evening, cfg, { meter, plan: null });

  it('keeps the energy a night like one it has seen needs, instead of spending it on a dear evening (the cap rises to what it can hold)', () => {
    const spend = withMeter(meterWith(badNightThreeDaysAgo, 5), ArbitrageConfigSchema.parse({ peakReserve: false }));
    expect(batteryPowerOf(spend)).toBeCloseTo(500, 0);
    // With the reserve it does not discharge; it even tops the battery up under the cap (a reserve that only counts on
    // PV to refill it does not rely on charging later in the night).
    const keep = withMeter(meterWith(badNightThreeDaysAgo, 5));
    expect(batteryPowerOf(keep)).toBeLessThanOrEqual(0);
    expect(s.gridPowerW - (batteryPowerOf(keep) ?? 0)).toBeLessThanOrEqual((keep.metrics.terms['peakCapW'] ?? 0) + 1);
    // It also plans with a cap the battery can hold through such a night, above the month's 1 kW.
    expect(keep.metrics.terms['peakCapW']).toBeGreaterThan(1_000);
  });

  it('spends the evening as before when no day of the week was worse than the forecast', () => {
    const calm = withMeter(meterWith(() => 500, 5));
    expect(batteryPowerOf(calm)).toBeCloseTo(500, 0);
  });

  it('has no reserve before it has a day of its own readings (a first night has nothing to go by)', () => {
    expect(batteryPowerOf(withMeter(fresh.meter))).toBeCloseTo(500, 0);
  });
});

describe('arbitrage: the end of a month', () => {
  // 18:00 on the month's last day; the month's peak so far 4 kW; 4 EUR/kW peak charge. A dear evening (1 kW at 200),
  // then 500 W at 100 through the next month's first day and beyond. The battery is nearly full.
  const evening = localTimeMs('2025-06-30T18:00', TZ);
  const prices = buildPriceSeries(evening, HOUR, [...Array(4).fill(200), ...Array(44).fill(100)]);
  const demand = buildForecast(evening, HOUR, { loadW: [...Array(4).fill(1_000), ...Array(44).fill(500)], pvW: Array(48).fill(0) });
  const DAY = 24 * HOUR;
  /** The month's 4 kW peak is behind it; the last five days drew 1 kW all day (the plan's day scenarios). */
  const meter = ((): ArbitrageMemory['meter'] => {
    const historyW = [...fresh.meter.historyW];
    const historyDay = [...fresh.meter.historyDay];
    const today = Math.floor(evening / DAY);
    for (let day = today - 5; day <= today; day++) {
      const row = day % historyDay.length;
      historyDay[row] = day;
      historyW.fill(1_000, row * 96, (row + 1) * 96);
    }
    return { ...fresh.meter, historyW, historyDay, monthKey: '2025-06', monthPeakW: 4_000, errorSamples: 200, forecastMse: 1e5, altMse: 1e5 };
  })();
  const s = state({ prices, tariff: retail(4), loadPowerW: 1_000, batteries: [buildBattery({ socPct: 90 })], forecast: demand });

  it('spends the month’s last evening instead of hoarding for a cap the next month does not keep', () => {
    // Planned as low as a full battery could hold it, July's cap made every Wh kept tonight worth the peak charge
    // it would save in July, so the battery sat full through the dearest hours of June.
    const result = decide(s, evening, config, { meter, plan: null });
    expect(batteryPowerOf(result)).toBeCloseTo(1_000, 0);
    expect(result.metrics.reason).toBe('arbitrage-discharging');
  });

  it('chooses the new month’s cap when the month begins, not the one the last plan assumed', () => {
    const first = decide(s, evening, config, { meter, plan: null });
    const midnight = localTimeMs('2025-07-01T00:00', TZ);
    const night = state({ prices, tariff: retail(4), loadPowerW: 500, batteries: [buildBattery({ socPct: 60 })], forecast: demand });
    const next = decide(night, midnight, config, first.memory as ArbitrageMemory);
    expect(next.metrics.terms['replanCause']).toBe(5);
    expect(next.metrics.terms['capSearched']).toBe(1);
    // The new month starts with no peak: the cap is what the battery can hold from here, far below June's 4 kW.
    expect(next.metrics.terms['monthPeakW']).toBe(0);
    expect(next.metrics.terms['peakCapW']).toBeLessThan(1_000);
  });
});

describe('arbitrage: day scenarios between quarter-hour boundaries', () => {
  it('uses yesterday as a scenario also when a plan is made in the middle of a quarter hour', () => {
    const DAY = 24 * HOUR;
    const Q = 15 * 60_000;
    const start = Math.floor(t0 / DAY) * DAY - DAY;
    let meter = INITIAL_METER_MEMORY;
    for (let atMs = start; atMs <= t0 + 7 * 60_000; atMs += atMs < t0 ? Q : 7 * 60_000) {
      meter = observeMeter(meter, { nowMs: atMs, netW: 700, batteryW: 0, timezone: TZ }, Q);
    }
    const nowMs = t0 + 7 * 60_000;
    const slots = [{ startMs: nowMs, endMs: t0 + Q, netW: 700 }];
    for (let s = t0 + Q; s < nowMs + 2 * DAY; s += Q) slots.push({ startMs: s, endMs: s + Q, netW: 100 });
    const scenarios = dayScenarios(meter, slots, 700, 1);
    expect(scenarios.window).toBe(96);
    expect(scenarios.demandsW).toHaveLength(1);
    expect(scenarios.demandsW[0]?.slice(1).every((w) => w === 700)).toBe(true);
  });
});

describe('arbitrage: whole-day scenarios (wholeDayScenarios)', () => {
  // 05:00 local, the last cheap hour (spot −50). The persistence forecast is yesterday: sunny, 2.5 kW surplus from
  // 10:00 to 16:00, then 1.5 kW from 17:00 to 21:00 at a dear spot 200. The week before alternated sunny and cloudy days.
  const DAY = 24 * HOUR;
  const QUARTER = 15 * 60_000;
  const dawn = localTimeMs('2025-06-10T05:00', TZ);
  const localHour = (atMs: number): number => Number(new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', hourCycle: 'h23' }).format(atMs));
  const netOn = (sunny: boolean, atMs: number): number => {
    const h = localHour(atMs);
    if (h >= 10 && h < 16) return sunny ? -2_500 : 300;
    return h >= 17 && h < 21 ? 1_500 : 300;
  };
  const spotAt = (h: number): number => (h === 5 ? -50 : h >= 6 && h < 10 ? 150 : h >= 10 && h < 16 ? 0 : h >= 16 && h < 22 ? 200 : 100);
  const prices = buildPriceSeries(dawn, HOUR, Array.from({ length: 48 }, (_, i) => spotAt((5 + i) % 24)));
  const sunnyForecast = buildForecast(dawn, QUARTER, {
    loadW: Array.from({ length: 192 }, (_, q) => Math.max(0, netOn(true, dawn + q * QUARTER))),
    pvW: Array.from({ length: 192 }, (_, q) => Math.max(0, -netOn(true, dawn + q * QUARTER))),
  });
  const meter = ((): ArbitrageMemory['meter'] => {
    const base = fresh.meter;
    const historyW = [...base.historyW];
    const historyDay = [...base.historyDay];
    const today = Math.floor(dawn / DAY);
    for (let day = today - 6; day <= today; day++) {
      const row = day % historyDay.length;
      historyDay[row] = day;
      // Yesterday (odd days back: 1, 3, 5) sunny, the days between cloudy.
      for (let q = 0; q < 96; q++) historyW[row * 96 + q] = netOn((today - day) % 2 === 1, day * DAY + q * QUARTER);
    }
    return { ...base, historyW, historyDay, errorSamples: 200, forecastMse: 1e5, altMse: 1e5 };
  })();
  const s = state({ prices, tariff: retail(0), loadPowerW: 300, batteries: [buildBattery({ socPct: 10 })], forecast: sunnyForecast });

  it('charges in the last cheap hour for the cloudy days it has seen, although the forecast promises sun', () => {
    const whole = decide(s, dawn, config, { meter, plan: null });
    expect(batteryPowerOf(whole)).toBeLessThan(-2_000);
    // Planned on the forecast and the days mixed quarter hour by quarter hour, the sun looks nearly certain.
    const perQuarter = decide(s, dawn, ArbitrageConfigSchema.parse({ wholeDayScenarios: false }), { meter, plan: null });
    expect(batteryPowerOf(perQuarter)).toBeGreaterThan(-500);
  });

  it('plans on the forecast alone when told to (altScenarioWeight 0) or before it has a day of readings', () => {
    const forecastOnly = decide(s, dawn, ArbitrageConfigSchema.parse({ altScenarioWeight: 0 }), { meter, plan: null });
    expect(batteryPowerOf(forecastOnly)).toBeGreaterThan(-500);
    expect(batteryPowerOf(decide(s, dawn, config, { meter: fresh.meter, plan: null }))).toBeGreaterThan(-500);
  });
});
