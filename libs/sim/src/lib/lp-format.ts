/** One term `coef × variable` of a linear expression. */
export interface LpTerm {
  readonly coef: number;
  readonly name: string;
}

/** One linear constraint `Σ terms (sense) rhs`. */
export interface LpConstraint {
  readonly name: string;
  readonly terms: readonly LpTerm[];
  readonly sense: '=' | '>=' | '<=';
  readonly rhs: number;
}

/** A linear (or mixed-binary) minimisation problem. Variables not bounded explicitly are ≥ 0. */
export interface LpModel {
  readonly objective: readonly LpTerm[];
  readonly constraints: readonly LpConstraint[];
  /** Bounds per variable; omit a side for 0 (lower) or +∞ (upper). */
  readonly bounds: readonly { readonly name: string; readonly lower?: number; readonly upper?: number }[];
  readonly binaries: readonly string[];
}

const TERMS_PER_LINE = 8;

/** Finite number in a form the LP reader accepts (JS shortest round-trip text, exponent allowed). */
function lpNumber(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`LP coefficient must be finite, got ${x}`);
  return x === 0 ? '0' : String(x);
}

function expression(terms: readonly LpTerm[]): string {
  if (terms.length === 0) return '0';
  const parts = terms.map((t, i) => {
    const sign = t.coef < 0 ? '-' : i === 0 ? '' : '+';
    return `${sign}${sign ? ' ' : ''}${lpNumber(Math.abs(t.coef))} ${t.name}`;
  });
  const lines: string[] = [];
  for (let i = 0; i < parts.length; i += TERMS_PER_LINE) lines.push(parts.slice(i, i + TERMS_PER_LINE).join(' '));
  return lines.join('\n   ');
}

/**
 * Writes the model in CPLEX LP format. Variable names must not look like numbers (no leading digit or
 * 'e<digit>'), which the callers ensure with prefixes such as `bc_`, `gi_`.
 */
export function toLpText(model: LpModel): string {
  const out: string[] = ['Minimize', ` obj: ${expression(model.objective)}`, 'Subject To'];
  for (const c of model.constraints) out.push(` ${c.name}: ${expression(c.terms)} ${c.sense} ${lpNumber(c.rhs)}`);
  out.push('Bounds');
  for (const b of model.bounds) {
    const lower = b.lower ?? 0;
    out.push(
      b.upper === undefined
        ? ` ${b.name} >= ${lpNumber(lower)}`
        : ` ${lpNumber(lower)} <= ${b.name} <= ${lpNumber(b.upper)}`,
    );
  }
  if (model.binaries.length > 0) {
    out.push('Binaries');
    for (let i = 0; i < model.binaries.length; i += TERMS_PER_LINE)
      out.push(` ${model.binaries.slice(i, i + TERMS_PER_LINE).join(' ')}`);
  }
  out.push('End', '');
  return out.join('\n');
}
