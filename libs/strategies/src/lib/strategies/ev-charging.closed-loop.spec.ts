/**
 * EVCharging and NetZero in one loop, as the whole-gateway day scenario runs them (NetZero primary, EVCharging on the
 * surplus with `surplusPriority: 'ev'`), on a simulated site whose meters are polled separately. The engine ticks on
 * each fresh grid reading (every 100 ms); the battery and the charger are read once a second at different moments;
 * set-points take effect after the write path's delay, the car's after its own. Reproduces the chase the day scenario
 * saw when the car starts (currents 6/16/6/12 A, NetZero's oscillation guard tripping) and shows it gone.
 */
import type { StrategyName } from '@voltimax/contracts';
import { buildBattery, buildEvCharger, buildSiteState, sentSetpoints } from '../../testing';
import { combine } from '../combine';
import type { DemandMemory } from '../demand';
import type { StrategyConfigs, StrategyMemories } from '../registry';
import { ChargeConfigSchema } from './charge';
import { EvChargingConfigSchema, type EvChargingMemory } from './ev-charging';
import { NetZeroConfigSchema } from './net-zero';

const PV_W = 7_000;
const LOAD_W = 500;
const SURPLUS_A = (PV_W - LOAD_W) / 690; // 9.42 A on three phases at 230 V
const PLUG_AT_MS = 30_000;
const EV_RAW = { mode: 'solar', surplusPriority: 'ev', startDelayMs: 2_000, stopDelayMs: 5_000 } as const;

interface Plant {
  /** The battery and the charger are read once a second, this many ms past the second. */
  readonly batteryPollPhaseMs: number;
  readonly chargerPollPhaseMs: number;
  /** Set-point to effect: the battery's, and the car's (write path plus the car's own response). */
  readonly batteryDelayMs: number;
  readonly carDelayMs: number;
}

interface Outcome {
  /** Currents offered from the plug-in on. */
  readonly currents: readonly number[];
  readonly oscillationTrips: number;
  readonly finalGridW: number;
}

/** `forgetReadings`: every tick starts without the readings in memory (each meter's latest reading, as before). */
function drive(plant: Plant, evRaw: Record<string, unknown>, forgetReadings = false): Outcome {
  const configs: StrategyConfigs = {
    'net-zero': NetZeroConfigSchema.parse({ oscillation: { recoveryMs: 10_000 } }),
    'ev-charging': EvChargingConfigSchema.parse(evRaw),
  };
  let memories: StrategyMemories = {};
  // As the engine runs it: with the demand estimate's memory (combine § 0).
  let demand: DemandMemory = {};
  const batteryCommands = sentSetpoints();
  const carCommands = sentSetpoints();
  let battery = { atMs: 0, powerW: 0 };
  let charger = { atMs: 0, powerW: 0 };
  const currents: number[] = [];
  let oscillationTrips = 0;
  let gridW = 0;
  for (let t = 0; t <= 90_000; t += 100) {
    const connected = t >= PLUG_AT_MS;
    const batteryW = batteryCommands.inEffect(t, plant.batteryDelayMs);
    const carW = connected ? carCommands.inEffect(t, plant.carDelayMs) * 690 : 0;
    if (t % 1_000 === plant.batteryPollPhaseMs) battery = { atMs: t, powerW: batteryW };
    if (t % 1_000 === plant.chargerPollPhaseMs) charger = { atMs: t, powerW: carW };
    gridW = LOAD_W + carW - PV_W - batteryW;
    const state = buildSiteState({
      gridPowerW: gridW,
      pvPowerW: PV_W,
      loadPowerW: LOAD_W,
      batteries: [buildBattery({ powerW: battery.powerW, maxChargePowerW: 10_000, maxDischargePowerW: 10_000, ageMs: t - battery.atMs })],
      evChargers: [buildEvCharger({ connected, powerW: connected ? charger.powerW : 0, currentLimitA: carCommands.inEffect(t, 0), ageMs: t - charger.atMs })],
    });
    const result = combine(state, { nowMs: 1_700_000_000_000 + t }, { active: ['net-zero', 'ev-charging'], configs, memories, demand });
    demand = result.demand.memory;
    const ev = result.memories['ev-charging'] as EvChargingMemory | undefined;
    memories = forgetReadings && ev ? { ...result.memories, 'ev-charging': { chargers: ev.chargers } } : result.memories;
    const batterySp = result.setpoints['bat-1'];
    const carSp = result.setpoints['ev-1'];
    batteryCommands.send(t, batterySp?.kind === 'battery-power' ? batterySp.powerW : 0);
    carCommands.send(t, carSp?.kind === 'ev-current' ? carSp.currentA : 0);
    if (connected) {
      currents.push(carSp?.kind === 'ev-current' ? carSp.currentA : 0);
      if (result.decisions.some((d) => d.metrics.reason === 'oscillation-detected')) oscillationTrips++;
    }
  }
  return { currents, oscillationTrips, finalGridW: gridW };
}

const changes = (currents: readonly number[]): number => currents.filter((a, i) => i > 0 && a !== currents[i - 1]).length;

