import { z } from 'zod';
import { clamp, noNegativeZero, quantize, roundTo } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  fleetSetpoints,
  fleetSocPct,
  fleetWindow,
  gridBoundsForBatteriesW,
  holdAllBatteries,
  isBatteryStale,
  isGridStale,
  totalBatteryPowerW,
} from '../battery';
import type { StrategyReason } from '../reasons';
import type { BatteryState } from '../site-state';
import type { Strategy, StrategyResult } from '../strategy';

export const OscillationGuardConfigSchema = z
  .strictObject({
    /** Sign flips of the error (outside the deadband) are counted over this window, ms. */
    windowMs: z.number().int().positive().default(30_000),
    /** This many flips inside the window is an oscillation: hold one tick and scale the gains down. */
    maxSignFlips: z.number().int().min(2).default(4),
    /** Factor applied to the gains on each detection, 0..1. */
    gainReduction: z.number().gt(0).lt(1).default(0.5),
    /** Lowest gain scale the guard goes down to. */
    minGainScale: z.number().gt(0).max(1).default(0.125),
    /** After this long without a detection the gain scale steps back up by 1 / gainReduction, ms. */
    recoveryMs: z.number().int().positive().default(120_000),
  })
  .prefault({});

export const NetZeroConfigSchema = z.strictObject({
  /** Grid power to hold, W, + = import (a small import margin avoids feeding in by accident). */
  targetGridW: z.number().finite().default(0),
  /** Proportional gain, W of battery per W of error. */
  kp: z.number().min(0).max(5).default(0.4),
  /** Integral gain, 1/s. */
  ki: z.number().min(0).max(5).default(0.4),
  /** Derivative gain on the grid measurement, s. */
  kd: z.number().min(0).max(5).default(0),
  /** No change while |grid − target| ≤ deadbandW, W. */
  deadbandW: z.number().min(0).default(50),
  /** Largest change of the total setpoint per second, W/s. */
  rateLimitWPerS: z.number().positive().default(2_000),
  /** Setpoint step, W; a single battery's own powerStepW takes precedence. */
  quantizationW: z.number().positive().default(10),
  /**
   * Anti-windup: while the output is clamped, this fraction per second of the difference between the unclamped and
   * the clamped output is removed from the integrator (back-calculation). The integrator is also always clamped to
   * the batteries' charge/discharge window.
   */
  integralDecayPerS: z.number().min(0).max(10).default(0.5),
  /** dt assumed for the first decision, ms. */
  nominalTickMs: z.number().int().positive().default(1_000),
  /** dt is capped at this after a gap, so a late tick cannot integrate a huge step, ms. */
  maxDtMs: z.number().int().positive().default(10_000),
  oscillation: OscillationGuardConfigSchema,
  ...ReadingAgeConfigShape,
});
export type NetZeroConfig = z.infer<typeof NetZeroConfigSchema>;

export interface NetZeroMemory {
  /** False until the first decision on fresh data; the first decision starts bumpless from the measured power. */
  readonly initialized: boolean;
  /** Integrator, W (battery sign). */
  readonly integralW: number;
  /**
   * Where the rate limiter stands, W (battery sign): the last total setpoint before quantization. The output is this,
   * quantized; keeping it unquantized lets a slow ramp advance even when one tick's step (rate × dt) is smaller than
   * half a quantization step, as with frequent ticks (a tick on every meter reading).
   */
  readonly lastSetpointW: number;
  readonly lastAtMs: number | null;
  readonly lastGridW: number | null;
  /** Sign of the last error outside the deadband: −1, 0 (none yet) or 1. */
  readonly lastErrorSign: number;
  /** When the error changed sign, epoch ms, inside the oscillation window. */
  readonly signFlipsAtMs: readonly number[];
  /** 1 normally; lowered by the oscillation guard. */
  readonly gainScale: number;
  readonly lastOscillationAtMs: number | null;
}

const INITIAL_MEMORY: NetZeroMemory = {
  initialized: false,
  integralW: 0,
  lastSetpointW: 0,
  lastAtMs: null,
  lastGridW: null,
  lastErrorSign: 0,
  signFlipsAtMs: [],
  gainScale: 1,
  lastOscillationAtMs: null,
};

/**
 * NetZero: a PID controller on grid power. Error e = grid − target (+ → import too high → discharge more).
 * u = kp·e + I + kd·de/dt, I += ki·e·dt; then clamp to the batteries' window and the grid limits, back-calculate
 * the integrator, rate limit, quantize. Deadband holds the setpoint; the oscillation guard lowers the gains.
 */
