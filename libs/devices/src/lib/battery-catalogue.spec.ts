import fc from 'fast-check';
import { BatteryLimitsSchema } from '@voltimax/contracts';
import {
  BATTERY_CATALOGUE_INPUTS,
  batteryCatalogue,
  BatteryCatalogueEntrySchema,
  CHEMISTRY_TYPICAL_LIMITS,
  getBatteryEntry,
  parallelEntry,
  tightenLimits,
  type BatteryCatalogueEntry,
  type SiteBatteryLimits,
} from './battery-catalogue';
import { getProfile } from './registry';

const site = (overrides: Partial<SiteBatteryLimits> = {}): SiteBatteryLimits =>
  BatteryLimitsSchema.parse({
    capacityWh: 200_000,
    maxChargePowerW: 80_000,
    maxDischargePowerW: 120_000,
    ...overrides,
  });

const cabinet = (): BatteryCatalogueEntry => {
  const entry = getBatteryEntry('cnte.cabinet-100kw-215kwh');
  if (entry === undefined) throw new Error('missing entry');
  return entry;
};

describe('the battery catalogue', () => {
  it('parses every entry and has unique ids', () => {
    for (const input of BATTERY_CATALOGUE_INPUTS)
      expect(BatteryCatalogueEntrySchema.safeParse(input).success).toBe(true);
    expect(new Set(batteryCatalogue.map((e) => e.id)).size).toBe(batteryCatalogue.length);
  });

  it('has entries for the CNTE cabinets and the Growatt batteries used with SPH / TL-XH', () => {
    expect(batteryCatalogue.map((e) => e.id)).toEqual(
      expect.arrayContaining([
        'cnte.cabinet-100kw-215kwh',
        'cnte.cabinet-125kw-261kwh',
        'growatt.ark-lv-10kwh',
        'growatt.ark-hv-10kwh',
        'growatt.apx-10kwh',
      ]),
    );
  });

  it('marks every value that is not from a datasheet as typical', () => {
    for (const entry of batteryCatalogue) {
      expect(entry.basis).toBe('typical');
      expect(entry.source).toMatch(/typical/);
    }
  });

  it('refers only to existing device profiles', () => {
    for (const entry of batteryCatalogue) for (const id of entry.profiles) expect(getProfile(id)).toBeDefined();
  });

  it('uses the chemistry-typical windows: LFP charge 0..45 °C, discharge −20..55 °C; NMC tighter when hot', () => {
    expect(CHEMISTRY_TYPICAL_LIMITS.LFP).toMatchObject({
      chargeTemperatureC: [0, 45],
      dischargeTemperatureC: [-20, 55],
    });
    expect(CHEMISTRY_TYPICAL_LIMITS.NMC.chargeTemperatureC[1]).toBeLessThan(
      CHEMISTRY_TYPICAL_LIMITS.LFP.chargeTemperatureC[1],
    );
    expect(CHEMISTRY_TYPICAL_LIMITS.NMC.dischargeTemperatureC[1]).toBeLessThan(
      CHEMISTRY_TYPICAL_LIMITS.LFP.dischargeTemperatureC[1],
    );
    expect(cabinet()).toMatchObject({
      chemistry: 'LFP',
      chargeTemperatureC: [0, 45],
      dischargeTemperatureC: [-20, 55],
    });
  });

  it('rejects an entry with an inverted window or SoC range', () => {
    const [first] = BATTERY_CATALOGUE_INPUTS;
    expect(BatteryCatalogueEntrySchema.safeParse({ ...first, chargeTemperatureC: [45, 0] }).success).toBe(false);
    expect(BatteryCatalogueEntrySchema.safeParse({ ...first, minSocPct: 90, maxSocPct: 10 }).success).toBe(false);
  });

  it('adds up capacity, power and current for parallel units', () => {
    expect(parallelEntry(cabinet(), 2)).toMatchObject({
      capacityWh: 430_000,
      maxChargePowerW: 200_000,
      maxChargeCurrentA: 280,
      minSocPct: 5,
    });
  });
});

describe('tightenLimits (examples)', () => {
  it('takes the smaller maximum, the larger minimum and the intersection of windows', () => {
    const { limits, conflicts } = tightenLimits(
      cabinet(),
      site({ minSocPct: 20, maxSocPct: 98, chargeTemperatureC: [5, 50] }),
    );
    expect(conflicts).toEqual([]);
    expect(limits).toMatchObject({
      capacityWh: 200_000,
      maxChargePowerW: 80_000,
      maxDischargePowerW: 100_000,
      maxChargeCurrentA: 140,
      minSocPct: 20,
      maxSocPct: 98,
      chargeTemperatureC: [5, 45],
      dischargeTemperatureC: [-20, 55],
      maxCyclesPerDay: 1.5,
    });
  });

  it('reports an empty window instead of widening it', () => {
    const { limits, conflicts } = tightenLimits(cabinet(), site({ chargeTemperatureC: [50, 60] }));
    expect(conflicts).toEqual(['charge-temperature-window-empty']);
    expect(limits.chargeTemperatureC).toEqual([50, 45]);
  });

  it('keeps the reserve at or above the SoC floor', () => {
    expect(tightenLimits(cabinet(), site({ minSocPct: 10, reserveSocPct: 0 })).limits.reserveSocPct).toBe(10);
    expect(tightenLimits(cabinet(), site({ reserveSocPct: 30 })).limits.reserveSocPct).toBe(30);
  });
});

const windowArb = fc
  .tuple(fc.integer({ min: -40, max: 60 }), fc.integer({ min: -40, max: 60 }))
  .map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]);
