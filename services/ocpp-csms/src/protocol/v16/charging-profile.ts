import { roundLimitDown, type LimitProfile } from '../adapter';
import type { GetCompositeScheduleConf } from './messages';

/** An OCPP 1.6 ChargingProfile as it goes on the wire. */
export interface ChargingProfile16 {
  readonly chargingProfileId: number;
  readonly transactionId?: number;
  readonly stackLevel: number;
  readonly chargingProfilePurpose: 'TxDefaultProfile' | 'TxProfile';
  readonly chargingProfileKind: 'Absolute';
  readonly chargingSchedule: {
    readonly startSchedule: string;
    readonly chargingRateUnit: 'A' | 'W';
    readonly chargingSchedulePeriod: readonly { readonly startPeriod: number; readonly limit: number; readonly numberPhases?: number }[];
  };
}

/**
 * The 1.6 profile for a limit: Absolute, starting now, first period at the limit and — as a device-side watchdog —
 * a second period at 0 (paused) `fallbackAfterS` later. A newer write replaces the profile (same id and stack level)
 * before that period begins.
 */
export function chargingProfile16(profile: LimitProfile): ChargingProfile16 {
  const phases = profile.numberPhases === undefined ? {} : { numberPhases: profile.numberPhases };
  const periods = [{ startPeriod: 0, limit: roundLimitDown(profile.limit), ...phases }];
  if (profile.fallbackAfterS !== undefined && profile.limit > 0) {
    periods.push({ startPeriod: Math.max(1, Math.ceil(profile.fallbackAfterS)), limit: 0, ...phases });
  }
  return {
    chargingProfileId: profile.profileId,
    ...(profile.purpose === 'transaction' && profile.transactionId !== undefined
      ? { transactionId: profile.transactionId }
      : {}),
    stackLevel: profile.stackLevel,
    chargingProfilePurpose: profile.purpose === 'transaction' ? 'TxProfile' : 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: {
      startSchedule: new Date(profile.startAtMs).toISOString(),
      chargingRateUnit: profile.unit,
      chargingSchedulePeriod: periods,
    },
  };
}

/**
 * The limit of a composite schedule at `atMs`, in the schedule's unit: the last period that has started.
 * `undefined` when the schedule has no period at that time (no limit applies).
 */
export function compositeLimitAt(conf: GetCompositeScheduleConf, atMs: number): number | undefined {
  const schedule = conf.chargingSchedule;
  if (schedule === undefined || schedule.chargingSchedulePeriod.length === 0) return undefined;
  const startMs = conf.scheduleStart ?? schedule.startSchedule ?? atMs;
  const elapsedS = Math.max(0, (atMs - startMs) / 1000);
  if (schedule.duration !== undefined && elapsedS >= schedule.duration) return undefined;
  const periods = [...schedule.chargingSchedulePeriod].sort((a, b) => a.startPeriod - b.startPeriod);
  let current = periods[0];
  for (const period of periods) if (period.startPeriod <= elapsedS) current = period;
  return current?.limit;
}
