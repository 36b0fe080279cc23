import { roundLimitDown, type LimitProfile } from '../adapter';
import { chargingProfile16, compositeLimitAt } from './charging-profile';

const AT = Date.UTC(2026, 0, 1, 12, 0, 0);
const base: LimitProfile = {
  purpose: 'default',
  connectorId: 1,
  unit: 'A',
  limit: 10,
  numberPhases: 3,
  fallbackAfterS: 15,
  startAtMs: AT,
  stackLevel: 1,
  profileId: 1010,
};

describe('charging profiles for OCPP 1.6', () => {
  it('a default profile: Absolute from now, the limit, then 0 A after the validity as a device-side watchdog', () => {
    expect(chargingProfile16(base)).toEqual({
      chargingProfileId: 1010,
      stackLevel: 1,
      chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: {
        startSchedule: '2026-01-01T12:00:00.000Z',
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [
          { startPeriod: 0, limit: 10, numberPhases: 3 },
          { startPeriod: 15, limit: 0, numberPhases: 3 },
        ],
      },
    });
  });

  it('a transaction profile names the transaction', () => {
    expect(chargingProfile16({ ...base, purpose: 'transaction', transactionId: 42, profileId: 1011 })).toMatchObject({
      chargingProfileId: 1011,
      transactionId: 42,
      chargingProfilePurpose: 'TxProfile',
    });
  });

  it('0 A (safe) has a single period and no fallback; a fractional validity rounds up to whole seconds', () => {
    expect(chargingProfile16({ ...base, limit: 0 }).chargingSchedule.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 0, numberPhases: 3 },
    ]);
    expect(chargingProfile16({ ...base, fallbackAfterS: 9.2 }).chargingSchedule.chargingSchedulePeriod[1]?.startPeriod).toBe(10);
    const { fallbackAfterS: _none, ...forever } = base;
    expect(chargingProfile16(forever).chargingSchedule.chargingSchedulePeriod).toHaveLength(1);
  });

  it.each([
    [10, 10],
    [12.37, 12.3],
    [6.99999, 6.9],
    [0.05, 0],
    [6899.99, 6899.9],
    [-1, 0],
  ])('limits are multiples of 0.1, rounded down: %p → %p', (limit, wire) => {
    expect(roundLimitDown(limit)).toBe(wire);
    expect(chargingProfile16({ ...base, limit }).chargingSchedule.chargingSchedulePeriod[0]?.limit).toBe(wire);
  });
});

describe('composite schedule read-back', () => {
  const conf = (periods: { startPeriod: number; limit: number }[], extra: { duration?: number } = {}) => ({
    status: 'Accepted' as const,
    scheduleStart: AT,
    chargingSchedule: { chargingRateUnit: 'A' as const, chargingSchedulePeriod: periods, ...extra },
  });

  it.each([
    ['the first period at its start', AT, 10],
    ['still the first period', AT + 14_999, 10],
    ['the fallback period', AT + 15_000, 0],
    ['before the start (clock skew): the first period', AT - 500, 10],
  ])('%s', (_name, atMs, limit) => {
    expect(compositeLimitAt(conf([{ startPeriod: 15, limit: 0 }, { startPeriod: 0, limit: 10 }]), atMs)).toBe(limit);
  });

  it('no limit after the duration or without a schedule', () => {
    expect(compositeLimitAt(conf([{ startPeriod: 0, limit: 10 }], { duration: 60 }), AT + 61_000)).toBeUndefined();
    expect(compositeLimitAt({ status: 'Accepted' }, AT)).toBeUndefined();
  });
});
