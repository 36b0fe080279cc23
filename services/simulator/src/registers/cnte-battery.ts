import {
  applyWrite,
  RegisterBank,
  type RegisterTable,
  type SimulatedDevice,
  type WritablePoint,
} from './register-bank';
import {
  BATTERY_MODEL_802,
  COMMON_MODEL_1,
  DER_CONTROL_MODEL_704,
  LITHIUM_BANK_MODEL_803,
  modelSize,
  notImplementedWords,
  placePoints,
  type ModelLayout,
  type PlacedPoint,
} from './sunspec-layout';
import { fromS16, fromS32, fromU32, illegalAddress, s16Word, s32Words, stringWords, u16Word, u32Words } from './words';

// CNTE storage cabinet. No public CNTE map exists (../shared/reference/devices/cnte-battery.md), so the simulator
// serves the SunSpec chain the cnte.ess-cabinet profile assumes: 'SunS' @ 40000 → 1 common → 802 battery base →
// 704 DER AC controls (WSet) → 803 lithium-ion bank (one string) → end model 0xFFFF. Addresses come from the
// hand-typed layouts in sunspec-layout.ts, never from libs/devices.

/** Holding register of the `SunS` marker. */
export const SUNSPEC_BASE_ADDRESS = 40000;
/** The models of the chain, in order. */
export const CNTE_CHAIN: readonly ModelLayout[] = [
  COMMON_MODEL_1,
  BATTERY_MODEL_802,
  DER_CONTROL_MODEL_704,
  LITHIUM_BANK_MODEL_803,
];

/** Where each model's `ID` register sits, and the end model after the last one. */
export function chainAddresses(): { readonly starts: ReadonlyMap<number, number>; readonly endAddress: number } {
  const starts = new Map<number, number>();
  let address = SUNSPEC_BASE_ADDRESS + 2;
  for (const model of CNTE_CHAIN) {
    starts.set(model.id, address);
    address += modelSize(model);
  }
  return { starts, endAddress: address };
}

/** Nameplate and limits of the simulated cabinet. */
export interface CnteRatings {
  readonly capacityWh: number;
  readonly maxChargePowerW: number;
  readonly maxDischargePowerW: number;
  readonly minSocPct: number;
  readonly maxSocPct: number;
  readonly maxChargeCurrentA?: number;
  readonly maxDischargeCurrentA?: number;
  /** DC bus voltage at 50 % SoC, V (default 409.6 V: 128 LFP cells of 3.2 V). */
  readonly nominalVoltageV?: number;
}

/** What the battery did in the last step. */
export interface CnteBatteryState {
  readonly socPct: number;
  /** Battery power at the AC terminal, W: + = discharge, − = charge. */
  readonly powerW: number;
  /** Energy discharged since the simulation started, Wh (for the cycle count). */
  readonly dischargedWh: number;
}

/** Counters of the control path. */
export interface CnteCounters {
  /** Times the 704 WSet reverted to WSetRvrt because no set-point arrived within WSetRvrtTms. */
  readonly reverts: number;
}

const CELLS_IN_SERIES = 128;
const SOC_SF = -1;
const V_SF = -1;
const A_SF = -1;
const CELL_V_SF = -3;
const MOD_TMP_SF = -1;
const WSET_SF = 0;
/** Below this |power| the cabinet reports "holding" rather than charging or discharging, W. */
const IDLE_BAND_W = 10;

/** Smallest exponent e ≥ 0 such that value / 10^e fits `limit`. */
function exponentFor(value: number, limit: number): number {
  let exponent = 0;
  while (Math.abs(value) / 10 ** exponent > limit) exponent += 1;
  return exponent;
}

const sf = (exponent: number): number => s16Word(exponent);
const scaled = (value: number, exponent: number): number => value / 10 ** exponent;

/** A simulated CNTE cabinet: the SunSpec image, its writable points, and the 704 set-point with reversion. */
export class CnteBattery implements SimulatedDevice {
  readonly profileId = 'cnte.ess-cabinet';
  private readonly bank: RegisterBank;
  private readonly placed = new Map<string, { readonly address: number; readonly point: PlacedPoint }>();
  private readonly writable: readonly WritablePoint[];
  private readonly wSf: number;
  private readonly createdAtMs: number;
  private lastSetpointWriteAtMs: number | undefined;
  private hasReverted = false;
  private reverts = 0;

