// Golden datagrams typed in from KEBA's UDP Programmers Guides (P20 V2.00 sample replies, P30 V2.01 field tables),
// never produced by our own encoder.
import {
  chargerState,
  commandedCurrentMa,
  currentCommand,
  measurements,
  parseDatagram,
  type ReportFields,
} from './protocol';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

/** The guide's report 2 sample, trailing comma included. */
const REPORT_2 = `{
"ID": "2",
"State": 2,
"Error1": 99,
"Error2": 99,
"Plug": 1,
"Enable sys": 1,
"Enable user": 1,
"Max curr": 32000,
"Max curr %": 1000,
"Curr HW": 32000,
"Curr user": 63000,
"Curr FS": 63000,
"Tmo FS": 0,
"Output": 0,
"Input": 0,
"Serial": "15017355",
"Sec": 4294967296,
}`;

/** Report 3 with the units of the V2.01 field table: V, mA, mW, 0.1 %, 0.1 Wh. */
const REPORT_3 = `{"ID": "3", "U1": 230, "U2": 229, "U3": 231, "I1": 15990, "I2": 16010, "I3": 15980, "P": 11040000, "PF": 995, "E pres": 123456, "E total": 98765432, "Serial": "15017355", "Sec": 1234}`;

describe('parseDatagram', () => {
  it('reads the guide report 2 sample, trailing comma and all', () => {
    const datagram = parseDatagram(bytes(REPORT_2));
    expect(datagram).toMatchObject({ kind: 'report', id: 2 });
    expect(datagram.kind === 'report' && datagram.fields).toMatchObject({
      State: 2,
      Plug: 1,
      'Max curr': 32000,
      'Curr user': 63000,
      Serial: '15017355',
    });
  });

  it.each([
    ['TCH-OK :done', { kind: 'ok' }],
    ['TCH-ERR', { kind: 'refused', text: 'TCH-ERR' }],
    ['{"Max curr": 10000}', { kind: 'status', fields: { 'Max curr': 10000 } }],
    ['"State": 3', { kind: 'status', fields: { State: 3 } }],
    ['hello', { kind: 'malformed', reason: 'not JSON: "hello"' }],
    ['[1, 2]', { kind: 'malformed', reason: 'not JSON: "[1, 2]"' }],
    ['{"ID": "x"}', { kind: 'malformed', reason: 'report ID x' }],
  ])('%s → %j', (text, expected) => {
    expect(parseDatagram(bytes(text))).toEqual(expected);
  });

  it('refuses JSON that does not parse and datagrams far beyond 512 bytes', () => {
    expect(parseDatagram(bytes('{"State": }'))).toMatchObject({ kind: 'malformed' });
    expect(parseDatagram(new Uint8Array(4_096))).toEqual({
      kind: 'malformed',
      reason: '4096 bytes (the station sends at most 512)',
    });
  });
});

describe('measurements', () => {
  it('converts report 3 into the contracts units', () => {
    const datagram = parseDatagram(bytes(REPORT_3));
    if (datagram.kind !== 'report') throw new Error('not a report');
    expect(measurements(datagram.fields)).toEqual({
      powerW: 11_040,
      voltageL1V: 230,
      voltageL2V: 229,
      voltageL3V: 231,
      currentL1A: 15.99,
      currentL2A: 16.01,
      currentL3A: 15.98,
      sessionEnergyWh: 12_345.6,
      importEnergyWh: 9_876_543.2,
    });
  });

  it('takes the offered current from "Max curr" (mA → A) and leaves out what was not reported', () => {
    expect(measurements({ 'Max curr': 16_000, Serial: 'x' })).toEqual({ currentLimitA: 16 });
  });
});

describe('chargerState', () => {
  it.each<[ReportFields, string | undefined]>([
    [{ State: 0, Plug: 0 }, 'unavailable'],
    [{ State: 1, Plug: 3 }, 'available'],
    [{ State: 1, Plug: 7 }, 'suspended'],
    [{ State: 2, Plug: 7 }, 'suspended'],
    [{ State: 3, Plug: 7 }, 'charging'],
    [{ State: 4, Plug: 7 }, 'faulted'],
    [{ State: 5, Plug: 7 }, 'suspended'],
    [{ State: 9 }, undefined],
    [{}, undefined],
  ])('%j → %s', (fields, expected) => {
    expect(chargerState(fields)).toBe(expected);
  });
});

describe('currentCommand and commandedCurrentMa', () => {
  it.each([
    [0, { ok: true, milliAmps: 0 }],
    [6, { ok: true, milliAmps: 6_000 }],
    [16.0004, { ok: true, milliAmps: 16_000 }],
    [15.9996, { ok: true, milliAmps: 15_999 }], // toward zero: never above the current the arbiter allowed
    [63, { ok: true, milliAmps: 63_000 }],
    [5.9, { ok: false, reason: 'KEBA takes 0 A or 6–63 A, not 5.9 A' }],
    [64, { ok: false, reason: 'KEBA takes 0 A or 6–63 A, not 64 A' }],
  ])('%d A → %j', (currentA, expected) => {
    expect(currentCommand(currentA)).toEqual(expected);
  });

  it('takes the mA above when the arbiter’s bounds exclude the one toward zero', () => {
    expect(currentCommand(15.9996, { min: 15.9995, max: 16 })).toEqual({ ok: true, milliAmps: 16_000 });
    expect(currentCommand(15.9996, { min: 6, max: 16 })).toEqual({ ok: true, milliAmps: 15_999 });
  });

  it('reads back the pending current while the currtime delay runs, the user current after it', () => {
    expect(commandedCurrentMa({ 'Tmo CT': 1, 'Curr timer': 10_000, 'Curr user': 16_000 })).toBe(10_000);
    expect(commandedCurrentMa({ 'Tmo CT': 0, 'Curr timer': 0, 'Curr user': 10_000 })).toBe(10_000);
    expect(commandedCurrentMa({ Serial: 'x' })).toBeUndefined();
  });
});
