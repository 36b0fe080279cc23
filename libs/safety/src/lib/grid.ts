import type { AssetReading, SiteConfig } from '@voltimax/contracts';
import type { AssetSafetyLimits } from './limits';

/** The site's grid connection limits (`assets.json` → `grid`). */
export type GridLimits = SiteConfig['grid'];

/** A closed range of possible values, `lo ≤ hi`. */
export interface Range {
  readonly lo: number;
  readonly hi: number;
}

/** Possible current on one phase, A, + = import, − = export. */
export interface PhaseBand {
  readonly minA: number;
  readonly maxA: number;
}

/**
 * What the grid connection may be doing: the range of grid power (W, + = import, − = export) and, per phase,
 * the range of current (A, same sign). A range rather than a number because the sign of a phase current may be
 * unknown and because setpoints already written may or may not have taken effect yet. `phasesA[i]` is
 * undefined when the meter does not report phase i.
 */
export interface GridBand {
  readonly minW: number;
  readonly maxW: number;
  readonly phasesA: readonly (PhaseBand | undefined)[];
}

/**
 * Grid changes not yet visible in the meter reading (setpoints of other assets written but maybe not yet
 * reached, decisions taken earlier in the same tick), as ranges to add to a {@link GridBand}.
 * Missing phase entries add nothing.
 */
export interface GridDelta {
  readonly minW: number;
  readonly maxW: number;
  readonly phasesA?: readonly (PhaseBand | undefined)[];
}

/** No pending change. */
export const ZERO_GRID_DELTA: GridDelta = { minW: 0, maxW: 0 };

const PHASE_KEYS = [
  { powerW: 'powerL1W', voltageV: 'voltageL1V', currentA: 'currentL1A' },
  { powerW: 'powerL2W', voltageV: 'voltageL2V', currentA: 'currentL2A' },
  { powerW: 'powerL3W', voltageV: 'voltageL3V', currentA: 'currentL3A' },
] as const;

