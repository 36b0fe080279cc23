import fc from 'fast-check';
import {
  type BatteryModel,
  BatteryModelSchema,
  EvChargerSchema,
  type EvSession,
  type SiteInputs,
  type SiteModel,
  type SiteState,
  stepSite,
} from './site';

const HOUR_MS = 3_600_000;
const battery: BatteryModel = BatteryModelSchema.parse({
  capacityWh: 10_000,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 4_000,
  minSocPct: 10,
  maxSocPct: 90,
  chargeEfficiency: 0.9,
  dischargeEfficiency: 0.8,
});
const model: SiteModel = { battery };
const inputs = (over: Partial<SiteInputs> = {}): SiteInputs => ({
  model,
  loadW: 800,
  pvW: 300,
  gridFrequencyHz: 50,
  ...over,
});
const state = (socPct: number, atMs = 0): SiteState => ({ atMs, socPct, evDeliveredWh: {} });

describe('stepSite battery', () => {
  it.each([
    // 1 h at −2 kW: +2 000 Wh × 0.9 = +1 800 Wh = +18 %.
    {
      name: 'charges within limits',
      socPct: 50,
      requestW: -2_000,
      dtMs: HOUR_MS,
      powerW: -2_000,
      soc: 68,
      limit: 'none',
    },
    // 1 h at +2 kW: −2 000 / 0.8 = −2 500 Wh = −25 %.
    {
      name: 'discharges within limits',
      socPct: 50,
      requestW: 2_000,
      dtMs: HOUR_MS,
      powerW: 2_000,
      soc: 25,
      limit: 'none',
    },
    {
      name: 'clamps charging to maxChargePowerW',
      socPct: 20,
      requestW: -9_000,
      dtMs: 900_000,
      powerW: -5_000,
      soc: 31.25,
      limit: 'charge-power',
    },
    {
      name: 'clamps discharging to maxDischargePowerW',
      socPct: 80,
      requestW: 9_000,
      dtMs: 900_000,
      powerW: 4_000,
      soc: 67.5,
      limit: 'discharge-power',
    },
    // Room 500 Wh stored → 555.6 Wh AC over 1 h.
    {
      name: 'stops charging at maxSocPct',
      socPct: 85,
      requestW: -3_000,
      dtMs: HOUR_MS,
      powerW: -500 / 0.9,
      soc: 90,
      limit: 'soc-max',
    },
    // 500 Wh above the floor → 400 Wh AC over 1 h.
    {
      name: 'stops discharging at minSocPct',
      socPct: 15,
      requestW: 3_000,
      dtMs: HOUR_MS,
      powerW: 400,
      soc: 10,
      limit: 'soc-min',
    },
    {
      name: 'does nothing when asked for nothing',
      socPct: 42,
      requestW: 0,
      dtMs: HOUR_MS,
      powerW: 0,
      soc: 42,
      limit: 'none',
    },
  ] as const)('$name', ({ socPct, requestW, dtMs, powerW, soc, limit }) => {
    const next = stepSite(state(socPct), { batteryPowerW: requestW }, dtMs, inputs());
    expect(next.flows.batteryPowerW).toBeCloseTo(powerW, 9);
    expect(next.state.socPct).toBeCloseTo(soc, 9);
    expect(next.flows.batteryLimit).toBe(limit);
    expect(next.state.atMs).toBe(dtMs);
  });

  it('balances the grid: grid = load + ev − pv − battery (import 800 − 300 + 2 000 charge = 2 500 W)', () => {
    const next = stepSite(state(50), { batteryPowerW: -2_000 }, 900_000, inputs());
    expect(next.flows.gridPowerW).toBe(2_500);
    const exporting = stepSite(state(50), { batteryPowerW: 3_000 }, 900_000, inputs());
    expect(exporting.flows.gridPowerW).toBe(-2_500);
  });

  it('loses stored energy by self-discharge (2.4 %/day of 5 000 Wh over 1 h = 5 Wh)', () => {
    const leaky: SiteModel = { battery: { ...battery, selfDischargePctPerDay: 2.4 } };
    const next = stepSite(state(50), { batteryPowerW: 0 }, HOUR_MS, inputs({ model: leaky }));
    expect(next.state.socPct).toBeCloseTo(49.95, 12);
    expect(next.flows.storedEnergyChangeWh).toBeCloseTo(-5, 9);
  });

  it('holds the SoC floor against self-discharge by charging from the grid', () => {
    const leaky: SiteModel = { battery: { ...battery, selfDischargePctPerDay: 24 } };
    // 1 000 Wh × 1 %/h = 10 Wh lost → 10 / 0.9 Wh AC charged.
    const next = stepSite(state(10), { batteryPowerW: 1_000 }, HOUR_MS, inputs({ model: leaky }));
    expect(next.flows.batteryPowerW).toBeCloseTo(-10 / 0.9, 9);
    expect(next.flows.batteryLimit).toBe('soc-floor-hold');
    expect(next.state.socPct).toBe(10);
  });

  it('treats a non-finite setpoint as 0 W', () => {
    expect(stepSite(state(50), { batteryPowerW: Number.NaN }, HOUR_MS, inputs()).flows.batteryPowerW).toBe(0);
  });

  it('passes the grid frequency through to the meter', () => {
    expect(
      stepSite(state(50), { batteryPowerW: 0 }, 1_000, inputs({ gridFrequencyHz: 49.8 })).flows.gridFrequencyHz,
    ).toBe(49.8);
  });
});