  constructor(
    private readonly ratings: CnteRatings,
    identity: { readonly serialNumber: string; readonly unitId: number },
    private readonly now: () => number,
  ) {
    const { starts, endAddress } = chainAddresses();
    this.bank = new RegisterBank([
      { table: 'holding', start: SUNSPEC_BASE_ADDRESS, length: endAddress + 2 - SUNSPEC_BASE_ADDRESS },
    ]);
    for (const model of CNTE_CHAIN) {
      const start = starts.get(model.id) ?? 0;
      for (const point of placePoints(model).values()) {
        this.placed.set(`${model.id}.${point.name}`, { address: start + point.offset, point });
        this.bank.set('holding', start + point.offset, notImplementedWords(point.type, point.size));
      }
      this.put(model.id, 'ID', [model.id]);
      this.put(model.id, 'L', [modelSize(model) - 2]);
    }
    this.bank.set('holding', SUNSPEC_BASE_ADDRESS, [0x5375, 0x6e53]); // 'SunS'
    this.bank.set('holding', endAddress, [0xffff, 0x0000]); // end model, L = 0
    this.createdAtMs = now();
    this.wSf = exponentFor(Math.max(ratings.maxChargePowerW, ratings.maxDischargePowerW), 0x7fff);
    this.writable = this.writablePoints();
    this.writeNameplate(identity);
    this.writeControlDefaults();
    this.update({ socPct: 50, powerW: 0, dischargedWh: 0 });
  }

  private addressOf(modelId: number, name: string): number {
    const placed = this.placed.get(`${modelId}.${name}`);
    if (!placed) throw new RangeError(`model ${modelId} has no point ${name}`);
    return placed.address;
  }

  private put(modelId: number, name: string, words: readonly number[]): void {
    this.bank.set('holding', this.addressOf(modelId, name), words);
  }

  private word(modelId: number, name: string): number {
    return this.bank.get('holding', this.addressOf(modelId, name));
  }

  private s32(modelId: number, name: string): number {
    const address = this.addressOf(modelId, name);
    return fromS32(this.bank.get('holding', address), this.bank.get('holding', address + 1));
  }

  private u32(modelId: number, name: string): number {
    const address = this.addressOf(modelId, name);
    return fromU32(this.bank.get('holding', address), this.bank.get('holding', address + 1));
  }

