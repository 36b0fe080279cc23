import type { AssetReading, Setpoint } from '@voltimax/contracts';
import type { ArbitrationResult } from '../lib/arbitrate';
import type { ArbitrationInput } from '../lib/context';
import { ensure, within } from './ensure';

// An independent restatement of the limits from DESIGN § Control path and the README, written from the
// physics (grid = load + ev − pv − battery) rather than by calling the implementation's helpers.

const DEFAULTS = { maxTelemetryAgeMs: 5_000, maxClockSkewMs: 2_000, missedHeartbeats: 3, maxRampIntervalMs: 1_500 };

const finite = (value: number | undefined): number | undefined =>
  value !== undefined && Number.isFinite(value) ? value : undefined;

/** The numeric value of a setpoint in its own unit; 0 for `safe`. */
export function valueOf(setpoint: Setpoint): number {
  return setpoint.kind === 'battery-power'
    ? setpoint.powerW
    : setpoint.kind === 'ev-current'
      ? setpoint.currentA
      : setpoint.kind === 'pv-limit'
        ? setpoint.maxPowerW
        : 0;
}

function readingUsable(reading: AssetReading | undefined, nowMs: number): boolean {
  if (reading === undefined || reading.quality !== 'good') return false;
  const ageMs = nowMs - reading.atMs;
  return ageMs <= DEFAULTS.maxTelemetryAgeMs && ageMs >= -DEFAULTS.maxClockSkewMs;
}

/** True if the input has a fault that must yield the safe setpoint (e-stop, lost driver, unusable telemetry). */
export function hasFault(input: ArbitrationInput): boolean {
  if (input.estop.engaged) return true;
  const driver = input.driver;
  if (driver === undefined || driver.status === 'error' || driver.status === 'stopping') return true;
  const silentMs = input.nowMs - driver.lastSeenAtMs;
  if (!(silentMs <= DEFAULTS.missedHeartbeats * driver.intervalMs && silentMs >= -DEFAULTS.maxClockSkewMs)) return true;
  if (!readingUsable(input.reading, input.nowMs) || input.reading?.assetId !== input.asset.assetId) return true;
  const kind = input.requested?.kind;
  if (kind === 'battery-power' || kind === 'ev-current') {
    if (!readingUsable(input.grid.reading, input.nowMs) || finite(input.grid.reading?.values.powerW) === undefined)
      return true;
  }
  return false;
}

/** True if the request itself is well formed and fits the asset. */
export function isValidRequest(input: ArbitrationInput): boolean {
  const r = input.requested;
  if (r === undefined) return false;
  switch (r.kind) {
    case 'battery-power':
      return Number.isFinite(r.powerW) && input.asset.battery !== undefined;
    case 'ev-current':
      return Number.isFinite(r.currentA) && r.currentA >= 0 && input.asset.evCharger !== undefined;
    case 'pv-limit':
      return Number.isFinite(r.maxPowerW) && r.maxPowerW >= 0 && input.asset.pv !== undefined;
    case 'safe':
      return true;
  }
}

/** (b) The output is a narrowing of the request: same kind, |out| ≤ |requested|, same sign or 0 — or the safe setpoint. */
export function ensureNarrowing(input: ArbitrationInput, result: ArbitrationResult): void {
  const out = result.setpoint;
  if (out.kind === 'safe') return;
  const requested = input.requested;
  ensure(
    requested !== undefined && requested.kind === out.kind,
    () => `kind ${out.kind} for request ${requested?.kind}`,
  );
  if (requested === undefined) return;
  const r = valueOf(requested);
  const y = valueOf(out);
  ensure(Number.isFinite(y), () => `non-finite output ${y}`);
  ensure(Math.abs(y) <= Math.abs(r), () => `|${y}| > |${r}|`);
  ensure(y === 0 || Math.sign(y) === Math.sign(r), () => `sign flipped: ${r} → ${y}`);
  if (out.kind === 'ev-current' && requested.kind === 'ev-current' && out.phases !== undefined) {
    ensure(
      requested.phases !== undefined && out.phases <= requested.phases,
      () => `phases ${requested.phases} → ${out.phases}`,
    );
  }
}

interface Band {
  lo: number;
  hi: number;
}

