// Judging series of measurements for the compressed-day scenario: a settled window of the grid power, and a summary
// of a series over a span. Pure (samples in, verdict out), so they are tested on their own (day-analysis.spec.ts).

/** One measurement: when (epoch ms) and the value (W). */
export interface Sample {
  readonly atMs: number;
  readonly value: number;
}

/** A span in which every sample stayed within `bandW` of the target. */
export interface SettledWindow {
  readonly startMs: number;
  readonly endMs: number;
  readonly samples: readonly Sample[];
  /** Largest |value − target| in the window, W. */
  readonly maxAbsErrorW: number;
}

export interface SettledWindowOptions {
  /** Only windows starting at or after this instant, epoch ms. */
  readonly fromMs: number;
  /** Only windows ending at or before this instant (default: no limit), epoch ms. */
  readonly untilMs?: number;
  readonly windowMs: number;
  readonly targetW: number;
  /** Allowed |value − target|, W. */
  readonly bandW: number;
  /** Fewest samples the window must hold (a window with a gap in the readings proves nothing). */
  readonly minSamples: number;
}

/**
 * The first window of `windowMs` (starting at a sample at or after `fromMs`) in which every sample is within `bandW`
 * of `targetW`, it holds at least `minSamples`, and a later sample shows the window is complete. `undefined` if there
 * is none (yet).
 */
export function settledWindow(all: readonly Sample[], opts: SettledWindowOptions): SettledWindow | undefined {
  const samples = [...all].sort((a, b) => a.atMs - b.atMs);
  const untilMs = opts.untilMs ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i < samples.length; i += 1) {
    const first = samples[i] as Sample;
    if (first.atMs < opts.fromMs) continue;
    const endMs = first.atMs + opts.windowMs;
    if (endMs > untilMs) return undefined;
    if (!samples.some((s) => s.atMs >= endMs)) return undefined;
    const window = samples.filter((s) => s.atMs >= first.atMs && s.atMs <= endMs);
    const errors = window.map((s) => Math.abs(s.value - opts.targetW));
    if (window.length >= opts.minSamples && errors.every((e) => e <= opts.bandW)) {
      return { startMs: first.atMs, endMs, samples: window, maxAbsErrorW: Math.max(...errors) };
    }
  }
  return undefined;
}

/** Mean, minimum and maximum of the samples in [fromMs, toMs]; `undefined` without samples there. */
export function summarize(
  all: readonly Sample[],
  fromMs: number,
  toMs: number,
): { readonly mean: number; readonly min: number; readonly max: number; readonly count: number } | undefined {
  const values = all.filter((s) => s.atMs >= fromMs && s.atMs <= toMs).map((s) => s.value);
  if (values.length === 0) return undefined;
  return {
    mean: values.reduce((sum, v) => sum + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    count: values.length,
  };
}