  private writablePoints(): WritablePoint[] {
    const maxW = Math.max(this.ratings.maxChargePowerW, this.ratings.maxDischargePowerW);
    const wRaw = Math.round(scaled(maxW, WSET_SF));
    const day = 86_400;
    const point = (modelId: number, name: string, type: WritablePoint['type'], min: number, max: number) => ({
      name: `${modelId}.${name}`,
      address: this.addressOf(modelId, name),
      type,
      min,
      max,
    });
    // prettier-ignore
    return [
      point(1, 'DA', 'u16', 1, 247),
      point(802, 'SocRsvMax', 'u16', 0, 1000), point(802, 'SoCRsvMin', 'u16', 0, 1000),
      point(802, 'CtrlHb', 'u16', 0, 0xfffe), point(802, 'AlmRst', 'u16', 0, 1),
      point(802, 'SetOp', 'u16', 1, 2), point(802, 'SetInvState', 'u16', 1, 3),
      point(704, 'PFWInjEna', 'u16', 0, 1), point(704, 'PFWInjEnaRvrt', 'u16', 0, 1), point(704, 'PFWInjRvrtTms', 'u32', 0, day),
      point(704, 'PFWAbsEna', 'u16', 0, 1), point(704, 'PFWAbsEnaRvrt', 'u16', 0, 1), point(704, 'PFWAbsRvrtTms', 'u32', 0, day),
      point(704, 'WMaxLimPctEna', 'u16', 0, 1), point(704, 'WMaxLimPct', 'u16', 0, 100), point(704, 'WMaxLimPctRvrt', 'u16', 0, 100),
      point(704, 'WMaxLimPctEnaRvrt', 'u16', 0, 1), point(704, 'WMaxLimPctRvrtTms', 'u32', 0, day),
      point(704, 'WSetEna', 'u16', 0, 1), point(704, 'WSetMod', 'u16', 0, 1),
      point(704, 'WSet', 's32', -wRaw, wRaw), point(704, 'WSetRvrt', 's32', -wRaw, wRaw),
      point(704, 'WSetPct', 's16', -100, 100), point(704, 'WSetPctRvrt', 's16', -100, 100),
      point(704, 'WSetEnaRvrt', 'u16', 0, 1), point(704, 'WSetRvrtTms', 'u32', 0, day),
      point(704, 'VarSetEna', 'u16', 0, 1), point(704, 'VarSetMod', 'u16', 0, 3), point(704, 'VarSetPri', 'u16', 0, 1),
      point(704, 'VarSet', 's32', -wRaw, wRaw), point(704, 'VarSetRvrt', 's32', -wRaw, wRaw),
      point(704, 'VarSetPct', 's16', -100, 100), point(704, 'VarSetPctRvrt', 's16', -100, 100),
      point(704, 'VarSetEnaRvrt', 'u16', 0, 1), point(704, 'VarSetRvrtTms', 'u32', 0, day),
      point(704, 'WRmp', 'u16', 0, 0xfffe), point(704, 'WRmpRef', 'u16', 0, 1), point(704, 'VarRmp', 'u16', 0, 0xfffe),
      point(704, 'AntiIslEna', 'u16', 0, 1),
      point(704, 'PFWInj_PF', 'u16', 0, 1000), point(704, 'PFWInj_Ext', 'u16', 0, 1),
      point(704, 'PFWInjRvrt_PF', 'u16', 0, 1000), point(704, 'PFWInjRvrt_Ext', 'u16', 0, 1),
      point(704, 'PFWAbs_PF', 'u16', 0, 1000), point(704, 'PFWAbs_Ext', 'u16', 0, 1),
      point(704, 'PFWAbsRvrt_PF', 'u16', 0, 1000), point(704, 'PFWAbsRvrt_Ext', 'u16', 0, 1),
      point(803, 'string_StrSetEna', 'u16', 0, 1), point(803, 'string_StrSetCon', 'u16', 0, 1),
    ];
  }

