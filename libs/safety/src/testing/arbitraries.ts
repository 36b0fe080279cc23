import fc from 'fast-check';
import type { AssetReading, Measurements, Quality, Setpoint } from '@voltimax/contracts';
import type { ArbitrationInput, DriverHealth } from '../lib/context';
import type { EstopState } from '../lib/estop';
import type { GridDelta, GridLimits } from '../lib/grid';
import type { BatterySafetyLimits, CatalogueLimits, SiteBatteryLimits } from '../lib/limits';
import { NOW_MS } from './fixtures';

// fc.integer is ~7x cheaper than fc.double, and a million cases must run in seconds: physical values are
// integers (or tenths), and fc.double({ noNaN: false }) is mixed in where NaN and ±Infinity must be injected.

const int = (min: number, max: number) => fc.integer({ min, max });
const tenths = (min: number, max: number) => fc.integer({ min: min * 10, max: max * 10 }).map((v) => v / 10);
const maybe = <T>(arb: fc.Arbitrary<T>, freq = 3) => fc.option(arb, { nil: undefined, freq });
/** Mostly `arb`, sometimes any double at all (NaN, ±Infinity, ±0, huge, tiny). */
const orWild = (arb: fc.Arbitrary<number>, weight = 12) =>
  fc.oneof({ weight, arbitrary: arb }, { weight: 1, arbitrary: fc.double({ noNaN: false }) });

/** Drops keys whose value is undefined (exactOptionalPropertyTypes-style objects for the contracts types). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const window = (lo: [number, number], width: [number, number]) =>
  fc.tuple(int(lo[0], lo[1]), int(width[0], width[1])).map(([from, span]) => [from, from + span] as const);

export const batteryLimitsArb: fc.Arbitrary<BatterySafetyLimits> = fc
  .tuple(
    int(0, 15_000),
    int(0, 15_000),
    maybe(int(0, 200)),
    maybe(int(0, 200)),
    int(0, 40),
    int(50, 100),
    int(0, 60),
    maybe(window([-10, 10], [-5, 50])),
    maybe(window([-25, 0], [20, 70])),
    maybe(int(0, 5_000)),
  )
  .map(
    ([
      maxChargePowerW,
      maxDischargePowerW,
      maxChargeCurrentA,
      maxDischargeCurrentA,
      minSocPct,
      maxSocPct,
      reserveSocPct,
      chargeTemperatureC,
      dischargeTemperatureC,
      maxRampWPerS,
    ]) => ({
      maxChargePowerW,
      maxDischargePowerW,
      maxChargeCurrentA,
      maxDischargeCurrentA,
      minSocPct,
      maxSocPct,
      reserveSocPct,
      chargeTemperatureC,
      dischargeTemperatureC,
      maxRampWPerS,
    }),
  );

export const gridLimitsArb: fc.Arbitrary<GridLimits> = fc
  .tuple(
    int(0, 30_000),
    int(0, 30_000),
    fc.constantFrom<1 | 3>(1, 3, 3),
    maybe(int(10, 63)),
    fc.constantFrom(230, 230, 120, 400),
  )
  .map(([maxImportW, maxExportW, phases, maxPhaseCurrentA, nominalVoltageV]) => ({
    maxImportW,
    maxExportW,
    phases,
    maxPhaseCurrentA,
    nominalVoltageV,
  }));

/** Quality and age of a reading in one draw: mostly good and fresh; sometimes stale, failed, old, future-dated or non-finite. */
const readingShapeArb = (healthyWeight: number): fc.Arbitrary<ReadingShape | undefined> =>
  fc.tuple(int(0, healthyWeight + 7), int(0, 60_000)).map(([pick, ms]): ReadingShape | undefined => {
    if (pick < healthyWeight) return { quality: 'good', ageMs: ms % 4_001 };
    switch (pick - healthyWeight) {
      case 0:
        return undefined;
      case 1:
        return { quality: 'stale', ageMs: ms % 4_001 };
      case 2:
        return { quality: 'error', ageMs: ms % 4_001 };
      case 3:
        return { quality: 'good', ageMs: 4_001 + ms };
      case 4:
        return { quality: 'good', ageMs: -ms };
      case 5:
        return { quality: 'good', ageMs: Number.NaN };
      case 6:
        return { quality: 'good', ageMs: 5_000 };
      default:
        return { quality: 'good', ageMs: -2_000 };
    }
  });

