import type { EmergencyStop } from '@voltimax/contracts';
import { applyEstop, ESTOP_RELEASED, type EstopState } from './estop';

const event = (action: EmergencyStop['action'], atMs: number, by = 'operator'): EmergencyStop => ({
  v: 1,
  action,
  by,
  reason: 'test',
  atMs,
});

describe('applyEstop', () => {
  it('engages', () => {
    expect(applyEstop(ESTOP_RELEASED, event('engage', 100))).toEqual({
      engaged: true,
      engagedAtMs: 100,
      engagedBy: 'operator',
      engagedReason: 'test',
    });
  });

  it('stays engaged on a repeated engage, keeping the first author and the newest engage time', () => {
    const engaged = applyEstop(ESTOP_RELEASED, event('engage', 100, 'alice'));
    expect(applyEstop(engaged, event('engage', 200, 'bob'))).toEqual({ ...engaged, engagedAtMs: 200 });
    expect(applyEstop(engaged, event('engage', 50, 'bob'))).toBe(engaged);
  });

  it('ignores a release older than a repeated engage, though newer than the first', () => {
    let state = applyEstop(ESTOP_RELEASED, event('engage', 100, 'alice'));
    state = applyEstop(state, event('engage', 200, 'bob'));
    expect(applyEstop(state, event('release', 150)).engaged).toBe(true);
    expect(applyEstop(state, event('release', 200)).engaged).toBe(false);
  });

  it('a latch of unknown engage time (a truncated history) takes its time from the next engage', () => {
    const unknown: EstopState = { engaged: true, engagedBy: 'unknown' };
    expect(applyEstop(unknown, event('release', 1)).engaged).toBe(false);
    const dated = applyEstop(unknown, event('engage', 100));
    expect(dated).toEqual({ engaged: true, engagedBy: 'unknown', engagedAtMs: 100 });
    expect(applyEstop(dated, event('release', 99)).engaged).toBe(true);
  });

  it('is released only by an explicit release', () => {
    const engaged = applyEstop(ESTOP_RELEASED, event('engage', 100));
    expect(applyEstop(engaged, event('release', 150, 'bob'))).toEqual({
      engaged: false,
      releasedAtMs: 150,
      releasedBy: 'bob',
    });
  });

  it('ignores a release older than the engage (late or replayed delivery)', () => {
    const engaged = applyEstop(ESTOP_RELEASED, event('engage', 100));
    expect(applyEstop(engaged, event('release', 99))).toBe(engaged);
  });

  it('ignores a release without a finite time', () => {
    const engaged = applyEstop(ESTOP_RELEASED, event('engage', 100));
    expect(applyEstop(engaged, event('release', Number.NaN))).toBe(engaged);
  });

  it('ignores a release while released', () => {
    expect(applyEstop(ESTOP_RELEASED, event('release', 100))).toBe(ESTOP_RELEASED);
  });

  it('latches through any sequence: engaged after the last engage unless a later release follows', () => {
    const sequence = [
      event('engage', 10),
      event('release', 5),
      event('engage', 20),
      event('release', 30),
      event('engage', 40),
    ];
    const states = sequence.reduce<EstopState[]>(
      (acc, e) => [...acc, applyEstop(acc[acc.length - 1] ?? ESTOP_RELEASED, e)],
      [],
    );
    expect(states.map((s) => s.engaged)).toEqual([true, true, true, false, true]);
  });

  it('keeps the last release in the state when engaged again', () => {
    let state = applyEstop(ESTOP_RELEASED, event('engage', 10));
    state = applyEstop(state, event('release', 20, 'bob'));
    state = applyEstop(state, event('engage', 30, 'carol'));
    expect(state).toEqual({
      engaged: true,
      engagedAtMs: 30,
      engagedBy: 'carol',
      engagedReason: 'test',
      releasedAtMs: 20,
      releasedBy: 'bob',
    });
  });
});
