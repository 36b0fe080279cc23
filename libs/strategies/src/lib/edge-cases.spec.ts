/**
 * The edge cases every strategy must handle (issue: empty battery, full battery, negative prices, missing prices,
 * stale data, a forecast that was wrong), one table for all eleven. Each row names a situation in which the strategy
 * acts at mid SoC (so the empty/full checks can fail) and says how it treats prices and forecasts: strategies that do
 * not use them must decide exactly the same with negative, missing or wildly wrong ones; the planners (arbitrage,
 * time-of-use, peak-shaving in forecast mode) have scenario tests of their own for those, named in the row.
 */
import type { StrategyName } from '@voltimax/contracts';
import { batteryPowerOf, buildBattery, buildEvCharger, buildForecast, buildPriceSeries, buildSiteState, buildTariff, evCurrentOf, localTimeMs } from '../testing';
import { parseStrategyConfig, strategyByName } from './registry';
import type { SiteState } from './site-state';
import type { StrategyResult } from './strategy';

const HOUR = 3_600_000;
const TZ = 'Europe/Paris';
const evening = localTimeMs('2025-06-10T19:00', TZ);
const noon = localTimeMs('2025-06-10T12:00', TZ);
const touTariff = buildTariff({
  kind: 'time-of-use',
  touPeriods: [
    { from: '22:00', to: '06:00', eurPerMwh: 60 },
    { from: '06:00', to: '22:00', eurPerMwh: 140 },
  ],
  energyTaxEurPerMwh: 100,
  gridFeeEurPerMwh: 50,
  vatPct: 21,
  feedIn: { rule: 'spot' },
});

interface Situation {
  readonly nowMs: number;
  readonly state: Partial<SiteState>;
}

interface Row {
  readonly name: StrategyName;
  readonly raw: unknown;
  /** Where it discharges at 50 % SoC (undefined: discharging is not its purpose). */
  readonly discharges?: Situation;
  /** Where it charges at 50 % SoC (undefined: charging is not its purpose). */
  readonly charges?: Situation;
  /** 'ignored': the decision must not change; otherwise the spec that covers it. */
  readonly prices: 'ignored' | string;
  readonly forecast: 'ignored' | string;
  /** Works on EV chargers, not batteries. */
  readonly isEv?: boolean;
}

const demand = (loadPowerW: number, extra: Partial<SiteState> = {}): Situation => ({ nowMs: evening, state: { loadPowerW, ...extra } });
const surplus = (pvPowerW: number, extra: Partial<SiteState> = {}): Situation => ({ nowMs: noon, state: { loadPowerW: 500, pvPowerW, ...extra } });

const ROWS: readonly Row[] = [
  { name: 'null', raw: {}, prices: 'ignored', forecast: 'ignored' },
  { name: 'charge', raw: {}, charges: demand(500), prices: 'ignored', forecast: 'ignored' },
  { name: 'discharge', raw: {}, discharges: demand(500), prices: 'ignored', forecast: 'ignored' },
  { name: 'net-zero', raw: {}, discharges: demand(2_000), charges: surplus(3_000), prices: 'ignored', forecast: 'ignored' },
  // Fixed mode ignores forecasts; forecast mode has its own wrong-forecast test (peak-shaving.spec.ts › forecast mode).
  { name: 'peak-shaving', raw: { thresholdW: 3_000 }, discharges: demand(5_000), charges: demand(500), prices: 'ignored', forecast: 'ignored' },
  {
    name: 'time-of-use',
    raw: {},
    discharges: demand(1_500, { tariff: touTariff }),
    // Storing the surplus pays only for a demand it expects later: give it the evening.
    charges: surplus(3_000, {
      tariff: touTariff,
      forecast: buildForecast(noon, HOUR, { loadW: Array.from({ length: 48 }, (_, h) => (h >= 6 && h < 10 ? 1_500 : 300)), pvW: Array(48).fill(0) }),
    }),
    prices: 'time-of-use.spec.ts › plan mode › negative spot price / without spot prices / without a ToU schedule',
    forecast: 'time-of-use.spec.ts › recovers from a wrong forecast (rules and plan mode)',
  },
  { name: 'self-consumption', raw: {}, discharges: demand(2_000), charges: surplus(3_000), prices: 'ignored', forecast: 'ignored' },
  {
    name: 'grid-services',
    raw: { frequencyResponse: { reservedPowerW: 4_000 } },
    discharges: demand(500, { frequencyHz: 49.8 }),
    charges: demand(500, { frequencyHz: 50.2 }),
    prices: 'ignored',
    forecast: 'ignored',
  },
  {
    name: 'arbitrage',
    raw: {},
    discharges: { nowMs: evening, state: { loadPowerW: 0, prices: buildPriceSeries(evening, HOUR, [300, 50]) } },
    // Two dear hours after a cheap one: filling the battery needs the whole cheap hour, so it starts now.
    charges: { nowMs: evening, state: { loadPowerW: 0, prices: buildPriceSeries(evening, HOUR, [50, 300, 300]) } },
    prices: 'arbitrage.spec.ts › negative prices / without any price / without spot prices (ToU fallback)',
    forecast: 'arbitrage.spec.ts › covers the measured demand now even when the forecast said surplus',
  },
  { name: 'backup-power', raw: { reserveSocPct: 60 }, charges: surplus(3_000), prices: 'ignored', forecast: 'ignored' },
  { name: 'ev-charging', raw: { mode: 'fast' }, prices: 'ignored', forecast: 'ignored', isEv: true },
];

