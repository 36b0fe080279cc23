import { compositeLimitA, installProfile, periodAt, type ChargingProfile, type InstalledProfile } from './profiles';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function profile(purpose: ChargingProfile['chargingProfilePurpose'], limit: number, extra: Partial<ChargingProfile> = {}): ChargingProfile {
  return {
    chargingProfileId: 1,
    stackLevel: 1,
    chargingProfilePurpose: purpose,
    chargingProfileKind: 'Absolute',
    chargingSchedule: { startSchedule: iso(T0), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
    ...extra,
  };
}
const at = (connectorId: number, p: ChargingProfile): InstalledProfile => ({ connectorId, profile: p, installedAtMs: T0 });
const limit = (profiles: InstalledProfile[], atMs = T0 + 1_000, transaction?: { id: number; startedAtMs: number }) =>
  compositeLimitA({ profiles, connectorId: 1, transaction, atMs, phases: 3, voltageV: 230 }).limitA;

describe('charging profiles on the simulated charge point', () => {
  it('no profile: no limit', () => {
    expect(limit([])).toBeUndefined();
  });

  it('the connector default applies without a session; a session TxProfile wins over it', () => {
    const defaults = [at(1, profile('TxDefaultProfile', 16))];
    expect(limit(defaults)).toBe(16);
    const tx = [...defaults, at(1, profile('TxProfile', 8, { chargingProfileId: 2, transactionId: 7 }))];
    expect(limit(tx, T0 + 1_000, { id: 7, startedAtMs: T0 })).toBe(8);
    expect(limit(tx, T0 + 1_000, { id: 9, startedAtMs: T0 })).toBe(16);
  });

  it('the charge point default (connector 0) applies when the connector has none', () => {
    expect(limit([at(0, profile('TxDefaultProfile', 10))])).toBe(10);
  });

  it('ChargePointMaxProfile caps everything', () => {
    expect(limit([at(1, profile('TxDefaultProfile', 16)), at(0, profile('ChargePointMaxProfile', 12, { chargingProfileId: 3 }))])).toBe(12);
  });

  it('watts become amps per phase', () => {
    const w = profile('TxDefaultProfile', 6_900, {
      chargingSchedule: { startSchedule: iso(T0), chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6_900 }] },
    });
    expect(limit([at(1, w)])).toBeCloseTo(10, 9);
  });

  it('periods: the limit, then the fallback; a schedule that has not started yet gives no limit', () => {
    const p = profile('TxDefaultProfile', 10, {
      chargingSchedule: {
        startSchedule: iso(T0),
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }, { startPeriod: 15, limit: 0 }],
      },
    });
    expect(limit([at(1, p)], T0 + 14_999)).toBe(10);
    expect(limit([at(1, p)], T0 + 15_000)).toBe(0);
    expect(limit([at(1, p)], T0 - 1)).toBeUndefined();
  });

  it('the highest stack level that is in force wins; an expired one falls through to the next', () => {
    const low = profile('TxDefaultProfile', 16, { chargingProfileId: 1, stackLevel: 0 });
    const high = profile('TxDefaultProfile', 6, { chargingProfileId: 2, stackLevel: 5, validTo: iso(T0 + 5_000) });
    expect(limit([at(1, low), at(1, high)], T0 + 1_000)).toBe(6);
    expect(limit([at(1, low), at(1, high)], T0 + 6_000)).toBe(16);
  });

  it('Relative starts with the session, Recurring repeats daily', () => {
    const relative = profile('TxProfile', 9, {
      chargingProfileKind: 'Relative',
      chargingSchedule: { chargingRateUnit: 'A', duration: 60, chargingSchedulePeriod: [{ startPeriod: 0, limit: 9 }] },
    });
    expect(periodAt(at(1, relative), T0 + 30_000, T0)?.limit).toBe(9);
    expect(periodAt(at(1, relative), T0 + 61_000, T0)).toBeUndefined();
    const daily = profile('TxDefaultProfile', 0, {
      chargingProfileKind: 'Recurring',
      recurrencyKind: 'Daily',
      chargingSchedule: {
        startSchedule: iso(T0),
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [{ startPeriod: 0, limit: 0 }, { startPeriod: 3_600, limit: 16 }],
      },
    });
    expect(periodAt(at(1, daily), T0 + 86_400_000 + 60_000, undefined)?.limit).toBe(0);
    expect(periodAt(at(1, daily), T0 + 86_400_000 + 3_700_000, undefined)?.limit).toBe(16);
  });

  it('a new profile replaces the one with the same id, or the same purpose and stack level', () => {
    const first = at(1, profile('TxDefaultProfile', 16, { chargingProfileId: 1 }));
    const sameId = at(1, profile('TxDefaultProfile', 10, { chargingProfileId: 1, stackLevel: 4 }));
    expect(installProfile([first], sameId)).toEqual([sameId]);
    const sameStack = at(1, profile('TxDefaultProfile', 8, { chargingProfileId: 9 }));
    expect(installProfile([first], sameStack)).toEqual([sameStack]);
    const other = at(2, profile('TxDefaultProfile', 8, { chargingProfileId: 9 }));
    expect(installProfile([first], other)).toEqual([first, other]);
  });
});
