import { z } from 'zod';
import { isMeasurementKey, PointKeySchema } from '../keys';
import { JsonPathSchema } from './json-path';

/**
 * One value in a JSON document (an HTTP body or an MQTT payload) and how it becomes a value in the unit named by
 * `key`: engineering value = raw × `scale`, negated when `invert` is true (the device's sign is the opposite of
 * ours, DESIGN § Units and signs).
 */
export const JsonFieldSchema = z
  .strictObject({
    /** A contracts MeasurementKey, or a devices extra/identity/control key; the unit is in the key. */
    key: PointKeySchema,
    /** Where the value is (see `parseJsonPath` for the supported subset), e.g. `$.ENERGY.Power`. */
    path: JsonPathSchema,
    /**
     * What the device sends: `number`; `boolean` (true → 1, false → 0); `enum` (a string looked up in `map`);
     * `string` (kept as text: identity and status strings).
     */
    type: z.enum(['number', 'boolean', 'enum', 'string']).default('number'),
    /** raw × scale = value in the unit named by `key` (e.g. 0.001 for mA → A, 1000 for kWh → Wh). */
    scale: z
      .number()
      .finite()
      .refine((s) => s !== 0, 'scale must not be 0')
      .default(1),
    invert: z.boolean().default(false),
    /** Engineering unit after scaling, for humans (must agree with the key's unit suffix). */
    unit: z.string().min(1).max(16).optional(),
    /** Plausibility range (engineering unit, our sign): a value outside is reported, never clamped. */
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    /** For `enum`: device string → number. An unknown string is an issue, never a guess. */
    map: z.record(z.string().min(1).max(100), z.number().finite()).optional(),
    /** True: a missing member or a JSON `null` means "not available" (absent, no issue), e.g. phase 2 on a 1-phase meter. */
    optional: z.boolean().default(false),
    note: z.string().max(500).optional(),
  })
  .superRefine((field, ctx) => {
    if (field.type === 'enum' && (field.map === undefined || Object.keys(field.map).length === 0))
      ctx.addIssue({ code: 'custom', path: ['map'], message: 'enum fields need a map' });
    if (field.type !== 'enum' && field.map !== undefined)
      ctx.addIssue({ code: 'custom', path: ['map'], message: 'map is only for enum fields' });
    if (field.type !== 'number' && (field.scale !== 1 || field.invert))
      ctx.addIssue({ code: 'custom', path: ['scale'], message: 'only number fields can be scaled or inverted' });
    if (field.type === 'string' && isMeasurementKey(field.key))
      ctx.addIssue({ code: 'custom', path: ['type'], message: `'${field.key}' is a measurement: it must be a number` });
    if (field.min !== undefined && field.max !== undefined && field.min > field.max)
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'min must not exceed max' });
  });
export type JsonFieldInput = z.input<typeof JsonFieldSchema>;
export type JsonField = z.output<typeof JsonFieldSchema>;
