import {
  applyWrite,
  RegisterBank,
  type RegisterTable,
  type SimulatedDevice,
  type WritablePoint,
} from './register-bank';
import { s16Word, u16Word, u32Words } from './words';

// Growatt inverters, written from ../shared/reference/devices/growatt-inverter.md (NOT from libs/devices). The SPH /
// SPA storage hybrid: FC 04 input registers 0–124 (PV/grid) and 1000–1124 (storage), FC 03/06/16 holding registers
// 0–124 and 1000–1124 (control). The PV string inverters (MIC / MIN TL-X / MOD TL3-X) answer the first range of each
// only: input 0–124, holding 0–124. Big-endian, 32-bit values high word first. Power 0.1 W, voltage 0.1 V,
// current 0.1 A, energy 0.1 kWh, frequency 0.01 Hz, temperature 0.1 °C, SoC 1 %.

/** Input registers the simulator fills (wire addresses, the reference's table). */
// prettier-ignore
export const GROWATT_INPUT = {
  status: 0, pvPower: 1, pv1Voltage: 3, pv1Current: 4, pv1Power: 5, pv2Voltage: 7, pv2Current: 8, pv2Power: 9,
  acPower: 35, gridFrequency: 37,
  l1Voltage: 38, l1Current: 39, l1Power: 40, l2Voltage: 42, l2Current: 43, l2Power: 44,
  l3Voltage: 46, l3Current: 47, l3Power: 48,
  acEnergyToday: 53, acEnergyTotal: 55, operatingTime: 57,
  pv1EnergyToday: 59, pv1EnergyTotal: 61, pv2EnergyToday: 63, pv2EnergyTotal: 65, pvEnergyTotal: 91,
  inverterTemperature: 93, ipmTemperature: 94, boostTemperature: 95, faultMain: 105, faultSub: 107,
  workMode: 1000, batteryDischargePower: 1009, batteryChargePower: 1011, batteryVoltage: 1013, batterySoc: 1014,
  importL1: 1015, importL2: 1017, importL3: 1019, importTotal: 1021,
  exportL1: 1023, exportL2: 1025, exportL3: 1027, exportTotal: 1029,
  loadL1: 1031, loadL2: 1033, loadL3: 1035, loadTotal: 1037, batteryTemperature: 1040,
  importEnergyToday: 1044, importEnergyTotal: 1046, exportEnergyToday: 1048, exportEnergyTotal: 1050,
  dischargeEnergyToday: 1052, dischargeEnergyTotal: 1054, chargeEnergyToday: 1056, chargeEnergyTotal: 1058,
  loadEnergyToday: 1060, loadEnergyTotal: 1062,
} as const;

/** Holding registers a client may write, with the values the inverter accepts. */
const END_OF_DAY = 23 * 256 + 59; // 23:59 as hours × 256 + minutes = 0x173B
const slot = (name: string, address: number): WritablePoint[] => [
  { name: `${name}Start`, address, type: 'u16', min: 0, max: END_OF_DAY },
  { name: `${name}End`, address: address + 1, type: 'u16', min: 0, max: END_OF_DAY },
  { name: `${name}Enable`, address: address + 2, type: 'u16', min: 0, max: 1 },
];
// prettier-ignore
export const GROWATT_HOLDING: readonly WritablePoint[] = [
  { name: 'onOff', address: 0, type: 'u16', min: 0, max: 1 },
  { name: 'activePowerLimitPct', address: 3, type: 'u16', min: 0, max: 100 },
  { name: 'priority', address: 1044, type: 'u16', min: 0, max: 2 },
  { name: 'gridFirstDischargeRatePct', address: 1070, type: 'u16', min: 0, max: 100 },
  { name: 'gridFirstStopSocPct', address: 1071, type: 'u16', min: 0, max: 100 },
  ...slot('gridFirstSlot1', 1080), ...slot('gridFirstSlot2', 1083), ...slot('gridFirstSlot3', 1086),
  { name: 'batteryFirstChargeRatePct', address: 1090, type: 'u16', min: 0, max: 100 },
  { name: 'batteryFirstStopSocPct', address: 1091, type: 'u16', min: 0, max: 100 },
  { name: 'acChargeEnable', address: 1092, type: 'u16', min: 0, max: 1 },
  ...slot('batteryFirstSlot1', 1100), ...slot('batteryFirstSlot2', 1103), ...slot('batteryFirstSlot3', 1106),
  ...slot('loadFirstSlot1', 1110), ...slot('loadFirstSlot2', 1113), ...slot('loadFirstSlot3', 1116),
];

