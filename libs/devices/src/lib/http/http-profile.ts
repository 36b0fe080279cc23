import { z } from 'zod';
import { PointKeySchema } from '../keys';
import { JsonProfileKindSchema, JsonSetpointSchema, PartNameSchema, profileMeta, valueRules } from './common';
import { JsonFieldSchema } from './json-field-schema';

/** A request path below the profile's base path: `/meter`, `/api/v1/data` (no host, no `..`, optional query). */
export const HttpPathSchema = z
  .string()
  .max(200)
  .regex(
    /^(\/[A-Za-z0-9._~:@!$&'()*+,;=-]+)+\/?(\?[A-Za-z0-9._~:@!$&'()*+,;=/?%-]*)?$/,
    'path must look like /segment[/segment…][?query]',
  )
  .refine((p) => !p.split(/[/?]/).includes('..'), 'path must not contain ..');

/** A GET (or POST) whose JSON response carries values. */
export const HttpReadSchema = z.strictObject({
  /** Name a write's `readBack.read` refers to, e.g. `meter`. */
  name: PartNameSchema,
  method: z.enum(['GET', 'POST']).default('GET'),
  path: HttpPathSchema,
  /**
   * Read this endpoint at most this often (identity, configuration); default: every poll of the asset. A cycle that
   * does not read it publishes no values from it.
   */
  pollIntervalMs: z.number().int().min(100).max(86_400_000).optional(),
  fields: z.array(JsonFieldSchema).min(1),
});
export type HttpRead = z.output<typeof HttpReadSchema>;

/** How the device wants its secret: nothing, or a header carrying the token (with an optional prefix such as `Bearer `). */
export const HttpAuthSchema = z.discriminatedUnion('scheme', [
  z.strictObject({ scheme: z.literal('none') }),
  z.strictObject({
    scheme: z.literal('header'),
    header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'header must be an HTTP header name'),
    prefix: z.string().max(20).default(''),
  }),
]);
export type HttpAuth = z.output<typeof HttpAuthSchema>;

/** The placeholder in a body template that becomes the device value (a JSON number). */
export const VALUE_PLACEHOLDER = '{{value}}';

/**
 * How one set-point kind is written: `method` + `path` with a JSON `body` template in which the string
 * `"{{value}}"` (exactly once) becomes the device value (set-point field × `scale`). Afterwards `readBack.read` is
 * requested and `readBack.key` (a field of that read, in the set-point unit) must equal what was written.
 */
export const HttpWriteSchema = z.strictObject({
  setpoint: JsonSetpointSchema,
  method: z.enum(['PATCH', 'PUT', 'POST']),
  path: HttpPathSchema,
  body: z.json(),
  /**
   * EV set-points naming `phases`: members merged into the body (e.g. a force-1-phase switch); ignored otherwise.
   * `readBack.key` (a field of the write's `readBack.read`) must then hold `one` or `three`: it is part of the
   * "already there" check before the request and of the read-back after it (a boolean field reads as 1/0).
   */
  phaseBody: z
    .strictObject({
      one: z.record(z.string(), z.json()),
      three: z.record(z.string(), z.json()),
      readBack: z.strictObject({ key: PointKeySchema, one: z.number().finite(), three: z.number().finite() }),
    })
    .optional(),
  readBack: z.strictObject({
    read: PartNameSchema,
    /** The field holding the requested value as the device stores it, in the set-point unit. */
    key: PointKeySchema,
    /** Largest |read − written| still counted as equal (set-point unit). */
    tolerance: z.number().finite().nonnegative().default(0),
  }),
  /**
   * Optional: the field (same read) with the value the device really applies after its own limiters, and one naming
   * the limiter. Reported in the WriteResult; a lower effective value is not a mismatch (the request was taken).
   */
  effective: z.strictObject({ key: PointKeySchema, sourceKey: PointKeySchema.optional() }).optional(),
  ...valueRules,
});
export type HttpWriteInput = z.input<typeof HttpWriteSchema>;
export type HttpWrite = z.output<typeof HttpWriteSchema>;

interface Problem {
  readonly path: (string | number)[];
  readonly message: string;
}

function countPlaceholders(value: unknown): number {
  if (value === VALUE_PLACEHOLDER) return 1;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + countPlaceholders(v), 0);
  if (value !== null && typeof value === 'object')
    return Object.values(value).reduce((sum: number, v) => sum + countPlaceholders(v), 0);
  return 0;
}

/** Cross-field rules of an HTTP profile (run by the schema; exported for tests). */
export function httpProfileProblems(profile: {
  readonly reads: readonly HttpRead[];
  readonly writes: readonly HttpWrite[];
}): readonly Problem[] {
  const problems: Problem[] = [];
  const reads = new Map<string, HttpRead>();
  profile.reads.forEach((read, index) => {
    if (reads.has(read.name))
      problems.push({ path: ['reads', index, 'name'], message: `duplicate read '${read.name}'` });
    reads.set(read.name, read);
  });
  const kinds = new Set<string>();
  profile.writes.forEach((write, index) => {
    if (kinds.has(write.setpoint))
      problems.push({ path: ['writes', index], message: `two writes for '${write.setpoint}'` });
    kinds.add(write.setpoint);
    if (countPlaceholders(write.body) !== 1)
      problems.push({
        path: ['writes', index, 'body'],
        message: `body must contain "${VALUE_PLACEHOLDER}" exactly once`,
      });
    if (write.range.min > write.range.max)
      problems.push({ path: ['writes', index, 'range'], message: 'range.min must not exceed range.max' });
    if (write.safeValue < write.range.min || write.safeValue > write.range.max)
      problems.push({ path: ['writes', index, 'safeValue'], message: 'safeValue must lie in range' });
    const read = reads.get(write.readBack.read);
    if (read === undefined) {
      problems.push({ path: ['writes', index, 'readBack', 'read'], message: `unknown read '${write.readBack.read}'` });
      return;
    }
    const keys = new Set<string>(read.fields.map((f) => f.key));
    for (const [what, key] of [
      ['readBack', write.readBack.key],
      ['effective', write.effective?.key],
      ['effective', write.effective?.sourceKey],
      ['phaseBody', write.phaseBody?.readBack.key],
    ] as const) {
      if (key !== undefined && !keys.has(key))
        problems.push({ path: ['writes', index, what], message: `'${key}' is not a field of read '${read.name}'` });
    }
  });
  return problems;
}

/** A device reached over a local HTTP/JSON API: polled reads and request writes. */
export const HttpProfileSchema = z
  .strictObject({
    ...profileMeta,
    protocol: z.literal('http'),
    kind: JsonProfileKindSchema,
    http: z.strictObject({
      /** Prefix of every path, e.g. `/api/wlac/v1`; the asset's `baseUrl` gives scheme, host and port. */
      basePath: z
        .string()
        .regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'basePath must be empty or /segment[/segment…]')
        .default(''),
      auth: HttpAuthSchema.default({ scheme: 'none' }),
    }),
    reads: z.array(HttpReadSchema).min(1),
    writes: z.array(HttpWriteSchema).default([]),
  })
  .superRefine((profile, ctx) => {
    for (const problem of httpProfileProblems(profile))
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });
export type HttpProfileInput = z.input<typeof HttpProfileSchema>;
export type HttpProfile = z.output<typeof HttpProfileSchema>;
