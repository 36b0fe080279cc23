import { getSunSpecModel, type SunSpecGroupDef } from '@voltimax/devices';
import {
  BATTERY_MODEL_802,
  COMMON_MODEL_1,
  DER_CONTROL_MODEL_704,
  LITHIUM_BANK_MODEL_803,
  modelSize,
} from './sunspec-layout';

/** The official definition's points in register order (one instance of each group), named as our layouts name them. */
function officialPoints(group: SunSpecGroupDef, prefix = ''): [string, string, number][] {
  return [
    ...group.points.map((p): [string, string, number] => [`${prefix}${p.name}`, p.type, p.size]),
    ...(group.groups ?? []).flatMap((g) => officialPoints(g, `${g.name}_`)),
  ];
}

// The hand-typed layouts are checked against the SunSpec Alliance definitions (data, not the devices codec).
describe('hand-typed SunSpec layouts match the SunSpec model definitions', () => {
  it.each(
    [COMMON_MODEL_1, BATTERY_MODEL_802, DER_CONTROL_MODEL_704, LITHIUM_BANK_MODEL_803].map((m) => [m.id, m] as const),
  )('model %i: same points, types and sizes in the same order', (id, layout) => {
    const definition = getSunSpecModel(id);
    expect(definition).toBeDefined();
    expect(layout.points.map(([name, type, size]) => [name, type, size])).toEqual(
      officialPoints(definition?.group ?? { name: '', type: 'group', points: [] }),
    );
  });

  it('gives the model lengths L the chain assumes: 66, 62, 65 and 58 (one string)', () => {
    expect(
      [COMMON_MODEL_1, BATTERY_MODEL_802, DER_CONTROL_MODEL_704, LITHIUM_BANK_MODEL_803].map((m) => modelSize(m) - 2),
    ).toEqual([66, 62, 65, 58]);
  });
});
