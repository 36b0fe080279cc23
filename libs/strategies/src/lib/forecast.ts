import type { Forecast } from './site-state';

/**
 * Expected PV surplus energy (Σ max(0, pv − load) · step) from `fromMs` for `horizonMs`, Wh.
 * Undefined when there is no forecast or it does not cover `fromMs` (an outdated forecast is not used).
 */
export function forecastPvSurplusWh(forecast: Forecast | undefined, fromMs: number, horizonMs: number): number | undefined {
  if (!forecast || !(forecast.stepMs > 0)) return undefined;
  const steps = Math.min(forecast.loadW.length, forecast.pvW.length);
  const endMs = forecast.startMs + steps * forecast.stepMs;
  if (fromMs < forecast.startMs || fromMs >= endMs) return undefined;
  const untilMs = Math.min(endMs, fromMs + horizonMs);
  let energyWh = 0;
  for (let i = 0; i < steps; i++) {
    const stepStartMs = forecast.startMs + i * forecast.stepMs;
    const overlapMs = Math.min(untilMs, stepStartMs + forecast.stepMs) - Math.max(fromMs, stepStartMs);
    if (overlapMs <= 0) continue;
    const surplusW = Math.max(0, (forecast.pvW[i] ?? 0) - (forecast.loadW[i] ?? 0));
    if (Number.isFinite(surplusW)) energyWh += (surplusW * overlapMs) / 3_600_000;
  }
  return energyWh;
}
