import { z } from 'zod';

/**
 * One step of a JSON path: an object member (`name`) or an array element (`index`).
 */
export type JsonPathSegment =
  | { readonly kind: 'member'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number };

/** A parsed JSON path: the original text and its steps from the root. */
export interface JsonPath {
  readonly text: string;
  readonly segments: readonly JsonPathSegment[];
}

/** The result of parsing a JSON path. */
export type JsonPathParse =
  | { readonly ok: true; readonly path: JsonPath }
  | { readonly ok: false; readonly error: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_:-]*/;
const INDEX = /^\[(0|[1-9][0-9]{0,8})\]/;
const MAX_PATH_LENGTH = 300;
const MAX_SEGMENTS = 32;

/**
 * Parses the JSON-path subset device profiles use. Pure.
 *
 * - `$` is the document root (a path always starts with it; `$` alone is the whole document);
 * - `.name` an object member, `name` = a letter or `_`, then letters, digits, `_`, `:` or `-` (`$.em:0` is fine);
 * - `['any name']` an object member with any other characters (`\'` and `\\` escape a quote and a backslash);
 * - `[n]` an array element, n ≥ 0.
 *
 * Nothing else: no wildcards (`*`), recursive descent (`..`), filters, slices or negative indices, because a
 * profile maps one value to one key.
 */
export function parseJsonPath(text: string): JsonPathParse {
  if (text.length > MAX_PATH_LENGTH) return { ok: false, error: `longer than ${MAX_PATH_LENGTH} characters` };
  if (!text.startsWith('$')) return { ok: false, error: "must start with '$'" };
  const segments: JsonPathSegment[] = [];
  let rest = text.slice(1);
  while (rest.length > 0) {
    if (segments.length >= MAX_SEGMENTS) return { ok: false, error: `more than ${MAX_SEGMENTS} steps` };
    const at = text.length - rest.length;
    if (rest.startsWith('.')) {
      const name = NAME.exec(rest.slice(1))?.[0];
      if (name === undefined) return { ok: false, error: `expected a member name after '.' at ${at}` };
      segments.push({ kind: 'member', name });
      rest = rest.slice(1 + name.length);
      continue;
    }
    const index = INDEX.exec(rest);
    if (index?.[1] !== undefined) {
      segments.push({ kind: 'index', index: Number(index[1]) });
      rest = rest.slice(index[0].length);
      continue;
    }
    if (rest.startsWith("['")) {
      let name = '';
      let i = 2;
      let closed = false;
      while (i < rest.length) {
        const ch = rest[i];
        if (ch === '\\') {
          const next = rest[i + 1];
          if (next !== "'" && next !== '\\') return { ok: false, error: `bad escape at ${at + i}` };
          name += next;
          i += 2;
          continue;
        }
        if (ch === "'") {
          closed = rest[i + 1] === ']';
          break;
        }
        name += ch;
        i += 1;
      }
      if (!closed) return { ok: false, error: `unterminated ['…'] at ${at}` };
      segments.push({ kind: 'member', name });
      rest = rest.slice(i + 2);
      continue;
    }
    return { ok: false, error: `unexpected '${rest[0] ?? ''}' at ${at} (supported: .name, ['name'], [index])` };
  }
  return { ok: true, path: { text, segments } };
}

/** A JSON path in a profile: validated text (the parse happens again where it is used; it cannot fail then). */
export const JsonPathSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseJsonPath(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid JSON path '${text}': ${parsed.error}` });
});

/** What a path found in a document. */
export type JsonLookup =
  | { readonly kind: 'found'; readonly value: unknown }
  /** A member or element does not exist (`at` = the path up to and including the missing step). */
  | { readonly kind: 'missing'; readonly at: string }
  /** A step needs an object (or array) but the value there is something else. */
  | { readonly kind: 'not-container'; readonly at: string; readonly found: string };

/** The JSON type name of a value, for messages: `object`, `array`, `string`, `number`, `boolean`, `null`. */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function stepText(segment: JsonPathSegment): string {
  return segment.kind === 'index'
    ? `[${segment.index}]`
    : NAME.exec(segment.name)?.[0] === segment.name
      ? `.${segment.name}`
      : `['${segment.name}']`;
}

/** Follows `path` in a parsed JSON document. Own members only (never the prototype chain). Pure. */
export function lookupJsonPath(document: unknown, path: JsonPath): JsonLookup {
  let current: unknown = document;
  let at = '$';
  for (const segment of path.segments) {
    const parent = current;
    at += stepText(segment);
    if (segment.kind === 'index') {
      if (!Array.isArray(parent)) return { kind: 'not-container', at, found: jsonTypeOf(parent) };
      if (segment.index >= parent.length) return { kind: 'missing', at };
      current = parent[segment.index];
      continue;
    }
    if (parent === null || typeof parent !== 'object' || Array.isArray(parent))
      return { kind: 'not-container', at, found: jsonTypeOf(parent) };
    if (!Object.prototype.hasOwnProperty.call(parent, segment.name)) return { kind: 'missing', at };
    current = (parent as Record<string, unknown>)[segment.name];
  }
  return { kind: 'found', value: current };
}

/** Parses and follows a path given as text; a bad path is reported as `invalid-path` (a profile bug). Pure. */
export function readJsonPath(
  document: unknown,
  text: string,
): JsonLookup | { readonly kind: 'invalid-path'; readonly error: string } {
  const parsed = parseJsonPath(text);
  if (!parsed.ok) return { kind: 'invalid-path', error: parsed.error };
  return lookupJsonPath(document, parsed.path);
}
