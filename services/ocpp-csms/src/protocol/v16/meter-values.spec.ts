import { meterSample, meterSamples } from './meter-values';
import type { MeterValue, SampledValue } from './messages';

const AT = Date.UTC(2026, 0, 1, 12, 0, 0);
const mv = (...sampledValue: SampledValue[]): MeterValue => ({ timestamp: AT, sampledValue });

describe('OCPP 1.6 MeterValues → our units', () => {
  it.each<[string, SampledValue[], Record<string, number>]>([
    ['total power in W', [{ measurand: 'Power.Active.Import', unit: 'W', value: '7200' }], { powerW: 7200 }],
    ['total power in kW', [{ measurand: 'Power.Active.Import', unit: 'kW', value: '7.2' }], { powerW: 7200 }],
    [
      'phase powers sum to the total when no total is sent',
      [
        { measurand: 'Power.Active.Import', unit: 'W', phase: 'L1', value: '2300' },
        { measurand: 'Power.Active.Import', unit: 'W', phase: 'L2', value: '2400' },
        { measurand: 'Power.Active.Import', unit: 'W', phase: 'L3', value: '2500' },
      ],
      { powerW: 7200, powerL1W: 2300, powerL2W: 2400, powerL3W: 2500 },
    ],
    ['the register defaults to Energy.Active.Import.Register in Wh', [{ value: '1234.5' }], { importEnergyWh: 1234.5 }],
    ['the register in kWh', [{ measurand: 'Energy.Active.Import.Register', unit: 'kWh', value: '12.345' }], { importEnergyWh: 12_345 }],
    [
      'phase currents',
      [
        { measurand: 'Current.Import', unit: 'A', phase: 'L1', value: '15.9' },
        { measurand: 'Current.Import', unit: 'A', phase: 'L2', value: '16.1' },
      ],
      { currentL1A: 15.9, currentL2A: 16.1 },
    ],
    ['a current without a phase is L1', [{ measurand: 'Current.Import', unit: 'A', value: '10' }], { currentL1A: 10 }],
    ['line-to-neutral voltage', [{ measurand: 'Voltage', unit: 'V', phase: 'L2-N', value: '231.2' }], { voltageL2V: 231.2 }],
    ['line-to-line voltage is ignored', [{ measurand: 'Voltage', unit: 'V', phase: 'L1-L2', value: '400' }], {}],
    ['SoC of the EV', [{ measurand: 'SoC', unit: 'Percent', location: 'EV', value: '63' }], { socPct: 63 }],
    ['temperature in Fahrenheit', [{ measurand: 'Temperature', unit: 'Fahrenheit', value: '212' }], { temperatureC: 100 }],
    ['temperature in K', [{ measurand: 'Temperature', unit: 'K', value: '300.15' }], { temperatureC: 27 }],
    ['the offered current (largest phase)', [{ measurand: 'Current.Offered', unit: 'A', value: '16' }], { currentOfferedA: 16 }],
    ['measurands we do not use are ignored', [{ measurand: 'Power.Reactive.Import', unit: 'var', value: '100' }, { measurand: 'RPM', value: '3' }], {}],
    ['signed data is ignored', [{ measurand: 'Power.Active.Import', format: 'SignedData', value: 'AbC=' }], {}],
    [
      'the outlet wins over the inlet',
      [
        { measurand: 'Power.Active.Import', unit: 'W', location: 'Inlet', value: '7300' },
        { measurand: 'Power.Active.Import', unit: 'W', location: 'Outlet', value: '7200' },
      ],
      { powerW: 7200 },
    ],
    ['the inlet when nothing else is sent', [{ measurand: 'Power.Active.Import', unit: 'W', location: 'Inlet', value: '7300' }], { powerW: 7300 }],
  ])('%s', (_name, sampledValue, expected) => {
    const sample = meterSample(mv(...sampledValue));
    expect(sample.values).toEqual(expected);
    expect(sample.issues).toEqual([]);
    expect(sample.atMs).toBe(AT);
  });

  it.each<[string, SampledValue, string]>([
    ['not a number', { measurand: 'Power.Active.Import', unit: 'W', value: 'NaN' }, 'Power.Active.Import="NaN": not a number'],
    ['empty', { measurand: 'Power.Active.Import', unit: 'W', value: ' ' }, 'Power.Active.Import=" ": not a number'],
    ['negative import power', { measurand: 'Power.Active.Import', unit: 'W', value: '-5' }, 'Power.Active.Import="-5": outside 0…1000000 W'],
    ['SoC above 100', { measurand: 'SoC', unit: 'Percent', value: '101' }, 'SoC="101": outside 0…100 Percent'],
    ['a unit that does not fit', { measurand: 'Power.Active.Import', unit: 'Wh', value: '5' }, 'Power.Active.Import="5": unit Wh not usable for Power.Active.Import'],
    ['Infinity', { measurand: 'Current.Import', phase: 'L3', unit: 'A', value: 'Infinity' }, 'Current.Import.L3="Infinity": not a number'],
  ])('drops %s and names it', (_name, sampledValue, issue) => {
    const sample = meterSample(mv(sampledValue, { measurand: 'Energy.Active.Import.Register', unit: 'Wh', value: '10' }));
    expect(sample.issues).toEqual([issue]);
    expect(sample.values).toEqual({ importEnergyWh: 10 });
  });

  it('sorts several samples of one message by time', () => {
    const samples = meterSamples([
      { timestamp: AT + 2000, sampledValue: [{ value: '3' }] },
      { timestamp: AT, sampledValue: [{ value: '1' }] },
    ]);
    expect(samples.map((s) => s.values.importEnergyWh)).toEqual([1, 3]);
  });
});