/** Per-phase grid current bands as documented: phase power / nominal voltage, else ± the current magnitude. */
function gridPhaseBands(input: ArbitrationInput): (Band | undefined)[] {
  const limits = input.grid.limits;
  const values = input.grid.reading?.values ?? {};
  const powers = [values.powerL1W, values.powerL2W, values.powerL3W].map(finite);
  const currents = [values.currentL1A, values.currentL2A, values.currentL3A].map(finite);
  const voltages = [values.voltageL1V, values.voltageL2V, values.voltageL3V].map(finite);
  const pending = input.grid.pending?.phasesA;
  return Array.from({ length: limits.phases }, (_, i) => {
    const p = powers[i];
    const c = currents[i];
    const v = voltages[i];
    let band: Band | undefined;
    if (p !== undefined && c !== undefined && p !== 0)
      band = { lo: Math.sign(p) * Math.abs(c), hi: Math.sign(p) * Math.abs(c) };
    else if (c !== undefined) band = { lo: -Math.abs(c), hi: Math.abs(c) };
    else if (p !== undefined)
      band = {
        lo: p / (v !== undefined && v > 0 ? v : limits.nominalVoltageV),
        hi: p / (v !== undefined && v > 0 ? v : limits.nominalVoltageV),
      };
    const add = pending?.[i];
    return band === undefined ? undefined : { lo: band.lo + (add?.minA ?? 0), hi: band.hi + (add?.maxA ?? 0) };
  });
}

/** A change of ΔP ∈ [dLo, dHi] W and ΔI ∈ [aLo, aHi] A on any phase. */
interface Change {
  readonly dLo: number;
  readonly dHi: number;
  readonly aLo: number;
  readonly aHi: number;
}

/**
 * The worst-case grid after a change, against each limit, as [what, value, cap]: import and export, then per
 * phase; the cap is the limit, or where the grid is now when already beyond it ("no further increase").
 */
function gridChecks(input: ArbitrationInput, change: Change): [string, number, number][] {
  const grid = input.grid.limits;
  const gridW = finite(input.grid.reading?.values.powerW) ?? Number.NaN;
  const gridMaxW = gridW + (input.grid.pending?.maxW ?? 0);
  const gridMinW = gridW + (input.grid.pending?.minW ?? 0);
  const importW = gridMaxW + change.dHi;
  const exportW = -(gridMinW + change.dLo);
  const out: [string, number, number][] = [
    [`import ${importW} W > ${grid.maxImportW} W (was ${gridMaxW})`, importW, Math.max(grid.maxImportW, gridMaxW)],
    [`export ${exportW} W > ${grid.maxExportW} W`, exportW, Math.max(grid.maxExportW, -gridMinW)],
  ];
  const maxA = grid.maxPhaseCurrentA;
  if (maxA === undefined) return out;
  gridPhaseBands(input).forEach((band, i) => {
    if (band === undefined) return;
    const importA = band.hi + change.aHi;
    const exportA = -(band.lo + change.aLo);
    out.push([`L${i + 1} import ${importA} A > ${maxA} A`, importA, Math.max(maxA, band.hi)]);
    out.push([`L${i + 1} export ${exportA} A > ${maxA} A`, exportA, Math.max(maxA, -band.lo)]);
  });
  return out;
}

/** The last applied setpoint while the reading may not show it: written after it, or under 2 s before it. */
function lastWrittenUnseen(input: ArbitrationInput): Setpoint[] {
  const last = input.lastApplied;
  if (last === undefined) return [];
  const readAtMs = input.reading?.atMs;
  return readAtMs === undefined || last.atMs > readAtMs - 2_000 ? [last.setpoint] : [];
}

/**
 * (a) The output lies within every limit (the safe value 0 is always admissible):
 * power, SoC window, backup reserve, DC current, temperature windows, grid import/export and phase current
 * (worst case, "no further increase" when already beyond), EV current 0 or in [min, max], PV in [0, rated], ramp.
 */