  private writeNameplate(identity: { readonly serialNumber: string; readonly unitId: number }): void {
    const r = this.ratings;
    this.put(1, 'Mn', stringWords('CNTE', 16));
    this.put(1, 'Md', stringWords('ESS cabinet (simulated)', 16));
    this.put(1, 'Vr', stringWords('sim-1.0', 8));
    this.put(1, 'SN', stringWords(identity.serialNumber, 16));
    this.put(1, 'DA', [identity.unitId]);

    const whSf = exponentFor(r.capacityWh, 0xfffe);
    const rateSf = exponentFor(Math.max(r.maxChargePowerW, r.maxDischargePowerW), 0xfffe);
    const voltageV = r.nominalVoltageV ?? 409.6;
    // prettier-ignore
    const nameplate: readonly [string, number[]][] = [
      ['WHRtg', [u16Word(scaled(r.capacityWh, whSf))]], ['WHRtg_SF', [sf(whSf)]],
      ['AHRtg', [u16Word(r.capacityWh / voltageV)]], ['AHRtg_SF', [sf(0)]],
      ['WChaRteMax', [u16Word(scaled(r.maxChargePowerW, rateSf))]],
      ['WDisChaRteMax', [u16Word(scaled(r.maxDischargePowerW, rateSf))]], ['WChaDisChaMax_SF', [sf(rateSf)]],
      ['SoCMax', [u16Word(scaled(r.maxSocPct, SOC_SF))]], ['SoCMin', [u16Word(scaled(r.minSocPct, SOC_SF))]],
      ['SocRsvMax', [u16Word(scaled(r.maxSocPct, SOC_SF))]], ['SoCRsvMin', [u16Word(scaled(r.minSocPct, SOC_SF))]],
      ['SoC_SF', [sf(SOC_SF)]], ['DoD_SF', [sf(SOC_SF)]], ['SoH', [100]], ['SoH_SF', [sf(0)]],
      ['LocRemCtl', [0]], ['CtrlHb', [0]], ['AlmRst', [0]], ['Typ', [4]], ['State', [3]],
      ['Evt1', [0, 0]], ['Evt2', [0, 0]], ['EvtVnd1', [0, 0]], ['EvtVnd2', [0, 0]],
      ['CellVMaxStr', [1]], ['CellVMaxMod', [1]], ['CellVMinStr', [1]], ['CellVMinMod', [2]],
      ['AChaMax', [u16Word(r.maxChargeCurrentA ?? r.maxChargePowerW / voltageV)]],
      ['ADisChaMax', [u16Word(r.maxDischargeCurrentA ?? r.maxDischargePowerW / voltageV)]], ['AMax_SF', [sf(0)]],
      ['ReqInvState', [0]], ['SetOp', [1]], ['SetInvState', [3]],
      ['V_SF', [sf(V_SF)]], ['CellV_SF', [sf(CELL_V_SF)]], ['A_SF', [sf(A_SF)]], ['W_SF', [sf(this.wSf)]],
    ];
    for (const [name, words] of nameplate) this.put(802, name, words);

    // prettier-ignore
    const bank: readonly [string, number[]][] = [
      ['NStr', [1]], ['NStrCon', [1]], ['ModTmpMaxStr', [1]], ['ModTmpMaxMod', [3]], ['ModTmpMinStr', [1]],
      ['ModTmpMinMod', [7]], ['StrVMaxStr', [1]], ['StrVMinStr', [1]], ['StrAMaxStr', [1]], ['StrAMinStr', [1]],
      ['NCellBal', [0]], ['CellV_SF', [sf(CELL_V_SF)]], ['ModTmp_SF', [sf(MOD_TMP_SF)]], ['A_SF', [sf(A_SF)]],
      ['SoH_SF', [sf(0)]], ['SoC_SF', [sf(SOC_SF)]], ['V_SF', [sf(V_SF)]],
      ['string_StrNMod', [8]], ['string_StrSt', [0, 0]], ['string_StrConFail', [0]], ['string_StrSoH', [100]],
      ['string_StrCellVMaxMod', [1]], ['string_StrCellVMinMod', [2]], ['string_StrModTmpMaxMod', [3]],
      ['string_StrModTmpMinMod', [7]], ['string_StrDisRsn', [0]], ['string_StrConSt', [0, 1]],
      ['string_StrEvt1', [0, 0]], ['string_StrEvt2', [0, 0]], ['string_StrEvtVnd1', [0, 0]], ['string_StrEvtVnd2', [0, 0]],
      ['string_StrSetEna', [1]], ['string_StrSetCon', [1]],
    ];
    for (const [name, words] of bank) this.put(803, name, words);
  }

