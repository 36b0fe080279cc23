import type { MeasurementKey } from '@voltimax/contracts';
import { checkPlausibility } from '../codec';
import { toMeasurements, type DeviceReading, type ReadIssue } from '../decode-profile';
import type { ExtraKey, PointKey } from '../keys';
import type { ProfileKind, SunSpecMeterSign } from '../profile-schema';
import type { DecodedSunSpecModel } from './decode-model';

/** The role a SunSpec device plays at the site; it decides which model feeds `powerW`. */
export type SunSpecRole = Exclude<ProfileKind, 'ev-charger'>;

/** One place a value may come from: a top-level point of one of the models (first implemented wins). */
export interface SunSpecSource {
  readonly models: readonly number[];
  readonly point: string;
  /** −1 when the model's sign is the opposite of ours. */
  readonly sign?: -1;
}

type SourceTable = Readonly<Partial<Record<MeasurementKey | ExtraKey, readonly SunSpecSource[]>>>;

const INT_INVERTERS = [101, 102, 103];
const FLOAT_INVERTERS = [111, 112, 113];
const INVERTERS = [...INT_INVERTERS, ...FLOAT_INVERTERS];
const METERS = [201, 202, 203, 204, 211, 212, 213, 214];

/**
 * Inverter models. Model 701 states it: active power is positive for generation (PV output, battery
 * discharge), negative for absorption, our sign for PV and batteries. Models 101–103/111–113 report AC
 * output power the same way. Energy leaving the asset (`WH`, `TotWhInj`) is `exportEnergyWh`.
 */
const INVERTER_AC: SourceTable = {
  powerW: [
    { models: [701], point: 'W' },
    { models: INVERTERS, point: 'W' },
  ],
  powerL1W: [{ models: [701], point: 'WL1' }],
  powerL2W: [{ models: [701], point: 'WL2' }],
  powerL3W: [{ models: [701], point: 'WL3' }],
  currentL1A: [
    { models: [701], point: 'AL1' },
    { models: INVERTERS, point: 'AphA' },
  ],
  currentL2A: [
    { models: [701], point: 'AL2' },
    { models: INVERTERS, point: 'AphB' },
  ],
  currentL3A: [
    { models: [701], point: 'AL3' },
    { models: INVERTERS, point: 'AphC' },
  ],
  voltageL1V: [
    { models: [701], point: 'VL1' },
    { models: INVERTERS, point: 'PhVphA' },
  ],
  voltageL2V: [
    { models: [701], point: 'VL2' },
    { models: INVERTERS, point: 'PhVphB' },
  ],
  voltageL3V: [
    { models: [701], point: 'VL3' },
    { models: INVERTERS, point: 'PhVphC' },
  ],
  frequencyHz: [
    { models: [701], point: 'Hz' },
    { models: INVERTERS, point: 'Hz' },
  ],
  reactivePowerVar: [
    { models: [701], point: 'Var' },
    { models: INVERTERS, point: 'VAr' },
  ],
  exportEnergyWh: [
    { models: [701], point: 'TotWhInj' },
    { models: INVERTERS, point: 'WH' },
  ],
  importEnergyWh: [{ models: [701], point: 'TotWhAbs' }],
  temperatureC: [
    { models: [701], point: 'TmpCab' },
    { models: INVERTERS, point: 'TmpCab' },
  ],
  dcPowerW: [{ models: INVERTERS, point: 'DCW' }],
  statusCode: [
    { models: INVERTERS, point: 'St' },
    { models: [701], point: 'InvSt' },
  ],
};

/**
 * Storage models. 802 does not state a sign for `W`/`A`; they are read as + = discharge (the battery
 * delivering power), which is how evcc uses `802:W` as battery power. 124 `ChaState` and 713 `SoC` are
 * state of charge in %. 803 module temperatures feed the temperature windows (average, max, min).
 */
const STORAGE: SourceTable = {
  socPct: [
    { models: [802], point: 'SoC' },
    { models: [713], point: 'SoC' },
    { models: [124], point: 'ChaState' },
  ],
  sohPct: [
    { models: [802], point: 'SoH' },
    { models: [713], point: 'SoH' },
  ],
  batteryVoltageV: [
    { models: [802], point: 'V' },
    { models: [124], point: 'InBatV' },
  ],
  batteryCurrentA: [{ models: [802], point: 'A' }],
  temperatureC: [{ models: [803], point: 'ModTmpAvg' }],
  temperatureMaxC: [{ models: [803], point: 'ModTmpMax' }],
  temperatureMinC: [{ models: [803], point: 'ModTmpMin' }],
  capacityWh: [
    { models: [802], point: 'WHRtg' },
    { models: [713], point: 'WHRtg' },
  ],
  ratedChargePowerW: [{ models: [802], point: 'WChaRteMax' }],
  ratedDischargePowerW: [{ models: [802], point: 'WDisChaRteMax' }],
  maxChargePowerW: [{ models: [124], point: 'WChaMax' }],
  maxChargeCurrentA: [{ models: [802], point: 'AChaMax' }],
  maxDischargeCurrentA: [{ models: [802], point: 'ADisChaMax' }],
  chargeStatus: [
    { models: [802], point: 'ChaSt' },
    { models: [124], point: 'ChaSt' },
  ],
  batteryState: [{ models: [802], point: 'State' }],
  cycleCount: [{ models: [802], point: 'NCyc' }],
  batteryPowerW: [{ models: [802], point: 'W' }],
};