export function ensureWithinLimits(input: ArbitrationInput, result: ArbitrationResult): void {
  const out = result.setpoint;
  if (result.outcome === 'safe' || result.outcome === 'rejected') {
    ensure(out.kind === 'safe', () => `${result.outcome} with ${out.kind}`);
    return;
  }
  ensure(!hasFault(input), () => `outcome ${result.outcome} despite a fault`);
  ensure(isValidRequest(input), () => `outcome ${result.outcome} for an invalid request`);
  const y = valueOf(out);
  ensure(Number.isFinite(y), () => `non-finite output ${y}`);
  const values = input.reading?.values ?? {};
  const grid = input.grid.limits;

  /**
   * The worst-case grid after the output's change, against the same had the value been 0 (`zero`): every limit
   * the output goes beyond, 0 goes beyond at least as far (the output then lies between 0 and a limit that only a
   * larger value could keep; 0 may always be written).
   */
  const ensureGrid = (change: Change, zero: Change) => {
    if (y === 0) return;
    // Keeping (or moving towards 0 from) a last write not older than the asset's reading and older than the grid
    // reading adds nothing: the meter may already show it (a reading stamped the same ms as the write cannot).
    const last = input.lastApplied;
    const readAtMs = (input.readingAtGrid ?? input.reading)?.atMs;
    const gridAtMs = input.grid.reading?.atMs;
    if (
      last !== undefined &&
      last.setpoint.kind === out.kind &&
      readAtMs !== undefined &&
      gridAtMs !== undefined &&
      readAtMs <= last.atMs &&
      last.atMs < gridAtMs
    ) {
      const keptValue = valueOf(last.setpoint);
      if (Math.sign(y) === Math.sign(keptValue) && Math.abs(y) <= Math.abs(keptValue) + 1e-9) return;
    }
    const atZero = gridChecks(input, zero);
    gridChecks(input, change).forEach(([what, value, cap], i) => {
      const [, zeroValue, zeroCap] = atZero[i] ?? [what, Number.NEGATIVE_INFINITY, 0];
      ensure(
        within(value, cap) || within(value - cap, zeroValue - zeroCap),
        () => `${what} (at 0: ${zeroValue - zeroCap} beyond)`,
      );
    });
  };

  if (out.kind === 'battery-power') {
    const battery = input.asset.battery;
    ensure(battery !== undefined, () => 'battery setpoint without battery limits');
    if (battery === undefined) return;
    const live = (v: number | undefined) =>
      v === undefined ? Number.POSITIVE_INFINITY : Number.isFinite(v) && v > 0 ? v : 0;
    ensure(
      within(-y, Math.min(battery.maxChargePowerW, live(values.maxChargePowerW))),
      () => `charge ${-y} W beyond the limit`,
    );
    ensure(
      within(y, Math.min(battery.maxDischargePowerW, live(values.maxDischargePowerW))),
      () => `discharge ${y} W beyond the limit`,
    );
    const soc = finite(values.socPct);
    if (soc === undefined) ensure(y === 0, () => `SoC unknown but ${y} W`);
    else {
      ensure(!(soc <= battery.minSocPct) || y <= 0, () => `discharge ${y} W at SoC ${soc} ≤ min ${battery.minSocPct}`);
      ensure(!(soc >= battery.maxSocPct) || y >= 0, () => `charge ${y} W at SoC ${soc} ≥ max ${battery.maxSocPct}`);
      ensure(
        input.gridDown === true || !(soc <= battery.reserveSocPct) || y <= 0,
        () => `discharge ${y} W at SoC ${soc} ≤ reserve ${battery.reserveSocPct}`,
      );
    }
    const voltageV = finite(values.batteryVoltageV);
    if (voltageV !== undefined && voltageV > 0) {
      if (battery.maxChargeCurrentA !== undefined)
        ensure(within(-y, battery.maxChargeCurrentA * voltageV), () => `charge current ${-y / voltageV} A`);
      if (battery.maxDischargeCurrentA !== undefined)
        ensure(within(y, battery.maxDischargeCurrentA * voltageV), () => `discharge current ${y / voltageV} A`);
    }
    const temperature = finite(values.temperatureC);
    const inside = (w: readonly [number, number]) =>
      temperature !== undefined && temperature >= w[0] && temperature <= w[1];
    if (battery.chargeTemperatureC !== undefined && !inside(battery.chargeTemperatureC))
      ensure(y >= 0, () => `charge at ${temperature} °C`);
    if (battery.dischargeTemperatureC !== undefined && !inside(battery.dischargeTemperatureC))
      ensure(y <= 0, () => `discharge at ${temperature} °C`);
    // Battery power now: measured, or anything within its limits. grid = … − battery.
    // With a reading from the grid reading's time as well: anywhere between the two.
    const powerOf = (v: AssetReading['values']) => {
      const measured = finite(v.powerW);
      return [measured ?? -battery.maxChargePowerW, measured ?? battery.maxDischargePowerW] as const;
    };
    const [nowLo, nowHi] = powerOf(values);
    const [atGridLo, atGridHi] =
      input.readingAtGrid === undefined ? [nowLo, nowHi] : powerOf(input.readingAtGrid.values);
    // And any setpoint written that may be in force.
    const writtenW = [...lastWrittenUnseen(input), ...(input.mayStillLand ?? [])].flatMap((w) =>
      w?.kind === 'battery-power' && Number.isFinite(w.powerW) ? [w.powerW] : [],
    );
    const pLo = Math.min(nowLo, atGridLo, ...writtenW);
    const pHi = Math.max(nowHi, atGridHi, ...writtenW);
    const n = Math.min(input.asset.batteryPhases ?? grid.phases, grid.phases);
    const perPhase = grid.nominalVoltageV * n;
    const battery0 = (v: number): Change => ({
      dLo: pLo - v,
      dHi: pHi - v,
      aLo: (pLo - v) / perPhase,
      aHi: (pHi - v) / perPhase,
    });
    ensureGrid(battery0(y), battery0(0));
    const rate = battery.maxRampWPerS;
    if (rate !== undefined) {
      // From the last applied setpoint (none: 0 W now); a ramp start replaces a missing one and tightens one there.
      const starts =
        input.rampFrom === undefined
          ? [input.lastApplied]
          : input.lastApplied === undefined
            ? [input.rampFrom]
            : [input.lastApplied, input.rampFrom];
      for (const last of starts) {
        const lastW =
          last?.setpoint.kind === 'battery-power' && Number.isFinite(last.setpoint.powerW) ? last.setpoint.powerW : 0;
        // Time since the last setpoint, credited up to maxRampIntervalMs (a held setpoint earns no long step).
        const maxIntervalMs = input.options?.maxRampIntervalMs ?? DEFAULTS.maxRampIntervalMs;
        const elapsed = last === undefined ? 0 : Math.min(input.nowMs - last.atMs, maxIntervalMs);
        // A battery that may not ramp at all (0 W/s) steps 0 W however long ago the last write was (0 · ∞ is NaN).
        const stepW = rate === 0 ? 0 : (rate * (elapsed > 0 ? elapsed : 0)) / 1000;
        ensure(
          within(y, Math.max(0, lastW + stepW)) && within(-y, Math.max(0, -(lastW - stepW))),
          () => `ramp: ${lastW} → ${y} W, step ${stepW} W`,
        );
      }
    }
    return;
  }

  if (out.kind === 'ev-current') {
    const charger = input.asset.evCharger;
    ensure(charger !== undefined, () => 'EV setpoint without charger limits');
    if (charger === undefined) return;
    ensure(
      y === 0 || (y >= charger.minCurrentA && y <= charger.maxCurrentA),
      () => `EV ${y} A outside 0 ∪ [${charger.minCurrentA}, ${charger.maxCurrentA}]`,
    );
    const usedPhases = Math.min(out.phases ?? charger.phases, charger.phases);
    ensure(usedPhases <= charger.phases, () => `EV phases ${out.phases}`);
    const n = Math.min(usedPhases, grid.phases);
    // Power (W) and largest phase current (A) by one reading: [lo, hi] each; with a reading from the grid reading's
    // time as well, anywhere between the two.
    const drawOf = (v: AssetReading['values']) => {
      const measuredPhases = Math.min(v.phases ?? charger.phases, grid.phases);
      const measured = finite(v.powerW);
      const wLo = measured ?? 0;
      const wHi = measured ?? charger.maxCurrentA * grid.nominalVoltageV * measuredPhases;
      const currents = [v.currentL1A, v.currentL2A, v.currentL3A]
        .map(finite)
        .filter((c): c is number => c !== undefined);
      const peak = currents.length > 0 ? Math.max(...currents.map(Math.abs)) : undefined;
      const perA = grid.nominalVoltageV * measuredPhases;
      return { wLo, wHi, aLo: peak ?? wLo / perA, aHi: peak ?? wHi / perA };
    };
    const now = drawOf(values);
    const atGrid = input.readingAtGrid === undefined ? now : drawOf(input.readingAtGrid.values);
    // And any current written that may be in force, on the charger's phases.
    const writtenA = [...lastWrittenUnseen(input), ...(input.mayStillLand ?? [])].flatMap((w) =>
      w?.kind === 'ev-current' && Number.isFinite(w.currentA) ? [Math.max(0, w.currentA)] : [],
    );
    const chargerV = grid.nominalVoltageV * Math.min(charger.phases, grid.phases);
    const pLo = Math.min(now.wLo, atGrid.wLo, ...writtenA.map((a) => a * chargerV));
    const pHi = Math.max(now.wHi, atGrid.wHi, ...writtenA.map((a) => a * chargerV));
    const iLo = Math.min(now.aLo, atGrid.aLo, ...writtenA);
    const iHi = Math.max(now.aHi, atGrid.aHi, ...writtenA);
    const ev = (a: number): Change => {
      const addW = a * grid.nominalVoltageV * n;
      return { dLo: addW - pHi, dHi: addW - pLo, aLo: a - iHi, aHi: a - iLo };
    };
    ensureGrid(ev(y), ev(0));
    return;
  }

  if (out.kind === 'pv-limit') {
    const pv = input.asset.pv;
    ensure(pv !== undefined && y >= 0 && y <= pv.ratedPowerW, () => `PV limit ${y} W outside [0, ${pv?.ratedPowerW}]`);
  }
}
