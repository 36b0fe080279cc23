/**
 * A cheap assertion for property bodies: Jest's `expect` costs microseconds per call, which a million
 * generated cases cannot afford. The message is built only on failure.
 */
export function ensure(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

/** Tolerance for comparing physical quantities computed along different float paths (W, A). */
export function within(value: number, limit: number): boolean {
  return value <= limit + 1e-6 * Math.max(1, Math.abs(limit));
}
