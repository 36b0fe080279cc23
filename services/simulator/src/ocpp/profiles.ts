// The charge point's side of OCPP 1.6 smart charging, pure: which installed charging profiles apply to a connector
// at a time and what limit they give (OCPP 1.6 §3.13, §5.16, §7.14). Written from the specification for the
// simulator; the central system's own code (services/ocpp-csms) is not used, so the two can disagree in tests.

export type Purpose = 'ChargePointMaxProfile' | 'TxDefaultProfile' | 'TxProfile';
export type RateUnit = 'A' | 'W';

export interface SchedulePeriod {
  readonly startPeriod: number;
  readonly limit: number;
  readonly numberPhases?: number;
}

export interface ChargingProfile {
  readonly chargingProfileId: number;
  readonly transactionId?: number;
  readonly stackLevel: number;
  readonly chargingProfilePurpose: Purpose;
  readonly chargingProfileKind: 'Absolute' | 'Recurring' | 'Relative';
  readonly recurrencyKind?: 'Daily' | 'Weekly';
  readonly validFrom?: string;
  readonly validTo?: string;
  readonly chargingSchedule: {
    readonly duration?: number;
    readonly startSchedule?: string;
    readonly chargingRateUnit: RateUnit;
    readonly chargingSchedulePeriod: readonly SchedulePeriod[];
    readonly minChargingRate?: number;
  };
}

/** A profile as installed on a connector (connector 0 = the whole charge point). */
export interface InstalledProfile {
  readonly connectorId: number;
  readonly profile: ChargingProfile;
  /** When it was installed (the start of Absolute profiles without a startSchedule), epoch ms. */
  readonly installedAtMs: number;
}

/** A limit in force: the value in its unit, and the phases the period asks for. */
export interface ActiveLimit {
  readonly limit: number;
  readonly unit: RateUnit;
  readonly numberPhases?: number;
}

const DAY_MS = 86_400_000;

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The period of one profile in force at `atMs`, or undefined when it gives no limit then. */
export function periodAt(
  installed: InstalledProfile,
  atMs: number,
  transactionStartMs: number | undefined,
): ActiveLimit | undefined {
  const { profile } = installed;
  const from = parseTime(profile.validFrom);
  const to = parseTime(profile.validTo);
  if ((from !== undefined && atMs < from) || (to !== undefined && atMs >= to)) return undefined;
  const schedule = profile.chargingSchedule;
  let startMs: number;
  switch (profile.chargingProfileKind) {
    case 'Absolute':
      startMs = parseTime(schedule.startSchedule) ?? installed.installedAtMs;
      break;
    case 'Relative':
      startMs = transactionStartMs ?? atMs;
      break;
    case 'Recurring': {
      const anchor = parseTime(schedule.startSchedule) ?? installed.installedAtMs;
      const cycle = profile.recurrencyKind === 'Weekly' ? 7 * DAY_MS : DAY_MS;
      startMs = atMs >= anchor ? anchor + Math.floor((atMs - anchor) / cycle) * cycle : anchor;
      break;
    }
  }
  const elapsedS = (atMs - startMs) / 1000;
  if (elapsedS < 0) return undefined;
  if (schedule.duration !== undefined && elapsedS >= schedule.duration) return undefined;
  let current: SchedulePeriod | undefined;
  for (const period of [...schedule.chargingSchedulePeriod].sort((a, b) => a.startPeriod - b.startPeriod)) {
    if (period.startPeriod <= elapsedS) current = period;
  }
  if (current === undefined) return undefined;
  return {
    limit: current.limit,
    unit: schedule.chargingRateUnit,
    ...(current.numberPhases === undefined ? {} : { numberPhases: current.numberPhases }),
  };
}

/** Of several profiles of one purpose, the highest stack level that gives a limit at `atMs`. */
function highestStack(
  profiles: readonly InstalledProfile[],
  atMs: number,
  transactionStartMs: number | undefined,
): ActiveLimit | undefined {
  const sorted = [...profiles].sort((a, b) => b.profile.stackLevel - a.profile.stackLevel);
  for (const installed of sorted) {
    const active = periodAt(installed, atMs, transactionStartMs);
    if (active !== undefined) return active;
  }
  return undefined;
}

/** What a limit means in amps per phase, for `phases` phases at `voltageV`. */
export function toAmps(limit: ActiveLimit, phases: number, voltageV: number): number {
  return limit.unit === 'A' ? limit.limit : limit.limit / (phases * voltageV);
}

/**
 * The current limit (A per phase) of a connector at `atMs`: the session's TxProfile if one applies (else the
 * connector's TxDefaultProfile, else the charge point's), bounded by the ChargePointMaxProfile. Undefined: no limit.
 */
export function compositeLimitA(opts: {
  readonly profiles: readonly InstalledProfile[];
  readonly connectorId: number;
  readonly transaction: { readonly id: number; readonly startedAtMs: number } | undefined;
  readonly atMs: number;
  readonly phases: number;
  readonly voltageV: number;
}): { readonly limitA: number | undefined; readonly numberPhases?: number } {
  const { profiles, connectorId, transaction, atMs } = opts;
  const of = (purpose: Purpose, connector: number) =>
    profiles.filter((p) => p.profile.chargingProfilePurpose === purpose && p.connectorId === connector);
  const start = transaction?.startedAtMs;
  const tx =
    transaction === undefined
      ? undefined
      : highestStack(
          of('TxProfile', connectorId).filter(
            (p) => p.profile.transactionId === undefined || p.profile.transactionId === transaction.id,
          ),
          atMs,
          start,
        );
  const session = tx ?? highestStack(of('TxDefaultProfile', connectorId), atMs, start) ?? highestStack(of('TxDefaultProfile', 0), atMs, start);
  const max = highestStack(of('ChargePointMaxProfile', 0), atMs, start);
  const amps = [session, max]
    .filter((l): l is ActiveLimit => l !== undefined)
    .map((l) => toAmps(l, Math.min(opts.phases, l.numberPhases ?? opts.phases), opts.voltageV));
  return {
    limitA: amps.length === 0 ? undefined : Math.min(...amps),
    ...(session?.numberPhases === undefined ? {} : { numberPhases: session.numberPhases }),
  };
}

/**
 * Installs a profile: it replaces one with the same id, or the same purpose and stack level on the same connector
 * (OCPP 1.6 §5.16.1). Returns the new list.
 */
export function installProfile(
  profiles: readonly InstalledProfile[],
  next: InstalledProfile,
): InstalledProfile[] {
  return [
    ...profiles.filter(
      (p) =>
        p.profile.chargingProfileId !== next.profile.chargingProfileId &&
        !(
          p.connectorId === next.connectorId &&
          p.profile.chargingProfilePurpose === next.profile.chargingProfilePurpose &&
          p.profile.stackLevel === next.profile.stackLevel
        ),
    ),
    next,
  ];
}
