import { z } from 'zod';
import { clamp } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  settleFleet,
  fleetSocPct,
  fleetWindow,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  limitFleetW,
} from '../battery';
import type { StrategyReason } from '../reasons';
import type { BatteryState } from '../site-state';
import { finiteValues, type Strategy, type StrategyResult } from '../strategy';

export const DemandResponseEventSchema = z
  .strictObject({
    /** Optional id, reported in metrics order only. */
    id: z.string().max(64).optional(),
    startMs: z.number().int().nonnegative(),
    endMs: z.number().int().nonnegative(),
    /** Battery power during the event, W, + = discharge (reduce import), − = charge (absorb). */
    powerW: z.number().finite(),
  })
  .refine((e) => e.endMs > e.startMs, { message: 'endMs must be after startMs', path: ['endMs'] });
export type DemandResponseEvent = z.infer<typeof DemandResponseEventSchema>;

export const FrequencyResponseConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    nominalHz: z.number().min(45).max(65).default(50),
    /** No response while |f − nominal| ≤ deadbandHz, Hz. */
    deadbandHz: z.number().min(0).max(1).default(0.01),
    /** Deviation at which the response reaches pmaxW, Hz (droop). */
    droopHz: z.number().positive().max(5).default(0.2),
    /** Power reserved for frequency response, W: the response is capped at ±reservedPowerW. */
    reservedPowerW: z.number().positive().optional(),
    /** Slope reference: power = −(f − nominal) / droopHz × pmaxW, W. Default: reservedPowerW. */
    pmaxW: z.number().positive().optional(),
  })
  .prefault({});

export const GridServicesConfigSchema = z
  .strictObject({
    frequencyResponse: FrequencyResponseConfigSchema,
    /** Demand-response events; when several cover now, the first in the list applies. */
    demandResponse: z.array(DemandResponseEventSchema).default([]),
    ...ReadingAgeConfigShape,
  })
  .superRefine((config, ctx) => {
    if (config.frequencyResponse.enabled && config.frequencyResponse.reservedPowerW === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['frequencyResponse', 'reservedPowerW'],
        message: 'reservedPowerW (W) is required while frequency response is enabled',
      });
    }
  });
export type GridServicesConfig = z.infer<typeof GridServicesConfigSchema>;
export type GridServicesMemory = Readonly<Record<string, never>>;

/** A frequency outside nominal ± this is a measurement error, not a grid event, Hz. */
const PLAUSIBLE_DEVIATION_HZ = 5;

/** Frequency response alone, W (+ = discharge): −(f − nominal)/droop × pmax, 0 inside the deadband, capped at the reserve. */
export function frequencyResponseW(frequencyHz: number, fr: GridServicesConfig['frequencyResponse']): number {
  const deviationHz = frequencyHz - fr.nominalHz;
  if (Math.abs(deviationHz) <= fr.deadbandHz) return 0;
  const reservedW = fr.reservedPowerW ?? 0;
  const pmaxW = fr.pmaxW ?? reservedW;
  return clamp((-deviationHz / fr.droopHz) * pmaxW, -reservedW, reservedW);
}

/**
 * GridServices: frequency response by droop (over-frequency → charge, under-frequency → discharge) plus
 * demand-response events from the config, within the SoC window and the grid limits. Baseline: 0 W.
 */
export const gridServicesStrategy: Strategy<GridServicesConfig, GridServicesMemory> = {
  name: 'grid-services',
  role: 'primary',
  configSchema: GridServicesConfigSchema,
  initialMemory: () => ({}),
  decide(state, config, clock, memory): StrategyResult<GridServicesMemory> {
    const inputs = finiteValues({ gridPowerW: state.gridPowerW, frequencyHz: state.frequencyHz, socPct: fleetSocPct(state.batteries) });
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const usable = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(usable)) {
      return { setpoints: holdAllBatteries(state.batteries), metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'stale-data' }, memory };
    }
    const fr = config.frequencyResponse;
    const event = config.demandResponse.find((e) => e.startMs <= clock.nowMs && clock.nowMs < e.endMs);
    const eventW = event?.powerW ?? 0;

    let frW = 0;
    let frReason: StrategyReason = 'idle';
    if (fr.enabled) {
      const f = state.frequencyHz;
      if (f === undefined || !Number.isFinite(f)) frReason = 'no-frequency';
      else if (Math.abs(f - fr.nominalHz) > PLAUSIBLE_DEVIATION_HZ) frReason = 'implausible-frequency';
      else {
        frW = frequencyResponseW(f, fr);
        frReason = frW === 0 ? 'frequency-deadband' : 'frequency-response';
      }
    }
    const wantedW = eventW + frW;
    const limited = limitFleetW(wantedW, state, usable);
    const fleet = fleetWindow(state.batteries, usable);
    let reason: StrategyReason = event ? 'demand-response' : frReason;
    if (wantedW > 0 && fleet.maxDischargeW === 0) reason = 'battery-empty';
    else if (wantedW < 0 && fleet.maxChargeW === 0) reason = 'battery-full';
    // The grid connection held the response back (it said frequency-response at 0 W).
    else if (limited.limitedBy === 'grid') reason = wantedW > 0 ? 'grid-export-limit' : 'grid-import-limit';
    const sent = settleFleet(limited.powerW, state.batteries, usable);
    return {
      setpoints: sent.setpoints,
      metrics: {
        inputs,
        outputs: { batteryPowerW: sent.powerW },
        terms: finiteValues({ frequencyResponseW: frW, demandResponseW: eventW, wantedW, reservedPowerW: fr.reservedPowerW }),
        reason,
      },
      memory,
    };
  },
};
