import {
  DEFAULT_SCRYPT_COST,
  hashPassword,
  MIN_PASSWORD_LENGTH,
  parsePasswordHash,
  verifyPassword,
} from './password-hash';

/** Cheap cost for tests that hash several times. */
const FAST = { logN: 10, r: 8, p: 1 };

describe('password hashes (scrypt, PHC string format)', () => {
  it('verifies against the scrypt test vector of RFC 7914 §12 (pleaseletmein / SodiumChloride, N=16384)', async () => {
    const rfcFirst32Bytes = Buffer.from('7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2', 'hex');
    const hash = { cost: { logN: 14, r: 8, p: 1 }, salt: Buffer.from('SodiumChloride'), key: rfcFirst32Bytes };

    await expect(verifyPassword('pleaseletmein', hash)).resolves.toBe(true);
    await expect(verifyPassword('pleaseletmeim', hash)).resolves.toBe(false);
  });

  it('writes one line with the default cost, a fresh salt each time, and verifies only the right password', async () => {
    const first = await hashPassword('correct horse battery');
    const second = await hashPassword('correct horse battery');

    expect(first).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(second).not.toBe(first);
    expect(parsePasswordHash(first)?.cost).toEqual(DEFAULT_SCRYPT_COST);
    await expect(verifyPassword('correct horse battery', first)).resolves.toBe(true);
    await expect(verifyPassword('correct horse batterY', first)).resolves.toBe(false);
    await expect(verifyPassword('', first)).resolves.toBe(false);
  });

  it('refuses to hash a password shorter than the minimum', async () => {
    await expect(hashPassword('x'.repeat(MIN_PASSWORD_LENGTH - 1), FAST)).rejects.toThrow(/at least 10 characters/);
    await expect(hashPassword('x'.repeat(MIN_PASSWORD_LENGTH), FAST)).resolves.toMatch(/^\$scrypt\$ln=10,/);
  });

  it('treats the same text in another Unicode normalization as the same password', async () => {
    const hash = await hashPassword('Ma\u0301rquez-12345', FAST);
    await expect(verifyPassword('M\u00e1rquez-12345', hash)).resolves.toBe(true);
  });

  it.each([
    ['empty', ''],
    [
      'another algorithm',
      '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    ],
    ['a cost that asks for too much memory', `$scrypt$ln=25,r=8,p=1$${'A'.repeat(22)}$${'A'.repeat(43)}`],
    ['a short key', `$scrypt$ln=15,r=8,p=1$${'A'.repeat(22)}$${'A'.repeat(20)}`],
    ['trailing garbage', `$scrypt$ln=15,r=8,p=1$${'A'.repeat(22)}$${'A'.repeat(43)}$x`],
  ])('does not accept %s as a hash (verify is false, never a throw)', async (_name, text) => {
    expect(parsePasswordHash(text)).toBeUndefined();
    await expect(verifyPassword('anything at all', text)).resolves.toBe(false);
  });

  it('ignores surrounding whitespace such as the newline at the end of the file', async () => {
    const hash = await hashPassword('correct horse battery', FAST);
    await expect(verifyPassword('correct horse battery', `\n${hash}\n`)).resolves.toBe(true);
  });
});
