import { z } from 'zod';
import { clamp, noNegativeZero, quantize, roundTo } from '../arithmetic';
import {
  ReadingAgeConfigShape,
  settleFleet,
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

export const TrackingConfigSchema = z
  .strictObject({
    /** Off: the integrator keeps integrating whatever the batteries do (clamped and back-calculated only). */
    enabled: z.boolean().default(true),
    /** Margin around NetZero's recent outputs within which the batteries count as following them, W. */
    toleranceW: z.number().min(0).default(100),
    /**
     * NetZero is not in control while the measured battery power lies outside the range of the outputs it asked for
     * over this window (± toleranceW) and has not come closer to it (by more than toleranceW) over the window, ms: a
     * battery that follows with dead time is inside the range, one with a slow lag comes closer. Longer than the loop's
     * dead time (1–3 s end to end, meter poll → engine → arbiter → device write → next reading).
     */
    windowMs: z.number().int().positive().default(4_000),
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
  /**
   * Tracking anti-windup: while something else sets the batteries (a layer's cap, a higher-priority intent, the
   * arbiter's limits), the integrator tracks what the grid needs instead of integrating, and the rate limiter restarts
   * from the measured power.
   */
  tracking: TrackingConfigSchema,
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
  /**
   * The decisions of the last `tracking.windowMs`, oldest first, as [epoch ms, output W (the rate limiter's position,
   * moved by what splitting it over the batteries' steps took off: with several stepped batteries the total sent can be
   * a few steps below NetZero's own, and the tracking check must not take that for an override), measured battery
   * power W]. Optional: a memory saved by an older version lacks it (read as empty).
   */
  readonly recentOutputs?: readonly RecentOutput[];
  /**
   * True from a tracking tick until the grid error first reaches the deadband or changes sign: the integrator holds
   * the tracked value meanwhile (the error then is the batteries catching up with NetZero, not a change of the site).
   * Past `catchUpUntilMs` only while the batteries are more than `tracking.toleranceW` from NetZero's last output; a
   * clock that went back ends it. Optional: read as false from an older memory.
   */
  readonly catchingUp?: boolean;
  /**
   * The latest end of catching up, epoch ms, set by each tracking tick: the time the rate limiter needs from the
   * measured power to the tracked integrator, plus `tracking.windowMs` of dead time. What was tracked is measured + e
   * of one pair of readings, and a pair polled apart (the grid's new reading with the battery's old one, the tick the
   * override ends) can say the grid needs something else: held for good, that left the grid kilowatts off; after this
   * the error left is integrated. Optional: an older memory lacks it, and its catching up then lasts only until the
   * batteries reach the output.
   */
  readonly catchUpUntilMs?: number;
}

/** [epoch ms, NetZero's output W, the measured battery power W], battery sign. */
export type RecentOutput = readonly [number, number, number];

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
  recentOutputs: [],
  catchingUp: false,
};

/**
 * NetZero: a PID controller on grid power. Error e = grid − target (+ → import too high → discharge more).
 * u = kp·e + I + kd·de/dt, I += ki·e·dt; then clamp to the batteries' window and the grid limits, back-calculate
 * the integrator, rate limit, quantize. Deadband holds the setpoint; the oscillation guard lowers the gains.
 * Tracking: when the measured battery power stays outside the range of the outputs of the last `tracking.windowMs`
 * (capped by a layer, outranked at the arbiter, limited downstream), I = measured + e — the battery power that would
 * hold the grid at the target, which is what I settles to in control — and the rate limiter restarts from the measured
 * power; I then holds until the grid error first reaches the deadband or changes sign, but past the time the ramp
 * and the dead time take (`catchUpUntilMs`) only until the batteries reach NetZero's output.
 */
export const netZeroStrategy: Strategy<NetZeroConfig, NetZeroMemory> = {
  name: 'net-zero',
  role: 'primary',
  followsSurplus: true,
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
        metrics: {
          inputs,
          outputs: { batteryPowerW: 0 },
          terms: { gainScale: memory.gainScale },
          reason: 'stale-data',
        },
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

    const dtS =
      !memory.initialized || memory.lastAtMs === null
        ? config.nominalTickMs / 1000
        : clamp((clock.nowMs - memory.lastAtMs) / 1000, 0, config.maxDtMs / 1000);

    // Tracking: do the batteries follow NetZero? One with dead time is somewhere between outputs NetZero asked for
    // lately, one with a slow lag comes closer to them; one held by someone else (a layer's cap, a manual intent at the
    // arbiter) stays away or moves away.
    const recent = memory.initialized ? recentOutputsSince(memory, clock.nowMs - config.tracking.windowMs) : [];
    const tracking = config.tracking.enabled && notFollowing(measuredW, recent, config.tracking.toleranceW);
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
    // After tracking, the integrator holds until the grid error first reaches the deadband or changes sign: until then
    // the error is the batteries catching up with NetZero, not a change of the site.
    // … and past the time the ramp and the dead time take (`catchUpUntilMs`) only while the batteries have not reached
    // NetZero's last output (a lag, a ramp of their own slower than the rate limit): a held value that was wrong is
    // then integrated away. A clock that went back ends it.
    const lastOutputW = memory.recentOutputs?.at(-1)?.[1] ?? memory.lastSetpointW;
    const stillCatchingUp =
      clock.nowMs >= (memory.lastAtMs ?? Number.NEGATIVE_INFINITY) &&
      ((memory.catchUpUntilMs !== undefined && clock.nowMs < memory.catchUpUntilMs) ||
        Math.abs(measuredW - lastOutputW) > config.tracking.toleranceW);
    const catchingUp =
      tracking || (memory.catchingUp === true && sign !== 0 && sign === memory.lastErrorSign && stillCatchingUp);
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
    // Not in control: restart the ramp from what the batteries do, and set the integrator to what the grid needs
    // (measured + e: in control, with e = 0, I equals the battery power). Seeding I with the measured power alone would
    // be bumpless for one tick, but the P term then falls as the batteries move and drags them back.
    const lastSetpointW =
      !memory.initialized || tracking ? quantize(measuredW, stepW, lowW, highW) : memory.lastSetpointW;
    // Bumpless start: choose the integrator so that the first output equals what the batteries do now.
    let integralW = !memory.initialized ? measuredW - kp * errorW : tracking ? measuredW + errorW : memory.integralW;
    integralW = clamp(integralW, -fleet.maxChargeW, fleet.maxDischargeW);
    const catchUpUntilMs = tracking
      ? clock.nowMs + (1_000 * Math.abs(integralW - lastSetpointW)) / config.rateLimitWPerS + config.tracking.windowMs
      : catchingUp
        ? memory.catchUpUntilMs
        : undefined;

    const baseMemory = {
      initialized: true,
      lastAtMs: clock.nowMs,
      lastGridW: noNegativeZero(state.gridPowerW),
      lastErrorSign: sign !== 0 ? sign : memory.lastErrorSign,
      signFlipsAtMs: flips,
      gainScale,
      lastOscillationAtMs,
      catchingUp,
      ...(catchUpUntilMs === undefined ? {} : { catchUpUntilMs }),
    };
    // The first decision ramps from the measured power: the batteries are in range while they are still there.
    const measured = noNegativeZero(measuredW);
    const start: RecentOutput[] = memory.initialized ? [] : [[clock.nowMs, noNegativeZero(lastSetpointW), measured]];
    const remember = (outW: number): RecentOutput[] =>
      [...recent, ...start, [clock.nowMs, noNegativeZero(outW), measured] as const].slice(-MAX_RECENT_OUTPUTS);

    if (!outsideDeadband || oscillating) {
      const heldW = quantize(lastSetpointW, stepW, lowW, highW);
      const reason: StrategyReason = oscillating ? 'oscillation-detected' : 'deadband';
      const held = settleFleet(heldW, state.batteries, usable);
      return {
        setpoints: held.setpoints,
        metrics: {
          inputs,
          outputs: { batteryPowerW: held.powerW },
          terms: {
            errorW,
            integralW: roundTo(integralW, 3),
            gainScale,
            signFlips: flips.length,
            dtS,
            tracking: tracking ? 1 : 0,
          },
          reason,
        },
        memory: {
          ...baseMemory,
          integralW: noNegativeZero(integralW),
          lastSetpointW: noNegativeZero(clamp(lastSetpointW, lowW, highW)),
          recentOutputs: remember(clamp(lastSetpointW, lowW, highW) + (held.powerW - heldW)),
        },
      };
    }

    const pW = kp * errorW;
    // While tracking, and until the batteries have caught up, I already holds what the grid needs: integrating the
    // error the batteries' own catching up causes would wind it past that (an overshoot after every override).
    integralW = clamp(integralW + (catchingUp ? 0 : ki * errorW * dtS), -fleet.maxChargeW, fleet.maxDischargeW);
    const dW =
      memory.lastGridW !== null && dtS > 0 && memory.initialized
        ? (kd * (state.gridPowerW - memory.lastGridW)) / dtS
        : 0;
    const rawW = pW + integralW + dW;
    const clampedW = clamp(rawW, lowW, highW);
    if (clampedW !== rawW && !catchingUp) {
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
        reason =
          fleet.maxDischargeW === 0
            ? 'battery-empty'
            : highW < fleet.maxDischargeW
              ? 'grid-export-limit'
              : 'power-limit';
      } else {
        reason =
          fleet.maxChargeW === 0 ? 'battery-full' : lowW > -fleet.maxChargeW ? 'grid-import-limit' : 'power-limit';
      }
    }
    const sent = settleFleet(outW, state.batteries, usable);
    return {
      setpoints: sent.setpoints,
      metrics: {
        inputs,
        outputs: { batteryPowerW: sent.powerW },
        terms: {
          errorW,
          pW: roundTo(pW, 3),
          iW: roundTo(integralW, 3),
          dW: roundTo(dW, 3),
          rawW: roundTo(rawW, 3),
          gainScale,
          signFlips: flips.length,
          dtS,
          tracking: tracking ? 1 : 0,
          catchingUp: catchingUp ? 1 : 0,
        },
        reason,
      },
      memory: {
        ...baseMemory,
        integralW: noNegativeZero(integralW),
        lastSetpointW: noNegativeZero(clamp(rampedW, lowW, highW)),
        recentOutputs: remember(clamp(rampedW, lowW, highW) + (sent.powerW - outW)),
      },
    };
  },
};