/** The value if it is a finite number, else undefined. */
export function finiteOrUndefined(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/**
 * The grid band from a grid-meter reading: total power from `powerW`; per phase the signed current from the
 * phase power and voltage (nominal voltage if the phase voltage is unknown), or the reported current magnitude
 * with the sign of the phase power, or — when only a magnitude is known — both signs. Undefined if the reading
 * has no finite total power.
 */
export function gridBandFromReading(reading: AssetReading, limits: GridLimits): GridBand | undefined {
  const powerW = finiteOrUndefined(reading.values.powerW);
  if (powerW === undefined) return undefined;
  const phasesA = PHASE_KEYS.slice(0, limits.phases).map((keys): PhaseBand | undefined => {
    const phasePowerW = finiteOrUndefined(reading.values[keys.powerW]);
    const magnitudeA = finiteOrUndefined(reading.values[keys.currentA]);
    const measuredV = finiteOrUndefined(reading.values[keys.voltageV]);
    const voltageV = measuredV !== undefined && measuredV > 0 ? measuredV : limits.nominalVoltageV;
    if (phasePowerW !== undefined && magnitudeA !== undefined && phasePowerW !== 0) {
      const signedA = Math.sign(phasePowerW) * Math.abs(magnitudeA);
      return { minA: signedA, maxA: signedA };
    }
    if (magnitudeA !== undefined) return { minA: -Math.abs(magnitudeA), maxA: Math.abs(magnitudeA) };
    if (phasePowerW !== undefined) {
      const signedA = phasePowerW / voltageV;
      return { minA: signedA, maxA: signedA };
    }
    return undefined;
  });
  return { minW: powerW, maxW: powerW, phasesA };
}

/** The band after adding pending changes. */
export function addGridDelta(band: GridBand, delta: GridDelta): GridBand {
  return {
    minW: band.minW + delta.minW,
    maxW: band.maxW + delta.maxW,
    phasesA: band.phasesA.map((phase, index) => {
      const add = delta.phasesA?.[index];
      return phase === undefined || add === undefined
        ? phase
        : { minA: phase.minA + add.minA, maxA: phase.maxA + add.maxA };
    }),
  };
}

/** The sum of two pending changes. */
export function sumGridDeltas(a: GridDelta, b: GridDelta): GridDelta {
  const length = Math.max(a.phasesA?.length ?? 0, b.phasesA?.length ?? 0);
  const phasesA = Array.from({ length }, (_, index): PhaseBand => {
    const pa = a.phasesA?.[index];
    const pb = b.phasesA?.[index];
    return { minA: (pa?.minA ?? 0) + (pb?.minA ?? 0), maxA: (pa?.maxA ?? 0) + (pb?.maxA ?? 0) };
  });
  return { minW: a.minW + b.minW, maxW: a.maxW + b.maxW, ...(length === 0 ? {} : { phasesA }) };
}

/** Either of two pending changes (one asset going to one setpoint or another): the range covering both. */
export function unionGridDeltas(a: GridDelta, b: GridDelta): GridDelta {
  const length = Math.max(a.phasesA?.length ?? 0, b.phasesA?.length ?? 0);
  const phasesA = Array.from({ length }, (_, index): PhaseBand | undefined => {
    const pa = a.phasesA?.[index];
    const pb = b.phasesA?.[index];
    if (pa === undefined || pb === undefined) return pa ?? pb;
    return { minA: Math.min(pa.minA, pb.minA), maxA: Math.max(pa.maxA, pb.maxA) };
  });
  return {
    minW: Math.min(a.minW, b.minW),
    maxW: Math.max(a.maxW, b.maxW),
    ...(length === 0 ? {} : { phasesA }),
  };
}

/**
 * How an asset's setpoint value `x` moves the grid away from what the meter shows now:
 * ΔP ∈ kW·x + cW (W, + = more import) and, on each phase in `phases`, ΔI ∈ kA·x + cA (A). The offsets are
 * ranges because the asset's present operating point may be known only within bounds.
 * `x` is in the setpoint's unit: W (battery, + = discharge) or A per phase (EV charger).
 */
export interface GridEffect {
  readonly kW: number;
  readonly cW: Range;
  readonly kA: number;
  readonly cA: Range;
  /** Indices of the grid phases the change may land on (all of them when the phase is not known). */
  readonly phases: readonly number[];
}

function allPhases(limits: GridLimits): number[] {
  return Array.from({ length: limits.phases }, (_, index) => index);
}

/** The smallest range holding both. */
function hull(a: Range, b: Range | undefined): Range {
  return b === undefined ? a : { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
}

/** Each finite value as a one-point range. */
function finitePoints(values: readonly number[]): Range[] {
  return values.filter(Number.isFinite).map((value) => ({ lo: value, hi: value }));
}

/** A battery's power now by one reading (W, + = discharge): measured, or anything within its limits if unknown. */
function batteryPowerRange(
  battery: NonNullable<AssetSafetyLimits['battery']>,
  reading: AssetReading | undefined,
): Range {
  const measuredW = finiteOrUndefined(reading?.values.powerW);
  return measuredW === undefined
    ? { lo: -battery.maxChargePowerW, hi: battery.maxDischargePowerW }
    : { lo: measuredW, hi: measuredW };
}

/**
 * The grid effect of a battery setpoint (W, + = discharge) at this asset, or undefined without battery limits.
 * The present battery power comes from the reading (`powerW`); if unknown it may be anything within the
 * battery's power limits. With `readingAtGrid` (the battery as the grid reading shows it, when `reading` is newer)
 * and `writtenW` (setpoints written that may be in force) it may be anywhere between all of them.
 */
export function batteryGridEffect(
  asset: AssetSafetyLimits,
  reading: AssetReading | undefined,
  limits: GridLimits,
  readingAtGrid?: AssetReading,
  writtenW: readonly number[] = [],
): GridEffect | undefined {
  const battery = asset.battery;
  if (battery === undefined) return undefined;
  const nowW = [
    readingAtGrid === undefined ? undefined : batteryPowerRange(battery, readingAtGrid),
    ...finitePoints(writtenW),
  ].reduce(hull, batteryPowerRange(battery, reading));
  const phases = Math.min(asset.batteryPhases ?? limits.phases, limits.phases);
  const perPhaseV = limits.nominalVoltageV * phases;
  // grid = load + ev − pv − battery: more discharge means less import.
  return {
    kW: -1,
    cW: nowW,
    kA: -1 / perPhaseV,
    cA: { lo: nowW.lo / perPhaseV, hi: nowW.hi / perPhaseV },
    phases: allPhases(limits),
  };
}

/** A charger's draw now by one reading: power (W) and largest phase current (A); if unknown, 0 to its maximum. */
function evDrawRanges(
  charger: NonNullable<AssetSafetyLimits['evCharger']>,
  reading: AssetReading | undefined,
  limits: GridLimits,
): { readonly nowW: Range; readonly nowA: Range } {
  const voltageV = limits.nominalVoltageV;
  const measuredPhases = Math.min(reading?.values.phases ?? charger.phases, limits.phases);
  const measuredW = finiteOrUndefined(reading?.values.powerW);
  const nowW: Range =
    measuredW === undefined
      ? { lo: 0, hi: charger.maxCurrentA * voltageV * measuredPhases }
      : { lo: measuredW, hi: measuredW };
  const phaseCurrents = [reading?.values.currentL1A, reading?.values.currentL2A, reading?.values.currentL3A]
    .map(finiteOrUndefined)
    .filter((value): value is number => value !== undefined)
    .map(Math.abs);
  const nowA: Range =
    phaseCurrents.length > 0
      ? { lo: Math.max(...phaseCurrents), hi: Math.max(...phaseCurrents) }
      : { lo: nowW.lo / (voltageV * measuredPhases), hi: nowW.hi / (voltageV * measuredPhases) };
  return { nowW, nowA };
}

/**
 * The grid effect of an EV current setpoint (A per phase on `phases` phases), or undefined without charger
 * limits. The present draw comes from the reading (largest phase current, else `powerW`); if unknown it may be
 * anything from 0 to the charger's maximum. With `readingAtGrid` (the charger as the grid reading shows it, when
 * `reading` is newer) and `writtenA` (currents written that may be in force) it may be anywhere between all of them.
 */
export function evGridEffect(
  asset: AssetSafetyLimits,
  reading: AssetReading | undefined,
  limits: GridLimits,
  phases: 1 | 3,
  readingAtGrid?: AssetReading,
  writtenA: readonly number[] = [],
): GridEffect | undefined {
  const charger = asset.evCharger;
  if (charger === undefined) return undefined;
  const usedPhases = Math.min(phases, limits.phases);
  const latest = evDrawRanges(charger, reading, limits);
  const atGrid = readingAtGrid === undefined ? undefined : evDrawRanges(charger, readingAtGrid, limits);
  // A written current on the charger's phases (a current it may be drawing, as far as the grid reading knows).
  const chargerV = limits.nominalVoltageV * Math.min(charger.phases, limits.phases);
  const writtenPoints = finitePoints(writtenA.map((a) => Math.max(0, a)));
  const nowW = [atGrid?.nowW, ...writtenPoints.map((r) => ({ lo: r.lo * chargerV, hi: r.hi * chargerV }))].reduce(
    hull,
    latest.nowW,
  );
  const nowA = [atGrid?.nowA, ...writtenPoints].reduce(hull, latest.nowA);
  return {
    kW: limits.nominalVoltageV * usedPhases,
    cW: { lo: -nowW.hi, hi: -nowW.lo },
    kA: 1,
    cA: { lo: -nowA.hi, hi: -nowA.lo },
    phases: allPhases(limits),
  };
}

/**
 * The pending change of moving to `x` as a {@link GridDelta}: it may or may not have happened yet, so the
 * ranges include 0.
 */
export function gridDeltaOf(effect: GridEffect, x: number, limits: GridLimits): GridDelta {
  const lowW = effect.kW * x + effect.cW.lo;
  const highW = effect.kW * x + effect.cW.hi;
  const lowA = effect.kA * x + effect.cA.lo;
  const highA = effect.kA * x + effect.cA.hi;
  const phase: PhaseBand = { minA: Math.min(0, lowA, highA), maxA: Math.max(0, lowA, highA) };
  const phasesA = allPhases(limits).map((index) => (effect.phases.includes(index) ? phase : undefined));
  return { minW: Math.min(0, lowW, highW), maxW: Math.max(0, lowW, highW), phasesA };
}
