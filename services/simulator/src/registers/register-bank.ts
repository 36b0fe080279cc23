import { fromS16, fromS32, fromU32, illegalAddress, illegalValue } from './words';

/** The two register tables the simulated devices serve (FC 04 input, FC 03/06/16 holding). */
export type RegisterTable = 'input' | 'holding';

/** Largest count one read may ask for (Modbus: 125 registers per FC 03/04 request). */
export const MAX_READ_REGISTERS = 125;

/** A contiguous range of registers a device answers, `start` … `start + length − 1`. */
export interface RegisterWindow {
  readonly table: RegisterTable;
  readonly start: number;
  readonly length: number;
}

/** What every simulated device offers the Modbus server. Errors are `ModbusException`s (words.ts). */
export interface SimulatedDevice {
  /** Profile id of what it imitates (`eastron.sdm630`, …), for logs. */
  readonly profileId: string;
  /** Words of `count` registers from `address`; throws exception 02 outside the device's windows. */
  read(table: RegisterTable, address: number, count: number): number[];
  /** Writes holding registers (FC 06 / FC 16); throws 02 for read-only addresses, 03 for bad values. */
  write(address: number, words: readonly number[]): void;
}

/** A register image: the windows a device answers, everything else is exception 02. */
export class RegisterBank {
  private readonly windows: readonly (RegisterWindow & { readonly words: Uint16Array })[];

  constructor(windows: readonly RegisterWindow[]) {
    this.windows = windows.map((w) => ({ ...w, words: new Uint16Array(w.length) }));
  }

  private windowOf(table: RegisterTable, address: number, count: number) {
    return this.windows.find((w) => w.table === table && address >= w.start && address + count <= w.start + w.length);
  }

  /** Serves a read: exception 03 for a count outside 1 … 125, 02 when any register is outside the windows. */
  read(table: RegisterTable, address: number, count: number): number[] {
    if (count < 1 || count > MAX_READ_REGISTERS) throw illegalValue(`count ${count} outside 1…${MAX_READ_REGISTERS}`);
    const window = this.windowOf(table, address, count);
    if (!window) throw illegalAddress(`${table} ${address}+${count} is not served`);
    return Array.from(window.words.subarray(address - window.start, address - window.start + count));
  }

  /** Sets words in the image (the device's own update, not a Modbus write). Throws on a programming error. */
  set(table: RegisterTable, address: number, words: readonly number[]): void {
    const window = this.windowOf(table, address, words.length);
    if (!window) throw new RangeError(`${table} ${address}+${words.length} is outside the register image`);
    words.forEach((word, i) => {
      window.words[address - window.start + i] = word;
    });
  }

  /** One word of the image (0 when the address is not served: callers use known addresses). */
  get(table: RegisterTable, address: number): number {
    const window = this.windowOf(table, address, 1);
    return window ? (window.words[address - window.start] ?? 0) : 0;
  }
}

/** A holding register (or register pair) a client may write, with the values the device accepts. */
export interface WritablePoint {
  readonly name: string;
  readonly address: number;
  readonly type: 'u16' | 's16' | 'u32' | 's32';
  /** Smallest accepted value (raw, before any scale factor). */
  readonly min: number;
  /** Largest accepted value (raw). */
  readonly max: number;
}

/** A point written by one request, with its raw value. */
export interface WrittenPoint {
  readonly point: WritablePoint;
  readonly value: number;
}

function sizeOf(point: WritablePoint): number {
  return point.type === 'u32' || point.type === 's32' ? 2 : 1;
}

function rawValue(point: WritablePoint, words: readonly number[]): number {
  const [hi = 0, lo = 0] = words;
  switch (point.type) {
    case 'u16':
      return hi;
    case 's16':
      return fromS16(hi);
    case 'u32':
      return fromU32(hi, lo);
    case 's32':
      return fromS32(hi, lo);
  }
}

/**
 * Validates a holding-register write against the writable points and stores it, all or nothing: every register
 * must belong to a writable point and the request must cover whole points (half of a 32-bit value is refused
 * with 02, as devices that latch 32-bit values do), and every value must lie in its range (else 03).
 * Returns the points written, in address order.
 */
export function applyWrite(
  bank: RegisterBank,
  points: readonly WritablePoint[],
  address: number,
  words: readonly number[],
): WrittenPoint[] {
  if (words.length === 0) throw illegalValue('empty write');
  const written: WrittenPoint[] = [];
  let offset = 0;
  while (offset < words.length) {
    const at = address + offset;
    const point = points.find((p) => p.address === at);
    if (!point) {
      const inside = points.some((p) => at > p.address && at < p.address + sizeOf(p));
      throw illegalAddress(inside ? `${at} is inside a 32-bit register` : `${at} is not writable`);
    }
    const size = sizeOf(point);
    if (offset + size > words.length) throw illegalAddress(`write ends inside ${point.name} (${point.address})`);
    const value = rawValue(point, words.slice(offset, offset + size));
    if (value < point.min || value > point.max) {
      throw illegalValue(`${point.name} = ${value} outside ${point.min}…${point.max}`);
    }
    written.push({ point, value });
    offset += size;
  }
  bank.set('holding', address, words);
  return written;
}
