/**
 * Test helpers for strategies: `runScenario` (threads memory from tick to tick as the strategy-engine does),
 * typed builders for SiteState, and fast-check arbitraries for property tests.
 */
import fc from 'fast-check';
import { TariffSchema, type Tariff } from '@voltimax/contracts';
import { toLocalTime } from './lib/local-time';
import type { BatteryState, EvChargerState, Forecast, PricePoint, SiteState } from './lib/site-state';
import type { Clock, Strategy, StrategyResult } from './lib/strategy';

/** One tick of a scenario. */
export interface ScenarioStep<M> {
  /** The tick's clock, epoch ms. */
  readonly atMs: number;
  readonly state: SiteState;
  /** Assertions on this tick's result. */
  readonly expect?: (result: StrategyResult<M>) => void;
}

/**
 * Runs `strategy` tick by tick: each step gets the memory the previous step returned, exactly as the service does,
 * so hysteresis, holds, ramps and plans are tested cycle by cycle without fake timers. Returns every result.
 */
export function runScenario<C, M>(
  strategy: Strategy<C, M>,
  config: C,
  initialMemory: M,
  steps: readonly ScenarioStep<M>[],
): StrategyResult<M>[] {
  const results: StrategyResult<M>[] = [];
  let memory = initialMemory;
  for (const step of steps) {
    const clock: Clock = { nowMs: step.atMs };
    const result = strategy.decide(step.state, config, clock, memory);
    step.expect?.(result);
    results.push(result);
    memory = result.memory;
  }
  return results;
}

/** The battery-power setpoint (W) a result gives `assetId`, or undefined. */
export function batteryPowerOf(result: Pick<StrategyResult<unknown>, 'setpoints'>, assetId = 'bat-1'): number | undefined {
  const sp = result.setpoints[assetId];
  return sp?.kind === 'battery-power' ? sp.powerW : undefined;
}

/** The ev-current setpoint (A) a result gives `assetId`, or undefined. */
export function evCurrentOf(result: Pick<StrategyResult<unknown>, 'setpoints'>, assetId = 'ev-1'): number | undefined {
  const sp = result.setpoints[assetId];
  return sp?.kind === 'ev-current' ? sp.currentA : undefined;
}

/** A 10 kWh, 5 kW battery at 50 % (window 10–95 %, no reserve), good and fresh. */
export function buildBattery(overrides: Partial<BatteryState> = {}): BatteryState {
  return {
    assetId: 'bat-1',
    socPct: 50,
    powerW: 0,
    capacityWh: 10_000,
    maxChargePowerW: 5_000,
    maxDischargePowerW: 5_000,
    minSocPct: 10,
    maxSocPct: 95,
    reserveSocPct: 0,
    quality: 'good',
    ageMs: 0,
    ...overrides,
  };
}

/** A connected 3-phase 6–16 A charger, idle, good and fresh. */
export function buildEvCharger(overrides: Partial<EvChargerState> = {}): EvChargerState {
  return {
    assetId: 'ev-1',
    connected: true,
    powerW: 0,
    currentLimitA: 0,
    minCurrentA: 6,
    maxCurrentA: 16,
    phases: 3,
    quality: 'good',
    ageMs: 0,
    ...overrides,
  };
}

/** Overrides for `buildSiteState`; without `gridPowerW` the grid follows from the balance. */
export type SiteStateOverrides = Partial<SiteState>;

/**
 * A site state with one battery (`buildBattery()`), 500 W load, no PV, no chargers, Europe/Paris, 17 kW import and
 * 10 kW export limits. Unless given, gridPowerW = load + Σ ev − pv − Σ battery (DESIGN balance).
 */
export function buildSiteState(overrides: SiteStateOverrides = {}): SiteState {
  const base: SiteState = {
    gridPowerW: 0,
    gridQuality: 'good',
    gridAgeMs: 0,
    pvPowerW: 0,
    loadPowerW: 500,
    batteries: [buildBattery()],
    evChargers: [],
    timezone: 'Europe/Paris',
    limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
    ...overrides,
  };
  if (overrides.gridPowerW !== undefined) return base;
  const batteryW = base.batteries.reduce((s, b) => s + b.powerW, 0);
  const evW = base.evChargers.reduce((s, c) => s + c.powerW, 0);
  return { ...base, gridPowerW: base.loadPowerW + evW - base.pvPowerW - batteryW };
}

/** Price points every `stepMs` from `startMs`, EUR/MWh. */
export function buildPriceSeries(startMs: number, stepMs: number, eurPerMwh: readonly number[]): PricePoint[] {
  return eurPerMwh.map((price, i) => ({ startMs: startMs + i * stepMs, endMs: startMs + (i + 1) * stepMs, eurPerMwh: price }));
}

/** A forecast on a regular grid. */
export function buildForecast(startMs: number, stepMs: number, series: { loadW: readonly number[]; pvW: readonly number[] }): Forecast {
  return { startMs, stepMs, loadW: series.loadW, pvW: series.pvW };
}

