import { BatteryModelSchema } from '@voltimax/sim';
import type { LoadPvProfile } from './profile';
import { createSimulatedSite, type SimulatedSiteOptions, type SiteDevice, type SiteSnapshot } from './site';

const START = Date.parse('2024-04-10T10:00:00Z');
const battery = BatteryModelSchema.parse({
  capacityWh: 10_000,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 5_000,
  chargeEfficiency: 1,
  dischargeEfficiency: 1,
});
const flat = (loadW: number, pvW: number): LoadPvProfile => ({ source: 'flat', at: () => ({ loadW, pvW }) });

function site(overrides: Partial<SimulatedSiteOptions> = {}) {
  let requestW = 0;
  const updates: SiteSnapshot[] = [];
  const device: SiteDevice = { update: (s) => void updates.push(s) };
  const sim = createSimulatedSite({
    model: { battery },
    profile: flat(2_000, 500),
    frequencyAt: () => 50,
    startAtMs: START,
    initialSocPct: 50,
    stepMs: 1_000,
    timezone: 'Europe/Paris',
    grid: { phases: 3, nominalVoltageV: 230 },
    batteryRequestW: () => requestW,
    devices: [device],
    now: () => 0,
    ...overrides,
  });
  return { sim, updates, setRequest: (w: number) => (requestW = w) };
}

describe('simulated site physics', () => {
  it('balances the grid: load 2000 W, PV 500 W, battery idle → import 1500 W', () => {
    const { sim } = site();
    expect(sim.step().flows).toMatchObject({ loadW: 2_000, pvW: 500, batteryPowerW: 0, gridPowerW: 1_500 });
  });

  it('closes the loop: a 1000 W discharge set-point lowers the import by 1000 W and the SoC', () => {
    const { sim, setRequest } = site();
    sim.step();
    setRequest(1_000);
    const after = sim.step();
    expect(after.flows.gridPowerW).toBe(500);
    expect(after.requestedBatteryW).toBe(1_000);
    // 1000 W for 1 s out of 10 kWh (η = 1): −1/36 %.
    expect(after.socPct).toBeCloseTo(50 - 100 / 36_000, 10);
  });

  it('charging raises the SoC and the import: −2000 W → grid 3500 W', () => {
    const { sim, setRequest } = site();
    setRequest(-2_000);
    const after = sim.step();
    expect(after.flows.gridPowerW).toBe(3_500);
    expect(after.socPct).toBeGreaterThan(50);
  });

  it('advances sim time by stepMs (tick × SIM_SPEED) and integrates the energy counters', () => {
    const { sim } = site({ stepMs: 60_000 });
    sim.step();
    const s = sim.step();
    expect(s.atMs).toBe(START + 120_000);
    expect(s.totals.gridImportWh).toBeCloseTo(1_500 * (2 / 60), 9);
    expect(s.totals.pvWh).toBeCloseTo(500 * (2 / 60), 9);
    expect(s.totals.gridExportWh).toBe(0);
  });

  it('counts export separately from import', () => {
    const { sim } = site({ profile: flat(200, 3_200), stepMs: 3_600_000 });
    const s = sim.step();
    expect(s.flows.gridPowerW).toBe(-3_000);
    expect(s.totals).toMatchObject({ gridImportWh: 0, gridExportWh: 3_000 });
  });

  it('resets the day counters at local midnight (Europe/Paris)', () => {
    // 21:15Z = 23:15 CEST; steps end at 23:30, 23:45 and 00:00 local.
    const { sim } = site({
      startAtMs: Date.parse('2024-04-10T21:15:00Z'),
      stepMs: 15 * 60_000,
      pvOutput: (availableW) => ({ totalW: availableW, byAssetW: { 'pv-1': availableW } }),
    });
    sim.step();
    const beforeMidnight = sim.step();
    expect(beforeMidnight.today.loadWh).toBeCloseTo(1_000, 9);
    expect(beforeMidnight.pvInvertersWh['pv-1']).toEqual({ totalWh: 250, todayWh: 250 });
    const afterMidnight = sim.step();
    expect(afterMidnight.today.loadWh).toBe(0);
    expect(afterMidnight.totals.loadWh).toBeCloseTo(1_500, 9);
    expect(afterMidnight.pvInvertersWh['pv-1']).toEqual({ totalWh: 375, todayWh: 0 });
  });

  it('takes the PV the inverters deliver, clamped to what the profile offers', () => {
    const half = site({ pvOutput: (availableW) => ({ totalW: availableW / 2, byAssetW: { 'pv-1': availableW / 2 } }) });
    expect(half.sim.step()).toMatchObject({ flows: { pvW: 250, gridPowerW: 1_750 }, pvInvertersW: { 'pv-1': 250 } });
    expect(site({ pvOutput: () => ({ totalW: 9_999, byAssetW: {} }) }).sim.step().flows.pvW).toBe(500);
    const broken = site({ pvOutput: () => ({ totalW: -1, byAssetW: { 'pv-1': -5, 'pv-2': Number.NaN } }) }).sim.step();
    expect(broken).toMatchObject({ flows: { pvW: 0 }, pvInvertersW: { 'pv-1': 0, 'pv-2': 0 } });
  });

  it('holds the battery inside its SoC window', () => {
    const { sim, setRequest } = site({ initialSocPct: 10.001, stepMs: 60_000 });
    setRequest(5_000);
    const s = sim.step();
    expect(s.flows.batteryLimit).toBe('soc-min');
    expect(s.socPct).toBeCloseTo(10, 9);
  });

  it('passes the frequency signal to the flows at the end of the step', () => {
    const { sim } = site({ frequencyAt: (atMs) => (atMs >= START + 1_000 ? 49.8 : 50) });
    expect(sim.step().flows.gridFrequencyHz).toBe(49.8);
  });

  it('refreshes every device once at creation and after each step, ticking timers first with the wall clock', () => {
    const calls: string[] = [];
    const { sim, updates } = site({
      now: () => 42,
      devices: [
        {
          tick: (nowMs) => void calls.push(`tick ${nowMs}`),
          update: (s, nowMs) => void calls.push(`update ${s.step} ${nowMs}`),
        },
      ],
    });
    sim.step();
    expect(calls).toEqual(['tick 42', 'update 0 42', 'tick 42', 'update 1 42']);
    expect(updates).toEqual([]);
  });
});

