import { wordsAt, type BlockWords } from '../decode-profile';
import { MODBUS_MAX_REGISTERS_PER_READ } from '../profile-schema';
import type { ReadBlock } from '../read-planner';
import { decodeModel, type DecodedSunSpecModel } from './decode-model';
import { modelSpan, type SunSpecModelLocation } from './discovery';
import { getSunSpecModel, type SunSpecModelDef } from './models';

/** Name a model's read blocks carry in `covers`: `model-<id>@<address>`. */
export function modelBlockName(location: SunSpecModelLocation): string {
  return `model-${location.id}@${location.address}`;
}

/**
 * Pure: holding-register reads that fetch whole models (ID, L and body). A model longer than
 * `maxRegistersPerRead` is read in consecutive chunks; the words are joined again before decoding, so a
 * point may straddle two reads. Models are never merged with each other.
 */
export function planSunSpecModelReads(
  models: readonly SunSpecModelLocation[],
  maxRegistersPerRead: number = MODBUS_MAX_REGISTERS_PER_READ,
): readonly ReadBlock[] {
  const max = Math.max(1, Math.min(maxRegistersPerRead, MODBUS_MAX_REGISTERS_PER_READ));
  return models.flatMap((location) => {
    const blocks: ReadBlock[] = [];
    const end = location.address + modelSpan(location);
    for (let start = location.address; start < end; start += max) {
      blocks.push({ table: 'holding', start, count: Math.min(max, end - start), covers: [modelBlockName(location)] });
    }
    return blocks;
  });
}

/** Why a model of the chain was not decoded. */
export interface SkippedModel {
  readonly location: SunSpecModelLocation;
  readonly reason: 'unknown-model' | 'not-read' | 'wrong-model';
}

/**
 * Pure: decode the models of a discovered chain from read blocks, with the shipped definitions (or the
 * ones passed in). Models we have no definition for, or whose words are absent, are listed as skipped.
 */
export function decodeSunSpecModels(
  models: readonly SunSpecModelLocation[],
  blocks: readonly BlockWords[],
  definitions: (id: number) => SunSpecModelDef | undefined = getSunSpecModel,
): { readonly decoded: readonly DecodedSunSpecModel[]; readonly skipped: readonly SkippedModel[] } {
  const decoded: DecodedSunSpecModel[] = [];
  const skipped: SkippedModel[] = [];
  for (const location of models) {
    const definition = definitions(location.id);
    if (definition === undefined) {
      skipped.push({ location, reason: 'unknown-model' });
      continue;
    }
    const words = wordsAt(blocks, 'holding', location.address, modelSpan(location));
    if (words === undefined) {
      skipped.push({ location, reason: 'not-read' });
      continue;
    }
    const result = decodeModel(definition, words);
    if (result.kind === 'decoded') decoded.push(result.model);
    else skipped.push({ location, reason: 'wrong-model' });
  }
  return { decoded, skipped };
}
