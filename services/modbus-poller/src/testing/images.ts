// Register images typed in by hand from the register notes in ../shared/reference/devices (never from our encoder).
// IEEE-754 float32 words were worked out by hand / with Python's struct, high word first as the SDM630 sends them.

/**
 * Eastron SDM630 input registers (FC 04, float32, high word first), eastron-sdm630.md: every register the
 * eastron.sdm630 profile reads. Values: 230.5 / 231.0 / 229.5 V; 5.5 / 4.0 / 3.25 A; 1200.5 / 900.0 / −100.5 W;
 * total 2000.0 W (import); 2100.0 VA; −150.0 var; PF 0.75; 50.0 Hz; import 1234.5 kWh; export 56.25 kWh.
 */
// prettier-ignore
export const SDM630_INPUT: Readonly<Record<number, readonly number[]>> = {
  0x0000: [0x4366, 0x8000], // voltage L1 230.5 V
  0x0002: [0x4367, 0x0000], // voltage L2 231.0 V
  0x0004: [0x4365, 0x8000], // voltage L3 229.5 V
  0x0006: [0x40b0, 0x0000], // current L1 5.5 A
  0x0008: [0x4080, 0x0000], // current L2 4.0 A
  0x000a: [0x4050, 0x0000], // current L3 3.25 A
  0x000c: [0x4496, 0x1000], // power L1 1200.5 W
  0x000e: [0x4461, 0x0000], // power L2 900.0 W
  0x0010: [0xc2c9, 0x0000], // power L3 −100.5 W
  0x0034: [0x44fa, 0x0000], // total system active power 2000.0 W
  0x0038: [0x4503, 0x4000], // total apparent power 2100.0 VA
  0x003c: [0xc316, 0x0000], // total reactive power −150.0 var
  0x003e: [0x3f40, 0x0000], // total power factor 0.75
  0x0046: [0x4248, 0x0000], // frequency 50.0 Hz
  0x0048: [0x449a, 0x5000], // import active energy 1234.5 kWh
  0x004a: [0x4261, 0x0000], // export active energy 56.25 kWh
};

/** What the poller must publish for {@link SDM630_INPUT} (units from the keys: W, V, A, Hz, Wh, var). */
export const SDM630_MEASUREMENTS = {
  voltageL1V: 230.5,
  voltageL2V: 231,
  voltageL3V: 229.5,
  currentL1A: 5.5,
  currentL2A: 4,
  currentL3A: 3.25,
  powerL1W: 1200.5,
  powerL2W: 900,
  powerL3W: -100.5,
  powerW: 2000,
  reactivePowerVar: -150,
  frequencyHz: 50,
  importEnergyWh: 1_234_500,
  exportEnergyWh: 56_250,
} as const;

/**
 * Peblar charger (peblar-ev-charger.md): holding 40000 u32 current limit in mA, 40002 force single phase; input
 * registers the peblar.home profile polls. Limit 16 A = 16000 mA = 0x0000 0x3E80; 3 phases; CP state 'C'
 * (0x43, charging); applied limit 16 A; 3 × 230 V; 11 kW total.
 */
// prettier-ignore
export const PEBLAR_HOLDING: Readonly<Record<number, readonly number[]>> = {
  40000: [0x0000, 0x3e80], // current limit 16 000 mA
  40002: [0x0000], // force single phase: no
};

// prettier-ignore
export const PEBLAR_INPUT: Readonly<Record<number, readonly number[]>> = {
  30000: [0x0000, 0x0000, 0x0001, 0xe240], // lifetime energy 123 456 Wh (s64)
  30008: [0x0000, 0x0e54], // power L1 3668 W
  30010: [0x0000, 0x0e54], // power L2 3668 W
  30012: [0x0000, 0x0e54], // power L3 3668 W
  30014: [0x0000, 0x2afc], // total power 11 004 W
  30016: [0x0000, 0x00e6], // voltage L1 230 V
  30018: [0x0000, 0x00e6], // voltage L2 230 V
  30020: [0x0000, 0x00e6], // voltage L3 230 V
  30022: [0x0000, 0x3e80], // current L1 16 000 mA
  30024: [0x0000, 0x3e80], // current L2 16 000 mA
  30026: [0x0000, 0x3e80], // current L3 16 000 mA
  30092: [0x0003], // phases 3
  30110: [0x0043], // CP state 'C'
  30112: [0x0000], // current limit source
  30113: [0x0000, 0x3e80], // applied current limit 16 000 mA
};

/** Flattens an image into address → word. */
export function flatten(image: Readonly<Record<number, readonly number[]>>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [address, words] of Object.entries(image)) words.forEach((w, i) => out.set(Number(address) + i, w));
  return out;
}
