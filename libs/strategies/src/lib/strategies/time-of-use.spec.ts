import { batteryPowerOf, buildBattery, buildForecast, buildSiteState, buildTariff, localTimeMs, runScenario } from '../../testing';
import type { SiteState } from '../site-state';
import { classifyTouPrice, timeOfUseStrategy, TimeOfUseConfigSchema, type TimeOfUseConfig } from './time-of-use';

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

describe('time-of-use strategy', () => {
  const config = TimeOfUseConfigSchema.parse({});
  const at = (local: string) => localTimeMs(local, TZ);
  const decide = (nowMs: number, overrides: Partial<SiteState> = {}, cfg: TimeOfUseConfig = config) =>
    timeOfUseStrategy.decide(buildSiteState({ tariff, ...overrides }), cfg, { nowMs }, {});

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

  it('does not export in expensive periods unless allowed', () => {
    const overrides = { loadPowerW: 1_000, pvPowerW: 3_000 };
    expect(batteryPowerOf(decide(at('2025-01-15T18:00'), overrides))).toBe(0);
    expect(batteryPowerOf(decide(at('2025-01-15T18:00'), overrides, TimeOfUseConfigSchema.parse({ allowExport: true })))).toBe(5_000);
  });

  it('uses site-local time across daylight saving time', () => {
    // 01:00 local in July is 23:00 UTC the day before: still the cheap window.
    const result = decide(Date.UTC(2025, 6, 14, 23, 0));
    expect(result.metrics.reason).toBe('cheap-charging');
  });

  it('in neutral self-consumption mode stores surplus and covers demand without the grid', () => {
    const cfg = TimeOfUseConfigSchema.parse({ neutralMode: 'self-consumption' });
    expect(batteryPowerOf(decide(at('2025-01-15T12:00'), { loadPowerW: 500, pvPowerW: 2_500 }, cfg))).toBe(-2_000);
    expect(batteryPowerOf(decide(at('2025-01-15T12:00'), { loadPowerW: 1_500 }, cfg))).toBe(1_500);
  });

  it('without a ToU schedule falls back to the neutral mode and says why', () => {
    const result = timeOfUseStrategy.decide(buildSiteState({ loadPowerW: 1_500 }), config, { nowMs: at('2025-01-15T18:00') }, {});
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('no-tou-schedule');
  });

  it('on a flat tariff does nothing and says so', () => {
    const flat = buildTariff({ kind: 'time-of-use', touPeriods: [{ from: '00:00', to: '00:00', eurPerMwh: 200 }] });
    const result = timeOfUseStrategy.decide(buildSiteState({ tariff: flat }), config, { nowMs: at('2025-01-15T18:00') }, {});
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
      const results = runScenario(timeOfUseStrategy, config, {}, [
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
