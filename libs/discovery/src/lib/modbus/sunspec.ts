// SunSpec interrogation of a unit whose chain was found: the common model (manufacturer, model, serial) and the
// model list → a profile and an asset kind. Read-only.
import type { AssetKind } from '@voltimax/contracts';
import {
  allProfiles,
  decodeSunSpecModels,
  planSunSpecModelReads,
  type ModbusProfile,
  type SunSpecModelLocation,
} from '@voltimax/devices';
import { ModbusExceptionError, readBlocks, type RegisterReader } from '@voltimax/modbus';

/** What the SunSpec chain says about a device. */
export interface SunSpecIdentity {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serial?: string;
  readonly version?: string;
  readonly profileId: string | undefined;
  readonly kind: AssetKind;
  readonly confidence: number;
  readonly evidence: readonly string[];
}

const INVERTER_MODELS = new Set([101, 102, 103, 111, 112, 113, 701]);
const STORAGE_MODELS = new Set([124, 713, 802, 803]);
const METER_MODELS = new Set([201, 202, 203, 204, 211, 212, 213, 214]);

/** The asset kind a model list describes: storage + inverter = hybrid, then storage, inverter, meter. */
export function kindOfModels(ids: readonly number[]): AssetKind | undefined {
  const has = (set: ReadonlySet<number>) => ids.some((id) => set.has(id));
  if (has(STORAGE_MODELS) && has(INVERTER_MODELS)) return 'hybrid-inverter';
  if (has(STORAGE_MODELS)) return 'battery';
  if (has(INVERTER_MODELS)) return 'pv-inverter';
  if (has(METER_MODELS)) return 'meter';
  return undefined;
}

/** Modbus profiles that pin a SunSpec layout with `probe` reads that expect exact words (e.g. cnte.ess-cabinet). */
function sunSpecLayoutProfiles(): ModbusProfile[] {
  return allProfiles.filter(
    (p): p is ModbusProfile =>
      p.protocol === 'modbus' &&
      p.modbus.probe.length > 0 &&
      p.modbus.probe.every((probe) => probe.expect !== undefined) &&
      p.modbus.probe.some((probe) => probe.expect?.[0] === 0x5375 && probe.expect[1] === 0x6e53),
  );
}

async function probeMatches(reader: RegisterReader, profile: ModbusProfile): Promise<boolean> {
  for (const probe of profile.modbus.probe) {
    if (probe.table !== 'holding' && probe.table !== 'input') return false;
    try {
      const words = await reader.read({ table: probe.table, address: probe.address, count: probe.count });
      if (probe.expect && words.some((w, i) => w !== probe.expect?.[i])) return false;
    } catch (err) {
      if (err instanceof ModbusExceptionError) return false;
      throw err;
    }
  }
  return true;
}

/**
 * Reads the common model (1) of a found chain and picks a profile: a vendor profile whose pinned layout (its probe
 * reads with exact words) matches and whose vendor is the common model's manufacturer, else `sunspec.generic` when
 * the chain has an inverter, storage or meter model we map; else no profile.
 */
export async function interrogateSunSpec(
  reader: RegisterReader,
  baseAddress: number,
  models: readonly SunSpecModelLocation[],
): Promise<SunSpecIdentity> {
  const ids = models.map((m) => m.id);
  const evidence = [`SunS marker at ${baseAddress}`, `models ${ids.join(', ')}`];
  const common = models.filter((m) => m.id === 1);
  const { decoded } = decodeSunSpecModels(common, await readBlocks(reader, planSunSpecModelReads(common)));
  const text = (point: string): string | undefined => {
    const value = decoded[0]?.points[point];
    return value?.kind === 'value' && String(value.value).trim() !== '' ? String(value.value).trim() : undefined;
  };
  const manufacturer = text('Mn');
  const model = text('Md');
  const serial = text('SN');
  const version = text('Vr');
  if (common.length === 0) evidence.push('no common model 1: no manufacturer or serial');
  else evidence.push(`common model: Mn=${manufacturer ?? '?'} Md=${model ?? '?'} SN=${serial ?? '?'}`);

  const kind = kindOfModels(ids);
  for (const profile of sunSpecLayoutProfiles()) {
    if (manufacturer === undefined || manufacturer.toLowerCase() !== profile.vendor.toLowerCase()) continue;
    if (await probeMatches(reader, profile)) {
      evidence.push(`${profile.id}: manufacturer ${profile.vendor} and every probe of its pinned layout matched`);
      return {
        ...identity(manufacturer, model, serial, version),
        profileId: profile.id,
        kind: profile.kind,
        confidence: 0.95,
        evidence,
      };
    }
    evidence.push(`${profile.id}: manufacturer matches but its pinned layout does not`);
  }
  if (kind !== undefined) {
    evidence.push(`sunspec.generic: ${kind} models`);
    return {
      ...identity(manufacturer, model, serial, version),
      profileId: 'sunspec.generic',
      kind,
      confidence: 0.85,
      evidence,
    };
  }
  evidence.push('no inverter, storage or meter model we map');
  return {
    ...identity(manufacturer, model, serial, version),
    profileId: undefined,
    kind: 'meter',
    confidence: 0.3,
    evidence,
  };
}

function identity(manufacturer?: string, model?: string, serial?: string, version?: string) {
  return {
    ...(manufacturer ? { manufacturer } : {}),
    ...(model ? { model } : {}),
    ...(serial ? { serial } : {}),
    ...(version ? { version } : {}),
  };
}