/**
 * Meter models 201–204 (int + SF) and 211–214 (float). The shipped model files state no sign; SunSpec
 * meters are read import-positive (power delivered from the grid to the site), which is ours and is how
 * published descriptions of SunSpec model 220 state it. `meterSign: 'export-positive'` declares a device
 * that does the opposite: powers are negated and the import/export counters swapped.
 */
function meterSources(sign: SunSpecMeterSign): SourceTable {
  const flip: { sign?: -1 } = sign === 'export-positive' ? { sign: -1 } : {};
  const [importPoint, exportPoint] = sign === 'export-positive' ? ['TotWhExp', 'TotWhImp'] : ['TotWhImp', 'TotWhExp'];
  return {
    powerW: [{ models: METERS, point: 'W', ...flip }],
    powerL1W: [{ models: METERS, point: 'WphA', ...flip }],
    powerL2W: [{ models: METERS, point: 'WphB', ...flip }],
    powerL3W: [{ models: METERS, point: 'WphC', ...flip }],
    currentL1A: [{ models: METERS, point: 'AphA' }],
    currentL2A: [{ models: METERS, point: 'AphB' }],
    currentL3A: [{ models: METERS, point: 'AphC' }],
    voltageL1V: [{ models: METERS, point: 'PhVphA' }],
    voltageL2V: [{ models: METERS, point: 'PhVphB' }],
    voltageL3V: [{ models: METERS, point: 'PhVphC' }],
    frequencyHz: [{ models: METERS, point: 'Hz' }],
    reactivePowerVar: [{ models: METERS, point: 'VAR', ...flip }],
    importEnergyWh: [{ models: METERS, point: importPoint }],
    exportEnergyWh: [{ models: METERS, point: exportPoint }],
  };
}

/**
 * Which sources feed each key for a role. A battery's `powerW` prefers the AC side of its inverter model
 * (what the site balance sees) and falls back to 802 `W` (DC). A hybrid's inverter output mixes PV and
 * battery, so its `powerW` is the battery port (802 `W`) and the inverter output is `acPowerW`.
 */
export function sunSpecSources(role: SunSpecRole, meterSign: SunSpecMeterSign = 'import-positive'): SourceTable {
  switch (role) {
    case 'meter':
      return meterSources(meterSign);
    case 'pv-inverter':
      return { ...INVERTER_AC, pvPowerW: [{ models: INVERTERS, point: 'DCW' }] };
    case 'battery':
      return {
        ...INVERTER_AC,
        ...STORAGE,
        temperatureC: [...(STORAGE.temperatureC ?? []), ...(INVERTER_AC.temperatureC ?? [])],
        powerW: [...(INVERTER_AC.powerW ?? []), { models: [802], point: 'W' }],
      };
    case 'hybrid-inverter': {
      const { powerW: acPower, exportEnergyWh: _acOut, importEnergyWh: _acIn, ...ac } = INVERTER_AC;
      return { ...ac, ...STORAGE, acPowerW: acPower ?? [], powerW: [{ models: [802], point: 'W' }] };
    }
  }
}

/**
 * Pure: decoded SunSpec models → a device reading (contracts measurements + extra values), for the
 * device's role. For each key the first source whose model is present and whose point is implemented
 * wins; a key whose models are present but all not implemented is reported as an issue. Values pass the
 * contracts' plausibility ranges or are reported, never clamped.
 */
export function sunSpecMeasurements(
  models: readonly DecodedSunSpecModel[],
  role: SunSpecRole,
  meterSign: SunSpecMeterSign = 'import-positive',
): DeviceReading {
  const byId = new Map(models.map((m) => [m.id, m]));
  const values: Partial<Record<PointKey, number | string>> = {};
  const issues: ReadIssue[] = [];
  for (const [key, sources] of Object.entries(sunSpecSources(role, meterSign)) as [
    MeasurementKey | ExtraKey,
    readonly SunSpecSource[],
  ][]) {
    let sawModel = false;
    for (const source of sources) {
      const model = source.models.map((id) => byId.get(id)).find((m) => m !== undefined);
      if (model === undefined) continue;
      sawModel = true;
      const point = model.points[source.point];
      if (point?.kind !== 'value' || typeof point.value !== 'number') continue;
      const value = source.sign === -1 ? -point.value : point.value;
      const outcome = checkPlausibility(key, value === 0 ? 0 : value, {});
      if (outcome.kind === 'value') values[key] = outcome.value;
      else issues.push({ key, outcome });
      sawModel = false;
      break;
    }
    if (sawModel) issues.push({ key, outcome: { kind: 'not-implemented', sentinel: 'sunspec' } });
  }
  return { measurements: toMeasurements(values), values, issues, scaleFactors: {} };
}
