import { RegisterBank, type RegisterTable, type SimulatedDevice } from './register-bank';
import { float32Words, illegalAddress } from './words';

// Eastron SDM630, written from ../shared/reference/devices/eastron-sdm630.md (NOT from libs/devices): input
// registers (FC 04), every quantity an IEEE-754 float32 in two registers, high word first, wire addresses.

/** Names of the quantities the simulated SDM630 serves. */
// prettier-ignore
export type Sdm630Quantity =
  | 'voltageL1V' | 'voltageL2V' | 'voltageL3V'
  | 'currentL1A' | 'currentL2A' | 'currentL3A'
  | 'powerL1W' | 'powerL2W' | 'powerL3W'
  | 'apparentPowerL1Va' | 'apparentPowerL2Va' | 'apparentPowerL3Va'
  | 'reactivePowerL1Var' | 'reactivePowerL2Var' | 'reactivePowerL3Var'
  | 'powerFactorL1' | 'powerFactorL2' | 'powerFactorL3'
  | 'totalPowerW' | 'totalApparentPowerVa' | 'totalReactivePowerVar' | 'totalPowerFactor' | 'phaseAngleDeg'
  | 'frequencyHz'
  | 'importKwh' | 'exportKwh' | 'importKvarh' | 'exportKvarh'
  | 'voltageThdL1Pct' | 'voltageThdL2Pct' | 'voltageThdL3Pct' | 'voltageThdAvgPct'
  | 'totalKwh' | 'totalKvarh'
  | 'importL1Kwh' | 'importL2Kwh' | 'importL3Kwh'
  | 'exportL1Kwh' | 'exportL2Kwh' | 'exportL3Kwh'
  | 'totalL1Kwh' | 'totalL2Kwh' | 'totalL3Kwh'
  | 'importL1Kvarh' | 'importL2Kvarh' | 'importL3Kvarh'
  | 'exportL1Kvarh' | 'exportL2Kvarh' | 'exportL3Kvarh'
  | 'totalL1Kvarh' | 'totalL2Kvarh' | 'totalL3Kvarh';

/** The reference's input-register table: wire address of each float32 (manual number = 30001 + address). */
// prettier-ignore
export const SDM630_INPUT_REGISTERS: Readonly<Record<Sdm630Quantity, number>> = {
  voltageL1V: 0x0000, voltageL2V: 0x0002, voltageL3V: 0x0004,
  currentL1A: 0x0006, currentL2A: 0x0008, currentL3A: 0x000a,
  powerL1W: 0x000c, powerL2W: 0x000e, powerL3W: 0x0010,
  apparentPowerL1Va: 0x0012, apparentPowerL2Va: 0x0014, apparentPowerL3Va: 0x0016,
  reactivePowerL1Var: 0x0018, reactivePowerL2Var: 0x001a, reactivePowerL3Var: 0x001c,
  powerFactorL1: 0x001e, powerFactorL2: 0x0020, powerFactorL3: 0x0022,
  totalPowerW: 0x0034, totalApparentPowerVa: 0x0038, totalReactivePowerVar: 0x003c, totalPowerFactor: 0x003e,
  phaseAngleDeg: 0x0042,
  frequencyHz: 0x0046,
  importKwh: 0x0048, exportKwh: 0x004a, importKvarh: 0x004c, exportKvarh: 0x004e,
  voltageThdL1Pct: 0x00ea, voltageThdL2Pct: 0x00ec, voltageThdL3Pct: 0x00ee, voltageThdAvgPct: 0x00f8,
  totalKwh: 0x0156, totalKvarh: 0x0158,
  importL1Kwh: 0x015a, importL2Kwh: 0x015c, importL3Kwh: 0x015e,
  exportL1Kwh: 0x0160, exportL2Kwh: 0x0162, exportL3Kwh: 0x0164,
  totalL1Kwh: 0x0166, totalL2Kwh: 0x0168, totalL3Kwh: 0x016a,
  importL1Kvarh: 0x016c, importL2Kvarh: 0x016e, importL3Kvarh: 0x0170,
  exportL1Kvarh: 0x0172, exportL2Kvarh: 0x0174, exportL3Kvarh: 0x0176,
  totalL1Kvarh: 0x0178, totalL2Kvarh: 0x017a, totalL3Kvarh: 0x017c,
};

/** The input registers the meter answers: 0x0000 … 0x017D. Gaps inside read as 0x0000; outside is exception 02. */
const INPUT_WINDOW = { table: 'input', start: 0x0000, length: 0x017e } as const;

/** Electrical state of the metering point, as the simulator computes it. Power + = import (grid side). */
export interface MeterState {
  /** Net active power, W: + = import through the meter, − = export. */
  readonly powerW: number;
  /** 1 or 3: a single-phase site has everything on L1. */
  readonly phases: 1 | 3;
  /** Phase-to-neutral voltage of L1, L2, L3, V. */
  readonly voltagesV: readonly [number, number, number];
  readonly frequencyHz: number;
  /** Active energy imported so far, kWh (monotonic). */
  readonly importKwh: number;
  /** Active energy exported so far, kWh (monotonic). */
  readonly exportKwh: number;
}

