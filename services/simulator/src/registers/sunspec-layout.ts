// SunSpec model layouts the simulated CNTE cabinet serves, typed by hand from the SunSpec Alliance model
// definitions (../shared/reference/sunspec/model_{1,802,704,803}.json, sunspec/models @ 7abdf89): each model is
// its points in order with their type and size in registers; a point's offset is the sum of the sizes before it.
// Independent of @voltimax/devices (STYLE §8.3); sunspec-layout.spec.ts checks it against the definitions.

/** SunSpec point types used by these models. */
export type SunSpecType =
  | 'uint16'
  | 'int16'
  | 'enum16'
  | 'uint32'
  | 'int32'
  | 'bitfield32'
  | 'sunssf'
  | 'string'
  | 'pad';

/** One point: name (group points as `group_point`), type, size in registers. */
export type LayoutPoint = readonly [name: string, type: SunSpecType, size: number];

/** A model's points in register order, `ID` and `L` first. */
export interface ModelLayout {
  readonly id: number;
  readonly points: readonly LayoutPoint[];
}

// prettier-ignore
export const COMMON_MODEL_1: ModelLayout = {
  id: 1,
  points: [
    ['ID', 'uint16', 1], ['L', 'uint16', 1],
    ['Mn', 'string', 16], ['Md', 'string', 16], ['Opt', 'string', 8], ['Vr', 'string', 8], ['SN', 'string', 16],
    ['DA', 'uint16', 1], ['Pad', 'pad', 1],
  ],
};

// prettier-ignore
export const BATTERY_MODEL_802: ModelLayout = {
  id: 802,
  points: [
    ['ID', 'uint16', 1], ['L', 'uint16', 1],
    ['AHRtg', 'uint16', 1], ['WHRtg', 'uint16', 1], ['WChaRteMax', 'uint16', 1], ['WDisChaRteMax', 'uint16', 1],
    ['DisChaRte', 'uint16', 1], ['SoCMax', 'uint16', 1], ['SoCMin', 'uint16', 1], ['SocRsvMax', 'uint16', 1],
    ['SoCRsvMin', 'uint16', 1], ['SoC', 'uint16', 1], ['DoD', 'uint16', 1], ['SoH', 'uint16', 1],
    ['NCyc', 'uint32', 2], ['ChaSt', 'enum16', 1], ['LocRemCtl', 'enum16', 1], ['Hb', 'uint16', 1],
    ['CtrlHb', 'uint16', 1], ['AlmRst', 'uint16', 1], ['Typ', 'enum16', 1], ['State', 'enum16', 1],
    ['StateVnd', 'enum16', 1], ['WarrDt', 'uint32', 2], ['Evt1', 'bitfield32', 2], ['Evt2', 'bitfield32', 2],
    ['EvtVnd1', 'bitfield32', 2], ['EvtVnd2', 'bitfield32', 2],
    ['V', 'uint16', 1], ['VMax', 'uint16', 1], ['VMin', 'uint16', 1],
    ['CellVMax', 'uint16', 1], ['CellVMaxStr', 'uint16', 1], ['CellVMaxMod', 'uint16', 1],
    ['CellVMin', 'uint16', 1], ['CellVMinStr', 'uint16', 1], ['CellVMinMod', 'uint16', 1], ['CellVAvg', 'uint16', 1],
    ['A', 'int16', 1], ['AChaMax', 'uint16', 1], ['ADisChaMax', 'uint16', 1], ['W', 'int16', 1],
    ['ReqInvState', 'enum16', 1], ['ReqW', 'int16', 1], ['SetOp', 'enum16', 1], ['SetInvState', 'enum16', 1],
    ['AHRtg_SF', 'sunssf', 1], ['WHRtg_SF', 'sunssf', 1], ['WChaDisChaMax_SF', 'sunssf', 1],
    ['DisChaRte_SF', 'sunssf', 1], ['SoC_SF', 'sunssf', 1], ['DoD_SF', 'sunssf', 1], ['SoH_SF', 'sunssf', 1],
    ['V_SF', 'sunssf', 1], ['CellV_SF', 'sunssf', 1], ['A_SF', 'sunssf', 1], ['AMax_SF', 'sunssf', 1],
    ['W_SF', 'sunssf', 1],
  ],
};