/** Energy counters of the inverter, Wh (monotonic), total and since local midnight. */
export interface GrowattEnergies {
  readonly pvWh: number;
  readonly acOutWh: number;
  readonly gridImportWh: number;
  readonly gridExportWh: number;
  readonly batteryDischargeWh: number;
  readonly batteryChargeWh: number;
  readonly loadWh: number;
}

/** What the inverter measures after a step. Signs: battery + = discharge; grid + = import. */
export interface GrowattState {
  readonly pvW: number;
  readonly batteryPowerW: number;
  /** Battery SoC, %; 0 when no battery is connected to this inverter. */
  readonly socPct: number;
  readonly hasBattery: boolean;
  readonly gridPowerW: number;
  readonly loadW: number;
  readonly frequencyHz: number;
  readonly phases: 1 | 3;
  readonly voltagesV: readonly [number, number, number];
  readonly total: GrowattEnergies;
  readonly today: GrowattEnergies;
  /** Seconds the inverter has been running. */
  readonly operatingS: number;
}

/** How the inverter runs its battery, from the control registers (evcc's recipe for this family). */
export type GrowattBatteryMode =
  | { readonly kind: 'off' }
  /** Normal operation: the battery covers the house load and stores PV surplus. */
  | { readonly kind: 'load-first' }
  /** Battery first without AC charging: PV surplus charges, the battery does not discharge. */
  | { readonly kind: 'hold' }
  /** Battery first with AC charging: charge at `ratePct` % of the rated charge power, up to `stopSocPct`. */
  | { readonly kind: 'force-charge'; readonly ratePct: number; readonly stopSocPct: number };

/**
 * The battery power the inverter aims at in a mode, W (+ = discharge); the battery model applies its limits. Its own
 * modes run up to its rating and the charge rate is a % of it: `ratedPowerW` (the site config's battery.ratedPowerW)
 * when given, else the battery's power limits.
 */
export function growattBatteryRequestW(
  mode: GrowattBatteryMode,
  site: { readonly loadW: number; readonly pvW: number; readonly socPct: number },
  ratings: { readonly maxChargePowerW: number; readonly maxDischargePowerW: number; readonly ratedPowerW?: number },
): number {
  const netLoadW = site.loadW - site.pvW;
  const chargeW = ratings.ratedPowerW ?? ratings.maxChargePowerW;
  const dischargeW = ratings.ratedPowerW ?? ratings.maxDischargePowerW;
  switch (mode.kind) {
    case 'off':
      return 0;
    case 'load-first':
      return Math.max(-chargeW, Math.min(dischargeW, netLoadW));
    case 'hold':
      return Math.max(-chargeW, Math.min(0, netLoadW));
    case 'force-charge':
      return site.socPct >= mode.stopSocPct ? 0 : -(mode.ratePct / 100) * chargeW;
  }
}

const tenths = (value: number): number => value * 10;
const energyWords = (wh: number): [number, number] => u32Words(wh / 100); // 0.1 kWh = 100 Wh

/** Which register ranges a Growatt family answers: the storage hybrid both, a PV string inverter the first only. */
export type GrowattFamily = 'sph' | 'pv';

/** Registers 1000–1124 (storage) exist on the hybrid only. */
const STORAGE_RANGE_START = 1000;
const inFamily = (family: GrowattFamily, address: number): boolean => family === 'sph' || address < STORAGE_RANGE_START;

/**
 * A simulated Growatt inverter: input registers from the latest state; control holding registers writable. The
 * `pv` family (served as `growatt.pv-tl-x`) has no battery: holding 0 (on/off) and 3 (power limit %) only.
 */
export class GrowattInverter implements SimulatedDevice {
  readonly profileId: string;
  private readonly bank: RegisterBank;
  private readonly writable: readonly WritablePoint[];

  constructor(private readonly family: GrowattFamily) {
    this.profileId = family === 'sph' ? 'growatt.sph' : 'growatt.pv-tl-x';
    this.bank = new RegisterBank(
      (['input', 'holding'] as const).flatMap((table) =>
        [0, STORAGE_RANGE_START]
          .filter((start) => inFamily(family, start))
          .map((start) => ({ table, start, length: 125 })),
      ),
    );
    this.writable = GROWATT_HOLDING.filter((p) => inFamily(family, p.address));
    // Factory settings: on, no export limit, load first, no slots, AC charge off, rates 100 %, stop SoC 100/10 %.
    // prettier-ignore
    const defaults: readonly [number, number][] = [
      [0, 1], [3, 100], [1044, 0], [1070, 100], [1071, 10], [1090, 100], [1091, 100], [1092, 0],
    ];
    for (const [address, value] of defaults) {
      if (inFamily(family, address)) this.bank.set('holding', address, [value]);
    }
  }

