import { batteryPowerOf, buildBattery, buildForecast, buildPriceSeries, buildSiteState, buildTariff, localTimeMs, runScenario } from '../../testing';
import type { SiteState } from '../site-state';
import { classifyTouPrice, timeOfUseStrategy, TimeOfUseConfigSchema, type TimeOfUseConfig, type TimeOfUseMemory } from './time-of-use';

const TZ = 'Europe/Paris';
const HOUR = 3_600_000;
const tariff = buildTariff({
  kind: 'time-of-use',
  touPeriods: [
    { from: '00:00', to: '06:00', eurPerMwh: 100 },
    { from: '06:00', to: '17:00', eurPerMwh: 200 },
    { from: '17:00', to: '21:00', eurPerMwh: 350 },
    { from: '21:00', to: '00:00', eurPerMwh: 200 },
  ],
});

const at = (local: string) => localTimeMs(local, TZ);

describe('time-of-use strategy, rules mode', () => {
  const config = TimeOfUseConfigSchema.parse({ mode: 'rules' });
  const fresh: TimeOfUseMemory = timeOfUseStrategy.initialMemory(config);
  const rules = (raw: Record<string, unknown>) => TimeOfUseConfigSchema.parse({ mode: 'rules', ...raw });
  const decide = (nowMs: number, overrides: Partial<SiteState> = {}, cfg: TimeOfUseConfig = config, memory: TimeOfUseMemory = fresh) =>
    timeOfUseStrategy.decide(buildSiteState({ tariff, ...overrides }), cfg, { nowMs }, memory);

  it.each([
    { name: 'cheap night: charge at full rate', local: '2025-01-15T02:00', socPct: 50, loadPowerW: 500, expectedW: -5_000, reason: 'cheap-charging' },
    { name: 'cheap night at target: stop', local: '2025-01-15T02:00', socPct: 95, loadPowerW: 500, expectedW: 0, reason: 'charge-target-reached' },
    { name: 'expensive evening: cover the demand', local: '2025-01-15T18:00', socPct: 50, loadPowerW: 2_000, expectedW: 2_000, reason: 'expensive-discharging' },
    { name: 'expensive evening, empty battery: idle', local: '2025-01-15T18:00', socPct: 10, loadPowerW: 2_000, expectedW: 0, reason: 'battery-empty' },
    { name: 'neutral day: idle', local: '2025-01-15T12:00', socPct: 50, loadPowerW: 2_000, expectedW: 0, reason: 'neutral-idle' },
  ])('$name', ({ local, socPct, loadPowerW, expectedW, reason }) => {
    const result = decide(at(local), { loadPowerW, batteries: [buildBattery({ socPct })] });
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('stores PV surplus in an expensive period instead of exporting it; discharges at full power only with allowExport', () => {
    const overrides = { loadPowerW: 1_000, pvPowerW: 3_000 };
    const stored = decide(at('2025-01-15T18:00'), overrides);
    expect(batteryPowerOf(stored)).toBe(-2_000);
    expect(stored.metrics.reason).toBe('storing-surplus');
    expect(batteryPowerOf(decide(at('2025-01-15T18:00'), overrides, rules({ allowExport: true })))).toBe(5_000);
    expect(batteryPowerOf(decide(at('2025-01-15T18:00'), overrides, rules({ storeSurplus: false })))).toBe(0);
  });

  it('stores PV surplus in a neutral period too (idle otherwise)', () => {
    const result = decide(at('2025-01-15T12:00'), { loadPowerW: 500, pvPowerW: 2_500 });
    expect(batteryPowerOf(result)).toBe(-2_000);
    expect(result.metrics.reason).toBe('storing-surplus');
  });

  it('with a peak charge, charges no harder than the month’s peak allows unless the target needs it', () => {
    const peakTariff = buildTariff({ ...tariff, peakDemandEurPerKw: 4 });
    // The month's peak so far is 3 kW; 500 W load at 02:00, 4 h of cheap window left.
    const memory: TimeOfUseMemory = { ...fresh, meter: { ...fresh.meter, monthKey: '2025-01', monthPeakW: 3_000 } };
    // At 50 %: 4.5 kWh to go in 4 h needs 1.18 kW; the peak leaves 2.5 kW: charge at 2.5 kW, not 5 kW.
    const roomy = decide(at('2025-01-15T02:00'), { tariff: peakTariff, batteries: [buildBattery({ socPct: 50 })] }, config, memory);
    expect(batteryPowerOf(roomy)).toBe(-2_500);
    // At 10 % with 1 h left: 8.5 kWh needs more than the peak allows: it charges what the target needs.
    const late = decide(at('2025-01-15T05:00'), { tariff: peakTariff, batteries: [buildBattery({ socPct: 10 })] }, config, memory);
    expect(batteryPowerOf(late)).toBe(-5_000);
  });

  it('uses site-local time across daylight saving time', () => {
    // 01:00 local in July is 23:00 UTC the day before: still the cheap window.
    const result = decide(Date.UTC(2025, 6, 14, 23, 0));
    expect(result.metrics.reason).toBe('cheap-charging');
  });

  it('with a peak charge and a forecast, fills the night’s valleys instead of charging on top of a big load', () => {
    const peakTariff = buildTariff({ ...tariff, peakDemandEurPerKw: 4 });
    const memory: TimeOfUseMemory = { ...fresh, meter: { ...fresh.meter, monthKey: '2025-01', monthPeakW: 1_000 } };
    const nightMs = at('2025-01-15T02:00');
    // 3.9 kW until 04:00, then 200 W until 06:00: 4.74 kWh (AC) to go fit into 04:00–06:00 at a 2.57 kW import level.
    const forecast = buildForecast(nightMs, 15 * 60_000, { loadW: [...Array(8).fill(3_900), ...Array(8).fill(200)], pvW: Array(16).fill(0) });
    const busy = decide(nightMs, { tariff: peakTariff, loadPowerW: 3_900, forecast, batteries: [buildBattery({ socPct: 50 })] }, config, memory);
    expect(batteryPowerOf(busy)).toBe(0);
    expect(busy.metrics.terms['valleyLevelW']).toBeGreaterThan(2_500);
    expect(busy.metrics.terms['valleyLevelW']).toBeLessThan(2_650);
    const quiet = decide(at('2025-01-15T04:00'), { tariff: peakTariff, loadPowerW: 200, forecast, batteries: [buildBattery({ socPct: 50 })] }, config, memory);
    expect(batteryPowerOf(quiet)).toBeLessThan(-2_000);
  });

  it('in neutral self-consumption mode stores surplus and covers demand without the grid', () => {
    const cfg = rules({ neutralMode: 'self-consumption' });
    expect(batteryPowerOf(decide(at('2025-01-15T12:00'), { loadPowerW: 500, pvPowerW: 2_500 }, cfg))).toBe(-2_000);
    expect(batteryPowerOf(decide(at('2025-01-15T12:00'), { loadPowerW: 1_500 }, cfg))).toBe(1_500);
  });

  it('in neutral self-consumption mode, a cheap period at its charge target does not discharge (no cycling)', () => {
    // 02:00, cheap, target 80 %, 2 kW of demand. Before: +2 kW at 80 %, −5 kW at 79.9 %, +2 kW at 80.1 %.
    const cfg = rules({ neutralMode: 'self-consumption', chargeTargetSocPct: 80 });
    const powers = [80, 79.9, 80.1].map((socPct) => batteryPowerOf(decide(at('2025-01-15T02:00'), { loadPowerW: 2_000, batteries: [buildBattery({ socPct })] }, cfg)));
    expect(powers).toEqual([0, -5_000, 0]);
    // It still stores a PV surplus there.
    expect(batteryPowerOf(decide(at('2025-01-15T02:00'), { loadPowerW: 500, pvPowerW: 2_500, batteries: [buildBattery({ socPct: 85 })] }, cfg))).toBe(-2_000);
  });

  it('without a ToU schedule falls back to the neutral mode and says why', () => {
    const result = timeOfUseStrategy.decide(buildSiteState({ loadPowerW: 1_500 }), config, { nowMs: at('2025-01-15T18:00') }, fresh);
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('no-tou-schedule');
  });

  it('on a flat tariff does nothing and says so', () => {
    const flat = buildTariff({ kind: 'time-of-use', touPeriods: [{ from: '00:00', to: '00:00', eurPerMwh: 200 }] });
    const result = timeOfUseStrategy.decide(buildSiteState({ tariff: flat }), config, { nowMs: at('2025-01-15T18:00') }, fresh);
    expect(result.metrics.reason).toBe('flat-tariff');
  });

  it('holds 0 W on stale data', () => {
    const result = decide(at('2025-01-15T02:00'), { batteries: [buildBattery({ quality: 'stale' })] });
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });

  it.each([
    { price: 100, expected: 'cheap' },
    { price: 200, expected: 'neutral' },
    { price: 350, expected: 'expensive' },
  ])('classifies $price EUR/MWh as $expected', ({ price, expected }) => {
    expect(classifyTouPrice(price, [100, 200, 350], {})).toBe(expected);
  });

  describe('with a PV forecast', () => {
    const nightMs = at('2025-06-10T02:00');
    const sunnyForecast = buildForecast(nightMs, HOUR, {
      loadW: Array.from({ length: 24 }, () => 500),
      pvW: Array.from({ length: 24 }, (_, h) => (h >= 6 && h < 14 ? 1_500 : 0)),
    });

    it('charges less at night when the sun is expected to fill the battery', () => {
      // 8 h × 1 kW surplus = 8 kWh = 80 % of 10 kWh: the night target drops from 95 % to 15 %.
      const result = decide(nightMs, { forecast: sunnyForecast, batteries: [buildBattery({ socPct: 12 })] });
      expect(result.metrics.terms['forecastReductionPct']).toBeCloseTo(80);
      expect(batteryPowerOf(result)).toBe(-5_000);
      const higher = decide(nightMs, { forecast: sunnyForecast, batteries: [buildBattery({ socPct: 16 })] });
      expect(higher.metrics.reason).toBe('charge-target-reached');
    });

    it('ignores an outdated forecast', () => {
      const old = buildForecast(nightMs - 48 * HOUR, HOUR, { loadW: [500], pvW: [9_000] });
      const result = decide(nightMs, { forecast: old, batteries: [buildBattery({ socPct: 50 })] });
      expect(result.metrics.terms['forecastPvSurplusWh']).toBe(-1);
      expect(batteryPowerOf(result)).toBe(-5_000);
    });

    it('recovers from a forecast that was wrong: no sun came, the evening runs on what was stored, the next night charges fully', () => {
      const results = runScenario(timeOfUseStrategy, config, fresh, [
        // Night: the forecast promises sun, so the battery is only charged to the floor (it is at 15 %, target 15 %).
        { atMs: nightMs, state: buildSiteState({ tariff, forecast: sunnyForecast, batteries: [buildBattery({ socPct: 15 })] }) },
        // Noon: no sun at all (the forecast was wrong). Neutral period: idle, nothing imported for the battery.
        { atMs: at('2025-06-10T12:00'), state: buildSiteState({ tariff, loadPowerW: 600, pvPowerW: 0, batteries: [buildBattery({ socPct: 15 })] }) },
        // Evening: expensive; the little that is stored covers the demand until the floor, never more than the load.
        { atMs: at('2025-06-10T18:00'), state: buildSiteState({ tariff, loadPowerW: 800, batteries: [buildBattery({ socPct: 15 })] }) },
        { atMs: at('2025-06-10T20:00'), state: buildSiteState({ tariff, loadPowerW: 800, batteries: [buildBattery({ socPct: 10 })] }) },
        // Next night: the new forecast shows no sun, so the battery charges fully again.
        {
          atMs: at('2025-06-11T02:00'),
          state: buildSiteState({
            tariff,
            forecast: buildForecast(at('2025-06-11T02:00'), HOUR, { loadW: Array(24).fill(500), pvW: Array(24).fill(0) }),
            batteries: [buildBattery({ socPct: 10 })],
          }),
        },
      ]);
      expect(results.map((r) => r.metrics.reason)).toEqual([
        'charge-target-reached',
        'neutral-idle',
        'expensive-discharging',
        'battery-empty',
        'cheap-charging',
      ]);
      expect(results.map((r) => batteryPowerOf(r))).toEqual([0, 0, 800, 0, -5_000]);
    });
  });
});

describe('time-of-use strategy, plan mode (default)', () => {
  const config = TimeOfUseConfigSchema.parse({});
  const fresh: TimeOfUseMemory = timeOfUseStrategy.initialMemory(config);
  /** A two-period household tariff: 22:00–06:00 60, 06:00–22:00 140 EUR/MWh, + 150 taxes and fees, 21 % VAT, feed-in at spot. */
  const household = (peakDemandEurPerKw = 0) =>
    buildTariff({
      kind: 'time-of-use',
      touPeriods: [
        { from: '22:00', to: '06:00', eurPerMwh: 60 },
        { from: '06:00', to: '22:00', eurPerMwh: 140 },
      ],
      energyTaxEurPerMwh: 100,
      gridFeeEurPerMwh: 50,
      vatPct: 21,
      feedIn: { rule: 'spot' },
      peakDemandEurPerKw,
    });
  const nightMs = at('2025-06-10T02:00');
  const spot = (value: number) => buildPriceSeries(nightMs - 2 * HOUR, HOUR, Array(60).fill(value));
  /** 48 h from 02:00: 500 W at night, 1.5 kW in the evening; PV surplus of `pvW` from 09:00 to 16:00. */
  const day = (pvW: number) =>
    buildForecast(nightMs, HOUR, {
      loadW: Array.from({ length: 48 }, (_, h) => ((h + 2) % 24 >= 18 ? 1_500 : 500)),
      pvW: Array.from({ length: 48 }, (_, h) => ((h + 2) % 24 >= 9 && (h + 2) % 24 < 16 ? pvW : 0)),
    });
  const decide = (nowMs: number, overrides: Partial<SiteState> = {}, memory: TimeOfUseMemory = fresh) =>
    timeOfUseStrategy.decide(buildSiteState({ tariff: household(), prices: spot(60), ...overrides }), config, { nowMs }, memory);

  it('charges from the grid at night for the morning and evening when no sun is expected', () => {
    const result = decide(nightMs, { loadPowerW: 500, forecast: day(0), batteries: [buildBattery({ socPct: 10 })] });
    expect(result.metrics.reason).toBe('tou-plan-charging');
    expect(batteryPowerOf(result)).toBeLessThan(0);
  });

  it('leaves room for the sun: charges less at night when a sunny day is expected', () => {
    const cloudy = batteryPowerOf(decide(nightMs, { loadPowerW: 500, forecast: day(0), batteries: [buildBattery({ socPct: 40 })] })) ?? 0;
    const sunny = batteryPowerOf(decide(nightMs, { loadPowerW: 500, forecast: day(3_000), batteries: [buildBattery({ socPct: 40 })] })) ?? 0;
    expect(sunny).toBeGreaterThan(cloudy);
  });

  it('stores PV surplus in the expensive period and covers the evening from it', () => {
    const noon = decide(at('2025-06-10T12:00'), { loadPowerW: 500, pvPowerW: 3_000, forecast: day(2_500), batteries: [buildBattery({ socPct: 30 })] });
    // The 2.5 kW surplus (or nearly: the sun will fill the battery later anyway) goes into the battery.
    expect(noon.metrics.reason).toBe('storing-surplus');
    expect(batteryPowerOf(noon)).toBeLessThan(-2_000);
    expect(batteryPowerOf(noon)).toBeGreaterThanOrEqual(-2_500);
    const evening = decide(at('2025-06-10T19:00'), { loadPowerW: 1_500, forecast: day(2_500), batteries: [buildBattery({ socPct: 60 })] });
    expect(evening.metrics.reason).toBe('tou-plan-discharging');
    expect(batteryPowerOf(evening)).toBeCloseTo(1_500, 0);
  });

  it('without allowExport a discharge is not rounded up past the demand to the power step', () => {
    // 19:00, the dear period, a full battery with 100 W steps. Before: 1 100 W at 1 050 W of demand, 1 100 W at
    // 1 001 W (99 W exported). Now a step down instead; with allowExport the discharge may round up.
    const evening = at('2025-06-10T19:00');
    for (const loadPowerW of [1_050, 1_001, 2_550]) {
      const result = decide(evening, { loadPowerW, batteries: [buildBattery({ socPct: 90, powerStepW: 100 })] });
      expect(result.metrics.reason).toBe('tou-plan-discharging');
      expect(batteryPowerOf(result)).toBe(Math.floor(loadPowerW / 100) * 100);
    }
  });

  it('an empty battery does not discharge, a full one does not charge', () => {
    expect(batteryPowerOf(decide(at('2025-06-10T19:00'), { loadPowerW: 1_500, batteries: [buildBattery({ socPct: 10 })] }))).toBe(0);
    expect(batteryPowerOf(decide(nightMs, { loadPowerW: 500, forecast: day(0), batteries: [buildBattery({ socPct: 95 })] }))).toBe(0);
  });

  it('with a negative spot price (feed-in costs money) stores the surplus rather than exporting it', () => {
    const result = decide(at('2025-06-10T12:00'), { prices: spot(-50), loadPowerW: 0, pvPowerW: 2_000, forecast: day(2_000), batteries: [buildBattery({ socPct: 20 })] });
    expect(batteryPowerOf(result)).toBeCloseTo(-2_000, 0);
  });

  it('without spot prices plans on the schedule alone (feed-in valued at the energy price) and still stores surplus', () => {
    const result = decide(at('2025-06-10T12:00'), { prices: undefined, loadPowerW: 500, pvPowerW: 2_500, forecast: day(2_000), batteries: [buildBattery({ socPct: 30 })] });
    expect(batteryPowerOf(result)).toBeCloseTo(-2_000, 0);
  });

  it('without a ToU schedule falls back to the neutral mode and says why; on stale data holds 0 W', () => {
    const none = timeOfUseStrategy.decide(buildSiteState({ loadPowerW: 1_500 }), config, { nowMs: nightMs }, fresh);
    expect(none.metrics.reason).toBe('no-tou-schedule');
    expect(batteryPowerOf(none)).toBe(0);
    const stale = decide(nightMs, { gridQuality: 'stale' });
    expect(stale.metrics.reason).toBe('stale-data');
    expect(batteryPowerOf(stale)).toBe(0);
  });

  it('recovers from a wrong forecast: sun promised, none came — the evening uses what is stored, the next night charges', () => {
    const results = runScenario(timeOfUseStrategy, config, fresh, [
      { atMs: nightMs, state: buildSiteState({ tariff: household(), prices: spot(60), loadPowerW: 500, forecast: day(3_000), batteries: [buildBattery({ socPct: 60 })] }) },
      { atMs: at('2025-06-10T12:00'), state: buildSiteState({ tariff: household(), prices: spot(60), loadPowerW: 600, forecast: day(3_000), batteries: [buildBattery({ socPct: 45 })] }) },
      { atMs: at('2025-06-10T19:00'), state: buildSiteState({ tariff: household(), prices: spot(60), loadPowerW: 1_500, forecast: day(3_000), batteries: [buildBattery({ socPct: 30 })] }) },
      { atMs: at('2025-06-11T02:00'), state: buildSiteState({ tariff: household(), prices: spot(60), loadPowerW: 500, forecast: day(0), batteries: [buildBattery({ socPct: 10 })] }) },
    ]);
    // Noon without sun (measured demand 600 W, no surplus): covers the demand (import is dear), no grid charging.
    expect(batteryPowerOf(results[1] ?? { setpoints: {} })).toBeGreaterThanOrEqual(0);
    // Evening: covers the measured demand from what is left.
    expect(batteryPowerOf(results[2] ?? { setpoints: {} })).toBeCloseTo(1_500, 0);
    // Next night, with the cloudy forecast: charges from the grid again.
    expect(batteryPowerOf(results[3] ?? { setpoints: {} })).toBeLessThan(0);
  });

  it('with a peak charge, charges at night under the month’s peak so far', () => {
    const memory: TimeOfUseMemory = { ...fresh, meter: { ...fresh.meter, monthKey: '2025-06', monthPeakW: 2_500 } };
    const result = decide(nightMs, { tariff: household(4), loadPowerW: 500, forecast: day(0), batteries: [buildBattery({ socPct: 10 })] }, memory);
    expect(batteryPowerOf(result)).toBeLessThan(0);
    expect(500 - (batteryPowerOf(result) ?? 0)).toBeLessThanOrEqual(2_500 + 1);
  });
});
