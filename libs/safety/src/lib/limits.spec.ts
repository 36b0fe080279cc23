import type { AssetConfig } from '@voltimax/contracts';
import { BatteryLimitsSchema } from '@voltimax/contracts';
import { assetSafetyLimits, CatalogueLimitsSchema, effectiveLimits, type CatalogueLimits } from './limits';

const SITE = BatteryLimitsSchema.parse({
  capacityWh: 10_000,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 6_000,
  maxChargeCurrentA: 100,
  minSocPct: 10,
  maxSocPct: 95,
  reserveSocPct: 20,
  chargeTemperatureC: [0, 45],
  maxRampWPerS: 1_000,
});

describe('effectiveLimits', () => {
  it('without a catalogue entry takes the site limits', () => {
    expect(effectiveLimits(undefined, SITE)).toEqual({
      maxChargePowerW: 5_000,
      maxDischargePowerW: 6_000,
      maxChargeCurrentA: 100,
      minSocPct: 10,
      maxSocPct: 95,
      reserveSocPct: 20,
      chargeTemperatureC: [0, 45],
      maxRampWPerS: 1_000,
    });
  });

  it.each<{ name: string; catalogue: CatalogueLimits; expected: Record<string, unknown> }>([
    {
      name: 'a tighter catalogue maximum wins',
      catalogue: { maxChargePowerW: 3_000 },
      expected: { maxChargePowerW: 3_000 },
    },
    {
      name: 'a looser catalogue maximum loses',
      catalogue: { maxDischargePowerW: 9_000 },
      expected: { maxDischargePowerW: 6_000 },
    },
    {
      name: 'a catalogue-only limit applies',
      catalogue: { maxDischargeCurrentA: 80 },
      expected: { maxDischargeCurrentA: 80 },
    },
    { name: 'the higher minimum SoC wins', catalogue: { minSocPct: 15 }, expected: { minSocPct: 15 } },
    { name: 'a lower catalogue minimum SoC loses', catalogue: { minSocPct: 5 }, expected: { minSocPct: 10 } },
    { name: 'the lower maximum SoC wins', catalogue: { maxSocPct: 90 }, expected: { maxSocPct: 90 } },
    {
      name: 'temperature windows intersect',
      catalogue: { chargeTemperatureC: [5, 50] },
      expected: { chargeTemperatureC: [5, 45] },
    },
    {
      name: 'a catalogue-only window applies',
      catalogue: { dischargeTemperatureC: [-20, 55] },
      expected: { dischargeTemperatureC: [-20, 55] },
    },
    {
      name: 'disjoint windows admit nothing',
      catalogue: { chargeTemperatureC: [50, 60] },
      expected: { chargeTemperatureC: [50, 45] },
    },
    { name: 'the slower ramp wins', catalogue: { maxRampWPerS: 500 }, expected: { maxRampWPerS: 500 } },
    { name: 'a NaN maximum counts as 0', catalogue: { maxChargePowerW: Number.NaN }, expected: { maxChargePowerW: 0 } },
    {
      name: 'an infinite maximum counts as 0',
      catalogue: { maxChargePowerW: Number.POSITIVE_INFINITY },
      expected: { maxChargePowerW: 0 },
    },
    { name: 'a negative maximum counts as 0', catalogue: { maxRampWPerS: -5 }, expected: { maxRampWPerS: 0 } },
    { name: 'a NaN minimum SoC blocks discharge', catalogue: { minSocPct: Number.NaN }, expected: { minSocPct: 100 } },
    { name: 'a NaN maximum SoC blocks charge', catalogue: { maxSocPct: Number.NaN }, expected: { maxSocPct: 0 } },
  ])('$name', ({ catalogue, expected }) => {
    expect(effectiveLimits(catalogue, SITE)).toMatchObject(expected);
  });

  it('a window with a NaN bound admits nothing', () => {
    const [lo, hi] = effectiveLimits({ chargeTemperatureC: [Number.NaN, 40] }, SITE).chargeTemperatureC ?? [0, 0];
    expect(lo <= 20 && 20 <= hi).toBe(false);
  });

  it('the backup reserve comes from the site only', () => {
    expect(effectiveLimits({ minSocPct: 30 }, SITE).reserveSocPct).toBe(20);
  });

  it('catalogue entries validate with CatalogueLimitsSchema', () => {
    expect(CatalogueLimitsSchema.safeParse({ maxChargePowerW: 5_000, chargeTemperatureC: [0, 45] }).success).toBe(true);
    expect(CatalogueLimitsSchema.safeParse({ maxChargePowerW: -1 }).success).toBe(false);
    expect(CatalogueLimitsSchema.safeParse({ unknownKey: 1 }).success).toBe(false);
  });
});

describe('assetSafetyLimits', () => {
  const base = {
    name: 'x',
    connection: { protocol: 'simulated' as const },
    profile: 'acme.x',
    pollIntervalMs: 1_000,
    enabled: true,
  };

  it('builds battery limits from the site and the catalogue', () => {
    const asset: AssetConfig = { ...base, id: 'bat-1', kind: 'battery', battery: SITE };
    expect(assetSafetyLimits(asset, { maxChargePowerW: 4_000 })?.battery?.maxChargePowerW).toBe(4_000);
  });

  it("takes the battery's phases from its config (a single-phase battery on a three-phase site)", () => {
    const single: AssetConfig = { ...base, id: 'bat-1', kind: 'battery', battery: { ...SITE, phases: 1 } };
    expect(assetSafetyLimits(single)?.batteryPhases).toBe(1);
    const hybrid: AssetConfig = { ...base, id: 'hy-1', kind: 'hybrid-inverter', battery: { ...SITE, phases: 1 } };
    expect(assetSafetyLimits(hybrid)?.batteryPhases).toBe(1);
    expect(assetSafetyLimits({ ...base, id: 'bat-1', kind: 'battery', battery: SITE })).not.toHaveProperty(
      'batteryPhases',
    );
  });

  it('builds EV charger and PV limits', () => {
    const ev: AssetConfig = {
      ...base,
      id: 'ev-1',
      kind: 'ev-charger',
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    };
    const pv: AssetConfig = { ...base, id: 'pv-1', kind: 'pv-inverter', pv: { ratedPowerW: 8_000 } };
    expect(assetSafetyLimits(ev)).toEqual({
      assetId: 'ev-1',
      evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
    });
    expect(assetSafetyLimits(pv)).toEqual({ assetId: 'pv-1', pv: { ratedPowerW: 8_000 } });
  });

  it('gives a hybrid inverter both sections', () => {
    const hybrid: AssetConfig = {
      ...base,
      id: 'hy-1',
      kind: 'hybrid-inverter',
      battery: SITE,
      pv: { ratedPowerW: 5_000 },
    };
    const limits = assetSafetyLimits(hybrid);
    expect(limits?.battery).toBeDefined();
    expect(limits?.pv).toEqual({ ratedPowerW: 5_000 });
  });

  it('has nothing for assets the arbiter never commands', () => {
    expect(assetSafetyLimits({ ...base, id: 'grid', kind: 'grid-meter' })).toBeUndefined();
  });
});