const socWindowArb = fc
  .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }))
  .filter(([a, b]) => a !== b)
  .map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]);
const powerArb = fc.integer({ min: 1, max: 500_000 });
const currentArb = fc.option(fc.integer({ min: 1, max: 1_000 }), { nil: undefined });

const entryArb: fc.Arbitrary<BatteryCatalogueEntry> = fc
  .record({
    soc: socWindowArb,
    charge: windowArb,
    discharge: windowArb,
    pc: powerArb,
    pd: powerArb,
    ac: currentArb,
    ad: currentArb,
    cap: powerArb,
  })
  .map((r) =>
    BatteryCatalogueEntrySchema.parse({
      id: 'test.battery',
      vendor: 'Test',
      model: 'Test',
      chemistry: 'LFP',
      capacityWh: r.cap,
      minSocPct: r.soc[0],
      maxSocPct: r.soc[1],
      maxChargePowerW: r.pc,
      maxDischargePowerW: r.pd,
      ...(r.ac === undefined ? {} : { maxChargeCurrentA: r.ac }),
      ...(r.ad === undefined ? {} : { maxDischargeCurrentA: r.ad }),
      chargeTemperatureC: r.charge,
      dischargeTemperatureC: r.discharge,
      maxCyclesPerDay: 1,
      basis: 'typical',
      source: 'generated',
    }),
  );

const siteArb: fc.Arbitrary<SiteBatteryLimits> = fc
  .record({
    soc: socWindowArb,
    reserve: fc.integer({ min: 0, max: 100 }),
    charge: fc.option(windowArb, { nil: undefined }),
    discharge: fc.option(windowArb, { nil: undefined }),
    pc: powerArb,
    pd: powerArb,
    ac: currentArb,
    ad: currentArb,
    cap: powerArb,
  })
  .map((r) =>
    BatteryLimitsSchema.parse({
      capacityWh: r.cap,
      maxChargePowerW: r.pc,
      maxDischargePowerW: r.pd,
      ...(r.ac === undefined ? {} : { maxChargeCurrentA: r.ac }),
      ...(r.ad === undefined ? {} : { maxDischargeCurrentA: r.ad }),
      minSocPct: r.soc[0],
      maxSocPct: r.soc[1],
      reserveSocPct: Math.min(r.reserve, r.soc[1]),
      ...(r.charge === undefined ? {} : { chargeTemperatureC: r.charge }),
      ...(r.discharge === undefined ? {} : { dischargeTemperatureC: r.discharge }),
    }),
  );

const within = (inner: readonly [number, number], outer: readonly [number, number] | undefined) =>
  outer === undefined || (inner[0] >= outer[0] && inner[1] <= outer[1]);
const atMost = (value: number | undefined, limit: number | undefined) =>
  limit === undefined || (value !== undefined && value <= limit);

describe('tightenLimits (properties)', () => {
  it('never loosens the catalogue or the site limits', () => {
    fc.assert(
      fc.property(entryArb, siteArb, (entry, siteLimits) => {
        const { limits } = tightenLimits(entry, siteLimits);
        for (const source of [entry, siteLimits]) {
          expect(limits.maxChargePowerW).toBeLessThanOrEqual(source.maxChargePowerW);
          expect(limits.maxDischargePowerW).toBeLessThanOrEqual(source.maxDischargePowerW);
          expect(atMost(limits.maxChargeCurrentA, source.maxChargeCurrentA)).toBe(true);
          expect(atMost(limits.maxDischargeCurrentA, source.maxDischargeCurrentA)).toBe(true);
          expect(limits.minSocPct).toBeGreaterThanOrEqual(source.minSocPct);
          expect(limits.maxSocPct).toBeLessThanOrEqual(source.maxSocPct);
          expect(within(limits.chargeTemperatureC, source.chargeTemperatureC)).toBe(true);
          expect(within(limits.dischargeTemperatureC, source.dischargeTemperatureC)).toBe(true);
        }
        expect(limits.reserveSocPct).toBeGreaterThanOrEqual(siteLimits.reserveSocPct);
      }),
    );
  });

  it('keeps a limit unchanged when both inputs agree', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const same = BatteryLimitsSchema.parse({
          capacityWh: entry.capacityWh,
          maxChargePowerW: entry.maxChargePowerW,
          maxDischargePowerW: entry.maxDischargePowerW,
          minSocPct: entry.minSocPct,
          maxSocPct: entry.maxSocPct,
          chargeTemperatureC: [...entry.chargeTemperatureC],
          dischargeTemperatureC: [...entry.dischargeTemperatureC],
        });
        const { limits, conflicts } = tightenLimits(entry, same);
        expect(conflicts).toEqual([]);
        expect(limits).toMatchObject({
          maxChargePowerW: entry.maxChargePowerW,
          minSocPct: entry.minSocPct,
          maxSocPct: entry.maxSocPct,
          chargeTemperatureC: entry.chargeTemperatureC,
        });
      }),
    );
  });

  it('flags exactly the windows that came out empty', () => {
    fc.assert(
      fc.property(entryArb, siteArb, (entry, siteLimits) => {
        const { limits, conflicts } = tightenLimits(entry, siteLimits);
        expect(conflicts.includes('soc-window-empty')).toBe(limits.minSocPct >= limits.maxSocPct);
        expect(conflicts.includes('charge-temperature-window-empty')).toBe(
          limits.chargeTemperatureC[0] > limits.chargeTemperatureC[1],
        );
        expect(conflicts.includes('discharge-temperature-window-empty')).toBe(
          limits.dischargeTemperatureC[0] > limits.dischargeTemperatureC[1],
        );
      }),
    );
  });
});
