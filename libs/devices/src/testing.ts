/**
 * Test fixtures for SunSpec: register images typed in by hand from the SunSpec model definitions (never
 * produced by this lib's encoder), for decoder tests here and simulators elsewhere.
 */

const Z = 0x0000;
const NI16 = 0x8000; // int16 / sunssf "not implemented"
const NIU = 0xffff; // uint16 / enum16 "not implemented"

/** Model 1 (common) at its ID register: Mn "Acme", Md "PV-10", Opt unset, Vr "1.2", SN "SN123", DA 1. */
// prettier-ignore
export const COMMON_MODEL_WORDS: readonly number[] = [
  0x0001, 0x0042, // ID 1, L 66
  0x4163, 0x6d65, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, // Mn "Acme"
  0x5056, 0x2d31, 0x3000, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, // Md "PV-10"
  Z, Z, Z, Z, Z, Z, Z, Z, // Opt (all zero = not implemented)
  0x312e, 0x3200, Z, Z, Z, Z, Z, Z, // Vr "1.2"
  0x534e, 0x3132, 0x3300, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, // SN "SN123"
  0x0001, // DA
  0x8000, // Pad
];

/**
 * Model 103 (three-phase inverter, int + SF) at its ID register:
 * A 12.34 A (1234, SF −2), AphA 4.11, AphB 4.12, AphC not implemented; PhVphA/B/C 230.1/230.2/229.9 V (SF −1);
 * W 12 340 W (1234, SF +1); Hz 50.01 (5001, SF −2); VA, VAr, PF not implemented; WH 1 234 560 Wh (123456, SF +1);
 * DC values not implemented; TmpCab 45.0 °C (450, SF −1); St 4 (MPPT).
 */
// prettier-ignore
export const INVERTER_103_WORDS: readonly number[] = [
  0x0067, 0x0032, // ID 103, L 50
  0x04d2, 0x019b, 0x019c, NIU, 0xfffe, // A, AphA, AphB, AphC, A_SF −2
  NIU, NIU, NIU, // PPVphAB, PPVphBC, PPVphCA
  0x08fd, 0x08fe, 0x08fb, 0xffff, // PhVphA, PhVphB, PhVphC, V_SF −1
  0x04d2, 0x0001, // W 1234, W_SF +1
  0x1389, 0xfffe, // Hz 5001, Hz_SF −2
  NI16, NI16, NI16, NI16, NI16, NI16, // VA, VA_SF, VAr, VAr_SF, PF, PF_SF
  0x0001, 0xe240, 0x0001, // WH 123456 (acc32), WH_SF +1
  NIU, NI16, NIU, NI16, NI16, NI16, // DCA, DCA_SF, DCV, DCV_SF, DCW, DCW_SF
  0x01c2, NI16, NI16, NI16, 0xffff, // TmpCab 450, TmpSnk, TmpTrns, TmpOt, Tmp_SF −1
  0x0004, NIU, // St MPPT, StVnd
  Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, // Evt1, Evt2, EvtVnd1..4
];

/** Base address of `SUNSPEC_INVERTER_IMAGE`. */
export const SUNSPEC_IMAGE_BASE = 40000;

/** Holding registers from 40000: `SunS`, model 1 @ 40002, model 103 @ 40070, end model @ 40122. */
export const SUNSPEC_INVERTER_IMAGE: readonly number[] = [
  0x5375,
  0x6e53,
  ...COMMON_MODEL_WORDS,
  ...INVERTER_103_WORDS,
  0xffff,
  0x0000,
];

/**
 * Model 203 (wye meter, int + SF) up to TotWh_SF (55 of its 107 registers): W −1500 W (export), WphA/B/C −500 W,
 * AphA/B/C 2.2 A (22, SF −1), PhVphA/B/C 230.0 V (2300, SF −1), Hz 50.00 (5000, SF −2), TotWhExp 12 345 Wh,
 * TotWhImp 65 536 Wh (TotWh_SF 0).
 */
// prettier-ignore
export const METER_203_WORDS: readonly number[] = [
  0x00cb, 0x0069, // ID 203, L 105
  0x0042, 0x0016, 0x0016, 0x0016, 0xffff, // A 66, AphA/B/C 22, A_SF −1
  0x08fc, 0x08fc, 0x08fc, 0x08fc, // PhV, PhVphA/B/C 2300
  NI16, NI16, NI16, NI16, 0xffff, // PPV, PhVphAB/BC/CA, V_SF −1
  0x1388, 0xfffe, // Hz 5000, Hz_SF −2
  0xfa24, 0xfe0c, 0xfe0c, 0xfe0c, 0x0000, // W −1500, WphA/B/C −500, W_SF 0
  NI16, NI16, NI16, NI16, NI16, // VA…, VA_SF
  NI16, NI16, NI16, NI16, NI16, // VAR…, VAR_SF
  NI16, NI16, NI16, NI16, NI16, // PF…, PF_SF
  0x0000, 0x3039, Z, Z, Z, Z, Z, Z, // TotWhExp 12345, per phase not implemented (acc32 0)
  0x0001, 0x0000, Z, Z, Z, Z, Z, Z, // TotWhImp 65536, per phase not implemented
  0x0000, // TotWh_SF 0
];
