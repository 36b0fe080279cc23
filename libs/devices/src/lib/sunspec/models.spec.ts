import { fixedModelSize, getSunSpecModel, loadSunSpecModel, SUNSPEC_MODELS } from './models';

describe('shipped SunSpec model definitions', () => {
  it('loads all 37 shipped models', () => {
    expect([...SUNSPEC_MODELS.keys()].sort((a, b) => a - b)).toEqual([
      1, 101, 102, 103, 111, 112, 113, 120, 121, 122, 123, 124, 160, 201, 202, 203, 204, 211, 212, 213, 214, 701, 702,
      703, 704, 705, 706, 707, 708, 709, 710, 711, 712, 713, 802, 803, 804,
    ]);
  });

  it.each([
    [1, 66],
    [103, 50],
    [113, 60],
    [124, 24],
    [203, 105],
    [213, 124],
    [802, 62],
  ])('model %i has a fixed length L = %i', (id, length) => {
    const model = getSunSpecModel(id);
    expect(model && fixedModelSize(model)).toBe(length + 2);
  });

  it('starts every model with ID and L', () => {
    for (const model of SUNSPEC_MODELS.values()) {
      expect(model.group.points.slice(0, 2).map((p) => [p.name, p.type])).toEqual([
        ['ID', 'uint16'],
        ['L', 'uint16'],
      ]);
    }
  });

  it('resolves every named scale factor to a sunssf point of the model', () => {
    for (const model of SUNSPEC_MODELS.values()) {
      const sfNames = new Set<string>();
      const named: string[] = [];
      const walk = (group: typeof model.group) => {
        for (const p of group.points) {
          if (p.type === 'sunssf') sfNames.add(p.name);
          if (typeof p.sf === 'string') named.push(p.sf);
        }
        for (const g of group.groups ?? []) walk(g);
      };
      walk(model.group);
      for (const name of named) expect([model.id, sfNames.has(name)]).toEqual([model.id, true]);
    }
  });

  it('reports a repeating model as variable size', () => {
    const model = getSunSpecModel(160);
    expect(model && fixedModelSize(model)).toBeUndefined();
  });

  it('rejects an invalid definition', () => {
    expect(() =>
      loadSunSpecModel({
        id: 1,
        group: { name: 'x', type: 'group', points: [{ name: 'A', type: 'nonsense', size: 1 }] },
      }),
    ).toThrow();
  });
});
