import { float32Words, s16Word, s32Words, stringWords, u16Word, u32Words } from './words';

// Golden words typed by hand (IEEE-754 tables, two's complement), never produced by another encoder.
describe('register words', () => {
  it.each([
    { value: 0, words: [0x0000, 0x0000] },
    { value: 1, words: [0x3f80, 0x0000] },
    { value: 50, words: [0x4248, 0x0000] },
    { value: 230, words: [0x4366, 0x0000] },
    { value: 1000, words: [0x447a, 0x0000] },
    { value: 1234.5, words: [0x449a, 0x5000] },
    { value: 2500, words: [0x451c, 0x4000] },
    { value: -2500, words: [0xc51c, 0x4000] },
    { value: -0.5, words: [0xbf00, 0x0000] },
  ])('float32 $value is $words (high word first)', ({ value, words }) => {
    expect(float32Words(value)).toEqual(words);
  });

  it('encodes NaN as a quiet NaN', () => {
    expect(float32Words(NaN)).toEqual([0x7fc0, 0x0000]);
  });

  it.each([
    { value: 0, words: [0x0000, 0x0000] },
    { value: 30, words: [0x0000, 0x001e] },
    { value: 123_456, words: [0x0001, 0xe240] },
    { value: 0xffffffff, words: [0xffff, 0xffff] },
    { value: -5, words: [0x0000, 0x0000] },
  ])('u32 $value is $words', ({ value, words }) => {
    expect(u32Words(value)).toEqual(words);
  });

  it.each([
    { value: -1, words: [0xffff, 0xffff] },
    { value: -5_000, words: [0xffff, 0xec78] },
    { value: -50_000, words: [0xffff, 0x3cb0] },
    { value: 50_000, words: [0x0000, 0xc350] },
    { value: -0x80000000, words: [0x8000, 0x0000] },
  ])('s32 $value is $words', ({ value, words }) => {
    expect(s32Words(value)).toEqual(words);
  });

  it.each([
    { value: -1_000, word: 0xfc18 },
    { value: -1, word: 0xffff },
    { value: 853, word: 0x0355 },
    { value: 40_000, word: 0x7fff },
    { value: -40_000, word: 0x8000 },
  ])('s16 $value is $word (clamped to the int16 range)', ({ value, word }) => {
    expect(s16Word(value)).toBe(word);
  });

  it('rounds and clamps u16', () => {
    expect([u16Word(12.5), u16Word(-3), u16Word(70_000)]).toEqual([13, 0, 0xffff]);
  });

  it('packs ASCII two characters per register, first in the high byte, zero padded', () => {
    expect(stringWords('CNTE', 4)).toEqual([0x434e, 0x5445, 0x0000, 0x0000]);
    expect(stringWords('SN123', 3)).toEqual([0x534e, 0x3132, 0x3300]);
    expect(stringWords('toolong', 2)).toEqual([0x746f, 0x6f6c]);
  });
});
