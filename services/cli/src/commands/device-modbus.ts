// What the `voltimax device …` commands share: a short-lived Modbus pool and the table output. Block reads and
// SunSpec discovery come from @voltimax/modbus. Read-only by construction: nothing here writes a register.
import { ModbusPool } from '@voltimax/modbus';
import { pino } from 'pino';
import { CliExit, type CliIo } from '../io';

/** A pool for one command: one attempt per read (a person is waiting), no logging to the terminal. */
export function commandPool(timeoutMs: number): ModbusPool {
  return new ModbusPool({
    log: pino({ level: 'silent' }),
    timeoutMs,
    retry: { attempts: 1 },
  });
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
