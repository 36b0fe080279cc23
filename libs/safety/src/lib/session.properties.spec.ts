import fc from 'fast-check';
import type { Setpoint } from '@voltimax/contracts';
import { arbitrationInputArb } from '../testing/arbitraries';
import { evInput } from '../testing/fixtures';
import { ensure } from '../testing/ensure';
import { ensureNarrowing, ensureWithinLimits } from '../testing/oracle';
import { arbitrate } from './arbitrate';
import type { ArbitrationInput } from './context';

/** Generated cases per property below (not part of PROPERTY_RUNS: this file is about one pass-through field). */
const SESSION_RUNS = 30_000;

/** The same input with `session` added to an ev-current request (others unchanged). */
function withSession(input: ArbitrationInput, session: 'start' | 'stop'): ArbitrationInput {
  const requested = input.requested;
  return requested?.kind === 'ev-current' ? { ...input, requested: { ...requested, session } } : input;
}

function withoutSession(setpoint: Setpoint): Setpoint {
  if (setpoint.kind !== 'ev-current' || setpoint.session === undefined) return setpoint;
  const { session: _session, ...rest } = setpoint;
  return rest;
}

describe('ev-current session (start/stop) passes through the arbiter', () => {
  const evInputs = arbitrationInputArb().filter((input) => input.requested?.kind === 'ev-current');

  it(`never changes the outcome, the value or the violations, and is kept on ev-current results (${SESSION_RUNS} runs)`, () => {
    fc.assert(
      fc.property(evInputs, fc.constantFrom<'start' | 'stop'>('start', 'stop'), (input, session) => {
        const plain = arbitrate(input);
        const tagged = arbitrate(withSession(input, session));
        ensure(
          JSON.stringify(withoutSession(tagged.setpoint)) === JSON.stringify(plain.setpoint) &&
            tagged.outcome === plain.outcome &&
            JSON.stringify(tagged.violations) === JSON.stringify(plain.violations),
          () => `session changed the decision: ${JSON.stringify(plain)} vs ${JSON.stringify(tagged)}`,
        );
        if (tagged.setpoint.kind === 'ev-current') {
          ensure(tagged.setpoint.session === session, () => `session lost: ${JSON.stringify(tagged.setpoint)}`);
        } else {
          ensure(tagged.setpoint.kind === 'safe', () => `unexpected kind ${tagged.setpoint.kind}`);
        }
      }),
      { numRuns: SESSION_RUNS },
    );
  });

  it(`a request with a session stays within every limit and only narrows (${SESSION_RUNS} runs)`, () => {
    fc.assert(
      fc.property(evInputs, fc.constantFrom<'start' | 'stop'>('start', 'stop'), (input, session) => {
        const tagged = withSession(input, session);
        const result = arbitrate(tagged);
        ensureWithinLimits(tagged, result);
        ensureNarrowing(tagged, result);
      }),
      { numRuns: SESSION_RUNS },
    );
  });

  it.each([
    [16, 'start', { kind: 'ev-current', currentA: 16, session: 'start' }, 'applied'],
    [40, 'start', { kind: 'ev-current', currentA: 16, session: 'start' }, 'clamped'],
    [3, 'start', { kind: 'ev-current', currentA: 0, session: 'start' }, 'clamped'],
    [0, 'stop', { kind: 'ev-current', currentA: 0, session: 'stop' }, 'applied'],
  ] as const)('%d A with session %s → %j (%s)', (currentA, session, expected, outcome) => {
    const result = arbitrate(evInput({ kind: 'ev-current', currentA, session }));
    expect(result.setpoint).toEqual(expected);
    expect(result.outcome).toBe(outcome);
  });

  it('a fault still gives the safe setpoint, session or not', () => {
    const result = arbitrate(evInput({ kind: 'ev-current', currentA: 10, session: 'start' }, { driver: undefined }));
    expect(result).toMatchObject({ setpoint: { kind: 'safe' }, outcome: 'safe' });
  });
});
