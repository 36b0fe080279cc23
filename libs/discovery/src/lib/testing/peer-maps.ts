// Register maps for the pymodbus peer (shared/tools/modbus-peer format), typed from the reference sheets: the peer
// encodes strings and floats itself, never with our codec. Addresses are 0-based wire addresses.

const zeros = (n: number): number[] => Array.from({ length: n }, () => 0);

/** SunSpec common model 1 (L = 66) at 40002 after the `SunS` marker: Mn, Md, Opt, Vr, SN, DA, pad. */
function commonModel(mn: string, md: string, vr: string, sn: string): Record<string, unknown> {
  return {
    '40000': [0x5375, 0x6e53, 1, 66],
    '40004': { string: mn, registers: 16 },
    '40020': { string: md, registers: 16 },
    '40036': { string: '', registers: 8 },
    '40044': { string: vr, registers: 8 },
    '40052': { string: sn, registers: 16 },
    '40068': [1, 0],
  };
}

/**
 * A CNTE cabinet as the `cnte.ess-cabinet` profile pins it: 1 @ 40002, 802 @ 40070 (L 62), 704 @ 40134 (L 65),
 * 803 @ 40201 (L 58, one string), end @ 40261. Single-unit map: it answers every unit id, like many TCP devices.
 */
export const CNTE_MAP = {
  holding_registers: {
    ...commonModel('CNTE', 'ESS-215', '1.0.0', 'SIM-PEER-0001'),
    '40070': [802, 62, ...zeros(62)],
    '40134': [704, 65, ...zeros(65)],
    '40201': [803, 58, ...zeros(58)],
    '40261': [0xffff, 0],
  },
};

/** A three-phase SunSpec PV inverter (common model + 103) on unit 1 only. */
export const SUNSPEC_INVERTER_MAP = {
  units: {
    '1': {
      holding_registers: {
        ...commonModel('Fronius', 'Symo 8.2-3-M', '3.20.1', '34110987'),
        '40070': [103, 50, ...zeros(50)],
        '40122': [0xffff, 0],
      },
    },
  },
};

/** Eastron SDM630 input registers (float32, high word first) on unit 1 only, as behind an RS-485 gateway. */
export const SDM630_MAP = {
  units: {
    '1': {
      input_registers: {
        '0': { type: 'float32', value: 230.1 },
        '2': { type: 'float32', value: 229.8 },
        '4': { type: 'float32', value: 231.0 },
        '52': { type: 'float32', value: -1234.5 },
        '70': { type: 'float32', value: 50.01 },
        '72': { type: 'float32', value: 1520.4 },
        '74': { type: 'float32', value: 310.7 },
      },
    },
  },
};

/** Growatt SPH: status, PV block frequency (0.01 Hz), storage work mode and SoC. Answers every unit id. */
export const GROWATT_SPH_MAP = {
  input_registers: { '0': 1, '1': [0, 31_250], '37': 5_002, '1000': 5, '1014': 67 },
};

/** Siemens PAC2200: float32 L1–L3 voltages from holding 1, frequency at 55, total power at 65. */
export const PAC2200_MAP = {
  holding_registers: {
    '1': { type: 'float32', value: 231.2 },
    '3': { type: 'float32', value: 230.7 },
    '5': { type: 'float32', value: 229.9 },
    '55': { type: 'float32', value: 49.98 },
    '65': { type: 'float32', value: 812.5 },
  },
};

/** ABB B23: u32 L1 voltage × 0.1 V at 0x5B00, u16 frequency × 0.01 Hz at 0x5B2C. */
export const ABB_B23_MAP = {
  holding_registers: {
    '23296': { type: 'uint32', value: 2305 },
    '23298': { type: 'uint32', value: 2299 },
    '23300': { type: 'uint32', value: 2311 },
    '23340': 5001,
  },
};