  private holding(name: string): number {
    const point = this.writable.find((p) => p.name === name);
    return point ? this.bank.get('holding', point.address) : 0;
  }

  /** True when `minuteOfDay` (local) lies in the slot [start, end] (times as hours × 256 + minutes). */
  private inSlot(name: string, minuteOfDay: number): boolean {
    if (this.holding(`${name}Enable`) !== 1) return false;
    const toMinutes = (word: number) => Math.floor(word / 256) * 60 + (word % 256);
    const start = toMinutes(this.holding(`${name}Start`));
    const end = toMinutes(this.holding(`${name}End`));
    const minute = Math.floor(minuteOfDay);
    return start <= end ? minute >= start && minute <= end : minute >= start || minute <= end;
  }

  /** The battery mode at local time `minuteOfDay` (battery-first slots 1–3; grid-first slots are not simulated). */
  batteryMode(minuteOfDay: number): GrowattBatteryMode {
    if (this.holding('onOff') === 0) return { kind: 'off' };
    const batteryFirst = ['batteryFirstSlot1', 'batteryFirstSlot2', 'batteryFirstSlot3'].some((s) =>
      this.inSlot(s, minuteOfDay),
    );
    if (!batteryFirst) return { kind: 'load-first' };
    if (this.holding('acChargeEnable') !== 1) return { kind: 'hold' };
    return {
      kind: 'force-charge',
      ratePct: this.holding('batteryFirstChargeRatePct'),
      stopSocPct: this.holding('batteryFirstStopSocPct'),
    };
  }

  /** The most the inverter may produce, as a share of its rated power, 0 … 1 (holding 3; 0 when switched off). */
  pvLimitFraction(): number {
    return this.holding('onOff') === 0 ? 0 : this.holding('activePowerLimitPct') / 100;
  }

