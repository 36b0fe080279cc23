/** Nominal grid frequency, Hz. */
export const NOMINAL_FREQUENCY_HZ = 50;

/** A frequency event: from `atMs` for `durationMs` the frequency is offset by `deltaHz` (sim time). */
export interface FrequencyStep {
  readonly atMs: number;
  readonly durationMs: number;
  /** Hz, e.g. −0.2 for an under-frequency event. */
  readonly deltaHz: number;
}

/**
 * Grid frequency at `atMs` (sim time), Hz: 50 Hz plus a small deterministic wander (three sines, at most
 * ±0.027 Hz, periods 173 s, 41 s and 11 s) and the optional step event.
 */
export function frequencyAt(atMs: number, step?: FrequencyStep): number {
  const t = atMs / 1000;
  const wander =
    0.015 * Math.sin((2 * Math.PI * t) / 173) +
    0.008 * Math.sin((2 * Math.PI * t) / 41 + 1) +
    0.004 * Math.sin((2 * Math.PI * t) / 11 + 2);
  const inStep = step !== undefined && atMs >= step.atMs && atMs < step.atMs + step.durationMs;
  return NOMINAL_FREQUENCY_HZ + wander + (inStep ? step.deltaHz : 0);
}
