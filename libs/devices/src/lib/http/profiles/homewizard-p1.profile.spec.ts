// Golden tests of the HomeWizard P1 profile with /api/v1/data bodies typed by hand from
// libs/devices/docs/devices/homewizard-p1.md.
import { getHttpProfile } from '../catalogue';
import type { HttpProfile } from '../http-profile';
import { encodeHttpWrite, httpAuthHeaders, httpUrl } from '../http-requests';
import { decodeJsonFields, describeJsonIssues, parseJsonDocument } from '../json-fields';

const profile = getHttpProfile('homewizard.p1') as HttpProfile;
const fields = profile.reads[0]?.fields ?? [];
const decode = (body: string) => {
  const document = parseJsonDocument(body);
  if (!document.ok) throw new Error(document.error);
  return decodeJsonFields(fields, document.value);
};

const THREE_PHASE_EXPORT =
  '{"wifi_ssid":"home","wifi_strength":100,"smr_version":50,"meter_model":"ISKRA 2M550T-1012","unique_id":"00112233445566778899AABBCCDDEEFF",' +
  '"active_tariff":2,"total_power_import_kwh":13779.338,"total_power_import_t1_kwh":10830.511,"total_power_import_t2_kwh":2948.827,' +
  '"total_power_export_kwh":2892.917,"total_power_export_t1_kwh":1285.951,"total_power_export_t2_kwh":1606.966,' +
  '"active_power_w":-543,"active_power_l1_w":-676,"active_power_l2_w":133,"active_power_l3_w":0,' +
  '"active_voltage_l1_v":231.0,"active_voltage_l2_v":229.8,"active_voltage_l3_v":230.4,' +
  '"active_current_l1_a":2.94,"active_current_l2_a":0.58,"active_current_l3_a":0,"active_frequency_hz":50.02,' +
  '"total_gas_m3":2569.646,"gas_timestamp":210606140010,"gas_unique_id":"FFEEDDCCBBAA99887766554433221100"}';

describe('homewizard.p1', () => {
  it('reads GET /api/v1/data without a token', () => {
    expect(profile.kind).toBe('meter');
    expect(profile.reads.map((r) => [r.method, httpUrl('http://192.0.2.40', profile, r.path)])).toEqual([
      ['GET', 'http://192.0.2.40/api/v1/data'],
    ]);
    expect(httpAuthHeaders(profile, 'ignored')).toEqual({});
    expect(profile.writes).toEqual([]);
    expect(encodeHttpWrite(profile, { kind: 'safe' })).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });

  it('decodes a 3-phase SMR 5 meter feeding in: − = export, kWh → Wh', () => {
    const reading = decode(THREE_PHASE_EXPORT);
    expect(reading.issues).toEqual([]);
    expect(reading.measurements).toEqual({
      powerW: -543,
      powerL1W: -676,
      powerL2W: 133,
      powerL3W: 0,
      voltageL1V: 231,
      voltageL2V: 229.8,
      voltageL3V: 230.4,
      currentL1A: 2.94,
      currentL2A: 0.58,
      currentL3A: 0,
      frequencyHz: 50.02,
      importEnergyWh: 13_779_338,
      exportEnergyWh: 2_892_917,
    });
  });

  it('accepts a 1-phase meter without voltages: l2/l3 null or left out', () => {
    const reading = decode(
      '{"smr_version":42,"meter_model":"Kaifa MA105","total_power_import_kwh":5120.2,"total_power_export_kwh":0,' +
        '"active_power_w":412,"active_power_l1_w":412,"active_power_l2_w":null,"active_power_l3_w":null}',
    );
    expect(reading.issues).toEqual([]);
    expect(reading.measurements).toEqual({ powerW: 412, powerL1W: 412, importEnergyWh: 5_120_200, exportEnergyWh: 0 });
  });

  it('says what is wrong with old firmware (tariff totals only) and with wrong JSON types', () => {
    const old = decode('{"total_power_import_t1_kwh":100.1,"total_power_import_t2_kwh":50,"active_power_w":10}');
    expect(old.measurements).toEqual({ powerW: 10 });
    expect(describeJsonIssues(old.issues)).toBe(
      'malformed: $.total_power_import_kwh missing; $.total_power_export_kwh missing',
    );
    const typed = decode(
      '{"total_power_import_kwh":1,"total_power_export_kwh":1,"active_power_w":"543","active_voltage_l1_v":false}',
    );
    expect(describeJsonIssues(typed.issues)).toBe(
      'malformed: $.active_power_w is string, expected number; $.active_voltage_l1_v is boolean, expected number',
    );
  });

  it('drops an implausible value (a 1 MW house) and keeps the rest', () => {
    const reading = decode('{"total_power_import_kwh":1,"total_power_export_kwh":2,"active_power_w":1000000}');
    expect(reading.measurements).toEqual({ importEnergyWh: 1_000, exportEnergyWh: 2_000 });
    expect(describeJsonIssues(reading.issues)).toBe('implausible: powerW=1000000 above-max (limit 100000)');
  });
});
