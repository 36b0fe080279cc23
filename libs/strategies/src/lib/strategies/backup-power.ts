import { z } from 'zod';
import { truncateToStep } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  batteryPower,
  batteryWindow,
  fleetSocPct,
  gridBoundsForBatteriesW,
  isBatteryStale,
  isGridStale,
  netDemandW,
} from '../battery';
import type { StrategyReason } from '../reasons';
import type { BatteryState, SiteState } from '../site-state';
import { finiteValues, type Clock, type Strategy, type StrategyResult, type StrategySetpoints } from '../strategy';

export const BackupPowerConfigSchema = z.strictObject({
  /**
   * Reserve to hold, %. Each battery holds max(reserveSocPct, its own reserveSocPct, its minSocPct); default: the
   * battery's own reserve from the site config.
   */
  reserveSocPct: z.number().min(0).max(100).optional(),
  /** Where the energy to restore the reserve may come from: PV surplus only, the grid too, or nowhere. */
  restoreFrom: z.enum(['pv', 'grid', 'none']).default('pv'),
  /** Restore power per battery, W; default: the battery's max charge power. */
  restorePowerW: z.number().positive().optional(),
  /** Restoring starts below the reserve and stops at reserve + hysteresisPct, %. */
  hysteresisPct: z.number().min(0).max(20).default(2),
  ...ReadingAgeConfigShape,
});
export type BackupPowerConfig = z.infer<typeof BackupPowerConfigSchema>;

export interface BackupPowerMemory {
  /** Batteries currently restoring their reserve (asset ids, sorted). */
  readonly restoring: readonly string[];
}

/** The reserve a battery holds under this config, %. */
export function backupReserveSocPct(battery: BatteryState, config: BackupPowerConfig): number {
  return Math.max(config.reserveSocPct ?? 0, battery.reserveSocPct, battery.minSocPct);
}

function applyReserve(
  proposal: StrategySetpoints,
  state: SiteState,
  config: BackupPowerConfig,
  _clock: Clock,
  memory: BackupPowerMemory,
): StrategyResult<BackupPowerMemory> {
  const setpoints: Record<string, StrategySetpoints[string]> = { ...proposal };
  const restoring = new Set<string>();
  const gridFresh = !isGridStale(state, config.maxReadingAgeMs);
  // Power available for restoring, with every battery idle (W ≥ 0), shared in battery order: the PV surplus, or with
  // 'grid' everything up to the import limit (which includes the PV surplus).
  let availableW = !gridFresh
    ? 0
    : config.restoreFrom === 'pv'
      ? Math.max(0, -netDemandW(state))
      : Math.max(0, -gridBoundsForBatteriesW(state).minW);
  // The charge the proposal already plans comes out of the same power: only what is left can be added to restore (before,
  // a proposal's charge counted once in the idle surplus and again as energy already flowing in, so a restore 'from PV'
  // imported from the grid and a restore 'from the grid' went over the import limit).
  for (const b of state.batteries) {
    const proposed = proposal[b.assetId];
    if (proposed?.kind === 'battery-power' && proposed.powerW < 0 && !isBatteryStale(b, config.maxReadingAgeMs)) availableW += proposed.powerW;
  }
  // What the chargers will draw more this tick (combine's EV stage decided first) comes out of it too.
  availableW = Math.max(0, availableW - (state.plannedEvImportW ?? 0));
  let capped = 0;
  let restored = 0;
  let belowReserve = 0;
  let charging = 0;
  let stale = 0;

  for (const b of state.batteries) {
    const proposed = proposal[b.assetId];
    const proposedW = proposed?.kind === 'battery-power' ? proposed.powerW : undefined;
    if (isBatteryStale(b, config.maxReadingAgeMs)) {
      // Without a fresh SoC the reserve cannot be checked: hold.
      if (proposedW !== undefined && proposedW !== 0) {
        setpoints[b.assetId] = batteryPower(0);
        stale++;
      }
      continue;
    }
    const reservePct = backupReserveSocPct(b, config);
    const wasRestoring = memory.restoring.includes(b.assetId);
    const isRestoring = b.socPct < reservePct || (wasRestoring && b.socPct < reservePct + config.hysteresisPct);
    if (isRestoring) restoring.add(b.assetId);

    let powerW = proposedW ?? 0;
    if (b.socPct <= reservePct && powerW > 0) {
      powerW = 0;
      capped++;
    }
    if (b.socPct < reservePct) belowReserve++;
    if (isRestoring && config.restoreFrom !== 'none' && gridFresh) {
      const window = batteryWindow(b);
      const wantedW = Math.min(config.restorePowerW ?? b.maxChargePowerW, window.maxChargeW);
      // Energy already flowing into this battery by the proposal counts toward the restore; only the rest is added.
      const alreadyW = Math.max(0, -powerW);
      const addW = Math.min(Math.max(0, wantedW - alreadyW), availableW);
      const floorW = alreadyW + addW;
      if (addW > 0 && truncateToStep(floorW, b.powerStepW ?? 1) > alreadyW) {
        powerW = -truncateToStep(floorW, b.powerStepW ?? 1);
        availableW = Math.max(0, availableW - (-powerW - alreadyW));
        restored++;
      }
    }
    if (isRestoring && Math.min(powerW, proposedW ?? 0) < 0) charging++;
    if (proposedW !== undefined || powerW !== 0) setpoints[b.assetId] = batteryPower(Math.min(powerW, proposedW ?? 0));
  }

  // Below the reserve is never 'above-reserve': restoring when energy flows in (added here or already planned),
  // holding otherwise (no surplus to restore from, or restoreFrom 'none').
  const reason: StrategyReason =
    restored > 0 || charging > 0
      ? 'restoring-reserve'
      : capped > 0 || belowReserve > 0
        ? 'holding-reserve'
        : stale > 0
          ? 'stale-data'
          : state.batteries.length === 0
            ? 'no-battery'
            : 'above-reserve';
  return {
    setpoints,
    metrics: {
      inputs: { socPct: fleetSocPct(state.batteries), gridPowerW: state.gridPowerW },
      outputs: { restoringBatteries: restoring.size, cappedBatteries: capped },
      terms: finiteValues({ reserveSocPct: config.reserveSocPct, hysteresisPct: config.hysteresisPct }),
      reason,
    },
    memory: { restoring: [...restoring].sort() },
  };
}

/**
 * BackupPower: a constraint layer that holds a reserve SoC. It removes discharge at or below the reserve, and while
 * a battery is below it (until reserve + hysteresis) puts a charge floor from PV surplus or the grid as configured.
 * Alone (no primary active) it idles above the reserve.
 */
export const backupPowerStrategy: Strategy<BackupPowerConfig, BackupPowerMemory> = {
  name: 'backup-power',
  role: 'layer',
  configSchema: BackupPowerConfigSchema,
  initialMemory: () => ({ restoring: [] }),
  decide(state, config, clock, memory): StrategyResult<BackupPowerMemory> {
    const idle: Record<string, StrategySetpoints[string]> = {};
    for (const b of state.batteries) idle[b.assetId] = batteryPower(0);
    return applyReserve(idle, state, config, clock, memory);
  },
  constrain(proposal, state, config, clock, memory) {
    return applyReserve(proposal, state, config, clock, memory);
  },
};
