// Golden tests of the Peblar REST profile with response bodies typed by hand from
// libs/devices/docs/devices/peblar-ev-charger.md § 1 (PascalCase members, mA currents, Wh energies).
import { getHttpProfile } from '../catalogue';
import { checkHttpReadBack, encodeHttpWrite, httpAuthHeaders, httpUrl } from '../http-requests';
import { decodeJsonFields, describeJsonIssues, parseJsonDocument } from '../json-fields';
import type { HttpProfile } from '../http-profile';

const profile = getHttpProfile('peblar.rest') as HttpProfile;
const read = (name: string) => {
  const found = profile.reads.find((r) => r.name === name);
  if (found === undefined) throw new Error(name);
  return found;
};
const decodeText = (name: string, body: string) => {
  const document = parseJsonDocument(body);
  if (!document.ok) throw new Error(document.error);
  return decodeJsonFields(read(name).fields, document.value);
};

describe('peblar.rest', () => {
  it('is in the catalogue with the documented base path and token header', () => {
    expect(profile.kind).toBe('ev-charger');
    expect(httpUrl('http://192.0.2.30', profile, '/meter')).toBe('http://192.0.2.30/api/wlac/v1/meter');
    const token = 'a'.repeat(64);
    expect(httpAuthHeaders(profile, token)).toEqual({ Authorization: token });
  });

  it('decodes the documented idle meter of a 1-phase install (34.918 kWh session, 4 937.323 kWh lifetime)', () => {
    const reading = decodeText(
      'meter',
      '{"CurrentPhase1":0,"CurrentPhase2":0,"CurrentPhase3":0,"EnergySession":34918,"EnergyTotal":4937323,' +
        '"PowerPhase1":0,"PowerPhase2":0,"PowerPhase3":0,"PowerTotal":0,"VoltagePhase1":227,"VoltagePhase2":null,"VoltagePhase3":null}',
    );
    expect(reading.issues).toEqual([]);
    expect(reading.measurements).toEqual({
      powerW: 0,
      powerL1W: 0,
      powerL2W: 0,
      powerL3W: 0,
      currentL1A: 0,
      currentL2A: 0,
      currentL3A: 0,
      voltageL1V: 227,
      importEnergyWh: 4_937_323,
      sessionEnergyWh: 34_918,
    });
  });

  it('decodes a 3-phase charge at 16 A (mA → A)', () => {
    const reading = decodeText(
      'meter',
      '{"CurrentPhase1":15960,"CurrentPhase2":15880,"CurrentPhase3":16020,"EnergySession":5120,"EnergyTotal":1250034,' +
        '"PowerPhase1":3671,"PowerPhase2":3648,"PowerPhase3":3689,"PowerTotal":11008,"VoltagePhase1":230,"VoltagePhase2":229,"VoltagePhase3":231}',
    );
    expect(reading.issues).toEqual([]);
    expect(reading.measurements).toMatchObject({
      powerW: 11_008,
      powerL3W: 3_689,
      currentL1A: 15.96,
      currentL2A: 15.88,
      currentL3A: 16.02,
      voltageL2V: 229,
      sessionEnergyWh: 5_120,
    });
  });

  it('decodes the EV interface: control-pilot letter, requested and applied limit, limiter', () => {
    const reading = decodeText(
      'evinterface',
      '{"CpState":"State C","ChargeCurrentLimit":16000,"ChargeCurrentLimitActual":10000,' +
        '"ChargeCurrentLimitSource":"Installation limit","Force1Phase":false}',
    );
    expect(reading.issues).toEqual([]);
    expect(reading.values).toEqual({
      cpState: 0x43,
      evCurrentSetpointA: 16,
      currentLimitA: 10,
      currentLimitSource: 'Installation limit',
      forceSinglePhase: 0,
    });
    expect(reading.measurements).toEqual({ currentLimitA: 10 });
    expect(
      decodeText(
        'evinterface',
        '{"CpState":"Invalid","ChargeCurrentLimit":6000,"ChargeCurrentLimitActual":0,"ChargeCurrentLimitSource":"Local REST API"}',
      ).values.cpState,
    ).toBe(0);
  });

  it('decodes the system identity and phase count', () => {
    const reading = decodeText(
      'system',
      '{"ProductPn":"6004-2300-8000","ProductSn":"23-38-A4E-2MC","FirmwareVersion":"1.6.1+1+WL-1","PhaseCount":3,' +
        '"Force1PhaseAllowed":true,"Uptime":4861,"ActiveErrorCodes":[],"ActiveWarningCodes":[],"WlanSignalStrength":-52,"CellularSignalStrength":null}',
    );
    expect(reading.issues).toEqual([]);
    expect(reading.values).toEqual({
      phases: 3,
      serialNumber: '23-38-A4E-2MC',
      productNumber: '6004-2300-8000',
      firmwareVersion: '1.6.1+1+WL-1',
    });
  });

  it('names malformed members: wrong JSON type, missing member, unknown CP state', () => {
    const meter = decodeText(
      'meter',
      '{"PowerTotal":"11008","PowerPhase1":3671,"CurrentPhase1":15960,"EnergySession":5120}',
    );
    expect(meter.values).toEqual({ powerL1W: 3_671, currentL1A: 15.96, sessionEnergyWh: 5_120 });
    expect(describeJsonIssues(meter.issues)).toBe(
      'malformed: $.PowerTotal is string, expected number; $.EnergyTotal missing',
    );
    const ev = decodeText(
      'evinterface',
      '{"CpState":"State Z","ChargeCurrentLimit":16000,"ChargeCurrentLimitActual":16000,"ChargeCurrentLimitSource":7}',
    );
    expect(describeJsonIssues(ev.issues)).toBe(
      "malformed: $.CpState has unknown value 'State Z'; $.ChargeCurrentLimitSource is number, expected string",
    );
  });

  it('refuses implausible values (a negative charging power, 100 A)', () => {
    const reading = decodeText(
      'meter',
      '{"CurrentPhase1":100000,"EnergySession":0,"EnergyTotal":10,"PowerPhase1":-5,"PowerTotal":-5}',
    );
    expect(describeJsonIssues(reading.issues)).toBe(
      'implausible: powerW=-5 below-min (limit 0); powerL1W=-5 below-min (limit 0); currentL1A=100 above-max (limit 80)',
    );
  });

  it('writes the limit as a PATCH of ChargeCurrentLimit in mA, with Force1Phase only when phases are named', () => {
    expect(JSON.stringify(firstRequest({ kind: 'ev-current', currentA: 10 }).body)).toBe(
      '{"ChargeCurrentLimit":10000}',
    );
    expect(firstRequest({ kind: 'ev-current', currentA: 10 })).toMatchObject({
      method: 'PATCH',
      path: '/evinterface',
      value: 10,
    });
    expect(JSON.stringify(firstRequest({ kind: 'ev-current', currentA: 6.5, phases: 1 }).body)).toBe(
      '{"ChargeCurrentLimit":6500,"Force1Phase":true}',
    );
    expect(JSON.stringify(firstRequest({ kind: 'ev-current', currentA: 16, phases: 3 }).body)).toBe(
      '{"ChargeCurrentLimit":16000,"Force1Phase":false}',
    );
    expect(JSON.stringify(firstRequest({ kind: 'safe' }).body)).toBe('{"ChargeCurrentLimit":0}');
    // Sub-milliampere requests are rounded to what the API can hold; the read-back is compared with that.
    expect(firstRequest({ kind: 'ev-current', currentA: 7.0004 })).toMatchObject({ deviceValue: 7000, value: 7 });
    expect(encodeHttpWrite(profile, { kind: 'ev-current', currentA: 40 })).toMatchObject({
      kind: 'rejected',
      reason: 'out-of-range',
    });
    expect(encodeHttpWrite(profile, { kind: 'battery-power', powerW: 10 })).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });

  it('confirms a write from ChargeCurrentLimit and reports the applied limit with its source', () => {
    const plan = firstRequest({ kind: 'ev-current', currentA: 16 });
    const after = decodeText(
      'evinterface',
      '{"CpState":"State C","ChargeCurrentLimit":16000,"ChargeCurrentLimitActual":13000,"ChargeCurrentLimitSource":"Household power limit"}',
    );
    expect(checkHttpReadBack(plan, after)).toEqual({
      kind: 'equal',
      readBack: 16,
      effective: 13,
      effectiveSource: 'Household power limit',
    });
    const refused = decodeText(
      'evinterface',
      '{"CpState":"State C","ChargeCurrentLimit":6000,"ChargeCurrentLimitActual":6000,"ChargeCurrentLimitSource":"Local REST API"}',
    );
    expect(checkHttpReadBack(plan, refused)).toMatchObject({ kind: 'different', readBack: 6 });
  });

  it('checks the phase switch too: the current alone does not make a write with phases equal', () => {
    const evinterface = (limitMa: number, force1: boolean) =>
      decodeText(
        'evinterface',
        `{"CpState":"State C","ChargeCurrentLimit":${limitMa},"ChargeCurrentLimitActual":${limitMa},"ChargeCurrentLimitSource":"Local REST API","Force1Phase":${force1}}`,
      );
    const onePhase = firstRequest({ kind: 'ev-current', currentA: 16, phases: 1 });
    // 16 A already held on three phases: not "already there" (the PATCH must be sent) …
    expect(checkHttpReadBack(onePhase, evinterface(16_000, false))).toMatchObject({
      kind: 'different',
      readBack: 16,
      differences: ['forceSinglePhase=0 (expected 1)'],
    });
    // … and a charger that stores the current but ignores Force1Phase is a mismatch, not applied.
    const ignored = firstRequest({ kind: 'ev-current', currentA: 10, phases: 1 });
    expect(checkHttpReadBack(ignored, evinterface(10_000, false))).toMatchObject({ kind: 'different', readBack: 10 });
    expect(checkHttpReadBack(onePhase, evinterface(16_000, true))).toMatchObject({ kind: 'equal', readBack: 16 });
    expect(
      checkHttpReadBack(firstRequest({ kind: 'ev-current', currentA: 16, phases: 3 }), evinterface(16_000, false)),
    ).toMatchObject({ kind: 'equal' });
    // A charger that does not report Force1Phase cannot confirm the switch.
    const silent = decodeText(
      'evinterface',
      '{"CpState":"State C","ChargeCurrentLimit":16000,"ChargeCurrentLimitActual":16000,"ChargeCurrentLimitSource":"x"}',
    );
    expect(checkHttpReadBack(onePhase, silent)).toMatchObject({ kind: 'unreadable' });
    // Without phases, Force1Phase is neither sent nor checked.
    expect(
      checkHttpReadBack(firstRequest({ kind: 'ev-current', currentA: 16 }), evinterface(16_000, true)),
    ).toMatchObject({
      kind: 'equal',
    });
  });
});

function firstRequest(setpoint: Parameters<typeof encodeHttpWrite>[1]) {
  const outcome = encodeHttpWrite(profile, setpoint);
  if (outcome.kind !== 'requests' || outcome.requests[0] === undefined) throw new Error(JSON.stringify(outcome));
  return outcome.requests[0];
}