/** A tariff parsed by the contracts schema (defaults applied). */
export function buildTariff(input: Parameters<typeof TariffSchema.parse>[0]): Tariff {
  return TariffSchema.parse(input);
}

/** Epoch ms of a local wall time 'YYYY-MM-DDTHH:MM' in `timezone` (first occurrence in a DST fold). */
export function localTimeMs(isoLocal: string, timezone: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(isoLocal);
  if (!m) throw new Error(`expected YYYY-MM-DDTHH:MM, got '${isoLocal}'`);
  const wantedMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  let guessMs = wantedMs;
  for (let i = 0; i < 4; i++) {
    const local = toLocalTime(guessMs, timezone);
    if (!local) throw new Error(`unknown time zone '${timezone}'`);
    const localAsUtcMs = Date.UTC(local.year, local.month - 1, local.day) + Math.round(local.minuteOfDay * 60_000);
    guessMs += wantedMs - localAsUtcMs;
  }
  return guessMs;
}

/** fast-check: a battery with a consistent window, any SoC, power, quality and age. */
export function batteryArbitrary(assetId = 'bat-1'): fc.Arbitrary<BatteryState> {
  return fc
    .record({
      socPct: fc.double({ min: 0, max: 100, noNaN: true }),
      powerW: fc.integer({ min: -8_000, max: 8_000 }),
      capacityWh: fc.integer({ min: 1_000, max: 50_000 }),
      maxChargePowerW: fc.integer({ min: 0, max: 10_000 }),
      maxDischargePowerW: fc.integer({ min: 0, max: 10_000 }),
      minSocPct: fc.integer({ min: 0, max: 40 }),
      maxSocPct: fc.integer({ min: 60, max: 100 }),
      reserveSocPct: fc.integer({ min: 0, max: 50 }),
      powerStepW: fc.option(fc.constantFrom(1, 10, 50, 100), { nil: undefined }),
      quality: fc.constantFrom('good', 'good', 'good', 'stale', 'error') as fc.Arbitrary<'good' | 'stale' | 'error'>,
      ageMs: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 120_000 })),
    })
    .map((r) => {
      const { powerStepW, ...rest } = r;
      return buildBattery({ assetId, ...rest, ...(powerStepW !== undefined ? { powerStepW } : {}) });
    });
}

/** fast-check: an EV charger, connected or not, with or without a session. */
export function evChargerArbitrary(assetId = 'ev-1'): fc.Arbitrary<EvChargerState> {
  return fc
    .record({
      connected: fc.boolean(),
      powerW: fc.integer({ min: 0, max: 22_000 }),
      minCurrentA: fc.constantFrom(6, 8),
      maxCurrentA: fc.integer({ min: 6, max: 32 }),
      phases: fc.constantFrom(1, 3) as fc.Arbitrary<1 | 3>,
      canSwitchPhases: fc.boolean(),
      quality: fc.constantFrom('good', 'good', 'stale') as fc.Arbitrary<'good' | 'stale'>,
      ageMs: fc.integer({ min: 0, max: 30_000 }),
      session: fc.option(
        fc.record({
          departureAtMs: fc.option(fc.integer({ min: 0, max: 3 * 86_400_000 }), { nil: undefined }),
          energyWantedWh: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined }),
          energyDeliveredWh: fc.integer({ min: 0, max: 60_000 }),
        }),
        { nil: undefined },
      ),
    })
    .map((r) => {
      const { session, ...rest } = r;
      const cleanSession =
        session === undefined
          ? undefined
          : {
              energyDeliveredWh: session.energyDeliveredWh,
              ...(session.departureAtMs !== undefined ? { departureAtMs: session.departureAtMs } : {}),
              ...(session.energyWantedWh !== undefined ? { energyWantedWh: session.energyWantedWh } : {}),
            };
      return buildEvCharger({ assetId, ...rest, minCurrentA: Math.min(rest.minCurrentA, rest.maxCurrentA), ...(cleanSession ? { session: cleanSession } : {}) });
    });
}

/** Tariffs the site-state arbitrary picks from: none, a dynamic household tariff with a peak charge, a two-period ToU one. */
const ARBITRARY_TARIFFS: readonly (Tariff | undefined)[] = [
  undefined,
  TariffSchema.parse({ kind: 'dynamic', energyTaxEurPerMwh: 100, gridFeeEurPerMwh: 50, vatPct: 21, feedIn: { rule: 'spot' }, peakDemandEurPerKw: 4 }),
  TariffSchema.parse({
    kind: 'time-of-use',
    touPeriods: [
      { from: '22:00', to: '06:00', eurPerMwh: 60 },
      { from: '06:00', to: '22:00', eurPerMwh: 140 },
    ],
    feedIn: { rule: 'fixed', eurPerMwh: 50 },
    peakDemandEurPerKw: 2,
  }),
];

