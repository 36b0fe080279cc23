import { buildBattery, buildSiteState } from '../testing';
import { quantize, truncateToStep } from './arithmetic';
import { allocateBatteryPower, batteryWindow, gridBoundsForBatteriesW, limitFleetW, netDemandW } from './battery';

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