export interface ReadingShape {
  readonly quality: Quality;
  readonly ageMs: number;
}

function toReading(
  assetId: string,
  kind: AssetReading['kind'],
  shape: ReadingShape,
  values: Measurements,
): AssetReading {
  return { v: 1, assetId, kind, atMs: NOW_MS - shape.ageMs, sequence: 7, quality: shape.quality, values };
}

/** Mostly a value from `arb`, sometimes missing, sometimes any double (NaN, ±Infinity …). */
const sensor = (arb: fc.Arbitrary<number>) =>
  fc.oneof(
    { weight: 10, arbitrary: arb },
    { weight: 1, arbitrary: fc.double({ noNaN: false }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const batteryValuesArb: fc.Arbitrary<Measurements> = fc
  .tuple(
    sensor(tenths(0, 100)),
    sensor(int(-30, 70)),
    maybe(int(-15_000, 15_000), 8),
    maybe(orWild(int(0, 900)), 2),
    maybe(orWild(int(0, 15_000)), 2),
    maybe(orWild(int(0, 15_000)), 2),
  )
  .map(([socPct, temperatureC, powerW, batteryVoltageV, maxChargePowerW, maxDischargePowerW]) => ({
    socPct,
    temperatureC,
    powerW,
    batteryVoltageV,
    maxChargePowerW,
    maxDischargePowerW,
  }));

const evValuesArb: fc.Arbitrary<Measurements> = fc
  .tuple(maybe(int(0, 22_000), 8), maybe(int(0, 32), 2), maybe(fc.constantFrom<1 | 3>(1, 3)))
  .map(([powerW, currentL1A, phases]) => ({ powerW, currentL1A, phases }));

const gridValuesArb: fc.Arbitrary<Measurements> = fc
  .tuple(int(-35_000, 35_000), int(0, 20), int(-60, 60), int(-60, 60), int(-60, 60))
  .map(([totalW, mode, l1, l2, l3]): Measurements => {
    // mode: 0 → no total power; 1..4 → no phases; 5..8 → phase powers; 9..12 → magnitudes only; else both.
    const powerW = mode === 0 ? undefined : totalW;
    if (mode <= 4) return { powerW };
    if (mode <= 8) return { powerW, powerL1W: l1 * 230, powerL2W: l2 * 230, powerL3W: l3 * 230 };
    if (mode <= 12) return { powerW, currentL1A: Math.abs(l1), currentL2A: Math.abs(l2), currentL3A: Math.abs(l3) };
    return {
      powerW,
      powerL1W: l1 * 230,
      powerL2W: l2 * 230,
      powerL3W: l3 * 230,
      currentL1A: Math.abs(l1),
      currentL2A: Math.abs(l2),
      currentL3A: Math.abs(l3),
    };
  });

const pendingArb: fc.Arbitrary<GridDelta | undefined> = maybe(
  fc.tuple(int(-5_000, 0), int(0, 5_000), int(-10, 0), int(0, 10)).map(([minW, maxW, minA, maxA]) => ({
    minW,
    maxW,
    phasesA: [
      { minA, maxA },
      { minA, maxA },
      { minA, maxA },
    ],
  })),
  2,
);

const ENGAGED: EstopState = {
  engaged: true,
  engagedAtMs: NOW_MS - 10_000,
  engagedBy: 'operator',
  engagedReason: 'test',
};
const RELEASED: EstopState = { engaged: false };

const STATUSES = ['ok', 'degraded', 'error', 'stopping', 'starting'] as const;

/** Driver health: mostly a recent heartbeat; sometimes none, silent, failing or with odd intervals. */
const driverArb = (healthyWeight: number): fc.Arbitrary<DriverHealth | undefined> =>
  fc
    .tuple(int(0, healthyWeight + 7), int(0, 60_000), int(1, 10_000))
    .map(([pick, ms, intervalMs]): DriverHealth | undefined => {
      if (pick < healthyWeight) return { lastSeenAtMs: NOW_MS - (ms % 14_001), intervalMs: 5_000, status: 'ok' };
      const variant = pick - healthyWeight;
      if (variant === 0) return undefined;
      if (variant === 6) return { lastSeenAtMs: NOW_MS + 1_000 + ms, intervalMs, status: 'ok' };
      if (variant === 7) return { lastSeenAtMs: Number.NaN, intervalMs, status: 'ok' };
      return { lastSeenAtMs: NOW_MS - ms, intervalMs, status: STATUSES[variant - 1] };
    });

/** A requested value: mostly sensible, sometimes wild (NaN, ±Infinity, huge). */
const valueArb = (min: number, max: number) => orWild(int(min, max), 15);

export interface Faults {
  /** Relative weight of healthy vs faulty gates (higher = healthier). */
  readonly healthyWeight: number;
}

type AssetPart = Pick<ArbitrationInput, 'asset'> & {
  readonly values: Measurements;
  readonly readingKind: AssetReading['kind'];
  /** The request in the asset's own kind, and one in a kind it does not take. */
  readonly native: Setpoint;
  readonly foreign: Setpoint;
};

const batteryPartArb: fc.Arbitrary<AssetPart> = fc
  .tuple(batteryLimitsArb, batteryValuesArb, maybe(fc.constantFrom<1 | 3>(1, 3), 2), valueArb(-20_000, 20_000))
  .map(([battery, values, batteryPhases, powerW]) => ({
    asset: { assetId: 'battery-1', battery, batteryPhases },
    values,
    readingKind: 'battery',
    native: { kind: 'battery-power', powerW },
    foreign: { kind: 'ev-current', currentA: 10 },
  }));

const evPartArb: fc.Arbitrary<AssetPart> = fc
  .tuple(
    int(0, 10),
    int(6, 32),
    fc.constantFrom<1 | 3>(1, 3, 3),
    evValuesArb,
    valueArb(0, 40),
    maybe(fc.constantFrom<1 | 3>(1, 3), 2),
  )
  .map(([minCurrentA, maxCurrentA, phases, values, currentA, requestedPhases]) => ({
    asset: { assetId: 'ev-1', evCharger: { minCurrentA, maxCurrentA, phases } },
    values,
    readingKind: 'ev-charger',
    native: { kind: 'ev-current', currentA, phases: requestedPhases },
    foreign: { kind: 'battery-power', powerW: 1_000 },
  }));

const pvPartArb: fc.Arbitrary<AssetPart> = fc
  .tuple(int(0, 12_000), int(0, 12_000), valueArb(0, 15_000))
  .map(([ratedPowerW, powerW, maxPowerW]) => ({
    asset: { assetId: 'pv-1', pv: { ratedPowerW } },
    values: { powerW },
    readingKind: 'pv-inverter',
    native: { kind: 'pv-limit', maxPowerW },
    foreign: { kind: 'ev-current', currentA: 10 },
  }));

const hybridPartArb: fc.Arbitrary<AssetPart> = fc
  .tuple(batteryPartArb, int(0, 12_000), valueArb(0, 15_000), fc.boolean())
  .map(([battery, ratedPowerW, maxPowerW, asPv]) => ({
    ...battery,
    asset: { ...battery.asset, assetId: 'hybrid-1', pv: { ratedPowerW } },
    readingKind: 'hybrid-inverter',
    native: asPv ? { kind: 'pv-limit', maxPowerW } : battery.native,
  }));

/** A complete single-asset arbitration input: limits, state, request and time. */
export function arbitrationInputArb(
  { healthyWeight }: Faults = { healthyWeight: 150 },
): fc.Arbitrary<ArbitrationInput> {
  const assetArb = fc.oneof(
    { weight: 3, arbitrary: batteryPartArb },
    { weight: 2, arbitrary: evPartArb },
    { weight: 1, arbitrary: pvPartArb },
    { weight: 1, arbitrary: hybridPartArb },
  );
  return fc
    .tuple(
      assetArb,
      gridLimitsArb,
      readingShapeArb(healthyWeight),
      gridValuesArb,
      readingShapeArb(healthyWeight),
      pendingArb,
      maybe(fc.tuple(int(-15_000, 15_000), orWild(int(0, 4_000), 20)), 6),
      driverArb(healthyWeight),
      // A quarter of the inputs: the asset's power as the (older) grid reading shows it, when the reading is newer.
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: orWild(int(-15_000, 15_000)) },
      ),
      // request pick (0 none, 1 safe, 2 foreign kind, else native), e-stop pick, grid-down pick, clock offset
      int(0, 23),
      int(0, healthyWeight > 10 ? 40 : 3),
      int(0, 9),
      int(0, 1_000),
    )
    .map(
      ([
        part,
        gridLimits,
        assetShape,
        gridValues,
        gridShape,
        pending,
        last,
        driver,
        powerAtGridW,
        requestPick,
        estopPick,
        gridDownPick,
        nowOffsetMs,
      ]): ArbitrationInput => {
        const nowMs = NOW_MS + nowOffsetMs;
        const reading =
          assetShape === undefined
            ? undefined
            : toReading(part.asset.assetId, part.readingKind, assetShape, part.values);
        return {
          asset: part.asset,
          requested:
            requestPick === 0
              ? undefined
              : requestPick === 1
                ? { kind: 'safe' }
                : requestPick === 2
                  ? part.foreign
                  : part.native,
          reading,
          ...(reading === undefined || powerAtGridW === undefined
            ? {}
            : {
                readingAtGrid: {
                  ...reading,
                  atMs: reading.atMs - 500,
                  values: { ...reading.values, powerW: powerAtGridW, currentL1A: undefined },
                },
              }),
          grid: {
            limits: gridLimits,
            reading: gridShape === undefined ? undefined : toReading('grid', 'grid-meter', gridShape, gridValues),
            pending,
          },
          // A third of the inputs with a last setpoint carry a ramp start instead (after a failed write, as the arbiter
          // gives it: the last setpoint unknown), a third carry both (a caller's start may only tighten).
          // An EV's last setpoint is a current (0–30 A, on tenths), so the hold below a limit is exercised.
          ...(last === undefined || nowOffsetMs % 3 === 1
            ? {}
            : {
                lastApplied: {
                  setpoint:
                    part.native.kind === 'ev-current'
                      ? { kind: 'ev-current', currentA: Math.round(Math.abs(last[0]) / 50) / 10 }
                      : { kind: 'battery-power', powerW: last[0] },
                  atMs: nowMs - last[1],
                },
              }),
          ...(last !== undefined && nowOffsetMs % 3 !== 2
            ? { rampFrom: { setpoint: { kind: 'battery-power', powerW: Math.trunc(last[0] / 2) }, atMs: nowMs } }
            : {}),
          estop: estopPick === 0 ? ENGAGED : RELEASED,
          driver,
          gridDown: gridDownPick === 0,
          nowMs,
        };
      },
    );
}

/** Site battery limits as `assets.json` would hold them (finite, defaults applied). */
export const siteBatteryLimitsArb: fc.Arbitrary<SiteBatteryLimits> = fc
  .record({
    capacityWh: int(1_000, 100_000),
    maxChargePowerW: int(0, 20_000),
    maxDischargePowerW: int(0, 20_000),
    maxChargeCurrentA: maybe(int(0, 300)),
    maxDischargeCurrentA: maybe(int(0, 300)),
    minSocPct: int(0, 50),
    maxSocPct: int(51, 100),
    reserveSocPct: int(0, 50),
    chargeTemperatureC: maybe(window([-20, 20], [-10, 60]).map(([a, b]) => [a, b] as [number, number])),
    dischargeTemperatureC: maybe(window([-30, 10], [-10, 80]).map(([a, b]) => [a, b] as [number, number])),
    maxRampWPerS: maybe(int(0, 10_000)),
  })
  .map(defined);

const wildLimit = (min: number, max: number) => maybe(orWild(int(min, max), 6), 3);

/** Catalogue entries, including broken ones (NaN, ±Infinity, negative). */
export const catalogueLimitsArb: fc.Arbitrary<CatalogueLimits | undefined> = maybe(
  fc
    .record({
      maxChargePowerW: wildLimit(0, 20_000),
      maxDischargePowerW: wildLimit(0, 20_000),
      maxChargeCurrentA: wildLimit(0, 300),
      maxDischargeCurrentA: wildLimit(0, 300),
      minSocPct: wildLimit(0, 50),
      maxSocPct: wildLimit(50, 100),
      chargeTemperatureC: maybe(fc.tuple(orWild(int(-20, 20)), orWild(int(20, 60))), 3),
      dischargeTemperatureC: maybe(fc.tuple(orWild(int(-30, 10)), orWild(int(30, 80))), 3),
      maxRampWPerS: wildLimit(0, 10_000),
    })
    .map(defined),
  8,
);
