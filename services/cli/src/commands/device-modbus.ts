// What the `voltimax device …` commands share: a short-lived Modbus pool, block reads, SunSpec discovery and the
// table output. Read-only by construction: nothing here writes a register.
import {
  nextSunSpecDiscoveryStep,
  planSunSpecDiscovery,
  type BlockWords,
  type ReadBlock,
  type SunSpecModelLocation,
} from '@voltimax/devices';
import { ModbusExceptionError, ModbusPool, type ModbusReadRange } from '@voltimax/modbus';
import { pino } from 'pino';
import { CliExit, type CliIo } from '../io';

/** The read side of a Modbus unit client: all the device commands need. */
export interface RegisterReader {
  read(range: ModbusReadRange): Promise<number[]>;
}

/** A pool for one command: one attempt per read (a person is waiting), no logging to the terminal. */
export function commandPool(timeoutMs: number): ModbusPool {
  return new ModbusPool({
    log: pino({ level: 'silent' }),
    timeoutMs,
    retry: { attempts: 1 },
  });
}

/** Reads the blocks in order. */
export async function readBlocks(client: RegisterReader, blocks: readonly ReadBlock[]): Promise<BlockWords[]> {
  const out: BlockWords[] = [];
  for (const block of blocks) {
    out.push({
      table: block.table,
      start: block.start,
      words: await client.read({ table: block.table, address: block.start, count: block.count }),
    });
  }
  return out;
}

/** The SunSpec chain of a device, or why there is none. */
export type SunSpecScan =
  | { readonly kind: 'found'; readonly baseAddress: number; readonly models: readonly SunSpecModelLocation[] }
  | { readonly kind: 'not-found'; readonly detail: string };

/**
 * Walks the SunSpec discovery step machine (marker at 40000, 50000, 0, then one model header at a time). An
 * exception answer means "not here"; a timeout or refused connection is thrown (a dead device is not "no SunSpec").
 */
export async function scanSunSpecChain(
  client: RegisterReader,
  baseAddresses?: readonly number[],
): Promise<SunSpecScan> {
  let step = planSunSpecDiscovery(baseAddresses);
  while (step.kind === 'read') {
    let response: { kind: 'words'; words: readonly number[] } | { kind: 'error'; detail: string };
    try {
      response = {
        kind: 'words',
        words: await client.read({ table: 'holding', address: step.address, count: step.count }),
      };
    } catch (err) {
      if (!(err instanceof ModbusExceptionError)) throw err;
      response = { kind: 'error', detail: err.message };
    }
    step = nextSunSpecDiscoveryStep(step, response);
  }
  if (step.kind === 'found') return { kind: 'found', baseAddress: step.baseAddress, models: step.models };
  if (step.kind === 'not-found')
    return { kind: 'not-found', detail: `no SunS marker at ${step.triedBaseAddresses.join(', ')}` };
  return {
    kind: 'not-found',
    detail: `SunSpec chain at ${step.baseAddress} broken (${step.reason}) after ${step.models.length} models`,
  };
}

const SUFFIX_UNITS: readonly (readonly [string, string])[] = [
  ['Wh', 'Wh'],
  ['Var', 'var'],
  ['Va', 'VA'],
  ['Pct', '%'],
  ['Hz', 'Hz'],
  ['W', 'W'],
  ['V', 'V'],
  ['A', 'A'],
  ['C', '°C'],
  ['S', 's'],
];

/** The unit of a value: the profile's, else the one the key's suffix names (`powerW` → W, `socPct` → %). */
export function unitOf(key: string, explicit?: string): string {
  if (explicit !== undefined) return explicit;
  return SUFFIX_UNITS.find(([suffix]) => key.endsWith(suffix))?.[1] ?? '';
}

/** A value for people: float32 noise trimmed (230.10000610351562 → 230.1), integers and text as they are. */
export function formatValue(value: number | string, significantDigits = 12): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(significantDigits)));
}

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return (
    rows.map((row) => `${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd()).join('\n') + '\n'
  );
}

/** Parses an integer option; a bad value is a usage error (exit 2). */
export function intOption(io: CliIo, name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    io.stderr(`${name} must be an integer from ${min} to ${max}, got '${text}'\n`);
    throw new CliExit(2);
  }
  return value;
}

/** A failure as one line: the error's name and message. */
export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
