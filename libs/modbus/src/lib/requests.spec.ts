import { readOperation, writeOperation } from './requests';

describe('readOperation', () => {
  it.each([
    { table: 'coil', functionCode: 1 },
    { table: 'discrete', functionCode: 2 },
    { table: 'holding', functionCode: 3 },
    { table: 'input', functionCode: 4 },
  ] as const)('reads $table with FC0$functionCode', ({ table, functionCode }) => {
    expect(readOperation(7, { table, address: 10, count: 2 })).toEqual({
      kind: 'read',
      unitId: 7,
      functionCode,
      address: 10,
      count: 2,
    });
  });

  it.each([
    { name: 'count 0', unitId: 1, range: { table: 'holding', address: 0, count: 0 } },
    { name: '126 registers', unitId: 1, range: { table: 'input', address: 0, count: 126 } },
    { name: '2001 coils', unitId: 1, range: { table: 'coil', address: 0, count: 2001 } },
    { name: 'a range past 65535', unitId: 1, range: { table: 'holding', address: 65535, count: 2 } },
    { name: 'a negative address', unitId: 1, range: { table: 'holding', address: -1, count: 1 } },
    { name: 'a fractional address', unitId: 1, range: { table: 'holding', address: 1.5, count: 1 } },
    { name: 'unit id 256', unitId: 256, range: { table: 'holding', address: 0, count: 1 } },
  ] as const)('refuses $name', ({ unitId, range }) => expect(() => readOperation(unitId, range)).toThrow(RangeError));

  it('accepts 2000 discrete inputs and 125 registers', () => {
    expect(readOperation(1, { table: 'discrete', address: 0, count: 2000 }).count).toBe(2000);
    expect(readOperation(1, { table: 'holding', address: 65411, count: 125 }).count).toBe(125);
  });
});

describe('writeOperation', () => {
  it('writes one word with FC06', () => {
    expect(writeOperation(1, { address: 40, words: [0x1234] }, false)).toEqual({
      kind: 'write',
      unitId: 1,
      functionCode: 6,
      address: 40,
      words: [0x1234],
    });
  });

  it('writes several words with FC16', () => {
    expect(writeOperation(1, { address: 40, words: [1, 2] }, false).functionCode).toBe(16);
  });

  it('forces FC16 for one word when the unit asks for it', () => {
    expect(writeOperation(1, { address: 40, words: [1] }, true).functionCode).toBe(16);
  });

  it('lets the request override the unit default', () => {
    expect(writeOperation(1, { address: 40, words: [1], forceFc16: true }, false).functionCode).toBe(16);
    expect(writeOperation(1, { address: 40, words: [1], forceFc16: false }, true).functionCode).toBe(6);
  });

  it.each([
    { name: 'no words', words: [] },
    { name: '124 words', words: Array.from({ length: 124 }, () => 0) },
    { name: 'a negative word', words: [-1] },
    { name: 'a word above 0xffff', words: [0x10000] },
    { name: 'a fractional word', words: [1.5] },
  ])('refuses $name', ({ words }) => expect(() => writeOperation(1, { address: 0, words }, false)).toThrow(RangeError));
});
