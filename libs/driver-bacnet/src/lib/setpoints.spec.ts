import { ApplicationTag } from '@bacnet-js/client';
import { BacnetErrorResponse, BacnetRefusedError, BacnetTimeoutError } from './errors';
import { BacnetAssetOptionsSchema, type SetpointOptions } from './options';
import { failureOutcome, judgeReadBack } from './setpoints';

const mapping = (input: object = {}): SetpointOptions => {
  const parsed = BacnetAssetOptionsSchema.parse({
    address: '10.0.0.1',
    setpoints: { 'battery-power': { object: 'av:10', ...input } },
  });
  const m = parsed.setpoints['battery-power'];
  if (m === undefined) throw new Error('no mapping');
  return m;
};
const real = (value: number) => ({ type: ApplicationTag.REAL, value });
const NULL = { type: ApplicationTag.NULL, value: null };
const slots = (entries: Record<number, number>) =>
  Array.from({ length: 16 }, (_, i) => (entries[i + 1] === undefined ? NULL : real(entries[i + 1] ?? 0)));

describe('judgeReadBack', () => {
  it('applied: our slot and the present-value hold what we wrote', () => {
    expect(judgeReadBack(mapping(), 1500, [real(1500)], slots({ 8: 1500 }))).toEqual({
      status: 'applied',
      readBack: 1500,
    });
  });

  it('mismatch: a higher priority holds another value (our slot is set, the present-value is theirs)', () => {
    expect(judgeReadBack(mapping(), 1500, [real(-300)], slots({ 3: -300, 8: 1500 }))).toEqual({
      status: 'mismatch',
      readBack: -300,
      error: 'analog-value:10: present-value is -300, not 1500: priority 3 (higher than our 8) holds -300',
    });
  });

  it('mismatch: our slot does not hold the value', () => {
    expect(judgeReadBack(mapping(), 1500, [real(0)], slots({}))).toMatchObject({
      status: 'mismatch',
      error: 'analog-value:10: priority 8 holds NULL after writing 1500',
    });
  });

  it('applied after a relinquish: our slot is NULL, the present-value is whatever is left', () => {
    expect(judgeReadBack(mapping(), null, [real(0)], slots({}))).toEqual({ status: 'applied', readBack: 0 });
    expect(judgeReadBack(mapping(), null, [real(200)], slots({ 12: 200 }))).toEqual({
      status: 'applied',
      readBack: 200,
    });
  });

  it('mismatch: the slot still holds a value after relinquishing', () => {
    expect(judgeReadBack(mapping(), null, [real(5)], slots({ 8: 5 }))).toMatchObject({ status: 'mismatch' });
  });

  it('an object without a priority array is judged by its present-value', () => {
    expect(judgeReadBack(mapping(), 10, [real(10)], undefined)).toEqual({ status: 'applied', readBack: 10 });
    expect(judgeReadBack(mapping(), 10, [real(9)], undefined)).toMatchObject({
      status: 'mismatch',
      error: expect.stringContaining('the device did not take it'),
    });
  });

  it('maps the read-back into our unit and sign (kW device, charge positive)', () => {
    const m = mapping({ scale: 1000, sign: -1 });
    expect(judgeReadBack(m, -1.5, [real(-1.5)], slots({ 8: -1.5 }))).toEqual({ status: 'applied', readBack: 1500 });
  });

  it('the tolerance (our unit) lets a device that rounds count as applied', () => {
    const m = mapping({ tolerance: 10 });
    expect(judgeReadBack(m, 1503, [real(1500)], slots({ 8: 1500 }))).toEqual({ status: 'applied', readBack: 1500 });
    expect(judgeReadBack(mapping(), 1503, [real(1500)], slots({ 8: 1500 })).status).toBe('mismatch');
  });

  it('a present-value that is not a number fails', () => {
    expect(judgeReadBack(mapping(), 1, [NULL], slots({ 8: 1 }))).toMatchObject({ status: 'failed' });
  });
});

describe('failureOutcome', () => {
  it.each([
    { err: new BacnetErrorResponse('d', 2, 40), status: 'rejected' },
    { err: new BacnetRefusedError('d', 9), status: 'rejected' },
    { err: new BacnetTimeoutError('d', 100), status: 'timeout' },
    { err: new Error('socket closed'), status: 'failed' },
  ])('$err.name → $status', ({ err, status }) => {
    expect(failureOutcome(err, 'write av:10').status).toBe(status);
    expect(failureOutcome(err, 'write av:10').error).toContain('write av:10: ');
  });
});