/**
 * Every quantity of the table for a meter state. Power is split evenly over the used phases; the simulated
 * load is purely resistive (power factor 1, no reactive power), so apparent power is |P| and current |P| / V.
 */
export function sdm630Quantities(state: MeterState): Record<Sdm630Quantity, number> {
  const phaseOn = [true, state.phases === 3, state.phases === 3];
  const perPhaseW = state.powerW / state.phases;
  const v = state.voltagesV.map((volts, i) => (phaseOn[i] ? volts : 0));
  const p = phaseOn.map((on) => (on ? perPhaseW : 0));
  const a = p.map((watts, i) => ((v[i] ?? 0) > 0 ? Math.abs(watts) / (v[i] ?? 1) : 0));
  const pf = phaseOn.map((on) => (on ? 1 : 0));
  const perPhaseImport = state.importKwh / state.phases;
  const perPhaseExport = state.exportKwh / state.phases;
  const imp = phaseOn.map((on) => (on ? perPhaseImport : 0));
  const exp = phaseOn.map((on) => (on ? perPhaseExport : 0));
  const at = (values: readonly number[], i: number) => values[i] ?? 0;
  // prettier-ignore
  return {
    voltageL1V: at(v, 0), voltageL2V: at(v, 1), voltageL3V: at(v, 2),
    currentL1A: at(a, 0), currentL2A: at(a, 1), currentL3A: at(a, 2),
    powerL1W: at(p, 0), powerL2W: at(p, 1), powerL3W: at(p, 2),
    apparentPowerL1Va: Math.abs(at(p, 0)), apparentPowerL2Va: Math.abs(at(p, 1)), apparentPowerL3Va: Math.abs(at(p, 2)),
    reactivePowerL1Var: 0, reactivePowerL2Var: 0, reactivePowerL3Var: 0,
    powerFactorL1: at(pf, 0), powerFactorL2: at(pf, 1), powerFactorL3: at(pf, 2),
    totalPowerW: state.powerW,
    totalApparentPowerVa: Math.abs(state.powerW),
    totalReactivePowerVar: 0,
    totalPowerFactor: 1,
    phaseAngleDeg: 0,
    frequencyHz: state.frequencyHz,
    importKwh: state.importKwh, exportKwh: state.exportKwh, importKvarh: 0, exportKvarh: 0,
    voltageThdL1Pct: phaseOn[0] ? 2.1 : 0, voltageThdL2Pct: phaseOn[1] ? 2.3 : 0, voltageThdL3Pct: phaseOn[2] ? 2.2 : 0,
    voltageThdAvgPct: state.phases === 3 ? 2.2 : 2.1,
    totalKwh: state.importKwh + state.exportKwh, totalKvarh: 0,
    importL1Kwh: at(imp, 0), importL2Kwh: at(imp, 1), importL3Kwh: at(imp, 2),
    exportL1Kwh: at(exp, 0), exportL2Kwh: at(exp, 1), exportL3Kwh: at(exp, 2),
    totalL1Kwh: at(imp, 0) + at(exp, 0), totalL2Kwh: at(imp, 1) + at(exp, 1), totalL3Kwh: at(imp, 2) + at(exp, 2),
    importL1Kvarh: 0, importL2Kvarh: 0, importL3Kvarh: 0,
    exportL1Kvarh: 0, exportL2Kvarh: 0, exportL3Kvarh: 0,
    totalL1Kvarh: 0, totalL2Kvarh: 0, totalL3Kvarh: 0,
  };
}

/** A simulated SDM630: input registers from the latest {@link MeterState}; no holding registers, no writes. */
export class Sdm630 implements SimulatedDevice {
  readonly profileId = 'eastron.sdm630';
  private readonly bank = new RegisterBank([INPUT_WINDOW]);

  /** Rewrites the image from a meter state. */
  update(state: MeterState): void {
    this.setQuantities(sdm630Quantities(state));
  }

  /** Rewrites the listed quantities (tests use it to serve exact golden values). */
  setQuantities(values: Partial<Record<Sdm630Quantity, number>>): void {
    for (const [name, value] of Object.entries(values) as [Sdm630Quantity, number][]) {
      this.bank.set('input', SDM630_INPUT_REGISTERS[name], float32Words(value));
    }
  }

  read(table: RegisterTable, address: number, count: number): number[] {
    if (table !== 'input') throw illegalAddress('the simulated SDM630 serves no holding registers');
    return this.bank.read(table, address, count);
  }

  write(address: number, _words: readonly number[]): never {
    throw illegalAddress(`SDM630 register ${address} is read-only (settings are not simulated)`);
  }
}
