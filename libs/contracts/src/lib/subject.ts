import type { z } from 'zod';

type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest> : never;

/** `{ assetId: string }` for the pattern 'telemetry.{assetId}'. */
export type SubjectParams<P extends string> = { readonly [K in ParamNames<P>]: string };

/** One subject of the catalog: its pattern, its payload schema and how to build concrete subjects. */
export interface SubjectDef<P extends string, S extends z.ZodType> {
  readonly pattern: P;
  readonly schema: S;
  /** Every `{param}` replaced by `*`, for subscriptions. */
  readonly wildcard: string;
  /** Concrete subject for publishing; throws InvalidSubjectTokenError on a bad parameter. */
  format(params: SubjectParams<P>): string;
  /** The parameters of a concrete subject matching this pattern, or undefined if it does not match. */
  parse(subject: string): SubjectParams<P> | undefined;
}

/** A request/reply subject: the request is `schema`, the reply `replySchema`. */
export interface RequestDef<P extends string, S extends z.ZodType, R extends z.ZodType> extends SubjectDef<P, S> {
  readonly replySchema: R;
}

/** One subject token: lower-case letters, digits, `_` and `-`. No dots, no wildcards, no `$`. */
export const SUBJECT_TOKEN = /^[a-z0-9_-]{1,64}$/;

/** A subject parameter was missing or not a single valid token (a dot would silently create another subject). */
export class InvalidSubjectTokenError extends Error {
  override readonly name = 'InvalidSubjectTokenError';
  constructor(
    readonly pattern: string,
    readonly param: string,
    readonly value: string | undefined,
  ) {
    super(
      value === undefined
        ? `subject ${pattern}: parameter '${param}' is missing`
        : `subject ${pattern}: parameter '${param}' = ${JSON.stringify(value)} is not one token matching ${SUBJECT_TOKEN}`,
    );
  }
}

const PARAM = /\{([^}]+)\}/g;
const PATTERN_TOKEN = /^([a-z0-9_-]+|\{[a-zA-Z]+\})$/;

function assertPattern(pattern: string): void {
  const tokens = pattern.split('.');
  if (tokens.length === 0 || !tokens.every((t) => PATTERN_TOKEN.test(t))) {
    throw new Error(`invalid subject pattern '${pattern}': tokens must be [a-z0-9_-]+ or {param}`);
  }
}

function build<P extends string, S extends z.ZodType>(pattern: P, schema: S): SubjectDef<P, S> {
  assertPattern(pattern);

  const tokens = pattern.split('.');
  return {
    pattern,
    schema,
    wildcard: pattern.replace(PARAM, '*'),
    format(params) {
      return pattern.replace(PARAM, (_match, name: string) => {
        const value = (params as Record<string, string | undefined>)[name];
        if (value === undefined || !SUBJECT_TOKEN.test(value)) throw new InvalidSubjectTokenError(pattern, name, value);
        return value;
      });
    },
    parse(subject) {
      const parts = subject.split('.');
      if (parts.length !== tokens.length) return undefined;
      const out: Record<string, string> = {};
      for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i] ?? '';
        const part = parts[i] ?? '';
        if (token.startsWith('{')) {
          if (!SUBJECT_TOKEN.test(part)) return undefined;
          out[token.slice(1, -1)] = part;
        } else if (token !== part) {
          return undefined;
        }
      }
      return out as SubjectParams<P>;
    },
  };
}

/** Define a publish/subscribe subject. */
export function defineSubject<const P extends string, S extends z.ZodType>(pattern: P, schema: S): SubjectDef<P, S> {
  return build(pattern, schema);
}

/** Define a request/reply subject. */
export function defineRequest<const P extends string, S extends z.ZodType, R extends z.ZodType>(
  pattern: P,
  schema: S,
  replySchema: R,
): RequestDef<P, S, R> {
  return { ...build(pattern, schema), replySchema };
}
