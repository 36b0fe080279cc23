import { SUNSPEC_IMAGE_BASE, SUNSPEC_INVERTER_IMAGE } from '../../testing';
import {
  isSunSpecMarker,
  nextSunSpecDiscoveryStep,
  parseModelChain,
  planSunSpecDiscovery,
  SUNSPEC_BASE_ADDRESSES,
  type SunSpecDiscoveryStep,
  type SunSpecReadResponse,
} from './discovery';

describe('SunSpec marker', () => {
  it('recognises SunS as 0x5375 0x6E53', () => {
    expect(isSunSpecMarker([0x5375, 0x6e53])).toBe(true);
    expect(isSunSpecMarker([0x6e53, 0x5375])).toBe(false);
    expect(isSunSpecMarker([0x5375])).toBe(false);
  });

  it('tries 40000, then 50000, then 0', () => expect(SUNSPEC_BASE_ADDRESSES).toEqual([40000, 50000, 0]));
});

describe('parseModelChain on a hand-built image (SunS, model 1, model 103, end)', () => {
  it('walks the chain to the end model', () => {
    expect(parseModelChain(SUNSPEC_INVERTER_IMAGE, SUNSPEC_IMAGE_BASE)).toEqual({
      kind: 'complete',
      baseAddress: 40000,
      models: [
        { id: 1, address: 40002, length: 66 },
        { id: 103, address: 40070, length: 50 },
      ],
      endAddress: 40122,
    });
  });

  it('says where to continue when the image ends early', () => {
    expect(parseModelChain(SUNSPEC_INVERTER_IMAGE.slice(0, 70), SUNSPEC_IMAGE_BASE)).toEqual({
      kind: 'truncated',
      baseAddress: 40000,
      models: [{ id: 1, address: 40002, length: 66 }],
      nextAddress: 40070,
    });
  });

  it('reports a missing marker', () => {
    expect(parseModelChain([0x0000, 0x0000, 0x0001], 40000)).toEqual({ kind: 'no-marker', baseAddress: 40000 });
  });

  it('reports a chain that runs past register 65535', () => {
    expect(parseModelChain([0x5375, 0x6e53, 0x0001, 0xfff0], 40000)).toMatchObject({
      kind: 'broken',
      reason: 'address-overflow',
    });
  });
});

/** A fake device: holding registers at `base`; everything else answers with an exception. */
function deviceRead(base: number, image: readonly number[]) {
  const reads: number[] = [];
  const read = (address: number, count: number): SunSpecReadResponse => {
    reads.push(address);
    if (address < base || address + count > base + image.length) return { kind: 'error', detail: 'exception 02' };
    return { kind: 'words', words: image.slice(address - base, address - base + count) };
  };
  return { reads, read };
}

function run(
  first: SunSpecDiscoveryStep,
  read: (address: number, count: number) => SunSpecReadResponse,
): SunSpecDiscoveryStep {
  let step = first;
  while (step.kind === 'read') step = nextSunSpecDiscoveryStep(step, read(step.address, step.count));
  return step;
}

describe('SunSpec discovery step machine', () => {
  it('finds the chain at 40000 with one read per model header', () => {
    const device = deviceRead(40000, SUNSPEC_INVERTER_IMAGE);
    expect(run(planSunSpecDiscovery(), device.read)).toEqual({
      kind: 'found',
      baseAddress: 40000,
      models: [
        { id: 1, address: 40002, length: 66 },
        { id: 103, address: 40070, length: 50 },
      ],
      endAddress: 40122,
    });
    expect(device.reads).toEqual([40000, 40070, 40122]);
  });

  it('falls back to 50000 when 40000 answers with an exception', () => {
    const device = deviceRead(50000, SUNSPEC_INVERTER_IMAGE);
    const result = run(planSunSpecDiscovery(), device.read);
    expect(result).toMatchObject({ kind: 'found', baseAddress: 50000, endAddress: 50122 });
    expect(device.reads[0]).toBe(40000);
    expect(device.reads[1]).toBe(50000);
  });

  it('gives up after every base address', () => {
    expect(run(planSunSpecDiscovery(), () => ({ kind: 'words', words: [0, 0, 0, 0] }))).toEqual({
      kind: 'not-found',
      triedBaseAddresses: [40000, 50000, 0],
    });
  });

  it('reports a chain broken by a failed read with the models found so far', () => {
    const device = deviceRead(40000, SUNSPEC_INVERTER_IMAGE.slice(0, 90));
    expect(run(planSunSpecDiscovery(), device.read)).toEqual({
      kind: 'broken',
      baseAddress: 40000,
      models: [
        { id: 1, address: 40002, length: 66 },
        { id: 103, address: 40070, length: 50 },
      ],
      reason: 'read-failed',
    });
  });
});