/** Bound on the remembered outputs (10 ticks a second over the default 4 s window is 40). */
const MAX_RECENT_OUTPUTS = 200;

/** The remembered decisions at or after `fromMs` and not in the future (a clock that went back forgets them). */
function recentOutputsSince(memory: NetZeroMemory, fromMs: number): RecentOutput[] {
  const upToMs = memory.lastAtMs ?? Number.NEGATIVE_INFINITY;
  return (memory.recentOutputs ?? []).filter(([atMs]) => atMs >= fromMs && atMs <= upToMs);
}

/**
 * Whether the batteries do not follow NetZero: `measuredW` lies outside [min, max] of the recent outputs by more than
 * toleranceW, and is not closer to that range (by more than toleranceW) than the batteries were at the oldest of them.
 */
function notFollowing(measuredW: number, recent: readonly RecentOutput[], toleranceW: number): boolean {
  const oldest = recent[0];
  if (oldest === undefined) return false;
  let lowW = Number.POSITIVE_INFINITY;
  let highW = Number.NEGATIVE_INFINITY;
  for (const [, outW] of recent) {
    lowW = Math.min(lowW, outW);
    highW = Math.max(highW, outW);
  }
  const distanceW = (w: number) => Math.max(0, lowW - w, w - highW);
  const nowW = distanceW(measuredW);
  return nowW > toleranceW && distanceW(oldest[2]) - nowW <= toleranceW;
}
