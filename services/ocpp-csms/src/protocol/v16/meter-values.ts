import type { MeterSample, MeterValues } from '../adapter';
import type { MeterValue, SampledValue } from './messages';

type Phase = 1 | 2 | 3;

/** How a measurand is stored: the unit-bearing field(s), the accepted units and their factors, the plausible range. */
interface MeasurandRule {
  readonly units: Readonly<Record<string, (value: number) => number>>;
  readonly defaultUnit: string;
  readonly min: number;
  readonly max: number;
}

const same = (v: number) => v;
const kilo = (v: number) => v * 1000;

const RULES: Readonly<Record<string, MeasurandRule>> = {
  'Power.Active.Import': { units: { W: same, kW: kilo }, defaultUnit: 'W', min: 0, max: 1e6 },
  'Current.Import': { units: { A: same }, defaultUnit: 'A', min: 0, max: 1000 },
  'Current.Offered': { units: { A: same }, defaultUnit: 'A', min: 0, max: 1000 },
  Voltage: { units: { V: same }, defaultUnit: 'V', min: 0, max: 1000 },
  'Energy.Active.Import.Register': { units: { Wh: same, kWh: kilo }, defaultUnit: 'Wh', min: 0, max: 1e12 },
  SoC: { units: { Percent: same }, defaultUnit: 'Percent', min: 0, max: 100 },
  Temperature: {
    units: { Celsius: same, Celcius: same, Fahrenheit: (f) => ((f - 32) * 5) / 9, K: (k) => k - 273.15 },
    defaultUnit: 'Celsius',
    min: -60,
    max: 150,
  },
  Frequency: { units: { Hz: same }, defaultUnit: 'Hz', min: 40, max: 70 },
};

/** Where a value was measured; the outlet (to the EV) is preferred, the inlet only when nothing else was sent. */
const LOCATION_RANK: Readonly<Record<string, number>> = { Outlet: 0, EV: 1, Cable: 2, Body: 3, Inlet: 4 };

function phaseOf(phase: string | undefined): Phase | 'total' | 'other' {
  if (phase === undefined) return 'total';
  if (phase === 'L1' || phase === 'L1-N') return 1;
  if (phase === 'L2' || phase === 'L2-N') return 2;
  if (phase === 'L3' || phase === 'L3-N') return 3;
  return 'other'; // N, and line-to-line voltages
}

interface Accepted {
  readonly measurand: string;
  readonly phase: Phase | 'total';
  readonly rank: number;
  readonly value: number;
}

/** Converts one sampled value into our unit, or says why it cannot be used (undefined: ignored on purpose). */
function convert(sv: SampledValue): { readonly ok: Accepted } | { readonly issue: string } | undefined {
  if (sv.format === 'SignedData') return undefined;
  const measurand = sv.measurand ?? 'Energy.Active.Import.Register';
  const rule = RULES[measurand];
  if (rule === undefined) return undefined; // a measurand we do not use (reactive, export, intervals, …)
  const phase = phaseOf(sv.phase);
  if (phase === 'other') return undefined;
  const label = `${measurand}${sv.phase === undefined ? '' : `.${sv.phase}`}=${JSON.stringify(sv.value)}`;
  const unit = sv.unit ?? rule.defaultUnit;
  const toOurs = rule.units[unit];
  if (toOurs === undefined) return { issue: `${label}: unit ${unit} not usable for ${measurand}` };
  const raw = sv.value.trim() === '' ? Number.NaN : Number(sv.value);
  if (!Number.isFinite(raw)) return { issue: `${label}: not a number` };
  const value = toOurs(raw);
  if (value < rule.min || value > rule.max) {
    return { issue: `${label}: outside ${rule.min}…${rule.max} ${rule.defaultUnit}` };
  }
  return { ok: { measurand, phase, rank: LOCATION_RANK[sv.location ?? 'Outlet'] ?? 5, value: value + 0 } };
}

/** Per (measurand, phase) the value of the best location. */
function bestOf(values: readonly Accepted[]): Map<string, Accepted> {
  const best = new Map<string, Accepted>();
  for (const v of values) {
    const key = `${v.measurand}|${v.phase}`;
    const held = best.get(key);
    if (held === undefined || v.rank < held.rank) best.set(key, v);
  }
  return best;
}

/** One MeterValue (a timestamp and its sampled values) in our units; implausible values are dropped and named. */
export function meterSample(meterValue: MeterValue): MeterSample {
  const accepted: Accepted[] = [];
  const issues: string[] = [];
  for (const sv of meterValue.sampledValue) {
    const outcome = convert(sv);
    if (outcome === undefined) continue;
    if ('issue' in outcome) issues.push(outcome.issue);
    else accepted.push(outcome.ok);
  }
  const best = bestOf(accepted);
  const get = (measurand: string, phase: Phase | 'total') => best.get(`${measurand}|${phase}`)?.value;
  const values: MeterValues = {};
  const phases = [1, 2, 3] as const;

  const phasePowers = phases.map((p) => get('Power.Active.Import', p));
  phases.forEach((p, i) => {
    const w = phasePowers[i];
    if (w !== undefined) values[`powerL${p}W`] = w;
  });
  const totalW = get('Power.Active.Import', 'total');
  const phaseSumW = phasePowers.some((w) => w !== undefined)
    ? phasePowers.reduce<number>((sum, w) => sum + (w ?? 0), 0)
    : undefined;
  const powerW = totalW ?? phaseSumW;
  if (powerW !== undefined) values.powerW = powerW;

  const phaseCurrents = phases.map((p) => get('Current.Import', p));
  if (phaseCurrents.some((a) => a !== undefined)) {
    phases.forEach((p, i) => {
      const a = phaseCurrents[i];
      if (a !== undefined) values[`currentL${p}A`] = a;
    });
  } else {
    // A current without a phase is taken as L1 (single-phase chargers; three-phase ones send per-phase values).
    const a = get('Current.Import', 'total');
    if (a !== undefined) values.currentL1A = a;
  }
  const voltages = phases.map((p) => get('Voltage', p));
  if (voltages.some((v) => v !== undefined)) {
    phases.forEach((p, i) => {
      const v = voltages[i];
      if (v !== undefined) values[`voltageL${p}V`] = v;
    });
  } else {
    const v = get('Voltage', 'total');
    if (v !== undefined) values.voltageL1V = v;
  }
  const offered = [get('Current.Offered', 'total'), ...phases.map((p) => get('Current.Offered', p))].filter(
    (a): a is number => a !== undefined,
  );
  if (offered.length > 0) values.currentOfferedA = Math.max(...offered);
  const energyWh = get('Energy.Active.Import.Register', 'total');
  if (energyWh !== undefined) values.importEnergyWh = energyWh;
  const socPct = get('SoC', 'total');
  if (socPct !== undefined) values.socPct = socPct;
  const temperatureC = get('Temperature', 'total');
  if (temperatureC !== undefined) values.temperatureC = temperatureC;
  const frequencyHz = get('Frequency', 'total');
  if (frequencyHz !== undefined) values.frequencyHz = frequencyHz;
  return { atMs: meterValue.timestamp, values, issues };
}

/** Every MeterValue of a message, oldest first. */
export function meterSamples(meterValues: readonly MeterValue[]): MeterSample[] {
  return meterValues.map(meterSample).sort((a, b) => a.atMs - b.atMs);
}
