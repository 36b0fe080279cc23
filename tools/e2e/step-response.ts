/** One grid meter sample: when it was measured (epoch ms) and the grid power, W (+ = import). */
export interface GridSample {
  readonly atMs: number;
  readonly gridW: number;
}

/** How the grid power answered a load step, judged against a target and a deadband. */
export interface StepResponse {
  /** Largest |grid − target| in the window, W: shows the step reached the meter. */
  readonly peakErrorW: number;
  /**
   * From the step to the sample from which on every sample of the window is inside the deadband (settling time),
   * ms; `undefined` if the last sample of the window is outside. A zero crossing half-way through a swing does not
   * count as settled.
   */
  readonly settledAfterMs: number | undefined;
  /** Sign changes of (grid − target) in the window; samples inside the deadband are skipped. */
  readonly signChanges: number;
  /** The samples of the window, for a failure report. */
  readonly samples: readonly GridSample[];
}

/**
 * Judges the grid samples from `stepAtMs` to `stepAtMs + windowMs`: the settling time into ±`deadbandW` around
 * `targetW`, and how often the error changed sign outside the deadband (a sustained oscillation keeps flipping it).
 */
export function stepResponse(
  all: readonly GridSample[],
  opts: { readonly stepAtMs: number; readonly windowMs: number; readonly targetW: number; readonly deadbandW: number },
): StepResponse {
  const samples = all.filter((s) => s.atMs >= opts.stepAtMs && s.atMs <= opts.stepAtMs + opts.windowMs);
  const errorW = (s: GridSample) => s.gridW - opts.targetW;
  const inside = (s: GridSample) => Math.abs(errorW(s)) <= opts.deadbandW;

  let firstOfLastInsideRun: GridSample | undefined;
  for (const sample of samples) {
    if (!inside(sample)) firstOfLastInsideRun = undefined;
    else firstOfLastInsideRun ??= sample;
  }
  let signChanges = 0;
  let lastSign = 0;
  for (const sample of samples.filter((s) => !inside(s))) {
    const sign = Math.sign(errorW(sample));
    if (lastSign !== 0 && sign !== lastSign) signChanges += 1;
    lastSign = sign;
  }
  return {
    peakErrorW: Math.max(0, ...samples.map((s) => Math.abs(errorW(s)))),
    settledAfterMs: firstOfLastInsideRun && firstOfLastInsideRun.atMs - opts.stepAtMs,
    signChanges,
    samples,
  };
}
