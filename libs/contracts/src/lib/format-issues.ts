import type { z } from 'zod';

/** One validation problem with its JSON path (`$.assets[0].connection.port`). */
export interface ValidationProblem {
  readonly path: string;
  readonly message: string;
}

/** Turn zod issues into `$`-rooted JSON paths and messages, one per problem. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): ValidationProblem[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const nested = issue.errors.flat();
      if (nested.length > 0) {
        return formatIssues(nested.map((n) => ({ ...n, path: [...issue.path, ...n.path] })));
      }
    }
    return [{ path: jsonPath(issue.path), message: issue.message }];
  });
}

/** `['assets', 0, 'id']` → `$.assets[0].id`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `${out}.${name}` : `${out}[${JSON.stringify(name)}]`;
  }, '$');
}
