import { METER_203_WORDS, SUNSPEC_IMAGE_BASE, SUNSPEC_INVERTER_IMAGE } from '../../testing';
import type { BlockWords } from '../decode-profile';
import type { SunSpecProfile } from '../profile-schema';
import { getProfile } from '../registry';
import { parseModelChain } from '../sunspec/discovery';
import { sunSpecMeasurements } from '../sunspec/measurements';
import { decodeSunSpecModels, planSunSpecModelReads } from '../sunspec/read-models';

const profile = getProfile('sunspec.generic') as SunSpecProfile;

/** Answers read blocks from a hand-typed register image. */
const answer = (
  image: readonly number[],
  base: number,
  blocks: ReturnType<typeof planSunSpecModelReads>,
): BlockWords[] =>
  blocks.map((b) => ({ table: b.table, start: b.start, words: image.slice(b.start - base, b.start - base + b.count) }));

describe('sunspec.generic golden image (SunS, common 1, inverter 103, end)', () => {
  it('discovers, reads and decodes the chain into PV inverter measurements', () => {
    const chain = parseModelChain(SUNSPEC_INVERTER_IMAGE, SUNSPEC_IMAGE_BASE);
    if (chain.kind !== 'complete') throw new Error(chain.kind);
    const blocks = planSunSpecModelReads(chain.models, profile.sunspec.maxRegistersPerRead);
    const { decoded, skipped } = decodeSunSpecModels(
      chain.models,
      answer(SUNSPEC_INVERTER_IMAGE, SUNSPEC_IMAGE_BASE, blocks),
    );
    expect(skipped).toEqual([]);
    expect(decoded.map((m) => m.id)).toEqual([1, 103]);
    expect(sunSpecMeasurements(decoded, 'pv-inverter', profile.sunspec.meterSign).measurements).toMatchObject({
      powerW: 12_340,
      frequencyHz: 50.01,
      exportEnergyWh: 1_234_560,
    });
  });

  it('splits a model longer than maxRegistersPerRead into chunks and still decodes it', () => {
    const models = [{ id: 103, address: 40070, length: 50 }];
    const blocks = planSunSpecModelReads(models, 20);
    expect(blocks.map((b) => [b.start, b.count])).toEqual([
      [40070, 20],
      [40090, 20],
      [40110, 12],
    ]);
    const { decoded } = decodeSunSpecModels(models, answer(SUNSPEC_INVERTER_IMAGE, SUNSPEC_IMAGE_BASE, blocks));
    expect(decoded[0]?.points['WH']).toEqual({ kind: 'value', value: 1_234_560, units: 'Wh' });
  });

  it('skips models it has no definition for, and models not read', () => {
    const models = [
      { id: 64_000, address: 40002, length: 4 },
      { id: 203, address: 40100, length: 105 },
    ];
    expect(decodeSunSpecModels(models, []).skipped.map((s) => s.reason)).toEqual(['unknown-model', 'not-read']);
  });

  it('reads meters import-positive as the profile declares', () => {
    const meter = decodeSunSpecModels(
      [{ id: 203, address: 0, length: 53 }],
      [{ table: 'holding', start: 0, words: METER_203_WORDS }],
    ).decoded;
    expect(profile.sunspec.meterSign).toBe('import-positive');
    expect(sunSpecMeasurements(meter, 'meter', profile.sunspec.meterSign).measurements.powerW).toBe(-1_500);
  });
});