export const netZeroStrategy: Strategy<NetZeroConfig, NetZeroMemory> = {
  name: 'net-zero',
  role: 'primary',
  configSchema: NetZeroConfigSchema,
  initialMemory: () => INITIAL_MEMORY,
  decide(state, config, clock, memory): StrategyResult<NetZeroMemory> {
    const errorW = state.gridPowerW - config.targetGridW;
    const inputs = {
      gridPowerW: state.gridPowerW,
      targetGridW: config.targetGridW,
      batteryPowerW: totalBatteryPowerW(state.batteries),
      socPct: fleetSocPct(state.batteries),
    };
    if (state.batteries.length === 0) {
      return { setpoints: {}, metrics: { inputs, outputs: {}, terms: {}, reason: 'no-battery' }, memory };
    }
    const usable = (b: BatteryState): boolean => !isBatteryStale(b, config.maxReadingAgeMs);
    if (isGridStale(state, config.maxReadingAgeMs) || !state.batteries.some(usable)) {
      // Hold safe and forget the integrator: when data returns the controller restarts bumpless.
      return {
        setpoints: holdAllBatteries(state.batteries),
        metrics: { inputs, outputs: { batteryPowerW: 0 }, terms: { gainScale: memory.gainScale }, reason: 'stale-data' },
        memory: { ...INITIAL_MEMORY, gainScale: memory.gainScale, lastOscillationAtMs: memory.lastOscillationAtMs },
      };
    }

    const fleet = fleetWindow(state.batteries, usable);
    const grid = gridBoundsForBatteriesW(state);
    const lowW = Math.max(-fleet.maxChargeW, grid.minW);
    const highW = Math.min(fleet.maxDischargeW, grid.maxW);
    const single = state.batteries.length === 1 ? state.batteries[0] : undefined;
    const stepW = single?.powerStepW ?? config.quantizationW;
    const measuredW = totalBatteryPowerW(state.batteries.filter(usable));

    const dtS = !memory.initialized || memory.lastAtMs === null
      ? config.nominalTickMs / 1000
      : clamp((clock.nowMs - memory.lastAtMs) / 1000, 0, config.maxDtMs / 1000);

    // Oscillation guard: recover the gain after a calm period, then count sign flips of the error.
    const guard = config.oscillation;
    let gainScale = memory.gainScale;
    let lastOscillationAtMs = memory.lastOscillationAtMs;
    if (gainScale < 1 && lastOscillationAtMs !== null && clock.nowMs - lastOscillationAtMs >= guard.recoveryMs) {
      gainScale = Math.min(1, gainScale / guard.gainReduction);
      lastOscillationAtMs = clock.nowMs;
    }
    const outsideDeadband = Math.abs(errorW) > config.deadbandW;
    const sign = outsideDeadband ? Math.sign(errorW) : 0;
    let flips = memory.signFlipsAtMs.filter((at) => clock.nowMs - at < guard.windowMs && at <= clock.nowMs);
    if (sign !== 0 && memory.lastErrorSign !== 0 && sign !== memory.lastErrorSign) flips = [...flips, clock.nowMs];
    const oscillating = flips.length >= guard.maxSignFlips;
    if (oscillating) {
      gainScale = Math.max(guard.minGainScale, gainScale * guard.gainReduction);
      lastOscillationAtMs = clock.nowMs;
      flips = [];
    }

    const kp = config.kp * gainScale;
    const ki = config.ki * gainScale;
    const kd = config.kd * gainScale;
    const lastSetpointW = memory.initialized ? memory.lastSetpointW : quantize(measuredW, stepW, lowW, highW);
    // Bumpless start: choose the integrator so that the first output equals what the batteries do now.
    let integralW = memory.initialized ? memory.integralW : measuredW - kp * errorW;
    integralW = clamp(integralW, -fleet.maxChargeW, fleet.maxDischargeW);

    const baseMemory = {
      initialized: true,
      lastAtMs: clock.nowMs,
      lastGridW: noNegativeZero(state.gridPowerW),
      lastErrorSign: sign !== 0 ? sign : memory.lastErrorSign,
      signFlipsAtMs: flips,
      gainScale,
      lastOscillationAtMs,
    };

    if (!outsideDeadband || oscillating) {
      const heldW = quantize(lastSetpointW, stepW, lowW, highW);
      const reason: StrategyReason = oscillating ? 'oscillation-detected' : 'deadband';
      return {
        setpoints: fleetSetpoints(heldW, state.batteries, usable),
        metrics: {
          inputs,
          outputs: { batteryPowerW: heldW },
          terms: { errorW, integralW: roundTo(integralW, 3), gainScale, signFlips: flips.length, dtS },
          reason,
        },
        memory: { ...baseMemory, integralW: noNegativeZero(integralW), lastSetpointW: noNegativeZero(clamp(lastSetpointW, lowW, highW)) },
      };
    }

    const pW = kp * errorW;
    integralW = clamp(integralW + ki * errorW * dtS, -fleet.maxChargeW, fleet.maxDischargeW);
    const dW = memory.lastGridW !== null && dtS > 0 && memory.initialized ? (kd * (state.gridPowerW - memory.lastGridW)) / dtS : 0;
    const rawW = pW + integralW + dW;
    const clampedW = clamp(rawW, lowW, highW);
    if (clampedW !== rawW) {
      integralW = clamp(
        integralW + (clampedW - rawW) * Math.min(1, config.integralDecayPerS * dtS),
        -fleet.maxChargeW,
        fleet.maxDischargeW,
      );
    }
    const maxStepW = config.rateLimitWPerS * dtS;
    const rampedW = clamp(clampedW, lastSetpointW - maxStepW, lastSetpointW + maxStepW);
    const outW = quantize(clamp(rampedW, lowW, highW), stepW, lowW, highW);

    let reason: StrategyReason = 'net-zero';
    if (rampedW !== clampedW) {
      reason = 'rate-limited';
    } else if (clampedW !== rawW) {
      if (rawW > highW) {
        reason = fleet.maxDischargeW === 0 ? 'battery-empty' : highW < fleet.maxDischargeW ? 'grid-export-limit' : 'power-limit';
      } else {
        reason = fleet.maxChargeW === 0 ? 'battery-full' : lowW > -fleet.maxChargeW ? 'grid-import-limit' : 'power-limit';
      }
    }
    return {
      setpoints: fleetSetpoints(outW, state.batteries, usable),
      metrics: {
        inputs,
        outputs: { batteryPowerW: outW },
        terms: {
          errorW,
          pW: roundTo(pW, 3),
          iW: roundTo(integralW, 3),
          dW: roundTo(dW, 3),
          rawW: roundTo(rawW, 3),
          gainScale,
          signFlips: flips.length,
          dtS,
        },
        reason,
      },
      memory: { ...baseMemory, integralW: noNegativeZero(integralW), lastSetpointW: noNegativeZero(clamp(rampedW, lowW, highW)) },
    };
  },
};
