import { INVERTER_103_WORDS, METER_203_WORDS } from '../../testing';
import { decodeModel, type DecodedSunSpecModel } from './decode-model';
import { sunSpecMeasurements } from './measurements';
import { getSunSpecModel } from './models';

function decoded(id: number, words: readonly number[]): DecodedSunSpecModel {
  const definition = getSunSpecModel(id);
  const result = definition && decodeModel(definition, words);
  if (result?.kind !== 'decoded') throw new Error(`model ${id} did not decode`);
  return result.model;
}

describe('sunSpecMeasurements: inverter 103 as a PV inverter', () => {
  const reading = sunSpecMeasurements([decoded(103, INVERTER_103_WORDS)], 'pv-inverter');

  it('maps power, voltages, currents, frequency, energy and temperature', () => {
    expect(reading.measurements).toEqual({
      powerW: 12_340,
      currentL1A: 4.11,
      currentL2A: 4.12,
      voltageL1V: 230.1,
      voltageL2V: 230.2,
      voltageL3V: 229.9,
      frequencyHz: 50.01,
      exportEnergyWh: 1_234_560,
      temperatureC: 45,
    });
    expect(reading.values.statusCode).toBe(4);
  });

  it('reports keys whose points are not implemented, and does not invent values for them', () => {
    expect(reading.measurements.currentL3A).toBeUndefined();
    expect(reading.issues.map((i) => i.key)).toEqual(
      expect.arrayContaining(['currentL3A', 'reactivePowerVar', 'dcPowerW']),
    );
  });
});

describe('sunSpecMeasurements: meter 203', () => {
  const meter = decoded(203, METER_203_WORDS);

  it('reads real power import-positive by default (−1500 W = exporting)', () => {
    expect(sunSpecMeasurements([meter], 'meter').measurements).toMatchObject({
      powerW: -1_500,
      powerL1W: -500,
      currentL1A: 2.2,
      voltageL1V: 230,
      frequencyHz: 50,
      importEnergyWh: 65_536,
      exportEnergyWh: 12_345,
    });
  });

  it('negates powers and swaps the counters for a device declared export-positive', () => {
    expect(sunSpecMeasurements([meter], 'meter', 'export-positive').measurements).toMatchObject({
      powerW: 1_500,
      powerL1W: 500,
      importEnergyWh: 12_345,
      exportEnergyWh: 65_536,
    });
  });
});

describe('sunSpecMeasurements: storage 802 (+ 103) as a battery or hybrid', () => {
  // Model 802, hand-typed: SoC 85.3 % (853, SF −1), SoH 97 %, V 768.0 V, A −20.0 A, W −10 000 W (−1000, SF +1).
  const battery = new Array<number>(64).fill(0xffff);
  battery[0] = 802;
  battery[1] = 62;
  battery[11] = 0x0355; // SoC
  battery[13] = 0x0061; // SoH
  battery[34] = 0x1e00; // V 7680
  battery[44] = 0xff38; // A −200
  battery[47] = 0xfc18; // W −1000
  battery[56] = 0xffff; // SoC_SF −1
  battery[58] = 0x0000; // SoH_SF 0
  battery[59] = 0xffff; // V_SF −1
  battery[61] = 0xffff; // A_SF −1
  battery[63] = 0x0001; // W_SF +1
  const models = [decoded(802, battery), decoded(103, INVERTER_103_WORDS)];

  it("takes a hybrid's powerW from the battery port (802 W, + = discharge) and the inverter output as acPowerW", () => {
    const reading = sunSpecMeasurements(models, 'hybrid-inverter');
    expect(reading.measurements).toMatchObject({
      powerW: -10_000,
      socPct: 85.3,
      sohPct: 97,
      batteryVoltageV: 768,
      batteryCurrentA: -20,
    });
    expect(reading.values.acPowerW).toBe(12_340);
    expect(reading.measurements.exportEnergyWh).toBeUndefined();
  });

  it("takes a battery's powerW from the AC side when an inverter model is present, else from 802", () => {
    expect(sunSpecMeasurements(models, 'battery').measurements.powerW).toBe(12_340);
    expect(sunSpecMeasurements([decoded(802, battery)], 'battery').measurements.powerW).toBe(-10_000);
  });

  it('reports an SoC outside 0..100 % as implausible', () => {
    const bad = [...battery];
    bad[11] = 1200; // 120.0 %
    expect(sunSpecMeasurements([decoded(802, bad)], 'battery').issues).toContainEqual({
      key: 'socPct',
      outcome: { kind: 'implausible', value: 120, reason: 'contract-range' },
    });
  });
});
