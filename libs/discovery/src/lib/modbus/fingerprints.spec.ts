import { ModbusExceptionError, ModbusTimeoutError, type ModbusReadRange, type RegisterReader } from '@voltimax/modbus';
import { assetKindOfProfile, FINGERPRINTS, tryFingerprint } from './fingerprints';

/** A sparse register image: reads outside it answer exception 02, as the devices and our peer do. */
function image(words: Readonly<Record<string, number>>): RegisterReader & { reads: ModbusReadRange[] } {
  const reads: ModbusReadRange[] = [];
  return {
    reads,
    async read(range) {
      reads.push(range);
      return Array.from({ length: range.count }, (_, i) => {
        const word = words[`${range.table}:${range.address + i}`];
        if (word === undefined)
          throw new ModbusExceptionError('img', 1, range.table === 'input' ? 4 : 3, range.address, 2);
        return word;
      });
    },
  };
}

/** The first fingerprint that matches, as the scanner tries them. */
async function identify(reader: RegisterReader): Promise<string | undefined> {
  for (const fingerprint of FINGERPRINTS)
    if ((await tryFingerprint(reader, fingerprint)).matched) return fingerprint.profileId;
  return undefined;
}

// Golden words, typed by hand: float32 230.0 = 0x4366 0000, 50.0 = 0x4248 0000; ABB 230.5 V = u32 2305 (0x0901),
// 50.01 Hz = 5001 (0x1389); Growatt 50.00 Hz = 5000 (0x1388).
const SDM630 = { 'input:0': 0x4366, 'input:1': 0x0000, 'input:70': 0x4248, 'input:71': 0x0000 };
const PAC2200 = { 'holding:1': 0x4366, 'holding:2': 0x0000, 'holding:55': 0x4248, 'holding:56': 0x0000 };
const ABB = { 'holding:23296': 0x0000, 'holding:23297': 0x0901, 'holding:23340': 0x1389 };
const SPH = { 'input:0': 1, 'input:37': 0x1388, 'input:1000': 5, 'input:1014': 67 };
const PV = { 'input:0': 1, 'input:37': 0x1388 };
const TLXH = { 'input:3025': 0x1388, 'input:3171': 80 };

describe('fingerprints', () => {
  it.each([
    ['eastron.sdm630', SDM630],
    ['siemens.pac2200', PAC2200],
    ['abb.b23-b24', ABB],
    ['growatt.sph', SPH],
    ['growatt.pv-tl-x', PV],
    ['growatt.tl-xh', TLXH],
  ])('identifies %s from its own registers only', async (profileId, words) => {
    expect(await identify(image(words))).toBe(profileId);
  });

  it.each([
    ['all zeros', { ...Object.fromEntries(Object.keys({ ...SDM630, ...PAC2200, ...SPH }).map((k) => [k, 0])) }],
    ['a meter without grid (0 V)', { ...SDM630, 'input:0': 0 }],
    ['an implausible frequency', { ...SDM630, 'input:70': 0x4348 }],
    ['nothing at all', {}],
  ])('matches nothing for %s', async (_what, words) => {
    expect(await identify(image(words))).toBeUndefined();
  });

  it('reads only with FC 03/04 ranges of at most 2 registers', async () => {
    const reader = image(SPH);
    await identify(reader);
    expect(reader.reads.every((r) => (r.table === 'holding' || r.table === 'input') && r.count <= 2)).toBe(true);
  });

  it('gives the evidence it matched on', async () => {
    const result = await tryFingerprint(
      image(SDM630),
      FINGERPRINTS.find((f) => f.profileId === 'eastron.sdm630') ?? FINGERPRINTS[0]!,
    );
    expect(result).toMatchObject({
      matched: true,
      evidence: ['input 0x0000 L1 voltage (V) = 230', 'input 0x0046 grid frequency (Hz) = 50'],
    });
  });

  it('throws a timeout instead of calling the device something else', async () => {
    const silent: RegisterReader = { read: () => Promise.reject(new ModbusTimeoutError('x', 1, 100)) };
    await expect(tryFingerprint(silent, FINGERPRINTS[0]!)).rejects.toBeInstanceOf(ModbusTimeoutError);
  });

  it('offers each profile as the asset kind of its profile', () => {
    expect(FINGERPRINTS.map((f) => [f.profileId, assetKindOfProfile(f.profileId)])).toEqual([
      ['growatt.tl-xh', 'hybrid-inverter'],
      ['growatt.sph', 'hybrid-inverter'],
      ['growatt.pv-tl-x', 'pv-inverter'],
      ['eastron.sdm630', 'meter'],
      ['siemens.pac2200', 'meter'],
      ['abb.b23-b24', 'meter'],
    ]);
  });
});
