import { ObjectType } from '@bacnet-js/client';
import { formatObjectRef, parseObjectRef } from './object-ref';

describe('parseObjectRef', () => {
  it.each([
    ['analog-input:3', { type: ObjectType.ANALOG_INPUT, instance: 3 }],
    ['Analog-Value:10', { type: ObjectType.ANALOG_VALUE, instance: 10 }],
    ['av:10', { type: ObjectType.ANALOG_VALUE, instance: 10 }],
    ['BI:2', { type: ObjectType.BINARY_INPUT, instance: 2 }],
    [' multi-state-value : 4 ', { type: ObjectType.MULTI_STATE_VALUE, instance: 4 }],
    ['large-analog-value:4194302', { type: ObjectType.LARGE_ANALOG_VALUE, instance: 4194302 }],
  ])('%s', (text, ref) => {
    expect(parseObjectRef(text)).toEqual({ ok: true, ref });
  });

  it.each([
    ['device:1', "unknown object type 'device'"],
    ['ai', "'ai' is not an object reference like 'analog-input:3'"],
    ['ai:-1', "'ai:-1' is not an object reference"],
    ['ai:1.5', "'ai:1.5' is not an object reference"],
    ['ai:4194303', 'object instance 4194303 is above 4194302'],
  ])('refuses %s', (text, reason) => {
    const parsed = parseObjectRef(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });

  it('formats back to the kebab-case name', () => {
    expect(formatObjectRef({ type: ObjectType.BINARY_VALUE, instance: 7 })).toBe('binary-value:7');
    expect(formatObjectRef({ type: ObjectType.DEVICE, instance: 7 })).toBe('device:7');
    expect(formatObjectRef({ type: 600, instance: 1 })).toBe('type-600:1');
  });
});