  private writeControlDefaults(): void {
    // Power-on state: no set-point active, reversion armed at 0 W / 30 s (the values the profile writes too).
    // prettier-ignore
    const controls: readonly [string, number[]][] = [
      ['PFWInjEna', [0]], ['PFWInjEnaRvrt', [0]], ['PFWInjRvrtTms', [0, 0]], ['PFWInjRvrtRem', [0, 0]],
      ['PFWAbsEna', [0]], ['PFWAbsEnaRvrt', [0]], ['PFWAbsRvrtTms', [0, 0]], ['PFWAbsRvrtRem', [0, 0]],
      ['WMaxLimPctEna', [0]], ['WMaxLimPct', [100]], ['WMaxLimPctRvrt', [100]], ['WMaxLimPctEnaRvrt', [0]],
      ['WMaxLimPctRvrtTms', [0, 0]], ['WMaxLimPctRvrtRem', [0, 0]],
      ['WSetEna', [0]], ['WSetMod', [1]], ['WSet', s32Words(0)], ['WSetRvrt', s32Words(0)],
      ['WSetPct', [0]], ['WSetPctRvrt', [0]], ['WSetEnaRvrt', [1]], ['WSetRvrtTms', u32Words(30)], ['WSetRvrtRem', [0, 0]],
      ['VarSetEna', [0]], ['VarSetMod', [0]], ['VarSetPri', [0]], ['VarSet', s32Words(0)], ['VarSetRvrt', s32Words(0)],
      ['VarSetPct', [0]], ['VarSetPctRvrt', [0]], ['VarSetEnaRvrt', [0]], ['VarSetRvrtTms', [0, 0]], ['VarSetRvrtRem', [0, 0]],
      ['WRmp', [0]], ['WRmpRef', [0]], ['VarRmp', [0]], ['AntiIslEna', [0]],
      ['PF_SF', [sf(-3)]], ['WMaxLimPct_SF', [sf(0)]], ['WSet_SF', [sf(WSET_SF)]], ['WSetPct_SF', [sf(0)]],
      ['VarSet_SF', [sf(0)]], ['VarSetPct_SF', [sf(0)]],
      ['PFWInj_PF', [1000]], ['PFWInj_Ext', [0]], ['PFWInjRvrt_PF', [1000]], ['PFWInjRvrt_Ext', [0]],
      ['PFWAbs_PF', [1000]], ['PFWAbs_Ext', [0]], ['PFWAbsRvrt_PF', [1000]], ['PFWAbsRvrt_Ext', [0]],
    ];
    for (const [name, words] of controls) this.put(704, name, words);
  }

  /** Advances the device's own timers to `nowMs` (wall clock): the 802 heartbeat and the 704 WSet reversion. */
  tick(nowMs: number): void {
    this.put(802, 'Hb', [Math.floor((nowMs - this.createdAtMs) / 1000) % 0xffff]);
    const armed = this.word(704, 'WSetEnaRvrt') === 1 && this.lastSetpointWriteAtMs !== undefined && !this.hasReverted;
    const timeoutMs = this.u32(704, 'WSetRvrtTms') * 1000;
    if (!armed || timeoutMs === 0 || this.lastSetpointWriteAtMs === undefined) {
      this.put(704, 'WSetRvrtRem', u32Words(0));
      return;
    }
    const remainingMs = this.lastSetpointWriteAtMs + timeoutMs - nowMs;
    if (remainingMs > 0) {
      this.put(704, 'WSetRvrtRem', u32Words(Math.ceil(remainingMs / 1000)));
      return;
    }
    // No set-point within the reversion time: fall back to the reversion values, as SunSpec 704 defines.
    this.put(704, 'WSet', s32Words(this.s32(704, 'WSetRvrt')));
    this.put(704, 'WSetPct', [this.word(704, 'WSetPctRvrt')]);
    this.put(704, 'WSetRvrtRem', u32Words(0));
    this.hasReverted = true;
    this.reverts += 1;
  }

  /** The power the cabinet is asked to deliver, W (+ = discharge): 0 unless 704 WSetEna is on and the PCS runs. */
  setpointW(): number {
    if (this.word(802, 'SetOp') === 2 || this.word(802, 'SetInvState') !== 3) return 0;
    if (this.word(704, 'WSetEna') !== 1) return 0;
    if (this.word(704, 'WSetMod') === 1) return this.s32(704, 'WSet') * 10 ** WSET_SF;
    const pct = fromS16(this.word(704, 'WSetPct'));
    return (pct / 100) * (pct >= 0 ? this.ratings.maxDischargePowerW : this.ratings.maxChargePowerW);
  }

