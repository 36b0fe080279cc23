/**
 * A simulated site for the feed-in limit (`lib/export-limit.ts`) at 100 ms: one PV inverter that applies a limit some
 * time after it is sent and ramps to it, a full battery at 0 W, the grid meter and the inverter each read at its own
 * phase and period, and the controller ticking each second on the latest readings. Used by `export-limit.spec.ts` and
 * `tools/bench/export-limit.ts`.
 */
import { buildBattery, buildSiteState } from './testing';
import { limitExport, type ExportLimitMemory, type ExportLimitResult } from './lib/export-limit';

/** The plant's step, ms; the controller ticks every `EXPORT_PLANT_TICK_MS`. */
export const EXPORT_PLANT_STEP_MS = 100;
export const EXPORT_PLANT_TICK_MS = 1_000;

/** When the grid meter and the inverter are read, and how the inverter follows a limit. */
export interface ExportPlantTiming {
  /** The grid is read every `gridPeriodMs`, `gridPhaseMs` after a tick (whole steps). */
  readonly gridPhaseMs: number;
  readonly gridPeriodMs: number;
  readonly pvPhaseMs: number;
  readonly pvPeriodMs: number;
  /** From the tick that sends a limit to the inverter applying it, ms. */
  readonly delayMs: number;
  /** How fast the inverter's output moves to what its limit and the sun allow, W/s (Infinity: at once). */
  readonly rampWPerS: number;
}

/** The plant at one step: what the sun offers, the load, what the inverter makes and the grid power (+ import), W. */
export interface ExportPlantStep {
  readonly offsetMs: number;
  readonly sunW: number;
  readonly loadW: number;
  readonly pvW: number;
  readonly gridW: number;
}

export interface ExportPlantInput {
  readonly timing: ExportPlantTiming;
  readonly ratedW: number;
  readonly maxExportW: number;
  /** Epoch ms of the first step. */
  readonly startMs: number;
  readonly durationMs: number;
  /** What the sun offers and the house load at `offsetMs` from the start, W. */
  readonly sunW: (offsetMs: number) => number;
  readonly loadW: (offsetMs: number) => number;
  /** The inverter applies whole percent of its rating, rounded down (as the Growatt profile writes it). */
  readonly wholePercent?: boolean;
  /** Each step, after the plant moved and before the readings and the tick. */
  readonly onStep?: (step: ExportPlantStep) => void;
  /** Each tick's decision (from the first tick with both readings). */
  readonly onTick?: (offsetMs: number, result: ExportLimitResult) => void;
}

/** Runs the plant; returns the number of limit writes (each change of what the inverter is sent). */
export function driveExportPlant(input: ExportPlantInput): { readonly writes: number } {
  const { timing, ratedW } = input;
  const limits = { maxImportW: 17_000, maxExportW: input.maxExportW, phases: 3 as const, nominalVoltageV: 230 };
  let memory: ExportLimitMemory = {};
  let appliedW = ratedW;
  let sentW = ratedW;
  const pending: { atMs: number; limitW: number }[] = [];
  let pvW = 0;
  let grid: { w: number; atMs: number } | undefined;
  let inverter: { w: number; atMs: number } | undefined;
  let writes = 0;
  for (let offsetMs = 0; offsetMs < input.durationMs; offsetMs += EXPORT_PLANT_STEP_MS) {
    const nowMs = input.startMs + offsetMs;
    const sunW = input.sunW(offsetMs);
    const loadW = input.loadW(offsetMs);
    while (pending[0] !== undefined && pending[0].atMs <= nowMs) appliedW = pending.shift()?.limitW ?? appliedW;
    const wantW = Math.min(sunW, appliedW);
    const moveW = (timing.rampWPerS * EXPORT_PLANT_STEP_MS) / 1_000;
    pvW = wantW < pvW ? Math.max(wantW, pvW - moveW) : Math.min(wantW, pvW + moveW);
    const gridW = loadW - pvW;
    input.onStep?.({ offsetMs, sunW, loadW, pvW, gridW });
    if ((offsetMs - timing.gridPhaseMs) % timing.gridPeriodMs === 0) grid = { w: gridW, atMs: nowMs };
    if ((offsetMs - timing.pvPhaseMs) % timing.pvPeriodMs === 0) inverter = { w: pvW, atMs: nowMs };
    if (offsetMs % EXPORT_PLANT_TICK_MS !== 0 || grid === undefined || inverter === undefined) continue;
    const state = buildSiteState({
      gridPowerW: grid.w,
      gridAgeMs: nowMs - grid.atMs,
      pvPowerW: inverter.w,
      loadPowerW: loadW,
      batteries: [buildBattery({ socPct: 95, powerW: 0 })],
      pvInverters: [
        { assetId: 'pv-1', powerW: inverter.w, ratedPowerW: ratedW, quality: 'good', ageMs: nowMs - inverter.atMs },
      ],
      limits,
    });
    const result = limitExport(state, { 'bat-1': { kind: 'battery-power', powerW: 0 } }, memory, nowMs);
    memory = result.memory;
    input.onTick?.(offsetMs, result);
    const sp = result.setpoints['pv-1'];
    // No set-point: the intent expires and the arbiter writes the safe state (unlimited).
    let limitW = sp?.kind === 'pv-limit' ? sp.maxPowerW : ratedW;
    if (input.wholePercent) limitW = (Math.floor((limitW / ratedW) * 100) * ratedW) / 100;
    if (limitW !== sentW) {
      writes++;
      pending.push({ atMs: nowMs + timing.delayMs, limitW });
      sentW = limitW;
    }
  }
  return { writes };
}