describe('stepSite EV sessions', () => {
  const session: EvSession = {
    id: 'car-1',
    arrivalAtMs: 15 * 60_000,
    departureAtMs: 3 * HOUR_MS,
    energyWantedWh: 5_000,
    maxCurrentA: 16,
    phases: 3,
  };
  const evModel: SiteModel = { battery, evCharger: EvChargerSchema.parse({ maxCurrentA: 32 }), evSessions: [session] };
  const evInputs = inputs({ model: evModel, loadW: 0, pvW: 0 });

  it('charges at the session maximum (16 A × 230 V × 3) for the connected part of the step', () => {
    // Arrives after 15 of 30 min: 11 040 W × 0.25 h = 2 760 Wh → mean 5 520 W over the step.
    const next = stepSite(state(50, 0), { batteryPowerW: 0 }, 1_800_000, evInputs);
    expect(next.flows.evW).toBeCloseTo(5_520, 9);
    expect(next.flows.gridPowerW).toBeCloseTo(5_520, 9);
    expect(next.flows.evSessionId).toBe('car-1');
    expect(next.state.evDeliveredWh['car-1']).toBeCloseTo(2_760, 9);
  });

  it('stops when the wanted energy is delivered', () => {
    const almostFull: SiteState = { atMs: HOUR_MS, socPct: 50, evDeliveredWh: { 'car-1': 4_000 } };
    const next = stepSite(almostFull, { batteryPowerW: 0 }, HOUR_MS, evInputs);
    expect(next.flows.evW).toBeCloseTo(1_000, 9);
    expect(stepSite(next.state, { batteryPowerW: 0 }, HOUR_MS, evInputs).flows.evW).toBe(0);
  });

  it('follows a current setpoint and pauses below the 6 A minimum', () => {
    const at = state(50, HOUR_MS);
    expect(stepSite(at, { batteryPowerW: 0, evCurrentA: 10 }, 60_000, evInputs).flows.evW).toBeCloseTo(6_900, 9);
    expect(stepSite(at, { batteryPowerW: 0, evCurrentA: 5 }, 60_000, evInputs).flows.evW).toBe(0);
    expect(stepSite(at, { batteryPowerW: 0, evCurrentA: 99 }, 60_000, evInputs).flows.evW).toBeCloseTo(11_040, 9);
  });

  it('takes no power before arrival, after departure, or without a charger', () => {
    expect(stepSite(state(50, 0), { batteryPowerW: 0 }, 60_000, evInputs).flows.evW).toBe(0);
    expect(stepSite(state(50, 3 * HOUR_MS), { batteryPowerW: 0 }, 60_000, evInputs).flows.evW).toBe(0);
    const noCharger = inputs({ model: { battery, evSessions: [session] } });
    expect(stepSite(state(50, HOUR_MS), { batteryPowerW: 0 }, 60_000, noCharger).flows.evSessionId).toBeNull();
  });
});