// prettier-ignore
export const DER_CONTROL_MODEL_704: ModelLayout = {
  id: 704,
  points: [
    ['ID', 'uint16', 1], ['L', 'uint16', 1],
    ['PFWInjEna', 'enum16', 1], ['PFWInjEnaRvrt', 'enum16', 1], ['PFWInjRvrtTms', 'uint32', 2], ['PFWInjRvrtRem', 'uint32', 2],
    ['PFWAbsEna', 'enum16', 1], ['PFWAbsEnaRvrt', 'enum16', 1], ['PFWAbsRvrtTms', 'uint32', 2], ['PFWAbsRvrtRem', 'uint32', 2],
    ['WMaxLimPctEna', 'enum16', 1], ['WMaxLimPct', 'uint16', 1], ['WMaxLimPctRvrt', 'uint16', 1],
    ['WMaxLimPctEnaRvrt', 'enum16', 1], ['WMaxLimPctRvrtTms', 'uint32', 2], ['WMaxLimPctRvrtRem', 'uint32', 2],
    ['WSetEna', 'enum16', 1], ['WSetMod', 'enum16', 1], ['WSet', 'int32', 2], ['WSetRvrt', 'int32', 2],
    ['WSetPct', 'int16', 1], ['WSetPctRvrt', 'int16', 1], ['WSetEnaRvrt', 'enum16', 1],
    ['WSetRvrtTms', 'uint32', 2], ['WSetRvrtRem', 'uint32', 2],
    ['VarSetEna', 'enum16', 1], ['VarSetMod', 'enum16', 1], ['VarSetPri', 'enum16', 1], ['VarSet', 'int32', 2],
    ['VarSetRvrt', 'int32', 2], ['VarSetPct', 'int16', 1], ['VarSetPctRvrt', 'int16', 1], ['VarSetEnaRvrt', 'enum16', 1],
    ['VarSetRvrtTms', 'uint32', 2], ['VarSetRvrtRem', 'uint32', 2],
    ['WRmp', 'uint16', 1], ['WRmpRef', 'enum16', 1], ['VarRmp', 'uint16', 1], ['AntiIslEna', 'enum16', 1],
    ['PF_SF', 'sunssf', 1], ['WMaxLimPct_SF', 'sunssf', 1], ['WSet_SF', 'sunssf', 1], ['WSetPct_SF', 'sunssf', 1],
    ['VarSet_SF', 'sunssf', 1], ['VarSetPct_SF', 'sunssf', 1],
    ['PFWInj_PF', 'uint16', 1], ['PFWInj_Ext', 'enum16', 1], ['PFWInjRvrt_PF', 'uint16', 1], ['PFWInjRvrt_Ext', 'enum16', 1],
    ['PFWAbs_PF', 'uint16', 1], ['PFWAbs_Ext', 'enum16', 1], ['PFWAbsRvrt_PF', 'uint16', 1], ['PFWAbsRvrt_Ext', 'enum16', 1],
  ],
};

/** Model 803 with one string (the `string` group repeats NStr times; this cabinet has one). */
// prettier-ignore
export const LITHIUM_BANK_MODEL_803: ModelLayout = {
  id: 803,
  points: [
    ['ID', 'uint16', 1], ['L', 'uint16', 1],
    ['NStr', 'uint16', 1], ['NStrCon', 'uint16', 1],
    ['ModTmpMax', 'int16', 1], ['ModTmpMaxStr', 'uint16', 1], ['ModTmpMaxMod', 'uint16', 1],
    ['ModTmpMin', 'int16', 1], ['ModTmpMinStr', 'uint16', 1], ['ModTmpMinMod', 'uint16', 1], ['ModTmpAvg', 'int16', 1],
    ['StrVMax', 'uint16', 1], ['StrVMaxStr', 'uint16', 1], ['StrVMin', 'uint16', 1], ['StrVMinStr', 'uint16', 1],
    ['StrVAvg', 'uint16', 1], ['StrAMax', 'int16', 1], ['StrAMaxStr', 'uint16', 1], ['StrAMin', 'int16', 1],
    ['StrAMinStr', 'uint16', 1], ['StrAAvg', 'int16', 1], ['NCellBal', 'uint16', 1],
    ['CellV_SF', 'sunssf', 1], ['ModTmp_SF', 'sunssf', 1], ['A_SF', 'sunssf', 1], ['SoH_SF', 'sunssf', 1],
    ['SoC_SF', 'sunssf', 1], ['V_SF', 'sunssf', 1],
    ['string_StrNMod', 'uint16', 1], ['string_StrSt', 'bitfield32', 2], ['string_StrConFail', 'enum16', 1],
    ['string_StrSoC', 'uint16', 1], ['string_StrSoH', 'uint16', 1], ['string_StrA', 'int16', 1],
    ['string_StrCellVMax', 'uint16', 1], ['string_StrCellVMaxMod', 'uint16', 1],
    ['string_StrCellVMin', 'uint16', 1], ['string_StrCellVMinMod', 'uint16', 1], ['string_StrCellVAvg', 'uint16', 1],
    ['string_StrModTmpMax', 'int16', 1], ['string_StrModTmpMaxMod', 'uint16', 1],
    ['string_StrModTmpMin', 'int16', 1], ['string_StrModTmpMinMod', 'uint16', 1], ['string_StrModTmpAvg', 'int16', 1],
    ['string_StrDisRsn', 'enum16', 1], ['string_StrConSt', 'bitfield32', 2], ['string_StrEvt1', 'bitfield32', 2],
    ['string_StrEvt2', 'bitfield32', 2], ['string_StrEvtVnd1', 'bitfield32', 2], ['string_StrEvtVnd2', 'bitfield32', 2],
    ['string_StrSetEna', 'enum16', 1], ['string_StrSetCon', 'enum16', 1], ['string_Pad1', 'pad', 1], ['string_Pad2', 'pad', 1],
  ],
};

/** Registers of a model including `ID` and `L`. */
export function modelSize(model: ModelLayout): number {
  return model.points.reduce((sum, [, , size]) => sum + size, 0);
}

/** A point with its offset from the model's `ID` register. */
export interface PlacedPoint {
  readonly name: string;
  readonly type: SunSpecType;
  readonly size: number;
  readonly offset: number;
}

/** Every point of a model with its offset from the model's `ID` register, by name. */
export function placePoints(model: ModelLayout): ReadonlyMap<string, PlacedPoint> {
  const placed = new Map<string, PlacedPoint>();
  let offset = 0;
  for (const [name, type, size] of model.points) {
    placed.set(name, { name, type, size, offset });
    offset += size;
  }
  return placed;
}

/** The "not implemented" word(s) SunSpec defines for a type (strings: all zero). */
export function notImplementedWords(type: SunSpecType, size: number): number[] {
  switch (type) {
    case 'uint16':
    case 'enum16':
      return [0xffff];
    case 'int16':
    case 'sunssf':
    case 'pad':
      return [0x8000];
    case 'uint32':
    case 'bitfield32':
      return [0xffff, 0xffff];
    case 'int32':
      return [0x8000, 0x0000];
    case 'string':
      return new Array<number>(size).fill(0);
  }
}
