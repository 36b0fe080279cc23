import fc from 'fast-check';
import { buildBattery, buildSiteState } from '../testing';
import { quantize, truncateToStep } from './arithmetic';
import { allocateBatteryPower, batteryPower, batteryWindow, gridBoundsForBatteriesW, limitFleetW, netDemandW, raiseFleet, sumBatterySetpointsW } from './battery';

describe('batteryWindow', () => {
  it.each([
    { name: 'mid SoC: both directions', socPct: 50, expected: { maxChargeW: 5_000, maxDischargeW: 5_000 } },
    { name: 'at max SoC: no charge', socPct: 95, expected: { maxChargeW: 0, maxDischargeW: 5_000 } },
    { name: 'at min SoC: no discharge', socPct: 10, expected: { maxChargeW: 5_000, maxDischargeW: 0 } },
    { name: 'at reserve above min: no discharge', socPct: 30, reserveSocPct: 30, expected: { maxChargeW: 5_000, maxDischargeW: 0 } },
  ])('$name', ({ socPct, reserveSocPct, expected }) => {
    expect(batteryWindow(buildBattery({ socPct, reserveSocPct: reserveSocPct ?? 0 }))).toEqual(expected);
  });
});

describe('allocateBatteryPower', () => {
  const a = buildBattery({ assetId: 'a', maxDischargePowerW: 6_000, maxChargePowerW: 2_000 });
  const b = buildBattery({ assetId: 'b', maxDischargePowerW: 2_000, maxChargePowerW: 2_000 });

  it('splits in proportion to each battery’s headroom in that direction', () => {
    expect(allocateBatteryPower(4_000, [a, b], () => true)).toEqual({ a: 3_000, b: 1_000 });
  });

  it('never allocates more than the batteries can take', () => {
    expect(allocateBatteryPower(-10_000, [a, b], () => true)).toEqual({ a: -2_000, b: -2_000 });
  });

  it('gives unusable batteries 0 W and the rest to the others', () => {
    expect(allocateBatteryPower(1_500, [a, b], (x) => x.assetId === 'b')).toEqual({ a: 0, b: 1_500 });
  });

  it('cuts shares toward zero to the battery step, so the sum never exceeds the request', () => {
    const stepped = buildBattery({ assetId: 's', powerStepW: 100 });
    expect(allocateBatteryPower(1_234, [stepped], () => true)).toEqual({ s: 1_200 });
    expect(allocateBatteryPower(-1_234, [stepped], () => true)).toEqual({ s: -1_200 });
  });

  it('gives what the cuts lost back a step at a time to a battery with room, never more than asked', () => {
    const big = buildBattery({ assetId: 'big', maxDischargePowerW: 3_000, maxChargePowerW: 3_000, powerStepW: 100 });
    const small = buildBattery({ assetId: 'small', maxDischargePowerW: 1_000, maxChargePowerW: 1_000, powerStepW: 100 });
    // Shares 150 + 50 W cut to 100 + 0 W: the lost 100 W goes back (to the larger cut first).
    const split = allocateBatteryPower(200, [big, small], () => true);
    expect(Object.values(split).reduce((x, y) => x + y, 0)).toBe(200);
    expect(allocateBatteryPower(-200, [big, small], () => true)).toEqual(Object.fromEntries(Object.entries(split).map(([k, v]) => [k, v === 0 ? 0 : -v])));
    // A step that would pass the request stays out: 150 W is 100 W sent.
    expect(Object.values(allocateBatteryPower(150, [big, small], () => true)).reduce((x, y) => x + y, 0)).toBe(100);
  });

  it('never exceeds the request or a battery’s limit, and leaves out nothing a battery could still take (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -20_000, max: 20_000 }),
        fc.array(fc.record({ maxW: fc.integer({ min: 0, max: 8_000 }), step: fc.constantFrom(1, 10, 50, 100, 250) }), { minLength: 1, maxLength: 4 }),
        (totalW, specs) => {
          const fleet = specs.map((x, i) => buildBattery({ assetId: `b${i}`, maxDischargePowerW: x.maxW, maxChargePowerW: x.maxW, powerStepW: x.step }));
          const split = allocateBatteryPower(totalW, fleet, () => true);
          const sum = Object.values(split).reduce((x, y) => x + y, 0);
          const reachable = Math.min(Math.abs(totalW), specs.reduce((x, y) => x + y.maxW, 0));
          expect(Math.abs(sum)).toBeLessThanOrEqual(reachable + 1e-6);
          if (sum !== 0) expect(Math.sign(sum)).toBe(Math.sign(totalW));
          fleet.forEach((b, i) => {
            const w = split[b.assetId] ?? 0;
            expect(Math.abs(w)).toBeLessThanOrEqual((specs[i]?.maxW ?? 0) + 1e-6);
            expect(Math.abs(w / (specs[i]?.step ?? 1) - Math.round(w / (specs[i]?.step ?? 1)))).toBeLessThan(1e-6);
          });
          // Nothing a battery could still take is left out: what is missing is less than the step of every battery
          // with room for one.
          fleet.forEach((b, i) => {
            const step = specs[i]?.step ?? 1;
            if ((specs[i]?.maxW ?? 0) - Math.abs(split[b.assetId] ?? 0) >= step) expect(reachable - Math.abs(sum)).toBeLessThan(step);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('grid bounds', () => {
  it('keeps charging from pushing import over the limit', () => {
    const state = buildSiteState({ loadPowerW: 15_000, limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 } });
    expect(netDemandW(state)).toBe(15_000);
    expect(gridBoundsForBatteriesW(state).minW).toBe(-2_000);
    expect(limitFleetW(-5_000, state, () => true)).toEqual({ powerW: -2_000, limitedBy: 'grid' });
  });

  it('keeps discharging from pushing export over the limit', () => {
    const state = buildSiteState({ loadPowerW: 0, pvPowerW: 8_000, limits: { maxImportW: 17_000, maxExportW: 10_000, phases: 3, nominalVoltageV: 230 } });
    expect(limitFleetW(5_000, state, () => true)).toEqual({ powerW: 2_000, limitedBy: 'grid' });
  });

  it('never forces action when the site is already beyond a limit', () => {
    const state = buildSiteState({ loadPowerW: 20_000 });
    const bounds = gridBoundsForBatteriesW(state);
    expect(bounds.minW).toBe(0);
    expect(bounds.maxW).toBeGreaterThan(0);
  });
});

describe('quantize and truncateToStep', () => {
  it.each([
    { value: 1_234, step: 10, low: -5_000, high: 5_000, expected: 1_230 },
    { value: 1_235, step: 10, low: -5_000, high: 5_000, expected: 1_240 },
    { value: 4_999, step: 10, low: -5_000, high: 4_995, expected: 4_990 },
    { value: -3, step: 10, low: -5_000, high: 5_000, expected: 0 },
  ])('quantize($value, $step) = $expected', ({ value, step, low, high, expected }) => {
    expect(quantize(value, step, low, high)).toBe(expected);
  });

  it('truncates toward zero and never yields -0', () => {
    expect(truncateToStep(-19, 10)).toBe(-10);
    expect(Object.is(truncateToStep(-5, 10), 0)).toBe(true);
  });
});

describe('raiseFleet', () => {
  const fleetArbitrary = fc.array(
    fc.record({
      socPct: fc.integer({ min: 5, max: 100 }),
      proposedW: fc.integer({ min: -5_000, max: 5_000 }),
      stepW: fc.constantFrom(1, 50, 100, 500),
      usable: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  );

  it('never lowers a set-point, moves only usable batteries, stays in each window, and moves idle ones last', () => {
    fc.assert(
      fc.property(fleetArbitrary, fc.integer({ min: 0, max: 12_000 }), (fleet, raiseW) => {
        const batteries = fleet.map((f, i) => buildBattery({ assetId: `b${i}`, socPct: f.socPct, powerStepW: f.stepW }));
        const proposal = Object.fromEntries(fleet.map((f, i) => [`b${i}`, batteryPower(f.proposedW)]));
        const usable = new Set(fleet.flatMap((f, i) => (f.usable ? [`b${i}`] : [])));
        const totalW = sumBatterySetpointsW(proposal) + raiseW;
        const result = raiseFleet(proposal, totalW, batteries, (b) => usable.has(b.assetId));
        let chargeW = 0;
        batteries.forEach((b, i) => {
          const before = fleet[i]?.proposedW ?? 0;
          const sp = result.setpoints[b.assetId];
          const after = sp?.kind === 'battery-power' ? sp.powerW : Number.NaN;
          expect(after).toBeGreaterThanOrEqual(before);
          if (!usable.has(b.assetId)) expect(after).toBe(before);
          if (after > before) expect(after).toBeLessThanOrEqual(Math.max(before, batteryWindow(b).maxDischargeW));
          if (usable.has(b.assetId) && before < 0) chargeW -= before;
        });
        // While the batteries the proposal moves can give the raise, the idle ones are not moved.
        const activeRoomW = batteries.reduce((sum, b, i) => {
          const before = fleet[i]?.proposedW ?? 0;
          return usable.has(b.assetId) && before !== 0 ? sum + Math.max(0, batteryWindow(b).maxDischargeW - Math.max(0, before)) : sum;
        }, 0);
        if (raiseW <= chargeW + activeRoomW - 1) {
          batteries.forEach((b, i) => {
            if ((fleet[i]?.proposedW ?? 0) === 0) expect(result.setpoints[b.assetId]).toEqual(batteryPower(0));
          });
        }
        // While the charging batteries can give the raise by charging less, the others are not moved.
        if (raiseW <= chargeW) {
          batteries.forEach((b, i) => {
            const before = fleet[i]?.proposedW ?? 0;
            if (before >= 0) expect(result.setpoints[b.assetId]).toEqual(batteryPower(before));
          });
        }
        // Never more than a step of one battery past what was asked.
        expect(result.powerW).toBeLessThanOrEqual(totalW + Math.max(...fleet.map((f) => f.stepW)));
      }),
    );
  });

  it('takes a charge down before it adds a discharge, and moves an idle battery last', () => {
    const batteries = [buildBattery({ assetId: 'a' }), buildBattery({ assetId: 'b' })];
    const proposal = { a: batteryPower(-4_000), b: batteryPower(0) };
    const result = raiseFleet(proposal, -1_000, batteries, () => true);
    expect(result.setpoints).toEqual({ a: batteryPower(-1_000), b: batteryPower(0) });
    // Beyond a's charge, a (which the proposal moves) discharges first; b, left idle, stays so.
    const more = raiseFleet(proposal, 2_000, batteries, () => true);
    expect(more.setpoints).toEqual({ a: batteryPower(2_000), b: batteryPower(0) });
    // Only what a cannot give goes to b.
    const most = raiseFleet(proposal, 7_000, batteries, () => true);
    expect(most.setpoints).toEqual({ a: batteryPower(5_000), b: batteryPower(2_000) });
  });
});