describe('stepSite properties', () => {
  const batteryArb = fc
    .record({
      capacityWh: fc.double({ min: 100, max: 100_000, noNaN: true }),
      maxChargePowerW: fc.double({ min: 0, max: 20_000, noNaN: true }),
      maxDischargePowerW: fc.double({ min: 0, max: 20_000, noNaN: true }),
      minSocPct: fc.double({ min: 0, max: 49, noNaN: true }),
      maxSocPct: fc.double({ min: 51, max: 100, noNaN: true }),
      chargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
      dischargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
      selfDischargePctPerDay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 5, noNaN: true })),
    })
    .map((b) => BatteryModelSchema.parse(b));
  const stepArb = fc.record({
    requestW: fc.double({ min: -30_000, max: 30_000, noNaN: true }),
    loadW: fc.double({ min: 0, max: 20_000, noNaN: true }),
    pvW: fc.double({ min: 0, max: 20_000, noNaN: true }),
    evCurrentA: fc.option(fc.double({ min: 0, max: 40, noNaN: true }), { nil: undefined }),
  });
  const runArb = fc.record({
    battery: batteryArb,
    startFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    dtMs: fc.constantFrom(1_000, 60_000, 300_000, 900_000, 1_800_000, HOUR_MS),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 40 }),
  });
  const evModelFor = (b: BatteryModel): SiteModel => ({
    battery: b,
    evCharger: EvChargerSchema.parse({}),
    evSessions: [
      { id: 'ev', arrivalAtMs: 0, departureAtMs: 10 * HOUR_MS, energyWantedWh: 20_000, maxCurrentA: 32, phases: 3 },
    ],
  });

  it('keeps SoC inside the window, balances the grid, and never creates energy in the battery', () => {
    fc.assert(
      fc.property(runArb, ({ battery: b, startFraction, dtMs, steps }) => {
        const m = evModelFor(b);
        const tolPct = 1e-9;
        let s: SiteState = state(b.minSocPct + startFraction * (b.maxSocPct - b.minSocPct));
        for (const step of steps) {
          const next = stepSite(s, { batteryPowerW: step.requestW, evCurrentA: step.evCurrentA }, dtMs, {
            model: m,
            loadW: step.loadW,
            pvW: step.pvW,
            gridFrequencyHz: 50,
          });
          const f = next.flows;
          // The floor holds whenever the charger can offset self-discharge (it always can here: ≥ 0 W is enough
          // only without self-discharge, so allow the drift when maxChargePowerW cannot cover it).
          const lossWh = (s.socPct / 100) * b.capacityWh * (b.selfDischargePctPerDay / 100) * (dtMs / 86_400_000);
          const canHold = b.maxChargePowerW * b.chargeEfficiency * (dtMs / HOUR_MS) >= lossWh;
          if (canHold) expect(next.state.socPct).toBeGreaterThanOrEqual(b.minSocPct - tolPct);
          expect(next.state.socPct).toBeLessThanOrEqual(b.maxSocPct + tolPct);
          expect(f.batteryPowerW).toBeLessThanOrEqual(b.maxDischargePowerW);
          expect(f.batteryPowerW).toBeGreaterThanOrEqual(-b.maxChargePowerW);
          expect(f.gridPowerW).toBeCloseTo(f.loadW + f.evW - f.pvW - f.batteryPowerW, 6);
          expect(f.evW).toBeGreaterThanOrEqual(0);
          // Stored energy never rises by more than the AC energy put in (and falls at least by what comes out).
          const acInWh = (-f.batteryPowerW * dtMs) / HOUR_MS;
          expect(f.storedEnergyChangeWh).toBeLessThanOrEqual(acInWh + 1e-9 * b.capacityWh);
          s = next.state;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('round trip through the battery returns at most ηc·ηd of the energy', () => {
    fc.assert(
      fc.property(batteryArb, fc.double({ min: 1, max: 10_000, noNaN: true }), (b, chargeW) => {
        const start = state(b.minSocPct);
        const m: SiteModel = { battery: { ...b, selfDischargePctPerDay: 0 } };
        const charged = stepSite(start, { batteryPowerW: -chargeW }, HOUR_MS, inputs({ model: m }));
        const inWh = -charged.flows.batteryPowerW;
        let s = charged.state;
        let outWh = 0;
        for (let i = 0; i < 200 && s.socPct > b.minSocPct + 1e-9; i++) {
          const next = stepSite(s, { batteryPowerW: 1e9 }, HOUR_MS, inputs({ model: m }));
          if (next.flows.batteryPowerW <= 0) break;
          outWh += next.flows.batteryPowerW;
          s = next.state;
        }
        expect(outWh).toBeLessThanOrEqual(inWh * b.chargeEfficiency * b.dischargeEfficiency + 1e-6);
      }),
      { numRuns: 200 },
    );
  });
});