/** fast-check: a whole site snapshot (0–2 batteries, 0–2 chargers, prices, tariff, forecast, frequency maybe) and a clock. */
export function siteStateArbitrary(): fc.Arbitrary<{ readonly state: SiteState; readonly clock: Clock }> {
  return fc
    .record({
      nowMs: fc.integer({ min: 0, max: 2 * 86_400_000 }),
      loadPowerW: fc.integer({ min: 0, max: 20_000 }),
      pvPowerW: fc.integer({ min: 0, max: 15_000 }),
      batteries: fc.oneof(
        fc.constant([] as BatteryState[]),
        batteryArbitrary('bat-1').map((b) => [b]),
        fc.tuple(batteryArbitrary('bat-1'), batteryArbitrary('bat-2')).map(([a, b]) => [a, b]),
      ),
      evChargers: fc.oneof(
        fc.constant([] as EvChargerState[]),
        evChargerArbitrary('ev-1').map((c) => [c]),
        fc.tuple(evChargerArbitrary('ev-1'), evChargerArbitrary('ev-2')).map(([a, b]) => [a, b]),
      ),
      gridQuality: fc.constantFrom('good', 'good', 'good', 'stale') as fc.Arbitrary<'good' | 'stale'>,
      gridAgeMs: fc.integer({ min: 0, max: 20_000 }),
      maxImportW: fc.integer({ min: 0, max: 30_000 }),
      maxExportW: fc.integer({ min: 0, max: 30_000 }),
      maxPhaseCurrentA: fc.option(fc.integer({ min: 10, max: 63 }), { nil: undefined }),
      frequencyHz: fc.option(fc.double({ min: 49, max: 51, noNaN: true }), { nil: undefined }),
      prices: fc.option(fc.array(fc.integer({ min: -200, max: 500 }), { minLength: 1, maxLength: 12 }), { nil: undefined }),
      tariffIndex: fc.integer({ min: 0, max: ARBITRARY_TARIFFS.length - 1 }),
      forecast: fc.option(
        fc.record({
          offsetSteps: fc.integer({ min: -4, max: 2 }),
          loadW: fc.array(fc.integer({ min: 0, max: 8_000 }), { minLength: 1, maxLength: 48 }),
          pvW: fc.array(fc.integer({ min: 0, max: 8_000 }), { minLength: 1, maxLength: 48 }),
        }),
        { nil: undefined },
      ),
    })
    .map((r) => {
      const hourMs = 3_600_000;
      const firstHourMs = Math.floor(r.nowMs / hourMs) * hourMs;
      const state = buildSiteState({
        loadPowerW: r.loadPowerW,
        pvPowerW: r.pvPowerW,
        batteries: r.batteries,
        evChargers: r.evChargers,
        gridQuality: r.gridQuality,
        gridAgeMs: r.gridAgeMs,
        gridPhasePowersW: undefined,
        limits: {
          maxImportW: r.maxImportW,
          maxExportW: r.maxExportW,
          phases: 3,
          nominalVoltageV: 230,
          ...(r.maxPhaseCurrentA !== undefined ? { maxPhaseCurrentA: r.maxPhaseCurrentA } : {}),
        },
        ...(r.frequencyHz !== undefined ? { frequencyHz: r.frequencyHz } : {}),
        ...(r.prices !== undefined ? { prices: buildPriceSeries(firstHourMs, hourMs, r.prices) } : {}),
        ...(ARBITRARY_TARIFFS[r.tariffIndex] ? { tariff: ARBITRARY_TARIFFS[r.tariffIndex] } : {}),
        ...(r.forecast
          ? {
              forecast: buildForecast(firstHourMs + r.forecast.offsetSteps * hourMs, hourMs, {
                loadW: r.forecast.loadW,
                pvW: r.forecast.pvW.slice(0, r.forecast.loadW.length),
              }),
            }
          : {}),
      });
      const phaseW = state.gridPowerW / 3;
      return { state: { ...state, gridPhasePowersW: [phaseW, phaseW, phaseW] }, clock: { nowMs: r.nowMs } };
    });
}

/** Set-points sent to a simulated device over time: `inEffect(t, delayMs)` is the last one sent `delayMs` or more before `t`. */
export interface SentSetpoints {
  send(atMs: number, value: number): void;
  inEffect(atMs: number, delayMs: number): number;
}

/** A log of set-points sent, starting with `initial` at time 0 (a plant's write path with its delay). */
export function sentSetpoints(initial = 0): SentSetpoints {
  const sent: [number, number][] = [[0, initial]];
  return {
    send: (atMs, value) => void sent.push([atMs, value]),
    inEffect: (atMs, delayMs) => sent.filter(([at]) => at + delayMs <= atMs).at(-1)?.[1] ?? initial,
  };
}

// The simulated site of the demand estimate (it uses the builders above).
export * from './demand-plant';

// The simulated site of the feed-in limit.
export * from './export-plant';
