// The KEBA KeContact P30 UDP protocol as data: what a datagram from the station means, and how a set-point becomes a
// command. Source: KEBA "KeContact P30 UDP Programmers Guide" V2.01 (and the P20 guide for the broadcast format).
// No sockets here: station.ts does the I/O.
import { mapBounds, wholeStepWithin, type AssetReading, type Measurements, type ValueBounds } from '@voltimax/contracts';

type ChargerState = NonNullable<AssetReading['chargerState']>;

/** The station's UDP port (commands to it, answers and status messages from it). */
export const KEBA_PORT = 7090;
/** Minimum pause between two commands to one station (t_UDP_pause), ms. */
export const COMMAND_PAUSE_MS = 100;
/** Minimum pause after a disabling command (`currtime 0 1`, `ena 0`) before the next one (t_DIS_pause), ms. */
export const DISABLE_PAUSE_MS = 2_000;
/** Minimum period of a scheduled repetition of the same command, e.g. `report 3` (t_COM_pause), ms. */
export const REPEAT_PAUSE_MS = 5_000;
/** Charging current the station accepts besides 0, mA (`currtime`). */
export const MIN_CURRENT_MA = 6_000;
export const MAX_CURRENT_MA = 63_000;

/** A report's fields as the station sends them (numbers and strings, keys with spaces: "Max curr", "E pres"). */
export type ReportFields = Readonly<Record<string, number | string>>;

/** What one datagram from the station is. */
export type Datagram =
  | { readonly kind: 'report'; readonly id: number; readonly fields: ReportFields }
  /** An unsolicited status message, e.g. `{"Max curr": 16000}` after a change (sent to the last commander). */
  | { readonly kind: 'status'; readonly fields: ReportFields }
  | { readonly kind: 'ok' }
  | { readonly kind: 'refused'; readonly text: string }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Decodes a datagram. Replies are JSON (up to 512 bytes; a trailing comma before the closing brace occurs in the
 * guide's own samples and is accepted) or the texts `TCH-OK :done` / `TCH-ERR…`.
 */
export function parseDatagram(data: Uint8Array): Datagram {
  if (data.length > 2_048) return { kind: 'malformed', reason: `${data.length} bytes (the station sends at most 512)` };
  const text = Buffer.from(data).toString('latin1').trim();
  if (text.startsWith('TCH-OK')) return { kind: 'ok' };
  if (text.startsWith('TCH-ERR')) return { kind: 'refused', text: text.slice(0, 100) };
  // Status messages are one member, with or without the braces of an object (`{"State": 2}` or `"State": 2`).
  const json = text.startsWith('"') ? `{${text}}` : text;
  if (!json.startsWith('{')) return { kind: 'malformed', reason: `not JSON: ${JSON.stringify(text.slice(0, 40))}` };
  let value: unknown;
  try {
    value = JSON.parse(json.replace(/,\s*}\s*$/, '}'));
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { kind: 'malformed', reason: 'not a JSON object' };
  const fields: Record<string, number | string> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (typeof field === 'number' && Number.isFinite(field)) fields[key] = field;
    else if (typeof field === 'string') fields[key] = field;
  }
  const id = fields['ID'];
  if (id === undefined) return { kind: 'status', fields };
  const reportId = typeof id === 'string' ? Number.parseInt(id, 10) : id;
  return Number.isInteger(reportId)
    ? { kind: 'report', id: reportId, fields }
    : { kind: 'malformed', reason: `report ID ${String(id)}` };
}

const num = (fields: ReportFields, key: string): number | undefined => {
  const value = fields[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

/** The connector state from report 2's `State` (0 startup … 5 interrupted) and `Plug` (7: plugged on both ends). */
export function chargerState(fields: ReportFields): ChargerState | undefined {
  const plugged = (num(fields, 'Plug') ?? 0) >= 5;
  switch (num(fields, 'State')) {
    case 0:
      return 'unavailable';
    case 1:
      return plugged ? 'suspended' : 'available';
    case 2: // ready, waiting for the vehicle (IEC 61851 state B)
    case 5: // interrupted by the station (temperature or another voter)
      return 'suspended';
    case 3:
      return 'charging';
    case 4:
      return 'faulted';
    default:
      return undefined;
  }
}

/**
 * Measurements from the merged fields of reports 2 and 3 (and status messages), in the contracts' units: P is mW,
 * currents are mA, energies 0.1 Wh, "Max curr" (the current offered on the control pilot) mA. EV power ≥ 0.
 */
export function measurements(fields: ReportFields): Measurements {
  const values: Measurements = {};
  // Divided, not multiplied by 1e-3: 15990 / 1000 is 15.99, 15990 * 1e-3 is 15.990000000000002.
  const set = (key: keyof Measurements, raw: number | undefined, divisor: number): void => {
    if (raw !== undefined) (values as Record<string, number>)[key] = raw / divisor;
  };
  set('powerW', num(fields, 'P'), 1_000);
  set('voltageL1V', num(fields, 'U1'), 1);
  set('voltageL2V', num(fields, 'U2'), 1);
  set('voltageL3V', num(fields, 'U3'), 1);
  set('currentL1A', num(fields, 'I1'), 1_000);
  set('currentL2A', num(fields, 'I2'), 1_000);
  set('currentL3A', num(fields, 'I3'), 1_000);
  set('sessionEnergyWh', num(fields, 'E pres'), 10);
  set('importEnergyWh', num(fields, 'E total'), 10);
  set('currentLimitA', num(fields, 'Max curr'), 1_000);
  return values;
}

/**
 * The current the station will run with after a `currtime`: "Curr timer" while its delay ("Tmo CT") runs, then
 * "Curr user". Undefined when report 2 lacks the fields.
 */
export function commandedCurrentMa(report2: ReportFields): number | undefined {
  const pending = num(report2, 'Tmo CT') ?? 0;
  return pending > 0 ? num(report2, 'Curr timer') : num(report2, 'Curr user');
}

/**
 * A charging current as the station takes it: 0 (stop) or 6–63 A in whole mA, toward zero unless that leaves the
 * arbiter's `bounds` (A) and the mA above does not; anything else is refused with a reason.
 */
export function currentCommand(
  currentA: number,
  bounds?: ValueBounds,
): { readonly ok: true; readonly milliAmps: number } | { readonly ok: false; readonly reason: string } {
  const milliAmps = wholeStepWithin(
    currentA * 1_000,
    bounds === undefined ? undefined : mapBounds(bounds, (a) => a * 1_000),
  );
  if (milliAmps === 0) return { ok: true, milliAmps: 0 };
  if (milliAmps < MIN_CURRENT_MA || milliAmps > MAX_CURRENT_MA) {
    return {
      ok: false,
      reason: `KEBA takes 0 A or ${MIN_CURRENT_MA / 1_000}–${MAX_CURRENT_MA / 1_000} A, not ${currentA} A`,
    };
  }
  return { ok: true, milliAmps };
}

/**
 * `currtime <mA> 1`: the non-permanent current setting the guide recommends for control (reset when the plug is
 * pulled; `curr` would persist until a reboot). The one-second delay is the shortest the station takes.
 */
export const currtime = (milliAmps: number): string => `currtime ${milliAmps} 1`;