function run(row: Row, situation: Situation, overrides: Partial<SiteState> = {}): StrategyResult<unknown> {
  const parsed = parseStrategyConfig(row.name, row.raw);
  if (!parsed.success) throw new Error(parsed.error);
  const strategy = strategyByName(row.name);
  const state = buildSiteState({
    evChargers: row.isEv ? [buildEvCharger()] : [],
    ...situation.state,
    ...overrides,
  });
  return strategy.decide(state, parsed.config, { nowMs: situation.nowMs }, strategy.initialMemory(parsed.config));
}

const any: Situation = demand(2_000);
const wrongForecast = buildForecast(evening - 2 * HOUR, HOUR, { loadW: Array(48).fill(0), pvW: Array(48).fill(9_000) });
const negativePrices = buildPriceSeries(evening - 24 * HOUR, HOUR, Array(72).fill(-120));
const usualPrices = buildPriceSeries(evening - 24 * HOUR, HOUR, Array(72).fill(90));

describe.each(ROWS)('edge cases of $name', (row) => {
  if (row.discharges) {
    const situation = row.discharges;
    it('discharges at 50 % but not from an empty battery (at its floor)', () => {
      expect(batteryPowerOf(run(row, situation, { batteries: [buildBattery({ socPct: 50 })] }))).toBeGreaterThan(0);
      expect(batteryPowerOf(run(row, situation, { batteries: [buildBattery({ socPct: 10 })] }))).toBeLessThanOrEqual(0);
    });
  } else if (!row.isEv) {
    it('never discharges an empty battery (discharging is not its purpose)', () => {
      expect(batteryPowerOf(run(row, any, { batteries: [buildBattery({ socPct: 10 })] })) ?? 0).toBeLessThanOrEqual(0);
    });
  }

  if (row.charges) {
    const situation = row.charges;
    it('charges at 50 % but not into a full battery (at its max SoC)', () => {
      const socPct = row.name === 'backup-power' ? 40 : 50;
      expect(batteryPowerOf(run(row, situation, { batteries: [buildBattery({ socPct })] }))).toBeLessThan(0);
      expect(batteryPowerOf(run(row, situation, { batteries: [buildBattery({ socPct: 95 })] }))).toBeGreaterThanOrEqual(0);
    });
  } else if (!row.isEv) {
    it('never charges a full battery (charging is not its purpose)', () => {
      expect(batteryPowerOf(run(row, surplus(3_000), { batteries: [buildBattery({ socPct: 95 })] })) ?? 0).toBeGreaterThanOrEqual(0);
    });
  }

  it('on stale data holds the batteries at 0 W and pauses chargers', () => {
    const situation = row.discharges ?? row.charges ?? any;
    const result = run(row, situation, { gridQuality: 'stale', batteries: [buildBattery({ socPct: 50 })] });
    for (const sp of Object.values(result.setpoints)) {
      if (sp.kind === 'battery-power') expect(sp.powerW).toBe(0);
      if (sp.kind === 'ev-current') expect(sp.currentA).toBe(0);
    }
    if (row.name !== 'null' && row.name !== 'backup-power') expect(result.metrics.reason).toBe('stale-data');
  });

  if (row.prices === 'ignored') {
    it('decides the same with negative prices, no prices or usual prices (it does not use prices)', () => {
      const situation = row.discharges ?? row.charges ?? any;
      const base = run(row, situation, { prices: usualPrices });
      for (const prices of [negativePrices, undefined, []]) {
        const other = run(row, situation, prices === undefined ? { prices: undefined } : { prices });
        expect(other.setpoints).toEqual(base.setpoints);
        expect(other.metrics.reason).toBe(base.metrics.reason);
      }
      if (row.isEv) expect(evCurrentOf(base)).toBeGreaterThan(0);
    });
  } else {
    it(`handles negative and missing prices (covered by ${row.prices})`, () => {
      const situation = row.discharges ?? row.charges ?? any;
      const missing = run(row, situation, { prices: undefined, tariff: undefined });
      expect(['no-prices', 'no-tou-schedule']).toContain(missing.metrics.reason);
      expect(batteryPowerOf(missing)).toBe(0);
    });
  }

  if (row.forecast === 'ignored') {
    it('decides the same with a wildly wrong forecast as without one (it acts on measurements)', () => {
      const situation = row.discharges ?? row.charges ?? any;
      const without = run(row, situation);
      const wrong = run(row, situation, { forecast: wrongForecast });
      expect(wrong.setpoints).toEqual(without.setpoints);
    });
  } else {
    it(`acts on the measured demand when the forecast is wildly wrong (see also ${row.forecast})`, () => {
      // The forecast promises 9 kW of PV all day; the site draws 1.5 kW now and import is dear: no grid charging.
      const situation = row.discharges ?? any;
      const result = run(row, situation, { forecast: wrongForecast, batteries: [buildBattery({ socPct: 50 })] });
      expect(batteryPowerOf(result)).toBeGreaterThanOrEqual(0);
    });
  }
});
