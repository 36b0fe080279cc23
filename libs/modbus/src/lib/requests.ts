/** The four Modbus data tables. */
export type ModbusTable = 'holding' | 'input' | 'coil' | 'discrete';

/** A contiguous block to read from one table of one unit. */
export interface ModbusReadRange {
  readonly table: ModbusTable;
  /** First register or bit, 0-based protocol address (40001 → 0), 0..65535. */
  readonly address: number;
  /** Registers (1..125) or bits (1..2000) to read. */
  readonly count: number;
}

/** A read addressed to a unit: what the poller's read-block planner produces. */
export interface ModbusReadRequest extends ModbusReadRange {
  /** Unit id (slave address) 0..255; 1..247 on RTU lines. */
  readonly unitId: number;
}

/** Raw register words to write to consecutive holding registers of one unit. */
export interface ModbusRegisterWrite {
  /** First holding register, 0-based protocol address. */
  readonly address: number;
  /** Raw 16-bit words (0..65535), 1..123 of them. */
  readonly words: readonly number[];
  /**
   * Send FC16 (write multiple registers) even for a single word; for devices that reject FC06. Defaults to the
   * unit client's `forceFc16` option (itself default false).
   */
  readonly forceFc16?: boolean;
}

/** A register write addressed to a unit. */
export interface ModbusWriteRequest extends ModbusRegisterWrite {
  readonly unitId: number;
}

/** What the device confirmed for a write. */
export interface ModbusWriteResult {
  /** 6 (write single register) or 16 (write multiple registers). */
  readonly functionCode: 6 | 16;
  readonly address: number;
  /** Registers written. */
  readonly count: number;
}

/** A read transaction: FC01 coils, FC02 discrete inputs, FC03 holding, FC04 input registers. */
export interface ModbusReadOperation {
  readonly kind: 'read';
  readonly unitId: number;
  readonly functionCode: 1 | 2 | 3 | 4;
  readonly address: number;
  readonly count: number;
}

/** A register write transaction: FC06 single, FC16 multiple. */
export interface ModbusWriteOperation {
  readonly kind: 'write';
  readonly unitId: number;
  readonly functionCode: 6 | 16;
  readonly address: number;
  readonly words: readonly number[];
}

/** One transaction as the connection executes it. */
export type ModbusOperation = ModbusReadOperation | ModbusWriteOperation;

/** Registers per read (FC03/04), per the specification. */
export const MAX_READ_REGISTERS = 125;
/** Bits per read (FC01/02), per the specification. */
export const MAX_READ_BITS = 2_000;
/** Registers per write (FC16), per the specification. */
export const MAX_WRITE_REGISTERS = 123;

const READ_FUNCTION_CODES: Readonly<Record<ModbusTable, 1 | 2 | 3 | 4>> = {
  coil: 1,
  discrete: 2,
  holding: 3,
  input: 4,
};

function isInt(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/** Throws a RangeError (a caller bug) unless `unitId` is an integer 0..255. */
export function checkUnitId(unitId: number): void {
  if (!isInt(unitId, 0, 255)) throw new RangeError(`unit id must be an integer 0..255, got ${unitId}`);
}

/** The transaction for a read; throws a RangeError for an address, count or table the protocol cannot express. */
export function readOperation(unitId: number, range: ModbusReadRange): ModbusReadOperation {
  checkUnitId(unitId);
  const functionCode = READ_FUNCTION_CODES[range.table];
  if (functionCode === undefined) throw new RangeError(`unknown table ${String(range.table)}`);
  const max = range.table === 'coil' || range.table === 'discrete' ? MAX_READ_BITS : MAX_READ_REGISTERS;
  if (!isInt(range.count, 1, max)) {
    throw new RangeError(`count for table ${range.table} must be an integer 1..${max}, got ${range.count}`);
  }
  if (!isInt(range.address, 0, 0xffff) || range.address + range.count > 0x10000) {
    throw new RangeError(`address range ${range.address}+${range.count} is outside 0..65535`);
  }
  return { kind: 'read', unitId, functionCode, address: range.address, count: range.count };
}

/** The transaction for a register write: FC06 for one word unless `forceFc16`, FC16 otherwise. */
export function writeOperation(unitId: number, write: ModbusRegisterWrite, forceFc16: boolean): ModbusWriteOperation {
  checkUnitId(unitId);
  const count = write.words.length;
  if (!isInt(count, 1, MAX_WRITE_REGISTERS)) {
    throw new RangeError(`a write carries 1..${MAX_WRITE_REGISTERS} words, got ${count}`);
  }
  if (!isInt(write.address, 0, 0xffff) || write.address + count > 0x10000) {
    throw new RangeError(`address range ${write.address}+${count} is outside 0..65535`);
  }
  const bad = write.words.findIndex((w) => !isInt(w, 0, 0xffff));
  if (bad >= 0) throw new RangeError(`word ${bad} (${String(write.words[bad])}) is not an integer 0..65535`);
  const functionCode = count === 1 && !(write.forceFc16 ?? forceFc16) ? 6 : 16;
  return { kind: 'write', unitId, functionCode, address: write.address, words: [...write.words] };
}
