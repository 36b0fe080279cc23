import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters: N = 2^logN, block size r, parallelism p. */
export interface ScryptCost {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

/**
 * The default cost: N = 2^15, r = 8, p = 1 — 32 MiB and roughly 0.1 s per hash on a Raspberry-Pi-class gateway, so
 * a guess costs an attacker real work while a login stays quick.
 */
export const DEFAULT_SCRYPT_COST: ScryptCost = { logN: 15, r: 8, p: 1 };

/** Shortest password `hashPassword` accepts. */
export const MIN_PASSWORD_LENGTH = 10;

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{22,})\$([A-Za-z0-9+/]{43,})$/;

/** A parsed password hash. */
export interface PasswordHash {
  readonly cost: ScryptCost;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64').replace(/=+$/, '');
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.logN;
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Within the bounds this module accepts, so a tampered file cannot ask for gigabytes of memory. */
function costAllowed(cost: ScryptCost): boolean {
  return cost.logN >= 10 && cost.logN <= 20 && cost.r >= 1 && cost.r <= 16 && cost.p >= 1 && cost.p <= 4;
}

/**
 * Hashes a password with scrypt and a random 16-byte salt into one line in PHC string format:
 * `$scrypt$ln=15,r=8,p=1$<salt base64>$<key base64>`. Throws if the password is shorter than
 * {@link MIN_PASSWORD_LENGTH} characters or the cost is out of bounds.
 */
export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<string> {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new Error(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (!costAllowed(cost)) throw new Error('scrypt cost out of bounds');
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return `$scrypt$ln=${cost.logN},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(key)}`;
}

/** Parses a hash line (surrounding whitespace ignored); undefined if it is not one this module wrote. */
export function parsePasswordHash(text: string): PasswordHash | undefined {
  const match = PHC.exec(text.trim());
  if (match === null) return undefined;
  const [, logN = '', r = '', p = '', salt = '', key = ''] = match;
  const cost = { logN: Number(logN), r: Number(r), p: Number(p) };
  if (!costAllowed(cost)) return undefined;
  const parsed = { cost, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
  return parsed.salt.length >= SALT_BYTES && parsed.key.length === KEY_BYTES ? parsed : undefined;
}

/** True if `password` matches the hash; compares in constant time. False for a hash it cannot parse. */
export async function verifyPassword(password: string, hash: string | PasswordHash): Promise<boolean> {
  const parsed = typeof hash === 'string' ? parsePasswordHash(hash) : hash;
  if (parsed === undefined) return false;
  const key = await derive(password, parsed.salt, parsed.cost);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}