describe.each<[string, Plant]>([
  ['battery read before the charger', { batteryPollPhaseMs: 300, chargerPollPhaseMs: 700, batteryDelayMs: 300, carDelayMs: 1_500 }],
  ['charger read before the battery', { batteryPollPhaseMs: 800, chargerPollPhaseMs: 100, batteryDelayMs: 500, carDelayMs: 2_000 }],
])('EV start under NetZero, %s', (_, plant) => {
  it('rises to the surplus without overshoot beyond a step, without chasing NetZero', () => {
    const { currents, oscillationTrips, finalGridW } = drive(plant, EV_RAW);
    expect(Math.max(...currents)).toBeLessThanOrEqual(Math.floor(SURPLUS_A) + 1);
    expect(currents.at(-1)).toBe(Math.floor(SURPLUS_A));
    expect(currents.filter((a) => a > 0)[0]).toBe(6);
    // 0 → 6 (start) → 7 → 8 → 9, perhaps one step over and back.
    expect(changes(currents)).toBeLessThanOrEqual(6);
    expect(oscillationTrips).toBe(0);
    expect(Math.abs(finalGridW)).toBeLessThanOrEqual(NetZeroConfigSchema.parse({}).deadbandW);
  });

  it('chases it with each meter’s latest reading, no rise limit and no rise hold (the behaviour before)', () => {
    const { currents } = drive(plant, { ...EV_RAW, maxRiseAPerS: 1_000, riseHoldMs: 0, pendingClearMs: 0 }, true);
    expect(Math.max(...currents)).toBeGreaterThanOrEqual(Math.floor(SURPLUS_A) + 3);
    expect(changes(currents)).toBeGreaterThan(20);
  });
});

/** One tick of an instant plant: the battery and the car as last set, the grid from the balance. */
interface InstantTick {
  readonly t: number;
  readonly gridW: number;
  readonly batteryW: number;
  readonly currentA: number;
  readonly evReason: string;
}

/**
 * `combine` of `active` against an instant plant (set-points act by the next tick, every meter read each second) for
 * `untilMs`: PV `pvW(t)`, the house load, the battery at `socPct`; every tick after the decision.
 */
function instantPlant(
  active: StrategyName[],
  configs: StrategyConfigs,
  site: { readonly loadW: number; readonly pvW: (t: number) => number; readonly socPct: number; readonly maxImportW?: number },
  untilMs: number,
): InstantTick[] {
  let memories: StrategyMemories = {};
  let demand: DemandMemory = {};
  let batteryW = 0;
  let currentA = 0;
  const ticks: InstantTick[] = [];
  for (let t = 0; t <= untilMs; t += 1_000) {
    const pvW = site.pvW(t);
    const carW = currentA * 690;
    const gridW = site.loadW + carW - pvW - batteryW;
    const state = buildSiteState({
      gridPowerW: gridW,
      pvPowerW: pvW,
      loadPowerW: site.loadW,
      limits: { maxImportW: site.maxImportW ?? 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 },
      batteries: [buildBattery({ powerW: batteryW, socPct: site.socPct })],
      evChargers: [buildEvCharger({ powerW: carW, currentLimitA: currentA })],
    });
    const result = combine(state, { nowMs: 1_700_000_000_000 + t }, { active, configs, memories, demand });
    demand = result.demand.memory;
    memories = result.memories;
    const batterySp = result.setpoints['bat-1'];
    const carSp = result.setpoints['ev-1'];
    batteryW = batterySp?.kind === 'battery-power' ? batterySp.powerW : 0;
    currentA = carSp?.kind === 'ev-current' ? carSp.currentA : 0;
    ticks.push({ t, gridW, batteryW, currentA, evReason: result.decisions.find((d) => d.stage === 'ev')?.metrics.reason ?? '' });
  }
  return ticks;
}

describe('solar mode with allowBatteryDischarge under NetZero, after sunset', () => {
  it('stops the car within its stop delay instead of charging it from the home battery all night', () => {
    const configs: StrategyConfigs = {
      'net-zero': NetZeroConfigSchema.parse({}),
      'ev-charging': EvChargingConfigSchema.parse({ mode: 'solar', allowBatteryDischarge: true, startDelayMs: 10_000, stopDelayMs: 60_000 }),
    };
    // Sun (6 kW) for 5 min, then none; the battery full, so the sun goes to the car.
    const ticks = instantPlant(['net-zero', 'ev-charging'], configs, { loadW: LOAD_W, pvW: (t) => (t < 300_000 ? 6_000 : 0), socPct: 95 }, 1_800_000);
    expect(ticks.find((k) => k.t === 299_000)?.currentA).toBeGreaterThanOrEqual(6);
    const night = ticks.filter((k) => k.t >= 300_000);
    const batteryToCarWh = night.reduce((wh, k) => wh + (Math.min(Math.max(0, k.batteryW - LOAD_W), k.currentA * 690) * 1_000) / 3_600_000, 0);
    // Stopped within the stop delay (and a few ticks of NetZero catching up), not at 6 A for the rest of the night.
    expect(night.at(-1)?.currentA).toBe(0);
    expect(night.findIndex((k) => k.evReason === 'solar-insufficient')).toBeLessThanOrEqual(75);
    expect(night.at(-1)?.evReason).toBe('solar-insufficient');
    // The battery may cover the car through the stop delay (that is what the flag allows), no longer.
    expect(batteryToCarWh).toBeLessThan(6 * 690 * (75 / 3_600));
  });
});

describe('the battery charging from the grid and a car on the same connection', () => {
  it('the car takes only the headroom the battery’s planned charge leaves: no alternation, the limit kept', () => {
    const configs: StrategyConfigs = { charge: ChargeConfigSchema.parse({}), 'ev-charging': EvChargingConfigSchema.parse({ mode: 'fast' }) };
    // 3 kW of house load, no sun, a 14 kW connection.
    const ticks = instantPlant(['charge', 'ev-charging'], configs, { loadW: 3_000, pvW: () => 0, socPct: 40, maxImportW: 14_000 }, 20_000);
    // Battery −5 kW + 3 kW of load leave 6 kW: 8 A from the first tick on (before: 13 A and 0 A in turn, the grid
    // at 16.97 kW every other second).
    expect(new Set(ticks.map((k) => k.currentA))).toEqual(new Set([8]));
    expect(Math.max(...ticks.map((k) => k.gridW))).toBeLessThanOrEqual(14_000);
  });
});
