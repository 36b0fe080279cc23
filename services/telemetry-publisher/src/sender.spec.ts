import { TransportError } from '@voltimax/cloud';
import { classifyFailures, sendOrder } from './sender';

describe('sendOrder', () => {
  it.each([
    { primary: 'online', fallback: true, order: ['primary', 'fallback'] },
    { primary: 'connecting', fallback: true, order: ['primary', 'fallback'] },
    { primary: 'offline', fallback: true, order: ['fallback', 'primary'] },
    { primary: 'closed', fallback: true, order: ['fallback', 'primary'] },
    { primary: 'offline', fallback: false, order: ['primary'] },
    { primary: undefined, fallback: true, order: ['fallback'] },
    { primary: undefined, fallback: false, order: [] },
  ] as const)('primary $primary, fallback $fallback → $order', ({ primary, fallback, order }) => {
    expect(sendOrder(primary, fallback)).toEqual(order);
  });
});

describe('classifyFailures', () => {
  const offline = new TransportError('down', 'offline', true);
  const refused = new TransportError('400', 'rejected', false);
  const tooLarge = new TransportError('413', 'too-large', false);
  const busy = new TransportError('503', 'rejected', true);
  it.each([
    { name: 'any transport says too large: split', errors: [offline, tooLarge], kind: 'too-large' },
    {
      name: 'every transport refuses for good: permanent',
      errors: [refused, new TransportError('bad frame', 'protocol', false)],
      kind: 'permanent',
    },
    { name: 'one refuses, the other is down: retry', errors: [refused, offline], kind: 'retry' },
    { name: 'server busy: retry', errors: [busy], kind: 'retry' },
    {
      name: 'auth failure: retry (credentials get fixed)',
      errors: [new TransportError('401', 'auth', false)],
      kind: 'retry',
    },
    { name: 'not a TransportError: retry', errors: [new Error('boom')], kind: 'retry' },
    { name: 'no transport at all: retry', errors: [], kind: 'retry' },
  ])('$name', ({ errors, kind }) => {
    expect(classifyFailures(errors.map((error, i) => ({ via: i === 0 ? 'primary' : 'fallback', error })))).toBe(kind);
  });
});
