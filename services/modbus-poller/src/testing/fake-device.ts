// A fake register source for unit tests: a sparse register image with the failure modes the poller must handle.
import {
  ModbusExceptionError,
  type BreakerState,
  type ModbusReadRange,
  type ModbusRegisterWrite,
  type ModbusTable,
} from '@voltimax/modbus';
import type { RegisterClient } from '../device-reader';

const READ_FC: Readonly<Record<ModbusTable, number>> = { coil: 1, discrete: 2, holding: 3, input: 4 };

/** A device as a map of register words. Unmapped addresses answer exception 2, as real sparse devices do. */
export class FakeDevice implements RegisterClient {
  readonly tables: Record<ModbusTable, Map<number, number>> = {
    holding: new Map(),
    input: new Map(),
    coil: new Map(),
    discrete: new Map(),
  };
  readonly reads: ModbusReadRange[] = [];
  readonly writes: ModbusRegisterWrite[] = [];
  /** Thrown by every read while set (a dead device, a timeout …). */
  readError: Error | undefined;
  /** Thrown by every write while set. */
  writeError: Error | undefined;
  /** Acknowledge writes without storing them (a device that ignores remote control). */
  ignoreWrites = false;
  /** While set, reads wait for it (a hanging device). */
  readGate: Promise<void> | undefined;
  breaker: BreakerState = 'closed';

  constructor(readonly name = 'fake:502') {}

  /** Put words at consecutive addresses. */
  set(table: ModbusTable, address: number, words: readonly number[]): this {
    words.forEach((word, i) => this.tables[table].set(address + i, word));
    return this;
  }

  /** The words at consecutive addresses (undefined where nothing is mapped). */
  get(table: ModbusTable, address: number, count: number): (number | undefined)[] {
    return Array.from({ length: count }, (_, i) => this.tables[table].get(address + i));
  }

  async read(range: ModbusReadRange): Promise<number[]> {
    this.reads.push(range);
    if (this.readGate !== undefined) await this.readGate;
    if (this.readError !== undefined) throw this.readError;
    const words: number[] = [];
    for (let a = range.address; a < range.address + range.count; a += 1) {
      const word = this.tables[range.table].get(a);
      if (word === undefined) throw new ModbusExceptionError(this.name, 1, READ_FC[range.table], range.address, 2);
      words.push(word);
    }
    return words;
  }

  async write(write: ModbusRegisterWrite): Promise<void> {
    this.writes.push(write);
    if (this.writeError !== undefined) throw this.writeError;
    const fc = write.words.length === 1 ? 6 : 16;
    for (let i = 0; i < write.words.length; i += 1) {
      if (!this.tables.holding.has(write.address + i))
        throw new ModbusExceptionError(this.name, 1, fc, write.address, 2);
    }
    if (!this.ignoreWrites) this.set('holding', write.address, write.words);
  }

  breakerState(): BreakerState {
    return this.breaker;
  }
}

/** A fake HealthControl that keeps counters and the last status. */
export { RecordingHealth as FakeHealth } from '@voltimax/driver-sdk/testing';