describe('EV loads (the hook charge points attach to)', () => {
  it('adds each load to EV power and the grid, keeping the balance, and integrates its energy', () => {
    let wallMs = 1_000;
    let chargerW = 11_040;
    const asked: number[] = [];
    const { sim } = site({
      now: () => wallMs,
      stepMs: 3_600_000,
      evLoads: [
        {
          assetId: 'ev-1',
          powerW: (nowMs) => {
            asked.push(nowMs);
            return chargerW;
          },
        },
      ],
    });
    const first = sim.step();
    expect(first.flows).toMatchObject({ loadW: 2_000, pvW: 500, evW: 11_040, gridPowerW: 12_540 });
    expect(first.flows.gridPowerW).toBe(first.flows.loadW + first.flows.evW - first.flows.pvW - first.flows.batteryPowerW);
    expect(first.evLoadsW).toEqual({ 'ev-1': 11_040 });
    expect(first.totals.evWh).toBeCloseTo(11_040, 9);
    // The load is asked at the wall clock once per step.
    wallMs = 2_000;
    chargerW = 4_140;
    const second = sim.step();
    expect(asked).toEqual([1_000, 2_000]);
    expect(second.flows.evW).toBe(4_140);
    expect(second.totals.evWh).toBeCloseTo(15_180, 9);
  });

  it('attaches and detaches loads and devices at run time', () => {
    const { sim } = site();
    const seen: number[] = [];
    const detachLoad = sim.attachEvLoad({ assetId: 'cp-1', powerW: () => 7_360 });
    const detachDevice = sim.attachDevice({ update: (s) => void seen.push(s.flows.evW) });
    sim.attachEvLoad({ assetId: 'cp-2', powerW: () => 1_000 });
    expect(sim.step().evLoadsW).toEqual({ 'cp-1': 7_360, 'cp-2': 1_000 });
    detachLoad();
    detachDevice();
    expect(sim.step().flows).toMatchObject({ evW: 1_000, gridPowerW: 2_500 });
    expect(seen).toEqual([8_360]);
  });

  it('counts a negative, NaN or infinite answer as 0 W', () => {
    const { sim } = site({
      evLoads: [
        { assetId: 'a', powerW: () => -500 },
        { assetId: 'b', powerW: () => Number.NaN },
        { assetId: 'c', powerW: () => Number.POSITIVE_INFINITY },
      ],
    });
    const after = sim.step();
    expect(after.evLoadsW).toEqual({ a: 0, b: 0, c: 0 });
    expect(after.flows).toMatchObject({ evW: 0, gridPowerW: 1_500 });
  });
});
