import { batteryPowerOf, buildBattery, buildForecast, buildPriceSeries, buildSiteState, buildTariff, localTimeMs } from '../testing';
import { combine } from './combine';
import { INITIAL_METER_MEMORY, type MeterMemory } from './meter';
import { type StrategyConfigs, type StrategyMemories, strategyByName } from './registry';
import { SiteHistorySchema, meterFromHistory, meterFromPastReadings, mergeSiteMeters, recordSiteHistory, seedSiteMeter, siteHistoryOf } from './site-history';
import type { SiteState } from './site-state';
import { arbitrageStrategy, type ArbitrageMemory } from './strategies/arbitrage';

const TZ = 'Europe/Paris';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const t0 = localTimeMs('2025-06-01T00:00', TZ);
const tariff = buildTariff({ kind: 'dynamic', energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21, feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4 });
const localHour = (atMs: number): number => Number(new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', hourCycle: 'h23' }).format(atMs));
/** A household: 400 W at night, 3 kW from 18:00 to 20:00, PV surplus around noon. */
const netAt = (atMs: number): number => {
  const h = localHour(atMs);
  return h >= 18 && h < 20 ? 3_000 : h >= 11 && h < 15 ? -1_500 : 400;
};
const stateAt = (atMs: number, batteryW = 0): SiteState =>
  buildSiteState({
    gridPowerW: netAt(atMs) - batteryW,
    loadPowerW: Math.max(0, netAt(atMs)),
    pvPowerW: Math.max(0, -netAt(atMs)),
    batteries: [buildBattery({ socPct: 50, powerW: batteryW })],
    prices: buildPriceSeries(Math.floor(atMs / HOUR) * HOUR - HOUR, HOUR, Array.from({ length: 50 }, (_, i) => 80 + 40 * Math.sin(i / 3))),
    tariff,
    timezone: TZ,
  });

/** The recorder over `days` days of 5-min readings from t0. */
function recorded(days: number): MeterMemory {
  let meter = INITIAL_METER_MEMORY;
  for (let atMs = t0; atMs < t0 + days * DAY; atMs += 5 * 60_000) meter = recordSiteHistory(meter, stateAt(atMs), atMs);
  return meter;
}

describe('site history (what the planners learned, across restarts)', () => {
  const meter = recorded(3);

  it('keeps the lasting part of the meter through JSON and gives a meter that starts a new block', () => {
    const stored = JSON.parse(JSON.stringify(siteHistoryOf(meter, t0 + 3 * DAY))) as unknown;
    const history = SiteHistorySchema.parse(stored);
    const restored = meterFromHistory(history);
    for (const key of ['monthKey', 'monthPeakW', 'profileW', 'profileAtMs', 'profileHighW', 'profilePrevW', 'profilePrevAtMs', 'historyW', 'historyDay', 'forecastMse', 'altMse', 'errorSamples'] as const) {
      expect(restored[key]).toEqual(meter[key]);
    }
    expect(restored.monthPeakW).toBeCloseTo(3_000, 6);
    // Rows are UTC days: three local days from midnight touch four.
    expect(restored.historyDay.filter((d) => d >= 0)).toHaveLength(4);
    // The block in progress and the pending predictions are not carried over.
    expect(restored).toMatchObject({ lastAtMs: null, blockStartMs: null, blockCoveredMs: 0, predictedBlockStartMs: null });
  });

  it('refuses a stored value that is not a history, and says where', () => {
    const good = JSON.parse(JSON.stringify(siteHistoryOf(meter, t0))) as Record<string, unknown>;
    const bad: readonly [string, Record<string, unknown>][] = [
      ['profileW', { ...good, profileW: (good['profileW'] as unknown[]).slice(1) }],
      ['historyW', { ...good, historyW: (good['historyW'] as unknown[]).map((w, i) => (i === 5 ? 'lots' : w)) }],
      ['monthPeakW', { ...good, monthPeakW: -1 }],
      ['monthKey', { ...good, monthKey: 'June' }],
      ['v', { ...good, v: 2 }],
      ['', { ...good, extra: 1 }],
    ];
    for (const [path, value] of bad) {
      const parsed = SiteHistorySchema.safeParse(value);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path[0] ?? '').toBe(path);
    }
    expect(SiteHistorySchema.safeParse(good).success).toBe(true);
  });

  it('learns what a planner running all along learns (the same readings, the same predictions)', () => {
    const config = arbitrageStrategy.configSchema.parse({});
    let memory = arbitrageStrategy.initialMemory(config);
    let site = INITIAL_METER_MEMORY;
    for (let atMs = t0; atMs < t0 + 3 * DAY; atMs += 5 * 60_000) {
      const state = stateAt(atMs);
      site = recordSiteHistory(site, state, atMs);
      memory = arbitrageStrategy.decide(state, config, { nowMs: atMs }, memory).memory;
    }
    expect(siteHistoryOf(site, 0)).toEqual(siteHistoryOf(memory.meter, 0));
    expect(site.errorSamples).toBeGreaterThan(0);
  });

  it('learns the same from past readings (a commissioning import) as the recorder did live', () => {
    const past = [];
    let live = INITIAL_METER_MEMORY;
    for (let atMs = t0; atMs < t0 + 3 * DAY; atMs += 15 * 60_000) {
      past.push({ atMs, netW: netAt(atMs) });
      live = recordSiteHistory(live, stateAt(atMs), atMs);
    }
    live = recordSiteHistory(live, stateAt(t0 + 3 * DAY), t0 + 3 * DAY);
    const imported = meterFromPastReadings([...past].reverse(), TZ);
    for (const key of ['monthKey', 'monthPeakW', 'profileW', 'profileAtMs', 'profileHighW', 'profilePrevW', 'historyW', 'historyDay'] as const) {
      expect(imported[key]).toEqual(live[key]);
    }
    // With a battery at the time: the billed peak is the grid's, the history the net demand's.
    const shaved = meterFromPastReadings(past.map((r) => ({ ...r, gridW: Math.min(r.netW, 1_000) })), TZ);
    expect(shaved.monthPeakW).toBeCloseTo(1_000, 6);
    expect(shaved.historyW).toEqual(imported.historyW);
    expect(meterFromPastReadings([], TZ)).toBe(INITIAL_METER_MEMORY);
    // Hourly readings (an hourly export) fill every quarter hour of their days.
    const hourly = meterFromPastReadings(past.filter((r) => r.atMs % HOUR === 0), TZ);
    const rows = hourly.historyDay.map((d, row) => (d >= 0 ? hourly.historyW.slice(row * 96, (row + 1) * 96).filter((w) => w !== null).length : 0));
    expect(rows.filter((n) => n === 96).length).toBeGreaterThanOrEqual(2);
  });

  it('merges a stored or imported history into a running meter without wiping what it measured meanwhile', () => {
    const stored = meter; // three days from t0
    let live = INITIAL_METER_MEMORY; // a restart: the fourth day, 500 W, recorded from scratch
    for (let atMs = t0 + 3 * DAY; atMs < t0 + 3 * DAY + 6 * HOUR; atMs += 5 * 60_000) live = recordSiteHistory(live, buildSiteState({ gridPowerW: 500, timezone: TZ }), atMs);
    const merged = mergeSiteMeters(live, stored, 'live');
    expect(merged.historyDay.filter((d) => d >= 0).sort()).toEqual([...new Set([...stored.historyDay, ...live.historyDay].filter((d) => d >= 0))].sort());
    // The same month: the higher peak (billed peaks never go down); the block in progress is the live meter's.
    expect(merged.monthPeakW).toBeCloseTo(3_000, 6);
    expect(merged).toMatchObject({ lastAtMs: live.lastAtMs, blockStartMs: live.blockStartMs, blockImportWms: live.blockImportWms });
    // Per quarter hour the later measurement: 02:00 local of the fourth day is the live 500 W.
    const q = Math.floor(((localTimeMs('2025-06-04T02:00', TZ) % DAY) + DAY) % DAY / 900_000);
    expect(merged.profileW[q]).toBe(500);
    // The same day in both: the preferred side's row.
    const today = live.historyDay.find((d) => d >= 0) ?? -1;
    const row = (m: MeterMemory) => m.historyW.slice((today % 7) * 96, (today % 7 + 1) * 96);
    expect(row(mergeSiteMeters(live, stored, 'other'))).toEqual(stored.historyDay.includes(today) ? row(stored) : row(live));
    expect(row(merged)).toEqual(row(live));
    // A later month wins over a higher peak of an earlier one.
    const july = { ...live, monthKey: '2025-07', monthPeakW: 800 };
    expect(mergeSiteMeters(july, stored, 'other')).toMatchObject({ monthKey: '2025-07', monthPeakW: 800 });
  });

  it('does not record a stale grid reading', () => {
    const stale = { ...stateAt(t0), gridQuality: 'stale' as const };
    expect(recordSiteHistory(meter, stale, t0 + 3 * DAY)).toBe(meter);
  });

  it('hands a starting planner the site meter, and leaves memories that exist and strategies that do not learn alone', () => {
    const existing: ArbitrageMemory = { meter: INITIAL_METER_MEMORY, plan: null };
    const peakShaving = { 'peak-shaving': strategyByName('peak-shaving').configSchema.parse({ mode: 'forecast' }) } as StrategyConfigs;
    const fresh = seedSiteMeter(['arbitrage', 'peak-shaving', 'net-zero'], peakShaving, {}, meter);
    expect(fresh.seeded).toEqual(['arbitrage', 'peak-shaving']);
    // A strategy whose config does not parse is not seeded (combine skips it too): peak-shaving needs thresholdW.
    expect(seedSiteMeter(['peak-shaving'], {}, {}, meter).seeded).toEqual([]);
    expect((fresh.memories.arbitrage as ArbitrageMemory).meter).toBe(meter);
    expect(fresh.memories['net-zero']).toBeUndefined();
    const kept = seedSiteMeter(['arbitrage'], {}, { arbitrage: existing } as StrategyMemories, meter);
    expect(kept.seeded).toEqual([]);
    expect(kept.memories.arbitrage).toBe(existing);
  });

  it('after a restart the planner still keeps the reserve for a night it saw before it (peak reserve)', () => {
    // Three days ago the site drew 3 kW all night; the forecast (yesterday) says 500 W; the evening is dear.
    const evening = localTimeMs('2025-06-10T18:00', TZ);
    const badNight = (atMs: number): number => {
      const h = localHour(atMs);
      return Math.floor((evening - atMs) / DAY) === 3 && (h >= 22 || h < 6) ? 3_000 : 500;
    };
    // The battery held the month's peak at 1 kW that night (it discharged the rest).
    let site = INITIAL_METER_MEMORY;
    for (let atMs = evening - 6 * DAY; atMs < evening; atMs += 60_000) {
      const netW = badNight(atMs);
      const batteryW = Math.max(0, netW - 1_000);
      site = recordSiteHistory(site, buildSiteState({ gridPowerW: netW - batteryW, loadPowerW: netW, batteries: [buildBattery({ powerW: batteryW })], timezone: TZ }), atMs);
    }
    // (The meter holds the previous net demand until the next reading: the minute the night ends counts 3 kW.)
    expect(site.monthPeakW).toBeLessThan(1_200);
    const state = buildSiteState({
      gridPowerW: 500,
      loadPowerW: 500,
      batteries: [buildBattery({ socPct: 90 })],
      prices: buildPriceSeries(evening, HOUR, [...Array<number>(4).fill(200), ...Array<number>(44).fill(100)]),
      forecast: buildForecast(evening, HOUR, { loadW: Array<number>(48).fill(500), pvW: Array<number>(48).fill(0) }),
      tariff,
      timezone: TZ,
      limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
    });
    const decideWith = (memories: StrategyMemories) => combine(state, { nowMs: evening }, { active: ['arbitrage'], configs: {}, memories });
    // A restart without the history: nothing to go by, it spends the evening.
    expect(batteryPowerOf(decideWith({}))).toBeCloseTo(500, 0);
    // With the history kept (stored as JSON, read back, handed over): it keeps the energy.
    const history = SiteHistorySchema.parse(JSON.parse(JSON.stringify(siteHistoryOf(site, evening))));
    const seeded = seedSiteMeter(['arbitrage'], {}, {}, meterFromHistory(history));
    expect(batteryPowerOf(decideWith(seeded.memories))).toBeLessThanOrEqual(0);
  });
});
