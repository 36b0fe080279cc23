/** `value` limited to [low, high] (callers keep low ≤ high). */
export function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** Turns −0 into 0 so that setpoints compare and serialize cleanly. */
export function noNegativeZero(value: number): number {
  return value === 0 ? 0 : value;
}

/**
 * `value` rounded to a multiple of `stepW`, then stepped toward zero until it lies inside [lowW, highW]
 * (lowW ≤ 0 ≤ highW), so quantization never pushes a setpoint past a limit.
 */
export function quantize(value: number, stepW: number, lowW: number, highW: number): number {
  if (!(stepW > 0)) return noNegativeZero(clamp(value, lowW, highW));
  let q = Math.round(value / stepW) * stepW;
  if (q > highW) q = Math.floor(highW / stepW) * stepW;
  if (q < lowW) q = Math.ceil(lowW / stepW) * stepW;
  return noNegativeZero(clamp(q, lowW, highW));
}

/** Rounds to `digits` decimals, for metrics that read well. */
export function roundTo(value: number, digits: number): number {
  const f = 10 ** digits;
  return noNegativeZero(Math.round(value * f) / f);
}

/** `value` cut to a multiple of `step` toward zero (never grows in magnitude). */
export function truncateToStep(value: number, step: number): number {
  if (!(step > 0)) return noNegativeZero(value);
  return noNegativeZero(Math.trunc(value / step + 1e-9 * Math.sign(value)) * step);
}
