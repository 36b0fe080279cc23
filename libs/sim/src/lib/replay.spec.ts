import { evaluateSchedule } from './replay';
import type { SiteSeries } from './series';
import { BatteryModelSchema } from './site';
import { SimTariffSchema } from './tariff';

const HOUR_MS = 3_600_000;
const series: SiteSeries = {
  stepMs: HOUR_MS,
  points: [
    { atMs: 0, loadW: 500, pvW: 2_500, priceEurPerMwh: 50 },
    { atMs: HOUR_MS, loadW: 1_500, pvW: 0, priceEurPerMwh: 200 },
  ],
};
const battery = BatteryModelSchema.parse({
  capacityWh: 2_000,
  maxChargePowerW: 3_000,
  maxDischargePowerW: 3_000,
  minSocPct: 0,
  maxSocPct: 100,
  chargeEfficiency: 1,
  dischargeEfficiency: 1,
});
const tariff = SimTariffSchema.parse({ kind: 'dynamic', feedIn: { rule: 'fixed', eurPerMwh: 10 } });
const opts = { timezone: 'UTC', initialSocPct: 0 };

describe('evaluateSchedule', () => {
  it('replays a self-consumption schedule and bills it (store 2 kWh of PV, cover 1.5 kWh of load)', () => {
    const result = evaluateSchedule(series, [-2_000, 1_500], battery, tariff, opts);
    expect(result.steps.map((s) => s.flows.gridPowerW)).toEqual([0, 0]);
    expect(result.steps.map((s) => s.socPct)).toEqual([100, 25]);
    expect(result.cost.totalEur).toBe(0);
    expect(result.limitedSteps).toBe(0);
  });

  it('lets the battery deviate where its limits say so, and bills what really happened', () => {
    // Asked to charge 3 kWh into a 2 kWh battery, then to discharge 3 kWh: both clamped to 2 kWh.
    const result = evaluateSchedule(series, [-3_000, 3_000], battery, tariff, opts);
    expect(result.steps.map((s) => s.flows.batteryPowerW)).toEqual([-2_000, 2_000]);
    expect(result.steps.map((s) => s.flows.batteryLimit)).toEqual(['soc-max', 'soc-min']);
    expect(result.limitedSteps).toBe(2);
    // Hour 2 exports 0.5 kWh at 10 EUR/MWh.
    expect(result.cost.totalEur).toBeCloseTo(-0.005, 12);
    expect(result.finalState).toMatchObject({ atMs: 2 * HOUR_MS, socPct: 0 });
  });

  it('refuses a schedule whose length differs from the series', () => {
    expect(() => evaluateSchedule(series, [0], battery, tariff, opts)).toThrow(/schedule has 1 steps, series has 2/);
  });
});
