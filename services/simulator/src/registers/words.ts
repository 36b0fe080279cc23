// The simulator's own register encoding. Deliberately independent of @voltimax/devices' codec (STYLE §8.3):
// the golden tests in this folder check these helpers against words typed by hand, so a byte-order mistake
// shared by the poller and the simulator cannot hide behind an encode-then-decode round trip.

/** A Modbus exception a simulated device answers with instead of data. */
export class ModbusException extends Error {
  override readonly name = 'ModbusException';
  constructor(
    /** 1 illegal function, 2 illegal data address, 3 illegal data value, 4 server device failure. */
    readonly modbusErrorCode: 1 | 2 | 3 | 4,
    message: string,
  ) {
    super(message);
  }
}

/** Exception 02: the address (or part of the range) does not exist or may not be written. */
export function illegalAddress(message: string): ModbusException {
  return new ModbusException(2, message);
}

/** Exception 03: the value is not acceptable for the register. */
export function illegalValue(message: string): ModbusException {
  return new ModbusException(3, message);
}

/** IEEE-754 single precision, big-endian, high word first: `[hi, lo]`. */
export function float32Words(value: number): [number, number] {
  const bytes = new DataView(new ArrayBuffer(4));
  bytes.setFloat32(0, value, false);
  return [bytes.getUint16(0, false), bytes.getUint16(2, false)];
}

/** Unsigned 32-bit, high word first; the value is rounded and clamped to 0 … 0xFFFFFFFF. */
export function u32Words(value: number): [number, number] {
  const raw = Math.min(0xffffffff, Math.max(0, Math.round(value)));
  return [Math.floor(raw / 0x10000), raw % 0x10000];
}

/** Signed 32-bit two's complement, high word first; rounded and clamped to the int32 range. */
export function s32Words(value: number): [number, number] {
  const raw = Math.min(0x7fffffff, Math.max(-0x80000000, Math.round(value)));
  return u32Words(raw < 0 ? raw + 0x100000000 : raw);
}

/** Unsigned 16-bit; rounded and clamped to 0 … 0xFFFF. */
export function u16Word(value: number): number {
  return Math.min(0xffff, Math.max(0, Math.round(value)));
}

/** Signed 16-bit two's complement; rounded and clamped to −32768 … 32767. */
export function s16Word(value: number): number {
  const raw = Math.min(0x7fff, Math.max(-0x8000, Math.round(value)));
  return raw < 0 ? raw + 0x10000 : raw;
}

/** A register word read back as signed 16-bit. */
export function fromS16(word: number): number {
  return word >= 0x8000 ? word - 0x10000 : word;
}

/** Two words (high first) read back as unsigned 32-bit. */
export function fromU32(hi: number, lo: number): number {
  return hi * 0x10000 + lo;
}

/** Two words (high first) read back as signed 32-bit. */
export function fromS32(hi: number, lo: number): number {
  const raw = fromU32(hi, lo);
  return raw >= 0x80000000 ? raw - 0x100000000 : raw;
}

/** ASCII text, two characters per register (first character in the high byte), zero-padded to `registers`. */
export function stringWords(text: string, registers: number): number[] {
  const words = new Array<number>(registers).fill(0);
  for (let i = 0; i < Math.min(text.length, registers * 2); i += 1) {
    const code = text.charCodeAt(i) & 0x7f;
    const index = Math.floor(i / 2);
    words[index] = (words[index] ?? 0) | (i % 2 === 0 ? code << 8 : code);
  }
  return words;
}