  /** Rewrites the measured registers from the last step. */
  update(state: CnteBatteryState): void {
    const r = this.ratings;
    const nominalV = r.nominalVoltageV ?? 409.6;
    // A crude LFP-like curve: ±4 % around nominal between empty and full.
    const voltageV = nominalV * (0.96 + 0.08 * (state.socPct / 100));
    const currentA = state.powerW / voltageV;
    const cellV = voltageV / CELLS_IN_SERIES;
    const loadShare = Math.abs(state.powerW) / Math.max(1, r.maxChargePowerW, r.maxDischargePowerW);
    const tempC = 25 + 5 * loadShare;
    const chargeStatus =
      state.powerW > IDLE_BAND_W
        ? 3
        : state.powerW < -IDLE_BAND_W
          ? 4
          : state.socPct >= r.maxSocPct
            ? 5
            : state.socPct <= r.minSocPct
              ? 2
              : 6;
    // prettier-ignore
    const battery: readonly [string, number[]][] = [
      ['SoC', [u16Word(scaled(state.socPct, SOC_SF))]], ['DoD', [u16Word(scaled(100 - state.socPct, SOC_SF))]],
      ['NCyc', u32Words(Math.floor(state.dischargedWh / r.capacityWh))], ['ChaSt', [chargeStatus]],
      ['V', [u16Word(scaled(voltageV, V_SF))]], ['VMax', [u16Word(scaled(voltageV + 0.4, V_SF))]],
      ['VMin', [u16Word(scaled(voltageV - 0.4, V_SF))]],
      ['CellVMax', [u16Word(scaled(cellV + 0.004, CELL_V_SF))]], ['CellVMin', [u16Word(scaled(cellV - 0.004, CELL_V_SF))]],
      ['CellVAvg', [u16Word(scaled(cellV, CELL_V_SF))]],
      ['A', [s16Word(scaled(currentA, A_SF))]], ['W', [s16Word(scaled(state.powerW, this.wSf))]],
    ];
    for (const [name, words] of battery) this.put(802, name, words);
    // prettier-ignore
    const bank: readonly [string, number[]][] = [
      ['ModTmpMax', [s16Word(scaled(tempC + 1.2, MOD_TMP_SF))]], ['ModTmpMin', [s16Word(scaled(tempC - 0.9, MOD_TMP_SF))]],
      ['ModTmpAvg', [s16Word(scaled(tempC, MOD_TMP_SF))]],
      ['StrVMax', [u16Word(scaled(voltageV, V_SF))]], ['StrVMin', [u16Word(scaled(voltageV, V_SF))]],
      ['StrVAvg', [u16Word(scaled(voltageV, V_SF))]],
      ['StrAMax', [s16Word(scaled(currentA, A_SF))]], ['StrAMin', [s16Word(scaled(currentA, A_SF))]],
      ['StrAAvg', [s16Word(scaled(currentA, A_SF))]],
      ['string_StrSoC', [u16Word(scaled(state.socPct, SOC_SF))]], ['string_StrA', [s16Word(scaled(currentA, A_SF))]],
      ['string_StrCellVMax', [u16Word(scaled(cellV + 0.004, CELL_V_SF))]],
      ['string_StrCellVMin', [u16Word(scaled(cellV - 0.004, CELL_V_SF))]],
      ['string_StrCellVAvg', [u16Word(scaled(cellV, CELL_V_SF))]],
      ['string_StrModTmpMax', [s16Word(scaled(tempC + 1.2, MOD_TMP_SF))]],
      ['string_StrModTmpMin', [s16Word(scaled(tempC - 0.9, MOD_TMP_SF))]],
      ['string_StrModTmpAvg', [s16Word(scaled(tempC, MOD_TMP_SF))]],
    ];
    for (const [name, words] of bank) this.put(803, name, words);
  }

  /** `model.point` names a client may write. */
  writableNames(): string[] {
    return this.writable.map((p) => p.name);
  }

  counters(): CnteCounters {
    return { reverts: this.reverts };
  }

  read(table: RegisterTable, address: number, count: number): number[] {
    if (table !== 'holding') throw illegalAddress('SunSpec devices serve holding registers only');
    return this.bank.read(table, address, count);
  }

  write(address: number, words: readonly number[]): void {
    const written = applyWrite(this.bank, this.writable, address, words);
    const setpointNames = new Set(['704.WSet', '704.WSetPct', '704.WSetEna', '704.WSetMod']);
    if (written.some((w) => setpointNames.has(w.point.name))) {
      // A fresh set-point restarts the reversion timer.
      this.lastSetpointWriteAtMs = this.now();
      this.hasReverted = false;
      this.tick(this.lastSetpointWriteAtMs);
    }
  }
}