  /** Rewrites the input registers from a state. */
  update(state: GrowattState): void {
    const I = GROWATT_INPUT;
    const on = [true, state.phases === 3, state.phases === 3];
    const acOutW = Math.max(0, state.pvW + state.batteryPowerW);
    const pvStringW = state.pvW / 2;
    const pvStringV = state.pvW > 0 ? 360 : 0;
    const pvStringA = pvStringV > 0 ? pvStringW / pvStringV : 0;
    const phaseValue = (total: number) => on.map((used) => (used ? total / state.phases : 0));
    const acPhaseW = phaseValue(acOutW);
    const importW = phaseValue(Math.max(0, state.gridPowerW));
    const exportW = phaseValue(Math.max(0, -state.gridPowerW));
    const loadW = phaseValue(state.loadW);
    const volts = state.voltagesV.map((v, i) => (on[i] ? v : 0));
    const amps = acPhaseW.map((w, i) => ((volts[i] ?? 0) > 0 ? w / (volts[i] ?? 1) : 0));
    const at = (values: readonly number[], i: number) => values[i] ?? 0;
    const e = state.total;
    const d = state.today;
    const pvTempC = 30 + 15 * Math.min(1, state.pvW / 6000);
    // prettier-ignore
    const words: readonly [number, readonly number[]][] = [
      [I.status, [state.pvW > 0 || state.hasBattery ? 1 : 0]],
      [I.pvPower, u32Words(tenths(state.pvW))],
      [I.pv1Voltage, [u16Word(tenths(pvStringV))]], [I.pv1Current, [u16Word(tenths(pvStringA))]],
      [I.pv1Power, u32Words(tenths(pvStringW))],
      [I.pv2Voltage, [u16Word(tenths(pvStringV))]], [I.pv2Current, [u16Word(tenths(pvStringA))]],
      [I.pv2Power, u32Words(tenths(pvStringW))],
      [I.acPower, u32Words(tenths(acOutW))],
      [I.gridFrequency, [u16Word(state.frequencyHz * 100)]],
      [I.l1Voltage, [u16Word(tenths(at(volts, 0)))]], [I.l1Current, [u16Word(tenths(at(amps, 0)))]],
      [I.l1Power, u32Words(tenths(at(acPhaseW, 0)))],
      [I.l2Voltage, [u16Word(tenths(at(volts, 1)))]], [I.l2Current, [u16Word(tenths(at(amps, 1)))]],
      [I.l2Power, u32Words(tenths(at(acPhaseW, 1)))],
      [I.l3Voltage, [u16Word(tenths(at(volts, 2)))]], [I.l3Current, [u16Word(tenths(at(amps, 2)))]],
      [I.l3Power, u32Words(tenths(at(acPhaseW, 2)))],
      [I.acEnergyToday, energyWords(d.acOutWh)], [I.acEnergyTotal, energyWords(e.acOutWh)],
      [I.operatingTime, u32Words(state.operatingS * 2)],
      [I.pv1EnergyToday, energyWords(d.pvWh / 2)], [I.pv1EnergyTotal, energyWords(e.pvWh / 2)],
      [I.pv2EnergyToday, energyWords(d.pvWh / 2)], [I.pv2EnergyTotal, energyWords(e.pvWh / 2)],
      [I.pvEnergyTotal, energyWords(e.pvWh)],
      [I.inverterTemperature, [s16Word(tenths(pvTempC))]], [I.ipmTemperature, [s16Word(tenths(pvTempC + 3))]],
      [I.boostTemperature, [s16Word(tenths(pvTempC + 1))]], [I.faultMain, [0]], [I.faultSub, [0]],
      [I.workMode, [state.hasBattery ? 5 : 1]],
      [I.batteryDischargePower, u32Words(tenths(Math.max(0, state.batteryPowerW)))],
      [I.batteryChargePower, u32Words(tenths(Math.max(0, -state.batteryPowerW)))],
      [I.batteryVoltage, [u16Word(state.hasBattery ? tenths(51.2 + 2 * (state.socPct / 100)) : 0)]],
      [I.batterySoc, [u16Word(state.socPct)]],
      [I.importL1, u32Words(tenths(at(importW, 0)))], [I.importL2, u32Words(tenths(at(importW, 1)))],
      [I.importL3, u32Words(tenths(at(importW, 2)))], [I.importTotal, u32Words(tenths(Math.max(0, state.gridPowerW)))],
      [I.exportL1, u32Words(tenths(at(exportW, 0)))], [I.exportL2, u32Words(tenths(at(exportW, 1)))],
      [I.exportL3, u32Words(tenths(at(exportW, 2)))], [I.exportTotal, u32Words(tenths(Math.max(0, -state.gridPowerW)))],
      [I.loadL1, u32Words(tenths(at(loadW, 0)))], [I.loadL2, u32Words(tenths(at(loadW, 1)))],
      [I.loadL3, u32Words(tenths(at(loadW, 2)))], [I.loadTotal, u32Words(tenths(state.loadW))],
      [I.batteryTemperature, [s16Word(state.hasBattery ? 250 : 0)]],
      [I.importEnergyToday, energyWords(d.gridImportWh)], [I.importEnergyTotal, energyWords(e.gridImportWh)],
      [I.exportEnergyToday, energyWords(d.gridExportWh)], [I.exportEnergyTotal, energyWords(e.gridExportWh)],
      [I.dischargeEnergyToday, energyWords(d.batteryDischargeWh)], [I.dischargeEnergyTotal, energyWords(e.batteryDischargeWh)],
      [I.chargeEnergyToday, energyWords(d.batteryChargeWh)], [I.chargeEnergyTotal, energyWords(e.batteryChargeWh)],
      [I.loadEnergyToday, energyWords(d.loadWh)], [I.loadEnergyTotal, energyWords(e.loadWh)],
    ];
    for (const [address, value] of words) {
      if (inFamily(this.family, address)) this.bank.set('input', address, value);
    }
  }

  read(table: RegisterTable, address: number, count: number): number[] {
    return this.bank.read(table, address, count);
  }

  write(address: number, words: readonly number[]): void {
    applyWrite(this.bank, this.writable, address, words);
  }
}

/** A simulated Growatt SPH storage hybrid (`growatt.sph`). */
export class GrowattSph extends GrowattInverter {
  constructor() {
    super('sph');
  }
}

/** A simulated Growatt PV string inverter (`growatt.pv-tl-x`): no battery, no storage registers. */
export class GrowattPv extends GrowattInverter {
  constructor() {
    super('pv');
  }
}
