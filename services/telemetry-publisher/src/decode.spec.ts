import { exampleReadings } from '@voltimax/contracts/testing';
import { decodeReading } from './decode';

const bytes = (value: unknown): Uint8Array =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('decodeReading', () => {
  it('accepts an AssetReading on its own subject and counts the bytes it will take in a frame', () => {
    const decoded = decodeReading('telemetry.bat-1', bytes(exampleReadings.battery));
    expect(decoded).toEqual({
      ok: true,
      reading: exampleReadings.battery,
      bytes: Buffer.byteLength(JSON.stringify(exampleReadings.battery)),
    });
  });

  it.each([
    { name: 'not UTF-8', data: new Uint8Array([0xff, 0xfe, 0x7b]), subject: 'telemetry.bat-1', reason: 'not-json' },
    { name: 'not JSON', data: bytes('{"v":1,'), subject: 'telemetry.bat-1', reason: 'not-json' },
    {
      name: 'a value of the wrong type',
      data: bytes({ ...exampleReadings.battery, values: { powerW: 'lots' } }),
      subject: 'telemetry.bat-1',
      reason: 'invalid-schema',
    },
    {
      name: 'an unknown field',
      data: bytes({ ...exampleReadings.battery, extra: 1 }),
      subject: 'telemetry.bat-1',
      reason: 'invalid-schema',
    },
    {
      name: 'another asset on this subject',
      data: bytes(exampleReadings.battery),
      subject: 'telemetry.bat-2',
      reason: 'subject-mismatch',
    },
  ])('refuses $name with reason $reason', ({ data, subject, reason }) => {
    const decoded = decodeReading(subject, data);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.reason).toBe(reason);
      expect(decoded.detail.length).toBeGreaterThan(0);
    }
  });
});
